import * as assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {after, before, test} from 'node:test'
import {BUSYBOX_IMAGE, REPO_ROOT} from '../helpers/fixtures'
import {RUNC_BIN, RUNTIME_BIN, containerdConfig, leftovers, savedBusybox, startContainerd, type PrivateContainerd} from '../helpers/oci'

/**
 * containerd 1.6 (Debian's, a private instance) driving pivot-runtime through its runc shim
 * (io.containerd.runc.v2 with --runc-binary), every step compared with the same step on runc.
 */
let containerd: PrivateContainerd
let work: string

before(async () => {
  work = fs.mkdtempSync('/tmp/pivot-oci-containerd-')
  containerd = await startContainerd(containerdConfig())
  const imported = containerd.ctr(['image', 'import', savedBusybox(work)], {timeout: 120_000})
  assert.equal(imported.status, 0, imported.stderr)
})

after(async () => {
  await containerd?.stop()
  fs.rmSync(work, {recursive: true, force: true})
})

const RUNTIMES = [
  ['runc', RUNC_BIN],
  ['pivot', RUNTIME_BIN],
] as const

function both<T>(fn: (name: string, bin: string) => T): {runc: T; pivot: T} {
  return {runc: fn(RUNTIMES[0][0], RUNTIMES[0][1]), pivot: fn(RUNTIMES[1][0], RUNTIMES[1][1])}
}

function taskStatus(id: string): string | undefined {
  const line = containerd
    .ctr(['task', 'ls'])
    .stdout.split('\n')
    .find(l => l.split(/\s+/)[0] === id)
  return line?.trim().split(/\s+/)[2]
}

/**
 * What a process wrote on a pty, as ctr (under script(1)) shows it: line ends, and two races of
 * ctr's own dropped: a resize of a pty whose process already exited may fail, and the terminal may
 * echo a NUL ctr writes (^@).
 */
function ttyText(out: string): string {
  return out
    .replace(/\r|\^@|\0/g, '')
    .split('\n')
    .filter(l => l !== '' && !/resize pty/.test(l))
    .join('\n')
}

async function waitStatus(id: string, want: string): Promise<string | undefined> {
  let status: string | undefined
  for (let i = 0; i < 200; i++) {
    status = taskStatus(id)
    if (status === want) break
    await new Promise(r => setTimeout(r, 50))
  }
  return status
}

test('ctr run --rm: echo output and exit codes 0 and 7 as with runc', () => {
  const echo = both((name, bin) => containerd.ctr(['run', '--rm', '--runc-binary', bin, BUSYBOX_IMAGE, `oci-${name}-echo`, 'echo', 'hello from', name]))
  assert.equal(echo.runc.status, 0, echo.runc.stderr)
  assert.equal(echo.pivot.status, 0, echo.pivot.stderr)
  assert.equal(echo.pivot.stdout, echo.runc.stdout.replace('runc', 'pivot'))
  const seven = both((name, bin) =>
    containerd.ctr(['run', '--rm', '--runc-binary', bin, BUSYBOX_IMAGE, `oci-${name}-seven`, 'sh', '-c', 'echo out; echo err >&2; exit 7']),
  )
  assert.equal(seven.runc.status, 7)
  assert.equal(seven.pivot.status, seven.runc.status, seven.pivot.stderr)
  assert.equal(seven.pivot.stdout, seven.runc.stdout)
  // What a process sees of itself: pid 1, its hostname, its capabilities (ctr's default spec).
  const self = both((name, bin) =>
    containerd.ctr([
      'run',
      '--rm',
      '--runc-binary',
      bin,
      BUSYBOX_IMAGE,
      `oci-${name}-self`,
      'sh',
      '-c',
      'echo $$; grep -E "^(CapBnd|CapEff|NoNewPrivs|Seccomp):" /proc/self/status; cat /proc/self/uid_map',
    ]),
  )
  assert.equal(self.pivot.stdout, self.runc.stdout)
})

test('ctr run -d, task ls, task exec, pause/resume, ps, kill, delete as with runc', async () => {
  const outcome: Record<string, string[]> = {}
  for (const [name, bin] of RUNTIMES) {
    const id = `oci-${name}-detached`
    const seen: string[] = []
    const started = containerd.ctr(['run', '-d', '--runc-binary', bin, BUSYBOX_IMAGE, id, 'sleep', '1000'])
    seen.push(`run -d: ${started.status}`)
    seen.push(`ls: ${await waitStatus(id, 'RUNNING')}`)
    const exec = containerd.ctr(['task', 'exec', '--exec-id', 'e1', id, 'sh', '-c', 'echo in $(hostname) && exit 3'])
    seen.push(`exec: ${exec.status} ${exec.stdout.replace(id, 'ID').trim()}`)
    seen.push(`pause: ${containerd.ctr(['task', 'pause', id]).status} ${await waitStatus(id, 'PAUSED')}`)
    seen.push(`resume: ${containerd.ctr(['task', 'resume', id]).status} ${await waitStatus(id, 'RUNNING')}`)
    const ps = containerd.ctr(['task', 'ps', id])
    const pid = containerd
      .ctr(['task', 'ls'])
      .stdout.split('\n')
      .find(l => l.startsWith(id))
      ?.trim()
      .split(/\s+/)[1]
    seen.push(`ps lists the task's pid: ${ps.status} ${pid !== undefined && ps.stdout.includes(pid)}`)
    seen.push(`delete running: ${containerd.ctr(['task', 'delete', id]).status}`)
    seen.push(`kill: ${containerd.ctr(['task', 'kill', '-s', 'SIGKILL', id]).status}`)
    seen.push(`ls: ${await waitStatus(id, 'STOPPED')}`)
    seen.push(`delete: ${containerd.ctr(['task', 'delete', id]).status}`)
    seen.push(`container rm: ${containerd.ctr(['container', 'rm', id]).status}`)
    seen.push(`ls after: ${taskStatus(id) ?? 'gone'}`)
    outcome[name] = seen
  }
  console.log(JSON.stringify(outcome, null, 2))
  assert.deepEqual(outcome.pivot, outcome.runc)
  assert.ok(outcome.runc!.includes('exec: 3 in oci-runc-detached'.replace('oci-runc-detached', 'ID')) || outcome.runc!.some(l => l.startsWith('exec: 3 in')))
  assert.deepEqual(leftovers('oci-pivot-detached', [path.join('/run/containerd/runc', 'pivot-ociruntime'), '/run/pivot-runtime']), [])
})

