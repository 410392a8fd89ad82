// `pivot run` against `docker run` on the same images: the same flags must print the same and
// exit the same. Each case here was once silently different (issue 9): a CI job would not see it.
// docker's daemon here has no bridge (--bridge=none): docker runs with --network none, pivot with
// --net none.
import {after, before, test} from 'node:test'
import assert from 'node:assert/strict'
import {spawn, spawnSync, type ChildProcess} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {BUSYBOX_IMAGE, DEBIAN_IMAGE, DOCKER_BIN, PIVOT_BIN, REPO_ROOT, docker, pivot, tempDir} from '../../helpers/fixtures'
import {leftovers, seedImage} from '../../helpers/seed-image'

const B = BUSYBOX_IMAGE
const D = DEBIAN_IMAGE
// Built for this file from the busybox fixture, removed at the end; the branch's name keeps it
// apart from other test runs on the same daemon.
const USERS = 'localhost/pivot-test-runflags-users:latest'
let cache: string

interface Result {
  status: number | null
  stdout: string
  stderr: string
}

before(() => {
  cache = tempDir('pivot-docker-diff')
  seedImage(cache, B)
  seedImage(cache, D)
  // A user in extra groups (alice: root, staff, video), one whose primary group is not its own
  // (bob: users), for `id` to show the supplementary groups.
  const ctx = tempDir('pivot-docker-diff-ctx')
  fs.writeFileSync(
    path.join(ctx, 'passwd'),
    'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\nalice:x:1001:1001:alice:/home/alice:/bin/sh\nbob:x:1002:100:bob:/home/bob:/bin/sh\n',
  )
  fs.writeFileSync(
    path.join(ctx, 'group'),
    'root:x:0:alice\nusers:x:100:\nalice:x:1001:\nstaff:x:50:alice,bob\naudio:x:29:bob\nvideo:x:44:alice\nnobody:x:65534:\n',
  )
  fs.writeFileSync(path.join(ctx, 'Dockerfile'), `FROM ${B}\nCOPY passwd group /etc/\n`)
  docker(['build', '-q', '-t', USERS, ctx])
  // The real path a user takes: pivot pulls it from the daemon.
  const pulled = pivot(['pull', USERS], {cacheDir: cache, timeout: 120_000})
  assert.equal(pulled.status, 0, pulled.stderr)
})

after(() => {
  spawnSync(DOCKER_BIN, ['rmi', '-f', USERS], {stdio: 'ignore'})
})

function dockerRun(args: string[]): Result {
  const r = spawnSync(DOCKER_BIN, ['run', '--rm', '--network', 'none', ...args], {encoding: 'utf8', input: '', timeout: 120_000})
  if (r.error) throw r.error
  return {status: r.status, stdout: r.stdout, stderr: r.stderr}
}

function pivotRun(args: string[]): Result {
  return pivot(['run', '--rm', '--net', 'none', ...args], {cacheDir: cache, input: '', timeout: 120_000})
}

/** Runs both; asserts the same exit status (and stdout unless told otherwise); returns both. */
function same(args: string[], opts: {stdout?: boolean} = {}): {docker: Result; pivot: Result} {
  const d = dockerRun(args)
  const p = pivotRun(args)
  const shown = `${args.join(' ')}\ndocker: ${d.status} ${JSON.stringify(d.stdout)} ${d.stderr}\npivot: ${p.status} ${JSON.stringify(p.stdout)} ${p.stderr}`
  assert.equal(p.status, d.status, `exit status: ${shown}`)
  if (opts.stdout !== false) assert.equal(p.stdout, d.stdout, `stdout: ${shown}`)
  if (p.status === 125) assert.equal(p.stderr.trim().split('\n').length, 1, `one line: ${p.stderr}`)
  return {docker: d, pivot: p}
}

function clean(): void {
  assert.deepEqual(leftovers(cache), {mounts: [], cgroups: [], containers: []})
}

