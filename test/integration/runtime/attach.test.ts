// `pivot attach` and `pivot start -a -i` against docker's on the same image: stdin to a `-d -i`
// container, its output and exit status, the detach keys on a `-t` one (in a pty of script(1)),
// bad input; and nothing left on the host once the containers are gone.
import {after, before, test} from 'node:test'
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import * as fs from 'node:fs'
import {BUSYBOX_IMAGE, DOCKER_BIN, PIVOT_BIN, pivot, tempDir} from '../../helpers/fixtures'
import {leftovers, seedImage} from '../../helpers/seed-image'

const B = BUSYBOX_IMAGE
const PREFIX = `lifecycle-attach-${process.pid}`
let cache: string

before(() => {
  cache = tempDir('pivot-attach')
  seedImage(cache, B)
})

after(() => {
  for (const n of ['sh', 'tty', 'gone']) spawnSync(DOCKER_BIN, ['rm', '-f', `${PREFIX}-${n}`], {stdio: 'ignore'})
})

interface Outcome {
  status: number | null
  stdout: string
  stderr: string
}

/** The same argv through docker or pivot; `input` is written to stdin a second after the start, then closed. */
function engine(which: 'docker' | 'pivot', args: string[], input = ''): Outcome {
  const env: NodeJS.ProcessEnv = {...process.env, PIVOT_CACHE_DIR: cache}
  delete env.NODE_EXTRA_CA_CERTS
  const argv = which === 'docker' ? args.map(a => (a === '--net' ? '--network' : a)) : args
  const bin = which === 'docker' ? DOCKER_BIN : PIVOT_BIN
  // sleep first: the attach must be in place before the input comes (as a user types).
  const r = spawnSync('sh', ['-c', `(sleep 1; printf '%s' "$INPUT") | "$@"`, 'sh', bin, ...argv], {
    env: {...env, INPUT: input},
    encoding: 'utf8',
    timeout: 60_000,
  })
  if (r.error) throw r.error
  return {status: r.status, stdout: r.stdout, stderr: r.stderr}
}

function ok(which: 'docker' | 'pivot', args: string[]): string {
  const r = engine(which, args)
  assert.equal(r.status, 0, `${which} ${args.join(' ')}: ${r.stderr}`)
  return r.stdout
}

test('attach relays stdin to a -d -i container and its output back; start -ai from the first byte; exit statuses as docker', () => {
  const seen: Record<string, string[]> = {}
  for (const which of ['docker', 'pivot'] as const) {
    const name = `${PREFIX}-sh`
    ok(which, ['run', '-d', '-i', '--net', 'none', '--name', name, B, 'sh'])
    const attached = engine(which, ['attach', name], 'echo hi; echo to-err >&2; exit 3\n')
    const again = engine(which, ['start', '-ai', name], 'echo again; exit 4\n')
    const stopped = engine(which, ['attach', name])
    ok(which, ['rm', '-f', name])
    const gone = engine(which, ['attach', name])
    seen[which] = [
      `${attached.status} ${attached.stdout} ${attached.stderr}`,
      `${again.status} ${again.stdout}`,
      `${stopped.status} ${stopped.stderr.replace(/^(pivot|Error response from daemon): /, '')}`,
      `${gone.status}`,
    ]
  }
  // docker 20.10 loses, at times, the output of a non-tty container that ends right after its
  // input (a race in its attach): its statuses and messages are compared, pivot's output checked
  // as it should be (pivot's monitor sends every byte before it closes the session).
  const statusOf = (lines: string[]) => lines.map(l => l.split(' ')[0])
  assert.deepEqual(statusOf(seen.pivot), statusOf(seen.docker))
  assert.deepEqual(seen.pivot.slice(2), seen.docker.slice(2))
  assert.deepEqual(seen.pivot, ['3 hi\n to-err\n', '4 again\n', '1 You cannot attach to a stopped container, start it first\n', '1'])
  assert.deepEqual(leftovers(cache), {mounts: [], cgroups: [], containers: []})
})

test('stdin of many frames (the client sends at most 4 KiB a frame) reaches a -d -i container whole, as with docker', () => {
  // 50000 bytes: a dozen frames, split across reads; under the 64 KiB a container's stdin pipe holds.
  const input = Array.from({length: 50000}, (_, i) => String.fromCharCode(97 + (i % 26))).join('')
  const sums: Record<string, string> = {}
  for (const which of ['docker', 'pivot'] as const) {
    const name = `${PREFIX}-frames`
    ok(which, ['run', '-d', '-i', '--net', 'none', '--name', name, B, 'sh', '-c', 'head -c 50000 | md5sum'])
    const r = engine(which, ['attach', name], input)
    ok(which, ['rm', '-f', name])
    sums[which] = `${r.status} ${r.stdout}`
  }
  // docker's output may be lost in its attach race (above): its status is compared.
  assert.equal(sums.pivot, `0 ${createHash('md5').update(input).digest('hex')}  -\n`)
  assert.equal(sums.pivot.split(' ')[0], sums.docker.split(' ')[0])
  assert.deepEqual(leftovers(cache), {mounts: [], cgroups: [], containers: []})
})

