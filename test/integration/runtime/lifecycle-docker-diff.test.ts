// The container lifecycle against docker's on the same image: run -d, logs (--tail, -f, -t), stop
// (a PID 1 that ignores SIGTERM, one that exits on it), kill -s, wait, rm with and without -f, ps
// STATUS, unknown containers. Each case runs the same commands through /usr/bin/docker and pivot
// and compares stdout and exit status. docker's daemon here has no bridge: --network none for
// docker, --net none for pivot.
import {after, afterEach, before, test} from 'node:test'
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {BUSYBOX_IMAGE, DOCKER_BIN, pivot, tempDir} from '../../helpers/fixtures'
import {leftovers, seedImage} from '../../helpers/seed-image'

const B = BUSYBOX_IMAGE
let cache: string
// Docker containers of this file: a unique prefix (branch and pid), all removed at the end.
const PREFIX = `pivot-lifecycle-${process.pid}`
let serial = 0

interface Result {
  status: number | null
  stdout: string
  stderr: string
}

before(() => {
  cache = tempDir('pivot-lifecycle-diff')
  seedImage(cache, B)
})

after(() => {
  const ids = spawnSync(DOCKER_BIN, ['ps', '-aq', '--filter', `name=${PREFIX}`], {encoding: 'utf8'})
    .stdout.split('\n')
    .filter(Boolean)
  if (ids.length > 0) spawnSync(DOCKER_BIN, ['rm', '-f', ...ids], {stdio: 'ignore'})
})

// A failed case must not fail the next ones through its leftovers.
afterEach(() => {
  const ids = pv(['ps', '-aq', '--no-trunc']).stdout.split('\n').filter(Boolean)
  if (ids.length > 0) pv(['rm', '-f', ...ids])
})

function dk(args: string[], timeout = 120_000): Result {
  const r = spawnSync(DOCKER_BIN, args, {encoding: 'utf8', input: '', timeout})
  if (r.error) throw r.error
  return {status: r.status, stdout: r.stdout, stderr: r.stderr}
}

function pv(args: string[], timeout = 120_000): Result {
  return pivot(args, {cacheDir: cache, input: '', timeout})
}

/** Both sides of one case: a container of each with the same name stem, made by `run -d`. */
interface Pair {
  d: string
  p: string
}

function runBoth(args: string[], flags: string[] = []): Pair {
  const name = `${PREFIX}-${++serial}`
  const d = dk(['run', '-d', '--network', 'none', '--name', name, ...flags, B, ...args])
  assert.equal(d.status, 0, d.stderr)
  assert.match(d.stdout, /^[0-9a-f]{64}\n$/)
  const p = pv(['run', '-d', '--net', 'none', '--name', name, ...flags, B, ...args])
  assert.equal(p.status, 0, p.stderr)
  assert.match(p.stdout, /^[0-9a-f]{64}\n$/, 'run -d prints the full id, as docker')
  return {d: name, p: name}
}

/** The same command on both containers: same stdout and status (and stderr, when asked). */
function same(pair: Pair, args: string[], opts: {stderr?: boolean; timeout?: number} = {}): {d: Result; p: Result} {
  const d = dk([...args, pair.d], opts.timeout)
  const p = pv([...args, pair.p], opts.timeout)
  assert.equal(p.status, d.status, `${args.join(' ')}: pivot ${p.status} (${p.stderr}) docker ${d.status} (${d.stderr})`)
  assert.equal(p.stdout, d.stdout, args.join(' '))
  if (opts.stderr) assert.equal(p.stderr, d.stderr, args.join(' '))
  return {d, p}
}

function removeBoth(pair: Pair): void {
  dk(['rm', '-f', pair.d])
  const r = pv(['rm', '-f', pair.p])
  assert.equal(r.status, 0, r.stderr)
}

function clean(): void {
  assert.deepEqual(leftovers(cache), {mounts: [], cgroups: [], containers: []})
}

function dockerStatus(name: string): string {
  return dk(['ps', '-a', '--filter', `name=^${name}$`, '--format', '{{.Status}}']).stdout.trim()
}

function pivotStatus(name: string): string {
  const list = JSON.parse(pv(['ps', '-a', '--json']).stdout) as Array<{name?: string; status: string}>
  return list.find(c => c.name === name)?.status ?? ''
}

test('run -d, wait, logs: the same output, streams and exit code; --tail; -t', () => {
  const pair = runBoth(['sh', '-c', 'echo err-1 >&2; sleep 0.5; for i in 1 2 3 4 5; do echo out-$i; done; printf "last without newline"; exit 3'])
  same(pair, ['wait'])
  same(pair, ['logs'], {stderr: true})
  same(pair, ['logs', '--tail', '2'], {stderr: true})
  same(pair, ['logs', '--tail', '0'], {stderr: true})
  same(pair, ['logs', '--tail', 'all'], {stderr: true})
  const stamped = pv(['logs', '-t', pair.p])
  assert.match(stamped.stdout, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z out-1\n/)
  // --since in the future: nothing, in both.
  same(pair, ['logs', '--since', '2099-01-01T00:00:00Z'], {stderr: true})
  assert.match(dockerStatus(pair.d), /^Exited \(3\) /)
  assert.match(pivotStatus(pair.p), /^Exited \(3\) /)
  removeBoth(pair)
  clean()
})

