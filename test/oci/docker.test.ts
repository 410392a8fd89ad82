import * as assert from 'node:assert/strict'
import {spawn, type ChildProcess} from 'node:child_process'
import * as fs from 'node:fs'
import {after, before, test} from 'node:test'
import {BUSYBOX_IMAGE, DOCKER_BIN} from '../helpers/fixtures'
import {RUNTIME_BIN, cleanEnv, run, savedBusybox} from '../helpers/oci'

/**
 * docker through pivot-runtime: a second dockerd of the test's own (its socket, data-root and
 * exec-root under /var/lib/pivot-test-oci and /run/pivot-test-oci, no bridge, no iptables) with
 * `--add-runtime pivot=bin/pivot-runtime`; `docker run --runtime pivot` against `--runtime runc`.
 */
const DATA_ROOT = '/var/lib/pivot-test-oci'
const EXEC_ROOT = '/run/pivot-test-oci'
const SOCKET = `${EXEC_ROOT}/docker.sock`
let dockerd: ChildProcess | undefined
let work: string

function docker(args: string[]) {
  return run(DOCKER_BIN, ['-H', `unix://${SOCKET}`, ...args], {timeout: 120_000})
}

before(async () => {
  work = fs.mkdtempSync('/tmp/pivot-oci-docker-')
  fs.mkdirSync(EXEC_ROOT, {recursive: true})
  fs.mkdirSync(DATA_ROOT, {recursive: true})
  const log = fs.openSync(`${EXEC_ROOT}.log`, 'w')
  dockerd = spawn(
    '/usr/sbin/dockerd',
    [
      '--host',
      `unix://${SOCKET}`,
      '--data-root',
      DATA_ROOT,
      '--exec-root',
      EXEC_ROOT,
      '--pidfile',
      `${EXEC_ROOT}/docker.pid`,
      '--bridge=none',
      '--iptables=false',
      '--ip-masq=false',
      '--add-runtime',
      `pivot=${RUNTIME_BIN}`,
    ],
    {stdio: ['ignore', log, log], detached: true, env: cleanEnv()},
  )
  fs.closeSync(log)
  for (let i = 0; docker(['version']).status !== 0; i++) {
    if (dockerd.exitCode !== null || i > 300) throw new Error(`dockerd did not start: ${fs.readFileSync(`${EXEC_ROOT}.log`, 'utf8').slice(-2000)}`)
    await new Promise(r => setTimeout(r, 100))
  }
  const loaded = docker(['load', '-i', savedBusybox(work)])
  assert.equal(loaded.status, 0, loaded.stderr)
})

after(async () => {
  if (dockerd && dockerd.exitCode === null) {
    dockerd.kill('SIGTERM')
    await new Promise<void>(resolve => {
      const timer = setTimeout(() => {
        dockerd!.kill('SIGKILL')
        resolve()
      }, 20_000)
      dockerd!.on('exit', () => {
        clearTimeout(timer)
        resolve()
      })
    })
  }
  run('sh', ['-c', `grep -o ' ${DATA_ROOT}[^ ]*\\| ${EXEC_ROOT}[^ ]*' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l`])
  fs.rmSync(DATA_ROOT, {recursive: true, force: true})
  fs.rmSync(EXEC_ROOT, {recursive: true, force: true})
  fs.rmSync(`${EXEC_ROOT}.log`, {force: true})
  fs.rmSync(work, {recursive: true, force: true})
})

test('docker run --runtime pivot --rm IMG echo hi, as with --runtime runc', () => {
  const info = docker(['info', '--format', '{{json .Runtimes}}'])
  assert.match(info.stdout, /"pivot"/)
  const pivot = docker(['run', '--runtime', 'pivot', '--rm', BUSYBOX_IMAGE, 'echo', 'hi'])
  const runc = docker(['run', '--runtime', 'runc', '--rm', BUSYBOX_IMAGE, 'echo', 'hi'])
  assert.equal(runc.status, 0, runc.stderr)
  assert.equal(pivot.status, 0, pivot.stderr)
  assert.equal(pivot.stdout, 'hi\n')
  assert.equal(pivot.stdout, runc.stdout)
})

test('docker run --runtime pivot: exit status and what the process sees of its walls, as with runc', () => {
  const script = 'grep -E "^(CapBnd|CapEff|NoNewPrivs|Seccomp):" /proc/self/status; hostname | wc -c; exit 7'
  const pivot = docker(['run', '--runtime', 'pivot', '--rm', BUSYBOX_IMAGE, 'sh', '-c', script])
  const runc = docker(['run', '--runtime', 'runc', '--rm', BUSYBOX_IMAGE, 'sh', '-c', script])
  assert.equal(runc.status, 7, runc.stderr)
  assert.equal(pivot.status, 7, pivot.stderr)
  assert.equal(pivot.stdout, runc.stdout)
})
