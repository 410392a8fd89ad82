// `pivot run` as a user sees it: isolation, the command's environment, files, exit codes, bad
// input. Every test checks the host afterwards: no mount, no cgroup, no container dir left.
import {before, test} from 'node:test'
import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {BUSYBOX_IMAGE, DEBIAN_IMAGE, pivot, tempDir, type PivotResult} from '../../helpers/fixtures'
import {leftovers, seedImage} from '../../helpers/seed-image'

const B = BUSYBOX_IMAGE
let cache: string
let layerRoot: string

before(() => {
  cache = tempDir('pivot-run')
  const image = seedImage(cache, B)
  layerRoot = path.join(cache, 'layers', image.layers[0].slice('sha256:'.length), 'rootfs')
  seedImage(cache, B, {name: 'localhost/entry:latest', config: {Entrypoint: ['/bin/echo', 'entry'], Cmd: ['default-arg']}})
  seedImage(cache, B, {name: 'localhost/no-cmd:latest', config: {Cmd: null}})
  seedImage(cache, B, {name: 'localhost/app-user:latest', config: {User: 'nobody', WorkingDir: '/tmp', Env: ['PATH=/bin:/usr/bin', 'IMG=1']}})
})

function run(args: string[], opts: {input?: string; timeout?: number} = {}): PivotResult {
  return pivot(['run', ...args], {cacheDir: cache, timeout: opts.timeout ?? 60_000, input: opts.input ?? ''})
}

function clean(): void {
  assert.deepEqual(leftovers(cache), {mounts: [], cgroups: [], containers: []})
}

function ok(r: PivotResult): string {
  assert.equal(r.status, 0, `exit ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`)
  return r.stdout
}

test('the command runs and prints; --rm leaves nothing', () => {
  assert.equal(ok(run(['--rm', B, 'echo', 'hello'])), 'hello\n')
  clean()
})

test("own hostname: the id prefix by default, --hostname when given, never the host's", () => {
  const out = ok(run(['--rm', B, 'sh', '-c', 'hostname; cat /etc/hostname; echo $HOSTNAME']))
  const [name, file, env] = out.trim().split('\n')
  assert.match(name, /^[0-9a-f]{12}$/)
  assert.notEqual(name, os.hostname())
  assert.equal(file, name)
  assert.equal(env, name)
  assert.equal(ok(run(['--rm', '--hostname', 'box1', B, 'hostname'])), 'box1\n')
  assert.equal(os.hostname() === 'box1', false)
  clean()
})

test('the command is PID 1 and sees only its own processes', () => {
  const out = ok(run(['--rm', B, 'sh', '-c', 'echo $$; ps -o pid,comm; ls /proc | grep -cE "^[0-9]+$"']))
  const lines = out.trim().split('\n')
  assert.equal(lines[0], '1')
  const ps = lines.slice(2, -1).map(l => l.trim().split(/\s+/))
  assert.deepEqual(ps[0], ['1', 'sh'])
  assert.ok(ps.length <= 3, `few processes: ${out}`)
  assert.ok(Number(lines.at(-1)) <= 4, `few pids in /proc: ${out}`)
  clean()
})

test('/ is the container root: cd .. at / stays at /, the host tree is gone', () => {
  const out = ok(run(['--rm', B, 'sh', '-c', 'cd /; cd ..; cd ..; pwd; ls /; test -e ' + JSON.stringify(cache) + ' && echo SEES-HOST; true']))
  assert.match(out, /^\/\n/)
  assert.doesNotMatch(out, /SEES-HOST/)
  assert.match(out, /\bproc\b/)
  clean()
})

test("/proc/self/cgroup names the container's pivot cgroup", () => {
  const out = ok(run(['--rm', B, 'cat', '/proc/self/cgroup']))
  assert.match(out, /pids:\/pivot\/[0-9a-f]{12}-[0-9a-f]{64}$|^0::\/pivot\/[0-9a-f]{12}-[0-9a-f]{64}$/m)
  clean()
})