test('logs -f follows until the container exits', () => {
  const pair = runBoth(['sh', '-c', 'for i in 1 2 3; do echo tick-$i; sleep 0.5; done'])
  const {p} = same(pair, ['logs', '-f'], {timeout: 60_000})
  assert.equal(p.stdout, 'tick-1\ntick-2\ntick-3\n')
  removeBoth(pair)
  clean()
})

test('stop: a PID 1 that ignores SIGTERM is killed after -t (137); one that exits on it gives its own code', () => {
  const ignoring = runBoth(['sh', '-c', 'trap "" TERM; echo ready; while :; do sleep 0.1; done'])
  const started = Date.now()
  same(ignoring, ['stop', '-t', '1'])
  assert.ok(Date.now() - started >= 2000, 'both waited their second')
  same(ignoring, ['wait'])
  assert.equal(pv(['wait', ignoring.p]).stdout, '137\n')
  removeBoth(ignoring)
  const trapping = runBoth(['sh', '-c', 'trap "echo got TERM; exit 0" TERM; echo ready; while :; do sleep 0.1; done'])
  same(trapping, ['stop'])
  same(trapping, ['wait'])
  assert.equal(pv(['wait', trapping.p]).stdout, '0\n')
  same(trapping, ['logs'], {stderr: true})
  // A stopped container: stop again is no error.
  same(trapping, ['stop'])
  removeBoth(trapping)
  clean()
})

test('kill -s USR1 reaches a trap; kill of a stopped container is an error; a bad signal is refused', async () => {
  const pair = runBoth(['sh', '-c', 'trap "echo got USR1; exit 7" USR1; echo ready; while :; do sleep 0.1; done'])
  // The traps must be in place before the signal: both print "ready" after setting them.
  for (const [cli, name] of [
    [dk, pair.d],
    [pv, pair.p],
  ] as const) {
    const deadline = Date.now() + 30_000
    while (!cli(['logs', name]).stdout.includes('ready')) {
      if (Date.now() > deadline) throw new Error(`${name} never got ready`)
      await new Promise(resolve => setTimeout(resolve, 100))
    }
  }
  same(pair, ['kill', '-s', 'USR1'])
  same(pair, ['wait'])
  same(pair, ['logs'], {stderr: true})
  const again = same(pair, ['kill'])
  assert.equal(again.p.status, 1)
  assert.match(again.p.stderr, /^pivot: cannot kill container: .* is not running\n$/)
  const bad = same(pair, ['kill', '-s', 'NOSUCHSIG'])
  assert.equal(bad.p.status, 1)
  removeBoth(pair)
  clean()
})

test('rm of a running container: refused without -f (1), done with -f; ps STATUS Up, then gone', () => {
  const pair = runBoth(['sleep', '600'])
  assert.match(dockerStatus(pair.d), /^Up /)
  assert.match(pivotStatus(pair.p), /^Up /)
  const refused = same(pair, ['rm'])
  assert.equal(refused.p.status, 1)
  assert.equal(refused.p.stderr.trim().split('\n').length, 1)
  same(pair, ['rm', '-f'])
  assert.equal(dockerStatus(pair.d), '')
  assert.equal(pivotStatus(pair.p), '')
  clean()
})

test('run -d --rm: gone once it exited, in both', async () => {
  const pair = runBoth(['sh', '-c', 'exit 0'], ['--rm'])
  const deadline = Date.now() + 30_000
  while (dockerStatus(pair.d) !== '' || pivotStatus(pair.p) !== '' || leftovers(cache).containers.length > 0) {
    if (Date.now() > deadline) throw new Error('an --rm container stayed')
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  clean()
})

test('unknown containers: exit 1 (rm -f: 0), nothing on stdout, one line, for every command', () => {
  const ghost = {d: `${PREFIX}-ghost`, p: `${PREFIX}-ghost`}
  for (const cmd of [['logs'], ['stop'], ['kill'], ['rm'], ['rm', '-f'], ['wait']]) {
    const {p} = same(ghost, cmd)
    // docker rm -f says it, but a missing container is no failure for it.
    assert.equal(p.status, cmd.includes('-f') ? 0 : 1)
    assert.equal(p.stdout, '')
    assert.equal(p.stderr.trim().split('\n').length, 1, p.stderr)
    assert.match(p.stderr, /No such container: pivot-lifecycle-\d+-ghost\n$/)
  }
  clean()
})