test('-h is --hostname, not help: the command runs and its exit status is kept', () => {
  const r = same(['-h', 'box1', B, 'sh', '-c', 'hostname; cat /etc/hostname; exit 5'])
  assert.equal(r.pivot.stdout, 'box1\nbox1\n')
  assert.equal(r.pivot.status, 5)
  same(['-h=box2', B, 'hostname'])
  // `-h` with no value is a flag without its argument in both.
  same(['-h'], {stdout: false})
  clean()
})

test('--entrypoint drops the image\'s Cmd; --entrypoint "" with no command is "no command specified", 125', () => {
  const r = same(['--entrypoint', '', B])
  assert.equal(r.pivot.status, 125)
  assert.match(r.docker.stderr, /No command specified/)
  assert.match(r.pivot.stderr, /^pivot: no command specified/)
  same(['--entrypoint', '/bin/echo', B])
  same(['--entrypoint', 'echo', B, 'hi', 'there'])
  same(['--entrypoint', '', B, 'echo', 'plain'])
  clean()
})

test('supplementary groups: id prints the same for root, named users, -u uid[:gid] and name:group', () => {
  for (const user of [undefined, 'root', '0', 'alice', 'bob', '1001', '1002', '1001:50', '0:44', 'alice:staff', 'bob:video', 'nobody', '4242', '4242:4242']) {
    const r = same([...(user === undefined ? [] : ['-u', user]), USERS, 'id'])
    assert.match(r.pivot.stdout, /groups=/, `${user}: ${r.pivot.stdout}`)
  }
  // An empty -u is no -u; an empty user part is uid 0 (root's home).
  for (const user of ['', ':', ':44']) same(['-u', user, USERS, 'sh', '-c', 'id; echo $HOME'])
  // GNU id in the Debian image reads the groups the same way.
  for (const user of [undefined, 'daemon', 'daemon:tty', '1:5', '1000']) same([...(user === undefined ? [] : ['-u', user]), D, 'id'])
  clean()
})

test('-w: a missing working directory is made (root, 0755), also with --read-only', () => {
  const show = 'pwd; stat -c "%a %U %G" /made /made/deep'
  for (const ro of [[], ['--read-only']]) {
    const r = same([...ro, '-w', '/made/deep', B, 'sh', '-c', show])
    assert.equal(r.pivot.stdout, '/made/deep\n755 root root\n755 root root\n')
    same([...ro, '-u', '65534', '-w', '/made', B, 'sh', '-c', 'pwd; stat -c "%a %U %G" /made; id -u'])
    // An existing directory is used as it is; a file is refused in both (125).
    same([...ro, '-w', '/tmp', B, 'pwd'])
    same([...ro, '-w', '/bin/sh', B, 'pwd'], {stdout: false})
  }
  // The root stays read-only: only the working directory was made.
  const ro = same(['--read-only', '-w', '/made', B, 'sh', '-c', 'touch /made/x 2>/dev/null; echo $?'])
  assert.equal(ro.pivot.stdout, '1\n')
  clean()
})

/** `sh -c` as PID 1 that prints each trapped signal and exits 7 on SIGTERM. */
function trapScript(signals: readonly string[]): string {
  const traps = signals.map(s => `trap "echo got ${s}" ${s}`).join('; ')
  // `wait` returns as soon as a trapped signal arrives, so each trap runs at once.
  return `${traps}; trap "echo got TERM; exit 7" TERM; echo ready; while :; do sleep 5 & wait $!; done`
}

async function waitFor(what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise(r => setTimeout(r, 20))
  }
}