// On cgroup v1 the init joins its cgroup itself, one thread at a time (InitConfig.joinCgroup):
// the command must still be wholly in it, in every hierarchy, however the init was started.
const V1 = fs.existsSync('/sys/fs/cgroup/pids/tasks')
test(
  'cgroup v1: the command is in its cgroup in pids, memory, cpu and freezer, run in the foreground, with -d, and started again',
  {skip: !V1 && 'the host has no cgroup v1'},
  () => {
    const inCgroup = (text: string, id?: string) => {
      const lines = text.trim().split('\n')
      for (const controller of ['pids', 'memory', 'cpu', 'freezer']) {
        const line = lines.find(l => l.split(':')[1].split(',').includes(controller))
        assert.match(line ?? '', /:\/pivot\/[0-9a-f]{12}-[0-9a-f]{64}$/, `${controller} in ${text}`)
        if (id) assert.ok(line!.endsWith(`-${id}`), line)
      }
    }
    inCgroup(ok(run(['--rm', B, 'cat', '/proc/self/cgroup'])))
    const id = ok(run(['-d', B, 'cat', '/proc/self/cgroup'])).trim()
    ok(pivot(['wait', id], {cacheDir: cache}))
    const first = ok(pivot(['logs', id], {cacheDir: cache}))
    inCgroup(first, id)
    ok(pivot(['start', '-a', id], {cacheDir: cache}))
    const both = ok(pivot(['logs', id], {cacheDir: cache}))
    assert.ok(both.startsWith(first) && both.length === 2 * first.length, both)
    inCgroup(both.slice(first.length), id)
    ok(pivot(['rm', id], {cacheDir: cache}))
    clean()
  },
)

test('no host fd reaches the container: ls /proc/self/fd is 0, 1, 2 and its own', () => {
  const out = ok(run(['--rm', B, 'ls', '/proc/self/fd']))
  assert.deepEqual(out.trim().split('\n'), ['0', '1', '2', '3'])
  clean()
})

test('the command starts with no signal ignored or blocked (Node ignores SIGPIPE; exec would keep it)', () => {
  const out = ok(run(['--rm', B, 'sh', '-c', 'grep -E "^Sig(Ign|Blk)" /proc/self/status; yes | head -n 1']))
  assert.equal(out, 'SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\ny\n')
  clean()
})

test('/dev, /dev/pts, /dev/shm, /sys read-only, /proc fresh', () => {
  const out = ok(
    run([
      '--rm',
      B,
      'sh',
      '-c',
      'ls /dev; echo ---; cat /proc/mounts; echo ---; echo x > /dev/null && echo null-ok; head -c4 /dev/zero | wc -c; touch /sys/x 2>&1; echo w > /dev/shm/f && cat /dev/shm/f',
    ]),
  )
  const [devs, mounts, rest] = out.split('---\n')
  for (const d of ['null', 'zero', 'full', 'random', 'urandom', 'tty', 'pts', 'shm', 'ptmx', 'fd', 'stdin', 'stdout', 'stderr']) {
    assert.match(devs, new RegExp(`^${d}$`, 'm'), d)
  }
  assert.doesNotMatch(devs, /^sda|^kmsg$|^mem$/m)
  assert.match(mounts, /^overlay \/ overlay rw/m)
  assert.match(mounts, /^proc \/proc proc rw,nosuid,nodev,noexec/m)
  assert.match(mounts, /^sysfs \/sys sysfs ro,/m)
  assert.match(mounts, /^devpts \/dev\/pts devpts .*ptmxmode=666/m)
  assert.match(rest, /null-ok\n4\n.*Read-only file system\nw\n/s)
  clean()
})

test("stdin: with -i the container's (echo hi | pivot run -i IMG cat), without -i /dev/null as in docker", () => {
  assert.equal(ok(run(['--rm', '-i', B, 'cat'], {input: 'hi\n'})), 'hi\n')
  // Without -i a container cannot eat the input of the loop that runs it.
  assert.equal(ok(run(['--rm', B, 'sh', '-c', 'cat; readlink /proc/self/fd/0'], {input: 'hi\n'})), '/dev/null\n')
  clean()
})