test('ctr run -t: the pty master comes over the console socket, as with runc', () => {
  const tty = both((name, bin) =>
    containerd.ctr(['run', '--rm', '-t', '--runc-binary', bin, BUSYBOX_IMAGE, `oci-${name}-tty`, 'sh', '-c', 'tty; test -t 0 && echo stdin-is-a-tty; exit 5'], {
      tty: true,
    }),
  )
  assert.equal(tty.runc.status, 5, tty.runc.stdout)
  assert.equal(tty.pivot.status, tty.runc.status, tty.pivot.stdout)
  assert.match(tty.pivot.stdout, /\/dev\/pts\/0\r*\n/)
  assert.equal(ttyText(tty.pivot.stdout), ttyText(tty.runc.stdout))
})

test('ctr task exec -t and --user: a pty of the container over the console socket, another identity, as with runc', async () => {
  const outcome: Record<string, string[]> = {}
  for (const [name, bin] of RUNTIMES) {
    const id = `oci-${name}-exectty`
    const seen: string[] = []
    seen.push(`run -d: ${containerd.ctr(['run', '-d', '--runc-binary', bin, BUSYBOX_IMAGE, id, 'sleep', '1000']).status}`)
    seen.push(`ls: ${await waitStatus(id, 'RUNNING')}`)
    const tty = containerd.ctr(['task', 'exec', '-t', '--exec-id', 't1', id, 'sh', '-c', 'tty; test -t 0 && echo stdin-is-a-tty; exit 4'], {tty: true})
    const ttyLines = ttyText(tty.stdout)
    seen.push(`exec -t: ${tty.status} ${ttyLines}`)
    const user = containerd.ctr([
      'task',
      'exec',
      '--exec-id',
      'u1',
      '--user',
      '1000:1000',
      id,
      'sh',
      '-c',
      'id; grep -E "^(CapEff|CapPrm|NoNewPrivs|Seccomp):" /proc/self/status',
    ])
    seen.push(`exec --user: ${user.status} ${user.stdout.trim()}`)
    seen.push(`kill: ${containerd.ctr(['task', 'kill', '-s', 'SIGKILL', id]).status} ${await waitStatus(id, 'STOPPED')}`)
    seen.push(`delete: ${containerd.ctr(['task', 'delete', id]).status} ${containerd.ctr(['container', 'rm', id]).status}`)
    outcome[name] = seen
  }
  console.log(JSON.stringify(outcome, null, 2))
  assert.match(outcome.runc![2]!, /^exec -t: 4 \/dev\/pts\/\d+\nstdin-is-a-tty$/)
  assert.match(outcome.runc![3]!, /uid=1000 gid=1000/)
  assert.deepEqual(outcome.pivot, outcome.runc)
  assert.deepEqual(leftovers('oci-pivot-exectty', [path.join('/run/containerd/runc', 'pivot-ociruntime'), '/run/pivot-runtime']), [])
})

test('docs/oci-runtime.md: its containerd config (CRI runtime "pivot") is accepted by containerd', async () => {
  const doc = fs.readFileSync(path.join(REPO_ROOT, 'docs', 'oci-runtime.md'), 'utf8')
  const block = /<!-- containerd-config -->\s*```toml\n([\s\S]*?)```/.exec(doc)
  assert.ok(block, 'docs/oci-runtime.md has a toml block after <!-- containerd-config -->')
  const section = block[1]!.replace('/usr/local/bin/pivot-runtime', RUNTIME_BIN)
  // A second private instance (the first is stopped for it: one state dir, one socket).
  await containerd.stop()
  const withCri = await startContainerd(containerdConfig(section, false))
  try {
    const plugins = withCri.ctr(['plugins', 'ls'])
    assert.match(plugins.stdout, /io\.containerd\.grpc\.v1\s+cri\s+\S+\s+ok/, plugins.stdout)
    const log = fs.readFileSync('/run/pivot-test-containerd/containerd.log', 'utf8')
    assert.doesNotMatch(log, /failed to load plugin io\.containerd\.grpc\.v1\.cri/)
    assert.match(log, new RegExp(`BinaryName:${RUNTIME_BIN.replace(/\//g, '\\/')}|${RUNTIME_BIN}`))
  } finally {
    await withCri.stop()
    containerd = await startContainerd(containerdConfig())
  }
})