/** Starts `cmd`, sends each signal once the previous one was seen, then SIGTERM; returns what it printed and its status. */
async function signalRun(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  signals: ReadonlyArray<string>,
): Promise<{out: string; status: number | null; alive: boolean[]}> {
  const child: ChildProcess = spawn(cmd, args, {cwd: REPO_ROOT, env, stdio: ['pipe', 'pipe', 'pipe']})
  let out = ''
  let err = ''
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()))
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()))
  const closed = new Promise<number | null>(resolve => child.on('close', code => resolve(code)))
  const alive: boolean[] = []
  try {
    await waitFor(`ready from ${cmd}: ${err}`, () => out.includes('ready\n'))
    for (const s of signals) {
      const n = /^\d+$/.test(s) ? Number(s) : (`SIG${s}` as NodeJS.Signals)
      process.kill(child.pid!, n)
      await waitFor(`${cmd} to pass on ${s}: ${out} ${err}`, () => out.includes(`got ${s}\n`) || child.exitCode !== null)
      alive.push(child.exitCode === null && child.signalCode === null)
    }
    child.kill('SIGTERM')
    const status = await closed
    return {out, status, alive}
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
}

test('signals: every one docker passes on reaches PID 1; none kills pivot or leaves a container', async () => {
  // What docker's CLI forwards (all it catches but SIGCHLD, SIGPIPE, SIGURG; its Go runtime
  // keeps SIGPROF and the real-time signals): each must reach the trap, in both.
  const common = [
    'HUP',
    'INT',
    'QUIT',
    'USR1',
    'USR2',
    'ALRM',
    'TSTP',
    'TTIN',
    'TTOU',
    'VTALRM',
    'XCPU',
    'XFSZ',
    'IO',
    'PWR',
    'SYS',
    'TRAP',
    'ABRT',
    'STKFLT',
    'WINCH',
  ]
  const env = {...process.env}
  delete env.NODE_EXTRA_CA_CERTS
  const d = await signalRun(DOCKER_BIN, ['run', '--rm', '-i', '--network', 'none', B, 'sh', '-c', trapScript(common)], env, common)
  // pivot also passes on SIGPROF and real-time signals, which kill docker's CLI (34 = SIGRTMIN).
  const extra = ['PROF', '34', '40', '64']
  const p = await signalRun(
    PIVOT_BIN,
    ['run', '--rm', '-i', '--net', 'none', B, 'sh', '-c', trapScript([...common, ...extra])],
    {...env, PIVOT_CACHE_DIR: cache},
    [...common, ...extra],
  )
  const seen = (out: string) =>
    out
      .split('\n')
      .filter(l => l.startsWith('got '))
      .map(l => l.slice(4))
  assert.deepEqual(seen(d.out), [...common, 'TERM'], `docker: ${d.out}`)
  assert.deepEqual(seen(p.out), [...common, ...extra, 'TERM'], `pivot: ${p.out}`)
  assert.ok(p.alive.every(Boolean), 'pivot survived every signal')
  // The trap's own exit status, in both: the container ended normally.
  assert.equal(d.status, 7)
  assert.equal(p.status, 7)
  const ps = pivot(['ps', '-a'], {cacheDir: cache})
  assert.equal(ps.stdout.trim().split('\n').length, 1, `no container left: ${ps.stdout}`)
  clean()
})

/** The container's pids, memory and CPU limits as "max" or a number; cgroup v1 or v2. */
const LIMITS =
  'cg=/sys/fs/cgroup; ' +
  'if [ -e $cg/pids/pids.max ]; then cat $cg/pids/pids.max $cg/memory/memory.limit_in_bytes $cg/cpu/cpu.cfs_quota_us; ' +
  'else cat $cg/pids.max $cg/memory.max; cut -d" " -f1 $cg/cpu.max; fi'

/**
 * pivot mounts no cgroup fs in the container: the same files, read through the host's
 * (/sys/fs/cgroup bound at /host-cg), at the container's paths from /proc/self/cgroup. On v1 a
 * controller may share a hierarchy (cpu,cpuacct), whose directory also has the plain name.
 */