test('EOF on the attached stdin leaves the container running with its stdin open; stop ends the attach with its status', async () => {
  const name = `${PREFIX}-open`
  const env: NodeJS.ProcessEnv = {...process.env, PIVOT_CACHE_DIR: cache}
  delete env.NODE_EXTRA_CA_CERTS
  assert.equal(pivot(['run', '-d', '-i', '--net', 'none', '--name', name, B, 'sh'], {cacheDir: cache}).status, 0)
  const {spawn} = await import('node:child_process')
  const child = spawn(PIVOT_BIN, ['attach', name], {env, stdio: ['pipe', 'pipe', 'inherit']})
  let out = ''
  child.stdout.on('data', (c: Buffer) => (out += c.toString()))
  await new Promise(resolve => setTimeout(resolve, 1500))
  child.stdin.end('echo first\n')
  await new Promise(resolve => setTimeout(resolve, 1500))
  const running = pivot(['inspect', '-f', '{{.State.Status}}', name], {cacheDir: cache})
  assert.equal(running.stdout, 'running\n', 'still running after EOF')
  // A second attach still reaches its stdin.
  const second = pivot(['attach', name], {cacheDir: cache, input: 'echo second; exit 5\n'})
  assert.equal(second.status, 5, second.stderr)
  assert.equal(second.stdout, 'second\n')
  const code = await new Promise<number | null>(resolve => child.on('exit', c => resolve(c)))
  assert.equal(code, 5, 'the first attach ends with the container, with its status')
  assert.equal(out, 'first\nsecond\n')
  const id = pivot(['inspect', '-f', '{{.Id}}', name], {cacheDir: cache}).stdout.trim()
  assert.ok(fs.existsSync(`/run/pivot/attach/${id.slice(0, 32)}.sock`) === false, 'the monitor removed its attach socket at the exit')
  assert.equal(pivot(['rm', name], {cacheDir: cache}).status, 0)
  assert.deepEqual(leftovers(cache), {mounts: [], cgroups: [], containers: []})
})

test('a -t container: the detach keys leave it running, "read escape sequence" and status 1 as docker; bad detach keys', () => {
  const outcome: Record<string, string> = {}
  for (const which of ['docker', 'pivot'] as const) {
    const name = `${PREFIX}-tty`
    const bin = which === 'docker' ? DOCKER_BIN : PIVOT_BIN
    const env: NodeJS.ProcessEnv = {...process.env, PIVOT_CACHE_DIR: cache}
    delete env.NODE_EXTRA_CA_CERTS
    // The keys a second after the command, as a user types them once its output is there.
    const pty = (command: string, input: string, keys = '') =>
      spawnSync('sh', ['-c', `(sleep 1; printf "$INPUT"; sleep 1; printf "$KEYS"; sleep 2) | script -qfec "$CMD" /dev/null`], {
        env: {...env, CMD: command, INPUT: input, KEYS: keys},
        encoding: 'utf8',
        timeout: 60_000,
      })
    const net = which === 'docker' ? '--network' : '--net'
    assert.equal(pty(`${bin} run -d -it ${net} none --name ${name} ${B} sh`, '').status, 0)
    const r = pty(`${bin} attach ${name}; echo "rc=$?"`, 'echo hi-tty\\r', '\\020\\021')
    const status = spawnSync(bin, ['inspect', '-f', '{{.State.Status}}', name], {env, encoding: 'utf8'}).stdout.trim()
    outcome[which] = [/hi-tty\r?\r\n/.test(r.stdout), r.stdout.includes('read escape sequence'), /rc=1\r?\n/.test(r.stdout), status].join(' ')
    spawnSync(bin, ['rm', '-f', name], {env, stdio: 'ignore'})
  }
  assert.equal(outcome.pivot, outcome.docker)
  assert.equal(outcome.pivot, 'true true true running')
  const bad = pivot(['attach', '--detach-keys', 'ctrl-ab', 'x'], {cacheDir: cache})
  assert.equal(bad.status, 1)
  assert.equal(bad.stderr, "pivot: Unknown character: 'ctrl-ab'\n")
  assert.deepEqual(leftovers(cache), {mounts: [], cgroups: [], containers: []})
})