test('env: image Env, -e, --env-file, HOSTNAME, default PATH, HOME from passwd', () => {
  const dir = tempDir('pivot-envfile')
  const file = path.join(dir, 'env')
  fs.writeFileSync(file, '# test\nFROM_FILE=f\nOVER=file\n')
  const out = ok(run(['--rm', '-e', 'A=1', '--env', 'OVER=flag', '--env-file', file, B, 'env']))
  const env = new Map(
    out
      .trim()
      .split('\n')
      .map(l => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  )
  assert.equal(env.get('A'), '1')
  assert.equal(env.get('FROM_FILE'), 'f')
  assert.equal(env.get('OVER'), 'flag')
  assert.equal(env.get('PATH'), '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin')
  assert.equal(env.get('HOME'), '/root')
  assert.match(env.get('HOSTNAME') ?? '', /^[0-9a-f]{12}$/)
  assert.equal(env.has('NODE_OPTIONS'), false)
  clean()
})

test("workdir and user: flags, and the image's own", () => {
  assert.equal(ok(run(['--rm', '-w', '/etc', B, 'pwd'])), '/etc\n')
  assert.equal(ok(run(['--rm', '-w', '/made/by/pivot', B, 'pwd'])), '/made/by/pivot\n')
  // docker's groups: the gid is always one (run-docker-diff compares with docker).
  assert.equal(ok(run(['--rm', '-u', '65534:65534', B, 'id'])), 'uid=65534(nobody) gid=65534(nobody) groups=65534(nobody)\n')
  assert.equal(ok(run(['--rm', '-u', '1234', B, 'sh', '-c', 'id -u; id -g; echo $HOME'])), '1234\n0\n/\n')
  const own = ok(run(['--rm', 'localhost/app-user', 'sh', '-c', 'id -un; pwd; echo $IMG $PATH']))
  assert.equal(own, 'nobody\n/tmp\n1 /bin:/usr/bin\n')
  const r = run(['--rm', '-u', 'nosuchuser', B, 'true'])
  assert.equal(r.status, 125)
  assert.equal(r.stderr, 'pivot: unable to find user nosuchuser: no matching entries in passwd file\n')
  clean()
})

test("entrypoint and cmd by docker's rules", () => {
  assert.equal(ok(run(['--rm', 'localhost/entry'])), 'entry default-arg\n')
  assert.equal(ok(run(['--rm', 'localhost/entry', 'x'])), 'entry x\n')
  assert.equal(ok(run(['--rm', '--entrypoint', '/bin/echo', 'localhost/entry'])), '\n')
  assert.equal(ok(run(['--rm', '--entrypoint', '', 'localhost/entry', 'echo', 'plain'])), 'plain\n')
  const help = run(['--rm', B, 'ls', '--help'])
  assert.match(help.stdout + help.stderr, /Usage: ls/, "arguments after IMAGE are the command's")
  clean()
})

test('volumes: read-write and :ro bind mounts, files too; the host sees the writes', () => {
  const dir = tempDir('pivot-vol')
  fs.writeFileSync(path.join(dir, 'in.txt'), 'from host\n')
  fs.mkdirSync(path.join(dir, 'ro'))
  fs.writeFileSync(path.join(dir, 'single'), 'one file\n')
  const out = ok(
    run([
      '--rm',
      '-v',
      `${dir}:/data`,
      '-v',
      `${dir}/ro:/data/ro:ro`,
      '-v',
      `${dir}/single:/etc/single.conf:ro`,
      B,
      'sh',
      '-c',
      'cat /data/in.txt; echo out > /data/out.txt; echo x > /data/ro/x 2>&1 || echo ro-refused; cat /etc/single.conf',
    ]),
  )
  assert.equal(out, 'from host\nro-refused\none file\n')
  assert.equal(fs.readFileSync(path.join(dir, 'out.txt'), 'utf8'), 'out\n')
  assert.equal(fs.existsSync(path.join(dir, 'ro', 'x')), false)
  clean()
})

test('--net none: only lo, and it is up; host network by default', () => {
  assert.equal(ok(run(['--rm', '--net', 'none', B, 'ls', '/sys/class/net'])), 'lo\n')
  const out = ok(run(['--rm', '--net', 'none', B, 'sh', '-c', 'ip -o link; cat /etc/hosts']))
  assert.match(out, /^1: lo: <LOOPBACK,UP,LOWER_UP>/)
  assert.doesNotMatch(out, /^2: /m)
  assert.match(out, /^127\.0\.0\.1\tlocalhost$/m)
  const hostIfaces = fs.readdirSync('/sys/class/net').sort()
  const inside = ok(run(['--rm', B, 'ls', '/sys/class/net']))
    .trim()
    .split('\n')
    .sort()
  assert.deepEqual(inside, hostIfaces)
  clean()
})

test('--read-only: the root cannot be written; /dev/shm still can', () => {
  const out = ok(run(['--rm', '--read-only', B, 'sh', '-c', 'touch /x 2>&1; touch /tmp/x 2>&1; echo ok > /dev/shm/y && cat /dev/shm/y']))
  assert.match(out, /touch: \/x: Read-only file system/)
  assert.match(out, /ok\n$/)
  clean()
})

test('the cached image never changes; without --rm the container stays, with its record', () => {
  const before = fs.readdirSync(path.join(layerRoot, 'etc')).sort()
  const r = run(['--name', 'keeper', B, 'sh', '-c', 'echo changed > /etc/passwd; rm -f /bin/true; mkdir /newdir; exit 4'])
  assert.equal(r.status, 4)
  assert.deepEqual(fs.readdirSync(path.join(layerRoot, 'etc')).sort(), before)
  assert.ok(fs.existsSync(path.join(layerRoot, 'bin', 'true')))
  assert.doesNotMatch(fs.readFileSync(path.join(layerRoot, 'etc', 'passwd'), 'utf8'), /changed/)
  const [id] = leftovers(cache).containers
  const dir = path.join(cache, 'containers', id)
  const state = JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8'))
  assert.equal(state.status, 'exited')
  assert.equal(state.exitCode, 4)
  assert.equal(state.name, 'keeper')
  assert.ok(state.limits)
  assert.equal(typeof state.created, 'string')
  // The upper dir holds only the command's changes (no hostname/hosts/mount points).
  assert.equal(fs.readFileSync(path.join(dir, 'upper', 'etc', 'passwd'), 'utf8'), 'changed\n')
  assert.ok(fs.existsSync(path.join(dir, 'upper', 'newdir')))
  assert.equal(fs.existsSync(path.join(dir, 'upper', 'etc', 'hostname')), false)
  assert.equal(fs.existsSync(path.join(dir, 'upper', 'proc')), false)
  const ps = pivot(['ps', '-a'], {cacheDir: cache})
  assert.match(ps.stdout, new RegExp(`^${id.slice(0, 12)} .*"sh -c echo changed.*Exited \\(4\\).* keeper$`, 'm'))
  assert.doesNotMatch(pivot(['ps'], {cacheDir: cache}).stdout, /keeper/)
  // The name is taken while the container exists.
  const again = run(['--rm', '--name', 'keeper', B, 'true'])
  assert.equal(again.status, 125)
  assert.match(again.stderr, /^pivot: the container name "keeper" is already in use/)
  // prune removes stopped containers and frees the name.
  const pruned = pivot(['prune'], {cacheDir: cache})
  assert.equal(pruned.status, 0, pruned.stderr)
  assert.match(pruned.stdout, new RegExp(`Deleted container: ${id}`))
  assert.equal(ok(run(['--rm', '--name', 'keeper', B, 'echo', 'free'])), 'free\n')
  clean()
})

test("exit codes: the command's own, 126, 127, 137, 125", () => {
  assert.equal(run(['--rm', B, 'sh', '-c', 'exit 3']).status, 3)
  const dir = run(['--rm', B, '/etc'])
  assert.equal(dir.status, 126)
  assert.equal(dir.stderr, 'pivot: exec: "/etc": is a directory\n')
  const perm = run(['--rm', B, '/etc/passwd'])
  assert.equal(perm.status, 126)
  assert.equal(perm.stderr, 'pivot: exec: "/etc/passwd": permission denied\n')
  const missing = run(['--rm', B, 'no-such-command'])
  assert.equal(missing.status, 127)
  assert.equal(missing.stderr, 'pivot: exec: "no-such-command": executable file not found in $PATH\n')
  assert.equal(run(['--rm', B, '/no/such/file']).status, 127)
  // PID 1 ignores signals it has no handler for, even SIGKILL, when they come from inside its
  // namespace (docker's containers too: `sh -c 'kill -9 $$'` survives there). From a child's
  // point of view it works: 137.
  assert.equal(ok(run(['--rm', B, 'sh', '-c', 'kill -9 $$; echo survived'])), 'survived\n')
  assert.equal(ok(run(['--rm', B, 'sh', '-c', "sh -c 'kill -9 $$'; echo $?"])), '137\n')
  // The kernel's SIGKILL reaches PID 1: the OOM killer.
  assert.equal(run(['--rm', '--memory', '10m', B, 'tail', '-c', '40000000', '/dev/zero']).status, 137)
  assert.equal(run(['--rm', '--bogus', B, 'true']).status, 125)
  clean()
})

test('bad input: one error line, exit 125, nothing started or left', () => {
  const cases: Array<[string[], RegExp]> = [
    [['--pids-limit', 'abc', B, 'true'], /^pivot: invalid --pids-limit "abc": use a whole number \(0 or -1 for no limit\)\n$/],
    [['--memory', '12q', B, 'true'], /^pivot: invalid memory size "12q"/],
    [['--cpus', '-1', B, 'true'], /^pivot: invalid CPU count "-1"/],
    [['--cpus', 'x', B, 'true'], /^pivot: invalid CPU count "x"/],
    [['--unknown', B, 'true'], /^pivot: unknown flag: --unknown/],
    [['--net', 'no such', B, 'true'], /^pivot: invalid --net "no such": use host, none, bridge, a network name or container:NAME\n$/],
    [['--net', 'bridge', '-p', '18190:0', B, 'true'], /^pivot: invalid port spec "18190:0": container port 0 is out of range/],
    [['--pull', 'never', 'localhost/not-there', 'true'], /^pivot: no such image: "localhost\/not-there"/],
    [['Not-A-Reference', 'true'], /^pivot: invalid reference "Not-A-Reference": repository name must be lowercase\n$/],
    [
      ['--mount', 'type=bind,src=/no/such/dir,dst=/x', B, 'true'],
      /^pivot: invalid mount config for type "bind": bind source path does not exist: \/no\/such\/dir\n$/,
    ],
    [['-e', 'A=x\u0001', '--name', '-x', B, 'true'], /^pivot: invalid container name "-x"/],
    [['-w', 'relative', B, 'true'], /^pivot: the working directory "relative" is invalid/],
    [['localhost/no-cmd'], /^pivot: no command specified/],
    [['--entrypoint', '', 'localhost/no-cmd'], /^pivot: no command specified/],
    [['--entrypoint', '', B], /^pivot: no command specified/],
    [['--env-file', '/no/such/file', B, 'true'], /^pivot: --env-file \/no\/such\/file: no such file/],
  ]
  for (const [args, re] of cases) {
    const r = run(args)
    assert.equal(r.status, 125, `${args.join(' ')}: ${r.stderr}`)
    assert.match(r.stderr, re, args.join(' '))
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`)
    assert.equal(r.stdout, '')
    clean()
  }
  // No IMAGE: docker's exit 1 for a wrong argument count, with its words.
  const none = run([])
  assert.equal(none.status, 1, none.stderr)
  assert.equal(none.stderr, `pivot: "pivot run" requires at least 1 argument. See 'pivot run --help'.\n`)
  // A NUL byte cannot come through argv; an env file can carry one.
  const dir = tempDir('pivot-nul')
  fs.writeFileSync(path.join(dir, 'env'), 'A=b\0c\n')
  const nul = run(['--env-file', path.join(dir, 'env'), B, 'true'])
  assert.equal(nul.status, 125)
  assert.match(nul.stderr, /NUL byte/)
  clean()
})

test("pivot run --help is oclif's help, built from the same flag table", () => {
  const r = run(['--help'])
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stdout, /USAGE\n\s+\$ pivot run \[FLAGS\] IMAGE \[COMMAND \[ARG\.\.\.\]\]/)
  const {RUN_FLAGS} = require('../../../src/runtime/run-flags') as typeof import('../../../src/runtime/run-flags')
  for (const f of RUN_FLAGS) assert.ok(r.stdout.includes(`--${f.name}`), f.name)
  clean()
})

test('the Debian image runs bash with its own PATH and passwd', () => {
  seedImage(cache, DEBIAN_IMAGE)
  const out = ok(run(['--rm', DEBIAN_IMAGE, 'bash', '-c', 'cat /etc/debian_version; echo $HOME; id -un; echo $$']))
  assert.match(out, /^12\.\d+\n\/root\nroot\n1\n$/)
  clean()
})