const PIVOT_LIMITS =
  'lim() { p=$(grep -E "^[0-9]+:([^:]*,)?$1(,[^:]*)?:" /proc/self/cgroup | cut -d: -f3); cat /host-cg/$1$p/$2; }; ' +
  'if grep -q :pids: /proc/self/cgroup; then lim pids pids.max; lim memory memory.limit_in_bytes; lim cpu cpu.cfs_quota_us; ' +
  'else p=$(grep ^0:: /proc/self/cgroup | cut -d: -f3); cat /host-cg$p/pids.max /host-cg$p/memory.max; cut -d" " -f1 /host-cg$p/cpu.max; fi'

function unlimited(text: string): void {
  const [pids, memory, cpu] = text.trim().split('\n')
  assert.equal(pids, 'max', text)
  assert.ok(memory === 'max' || Number(memory) >= 2 ** 62, `memory unlimited: ${text}`)
  assert.ok(cpu === 'max' || cpu === '-1', `cpu unlimited: ${text}`)
}

test('--pids-limit -1, 0 (and below), --memory 0, --cpus 0: no limit, as in docker; bad values are one line, 125', () => {
  for (const flags of [
    ['--pids-limit', '-1'],
    ['--pids-limit', '0'],
    ['--pids-limit', '-2'],
    ['--memory', '0', '--cpus', '0', '--pids-limit', '0'],
  ]) {
    const d = dockerRun([...flags, B, 'sh', '-c', LIMITS])
    assert.equal(d.status, 0, d.stderr)
    const p = pivotRun([...flags, '-v', '/sys/fs/cgroup:/host-cg:ro', B, 'sh', '-c', PIVOT_LIMITS])
    assert.equal(p.status, 0, p.stderr)
    assert.equal(d.stdout.trim().split('\n')[0], 'max', `docker ${flags.join(' ')}: ${d.stdout}`)
    assert.equal(p.stdout.trim().split('\n')[0], 'max', `pivot ${flags.join(' ')}: ${p.stdout}`)
    if (flags.includes('--memory')) {
      unlimited(d.stdout)
      unlimited(p.stdout)
    }
  }
  // Without the flags pivot keeps its default pids limit (docker has none: not compared), and
  // real limits are seen where this test looks (it would see a wrong one).
  const dflt = pivotRun(['-v', '/sys/fs/cgroup:/host-cg:ro', B, 'sh', '-c', PIVOT_LIMITS])
  assert.equal(dflt.stdout.split('\n')[0], '4096', dflt.stdout + dflt.stderr)
  const limited = pivotRun(['--pids-limit', '33', '--memory', '64m', '--cpus', '0.5', '-v', '/sys/fs/cgroup:/host-cg:ro', B, 'sh', '-c', PIVOT_LIMITS])
  assert.match(limited.stdout, /^33\n67108864\n(50000|50000 100000)\n$/, limited.stdout + limited.stderr)
  for (const bad of [
    ['--pids-limit', 'abc'],
    ['--pids-limit', '1.5'],
    ['--memory', '1k'],
    ['--memory', '-1'],
    ['--cpus', '-1'],
    ['--cpus', '99'],
  ]) {
    same([...bad, B, 'true'])
  }
  clean()
})

test("exit codes and errors a docker user meets: 125, 126, 127, the command's own", () => {
  same([B, 'sh', '-c', 'exit 3'])
  same([B, 'nosuchcmd'])
  same([B, '/no/such/file'])
  same([B, '/etc/passwd'])
  same(['-w', 'relative', B, 'pwd'])
  same(['--bogus', B, 'true'])
  same(['-Z', B, 'true'])
  same(['--env-file', '/no/such/env/file', B, 'true'])
  // (--net bridge is a mode of pivot's now: test/integration/network.test.ts.)
  same(['--net', 'nosuch-net-pivot', B, 'true'])
  same(['-p', 'abc:80', B, 'true'])
  clean()
})

test("the environment in docker's order: PATH, HOSTNAME, the image's, -e; HOME from passwd", () => {
  for (const args of [
    [B],
    ['-u', 'nobody', B],
    ['-u', 'alice', USERS],
    ['-u', '4242', B],
    [D],
    ['-e', 'PATH=/bin:/usr/bin', '-e', 'Z=1', B],
    ['-e', 'HOME=/x', B],
  ]) {
    same(['-h', 'envbox', ...args, 'env'])
  }
  // -t (no terminal here: docker and pivot still make a pty, whose line ends are \r\n) adds TERM=xterm.
  const d = spawnSync(DOCKER_BIN, ['run', '--rm', '--network', 'none', '-t', '-h', 'envbox', B, 'env'], {encoding: 'utf8', input: ''})
  const p = pivot(['run', '--rm', '--net', 'none', '-t', '-h', 'envbox', B, 'env'], {cacheDir: cache, input: ''})
  assert.equal(p.status, 0, p.stderr)
  assert.equal(p.stdout, d.stdout)
  assert.match(p.stdout, /^HOSTNAME=envbox\r\nTERM=xterm\r\n/m)
  // Host names docker takes and CI jobs use.
  same(['-h', 'ci_box', B, 'hostname'])
  same(['-h', 'x'.repeat(64), B, 'hostname'])
  clean()
})

test('-e and --env-file read as docker reads them', () => {
  const envFile = path.join(tempDir('pivot-docker-diff-env'), 'env')
  fs.writeFileSync(envFile, '# comment\nA=1\n  B=two words\nC\nD=\n')
  const show = ['sh', '-c', 'echo "A=$A B=$B C=${C-unset} D=${D-unset} E=${E-unset} F=${F-unset}"']
  const env: NodeJS.ProcessEnv = {...process.env, C: 'from-host', E: 'e-host'}
  delete env.F
  for (const args of [['--env-file', envFile, '-e', 'E', '-e', 'F', '-e', 'A=override', B, ...show]]) {
    const d = spawnSync(DOCKER_BIN, ['run', '--rm', '--network', 'none', ...args], {encoding: 'utf8', env, input: ''})
    const p = pivot(['run', '--rm', '--net', 'none', ...args], {cacheDir: cache, env, input: ''})
    assert.equal(p.status, d.status, p.stderr + d.stderr)
    assert.equal(p.stdout, d.stdout)
  }
  clean()
})

test('-i: stdin reaches the command, and its end ends it', () => {
  const args = ['-i', B, 'sh', '-c', 'cat; echo "status $?"']
  const d = spawnSync(DOCKER_BIN, ['run', '--rm', '--network', 'none', ...args], {encoding: 'utf8', input: 'line one\nline two\n'})
  const p = pivot(['run', '--rm', '--net', 'none', ...args], {cacheDir: cache, input: 'line one\nline two\n'})
  assert.equal(p.status, d.status)
  assert.equal(p.stdout, d.stdout)
  assert.equal(p.stdout, 'line one\nline two\nstatus 0\n')
  clean()
})

test('--name: a name in use is refused (125) until the container is removed', () => {
  const name = `pivot-test-runflags-${process.pid}`
  try {
    assert.equal(spawnSync(DOCKER_BIN, ['run', '--network', 'none', '--name', name, B, 'true']).status, 0)
    const d = spawnSync(DOCKER_BIN, ['run', '--network', 'none', '--name', name, B, 'true'], {encoding: 'utf8'})
    assert.equal(pivot(['run', '--net', 'none', '--name', name, B, 'true'], {cacheDir: cache}).status, 0)
    const p = pivot(['run', '--net', 'none', '--name', name, B, 'true'], {cacheDir: cache})
    assert.equal(d.status, 125, d.stderr)
    assert.equal(p.status, 125, p.stderr)
    assert.match(p.stderr, /^pivot: the container name "[^"]+" is already in use/)
  } finally {
    spawnSync(DOCKER_BIN, ['rm', '-f', name], {stdio: 'ignore'})
    pivot(['prune'], {cacheDir: cache})
  }
})
