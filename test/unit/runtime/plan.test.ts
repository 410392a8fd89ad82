// The container's setup order, checked against RecordingSyscalls: no root, no kernel.
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {
  CLONE_NEWIPC,
  CLONE_NEWNET,
  CLONE_NEWNS,
  CLONE_NEWUTS,
  MS_BIND,
  MS_PRIVATE,
  MS_RDONLY,
  MS_REC,
  MS_NODEV,
  MS_NOSUID,
  PR_SET_KEEPCAPS,
  PR_SET_NO_NEW_PRIVS,
  PR_SET_PDEATHSIG,
  PR_CAP_AMBIENT,
  PR_CAP_AMBIENT_CLEAR_ALL,
  RecordingSyscalls,
} from '../../../src/sys'
import type {InitConfig} from '../../../src/runtime/init-config'
import {planContainer, overlayOptions} from '../../../src/runtime/rootfs/plan'
import {executeSteps, lookPath} from '../../../src/runtime/rootfs/execute'
import type {Step} from '../../../src/runtime/rootfs/steps'
import {DEFAULT_CAPABILITIES} from '../../../src/runtime/security/capabilities'
import {FakeFs, devices} from './fake-fs'

const ROOT = '/cache/containers/abc/rootfs'

function config(over: Partial<InitConfig> = {}): InitConfig {
  return {
    storeRoot: '/cache',
    lowerDirs: ['containers/abc/init', 'l/111111111111', 'l/222222222222'],
    upperDir: 'containers/abc/upper',
    workDir: 'containers/abc/work',
    rootfs: ROOT,
    hostname: 'abc',
    net: 'host',
    volumes: [],
    readOnlyRootfs: false,
    command: ['sh', '-c', 'echo hi'],
    env: ['PATH=/usr/bin:/bin', 'HOSTNAME=abc'],
    workdir: '/',
    noNewPrivileges: false,
    capabilities: [...DEFAULT_CAPABILITIES],
    privileged: false,
    seccompFilter: Buffer.alloc(16).toString('base64'),
    ...over,
  }
}

const index = (steps: Step[], pred: (s: Step) => boolean) => {
  const i = steps.findIndex(pred)
  assert.notEqual(i, -1, 'step not found')
  return i
}
const mountOf = (target: string) => (s: Step) => (s.op === 'mount' || s.op === 'mountOverlay') && s.target === target

test('namespaces first, then / made rprivate before any other mount', () => {
  const steps = planContainer(config())
  assert.deepEqual(steps[0], {op: 'unshare', flags: CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC})
  assert.deepEqual(steps[1], {op: 'mount', source: null, target: '/', fstype: null, flags: MS_REC | MS_PRIVATE, data: null})
  const firstOtherMount = steps.findIndex((s, i) => i > 1 && s.op === 'mount')
  assert.ok(firstOtherMount > 1)
})

test('cgroup v1: the init joins each hierarchy of its cgroup first, before the namespaces; without joinCgroup, no join', () => {
  const tasks = ['/sys/fs/cgroup/pids/pivot/x/tasks', '/sys/fs/cgroup/memory/pivot/x/tasks']
  const steps = planContainer(config({joinCgroup: tasks, cgroup: {ns: 'private', version: 1, dirs: []}}))
  assert.deepEqual(steps.slice(0, 2), [
    {op: 'joinCgroup', tasks: tasks[0]},
    {op: 'joinCgroup', tasks: tasks[1]},
  ])
  assert.equal(steps[2].op, 'unshare')
  assert.equal(
    planContainer(config()).some(s => s.op === 'joinCgroup'),
    false,
  )
})

test('a join that fails stops the setup before any syscall, in one line naming the cgroup, exit 125', () => {
  const sys = new RecordingSyscalls()
  const fs = new FakeFs({'/sys/fs/cgroup/pids/pivot/x/tasks': {text: ''}})
  const join = ['/sys/fs/cgroup/pids/pivot/x/tasks', '/sys/fs/cgroup/memory/pivot/x/tasks']
  assert.throws(
    () => executeSteps(planContainer(config({joinCgroup: join})), sys, fs),
    (e: Error & {exitCode?: number; code?: string}) =>
      e.message === "cannot move the container's init into its cgroup /sys/fs/cgroup/memory/pivot/x: ENOENT" &&
      e.exitCode === 125 &&
      e.code === 'RUN_SETUP_FAILED',
  )
  assert.deepEqual(fs.ops, ['join /sys/fs/cgroup/pids/pivot/x/tasks'])
  assert.deepEqual(sys.calls, [])
})

test('--net none adds a network namespace and brings lo up after the unshare', () => {
  const steps = planContainer(config({net: 'none'}))
  assert.equal((steps[0] as {flags: number}).flags & CLONE_NEWNET, CLONE_NEWNET)
  const up = index(steps, s => s.op === 'interfaceUp')
  assert.deepEqual(steps[up], {op: 'interfaceUp', name: 'lo'})
  // sysfs shows the namespace's own devices: mounted after the new namespace exists.
  assert.ok(index(steps, mountOf(`${ROOT}/sys`)) > 0)
  assert.equal(
    planContainer(config()).some(s => s.op === 'interfaceUp'),
    false,
  )
})

test('overlay: chdir to the store root, relative lower dirs topmost first, upper and work', () => {
  const steps = planContainer(config())
  const chdir = index(steps, s => s.op === 'chdir' && s.path === '/cache')
  const overlay = index(steps, mountOf(ROOT))
  assert.ok(chdir < overlay, 'relative lowerdir paths need the chdir first')
  assert.deepEqual(steps[overlay], {
    op: 'mountOverlay',
    target: ROOT,
    flags: MS_NODEV,
    data: 'lowerdir=containers/abc/init:l/111111111111:l/222222222222,upperdir=containers/abc/upper,workdir=containers/abc/work',
    hardening: ['redirect_dir=nofollow,metacopy=off,index=off', 'redirect_dir=nofollow'],
  })
})

test('--read-only: an overlay without upper dir, mounted MS_RDONLY', () => {
  const c = config({readOnlyRootfs: true, upperDir: undefined, workDir: undefined})
  assert.equal(overlayOptions(c), 'lowerdir=containers/abc/init:l/111111111111:l/222222222222')
  const overlay = planContainer(c).find(mountOf(ROOT)) as {flags: number}
  assert.equal(overlay.flags & MS_RDONLY, MS_RDONLY)
})

test('kernel filesystems go under the new root after the overlay and before pivot_root', () => {
  const steps = planContainer(config())
  const overlay = index(steps, mountOf(ROOT))
  const pivot = index(steps, s => s.op === 'pivotRoot')
  for (const t of ['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys']) {
    const i = index(steps, mountOf(ROOT + t))
    assert.ok(overlay < i && i < pivot, `${t} between overlay and pivot_root`)
  }
  const sys = steps.find(mountOf(`${ROOT}/sys`)) as {flags: number}
  assert.equal(sys.flags & MS_RDONLY, MS_RDONLY, '/sys is read-only from its mount on')
  const devpts = steps.find(mountOf(`${ROOT}/dev/pts`)) as {data: string}
  assert.match(devpts.data, /newinstance/)
  assert.match(devpts.data, /ptmxmode=0666/)
})

test('/dev: tmpfs, umask 0, then devices, links and mount points; devpts after its directory', () => {
  const steps = planContainer(config())
  const tmpfs = index(steps, mountOf(`${ROOT}/dev`))
  const umask0 = index(steps, s => s.op === 'umask' && s.mask === 0)
  const firstNode = index(steps, s => s.op === 'bindDevice')
  assert.ok(tmpfs < umask0 && umask0 < firstNode)
  assert.equal((steps[tmpfs] as {flags: number}).flags & MS_NODEV, MS_NODEV, 'the /dev tmpfs is nodev: a node made there does not work')
  const nodes = steps.filter(s => s.op === 'bindDevice') as Array<Extract<Step, {op: 'bindDevice'}>>
  assert.deepEqual(
    nodes.map(n => `${n.source}>${n.target.replace(`${ROOT}/dev/`, '')}:${n.major}:${n.minor}`),
    ['/dev/null>null:1:3', '/dev/zero>zero:1:5', '/dev/full>full:1:7', '/dev/random>random:1:8', '/dev/urandom>urandom:1:9', '/dev/tty>tty:5:0'],
  )
  assert.ok(index(steps, s => s.op === 'bindDevice') < index(steps, s => s.op === 'pivotRoot'), "the sources are the host's /dev")
  const links = steps.filter(s => s.op === 'symlink').map(s => `${(s as {path: string}).path.replace(`${ROOT}/dev/`, '')}->${(s as {target: string}).target}`)
  assert.deepEqual(links, ['fd->/proc/self/fd', 'stdin->/proc/self/fd/0', 'stdout->/proc/self/fd/1', 'stderr->/proc/self/fd/2', 'ptmx->pts/ptmx'])
  assert.ok(index(steps, s => s.op === 'mkdir' && s.path === `${ROOT}/dev/pts`) < index(steps, mountOf(`${ROOT}/dev/pts`)))
})

test('volumes: after /dev, parents before children, reached inside the root, nodev (and ro) on the volume and its submounts', () => {
  const steps = planContainer(
    config({
      volumes: [
        {source: '/h/sub', target: '/data/sub', readOnly: true, kind: 'dir'},
        {source: '/h/data', target: '/data', readOnly: false, kind: 'dir'},
        {source: '/h/fuse', target: '/dev/fuse', readOnly: false, kind: 'file'},
        {source: 'tmpfs', target: '/data/t', readOnly: false, kind: 'tmpfs', flags: MS_NOSUID, data: 'size=1m'},
      ],
    }),
  )
  const at = (inside: string) => index(steps, s => s.op === 'mountInRoot' && s.inside === inside)
  const data = at('/data')
  const sub = at('/data/sub')
  assert.ok(data < sub, 'the parent volume first, or it would hide the child')
  assert.ok(data < at('/data/t'))
  assert.ok(index(steps, mountOf(`${ROOT}/dev`)) < data)
  assert.deepEqual(steps[sub], {
    op: 'mountInRoot',
    root: ROOT,
    inside: '/data/sub',
    kind: 'dir',
    source: '/h/sub',
    fstype: null,
    flags: MS_BIND | MS_REC,
    data: null,
    restrict: {readOnly: true},
  })
  assert.deepEqual(steps[at('/data/t')], {
    op: 'mountInRoot',
    root: ROOT,
    inside: '/data/t',
    kind: 'dir',
    source: 'tmpfs',
    fstype: 'tmpfs',
    flags: MS_NODEV | MS_NOSUID,
    data: 'size=1m',
  })
  // Under /dev the file is bound inside the container's tmpfs, before pivot_root.
  const fuse = at('/dev/fuse')
  assert.equal((steps[fuse] as {kind: string}).kind, 'file')
  assert.ok(index(steps, mountOf(`${ROOT}/dev`)) < fuse)
  assert.ok(fuse < index(steps, s => s.op === 'pivotRoot'))
})

test('pivot_root(".", ".") from the new root, then the old root detached, then chdir /', () => {
  const steps = planContainer(config())
  const p = index(steps, s => s.op === 'pivotRoot')
  assert.deepEqual(steps.slice(p - 1, p + 3), [
    {op: 'chdir', path: ROOT},
    {op: 'pivotRoot', newRoot: '.', putOld: '.'},
    {op: 'umount2', target: '.', flags: 2},
    {op: 'chdir', path: '/'},
  ])
})

test('the process: workdir, command, bounding set, user, death signal, signals, fds, nnp, seccomp, caps, exec last', () => {
  const steps = planContainer(config({user: '1000:1000', workdir: '/app', noNewPrivileges: true}))
  const tail = steps.slice(index(steps, s => s.op === 'workdir')).map(s => (s.op === 'prctl' ? `prctl ${s.option}:${s.arg2}` : s.op))
  assert.deepEqual(tail, [
    'workdir',
    'resolveCommand',
    'capBounding',
    `prctl ${PR_SET_KEEPCAPS}:1`,
    'switchUser',
    `prctl ${PR_SET_PDEATHSIG}:9`,
    'umask',
    'resetSignals',
    'closeFds',
    `prctl ${PR_SET_NO_NEW_PRIVS}:1`,
    'seccomp',
    `prctl ${PR_SET_KEEPCAPS}:0`,
    'capabilities',
    'exec',
  ])
  assert.ok(index(steps, s => s.op === 'pivotRoot') < index(steps, s => s.op === 'switchUser'), 'passwd is read from the container')
})

test('without no_new_privs the effective set is raised for the filter, which needs CAP_SYS_ADMIN then', () => {
  const steps = planContainer(config({user: '1000:1000'}))
  const tail = steps.slice(index(steps, s => s.op === 'closeFds')).map(s => s.op)
  assert.deepEqual(tail, ['closeFds', 'raiseEffective', 'seccomp', 'prctl', 'capabilities', 'exec'])
  assert.equal(
    steps.some(s => s.op === 'prctl' && s.option === PR_SET_NO_NEW_PRIVS),
    false,
    'no_new_privs is off by default (setuid works)',
  )
})

test("capabilities: the bounding set keeps the container's, the final sets are the container's, inheritable empty", () => {
  const steps = planContainer(config())
  const bounding = steps.find(s => s.op === 'capBounding') as Extract<Step, {op: 'capBounding'}>
  assert.equal(bounding.keep, 0xa80425fbn, "docker's default set")
  const caps = steps.find(s => s.op === 'capabilities') as Extract<Step, {op: 'capabilities'}>
  assert.deepEqual(caps, {op: 'capabilities', effective: 0xa80425fbn, permitted: 0xa80425fbn, inheritable: 0n})
  const none = planContainer(config({capabilities: []})).find(s => s.op === 'capBounding') as {keep: bigint}
  assert.equal(none.keep, 0n)
})

test('seccomp unconfined or --privileged: no filter and no effective raise; --privileged also no masks and a writable /sys', () => {
  const unconfined = planContainer(config({seccompFilter: null}))
  assert.equal(
    unconfined.some(s => s.op === 'seccomp' || s.op === 'raiseEffective'),
    false,
  )
  assert.ok(unconfined.some(s => s.op === 'maskPath'))
  const privileged = planContainer(config({privileged: true, seccompFilter: null}))
  assert.equal(
    privileged.some(s => s.op === 'maskPath' || s.op === 'readonlyPath'),
    false,
  )
  assert.equal((privileged.find(mountOf(`${ROOT}/sys`)) as {flags: number}).flags & MS_RDONLY, 0)
})

test("masked and read-only paths: docker's lists, after pivot_root (the container's /proc and /sys), before the workdir", () => {
  const steps = planContainer(config())
  const masks = steps.filter(s => s.op === 'maskPath').map(s => (s as {path: string}).path)
  assert.deepEqual(masks, [
    '/proc/asound',
    '/proc/acpi',
    '/proc/kcore',
    '/proc/keys',
    '/proc/latency_stats',
    '/proc/timer_list',
    '/proc/timer_stats',
    '/proc/sched_debug',
    '/proc/scsi',
    '/sys/firmware',
    '/sys/devices/virtual/powercap',
  ])
  const ro = steps.filter(s => s.op === 'readonlyPath').map(s => (s as {path: string}).path)
  assert.deepEqual(ro, ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'])
  const pivot = index(steps, s => s.op === 'pivotRoot')
  const firstMask = index(steps, s => s.op === 'maskPath')
  const lastRo = steps.map(s => s.op).lastIndexOf('readonlyPath')
  assert.ok(pivot < firstMask && firstMask < index(steps, s => s.op === 'readonlyPath'))
  assert.ok(lastRo < index(steps, s => s.op === 'workdir'))
})

test('executing the plan makes the calls in order through Syscalls', () => {
  const sys = new RecordingSyscalls()
  const fs = new FakeFs({
    '/etc/passwd': {text: 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n'},
    '/etc/group': {text: 'root:x:0:\napp:x:1000:\nwheel:x:10:app\n'},
    '/usr/bin/sh': {mode: 0o755},
  })
  devices(sys)
  assert.throws(() => executeSteps(planContainer(config({user: 'app'})), sys, fs), /exec "sh": RecordingSyscalls.execve/)
  const lines = sys.lines()
  assert.equal(lines[0], `unshare(${CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC})`)
  assert.equal(lines[1], `mount(null, /, null, ${MS_REC | MS_PRIVATE}, null)`)
  assert.equal(lines[2], 'sethostname(abc)')
  const at = (prefix: string) => lines.findIndex(l => l.startsWith(prefix))
  assert.ok(at('setgroups([1000,10])') < at('setresgid(1000)'))
  assert.ok(at('setresgid(1000)') < at('setresuid(1000)'), 'gid before uid')
  assert.ok(at('close_range_cloexec(3)') < at('set_cloexec(0, false)'))
  assert.ok(at('signal_default(13)') > at('setresuid'), 'SIGPIPE back to default')
  assert.equal(
    lines.some(l => l === 'signal_default(9)'),
    false,
  )
  const exec = sys.calls.at(-1)!
  assert.equal(exec.call, 'execve')
  assert.equal(exec.args[0], '/usr/bin/sh')
  assert.deepEqual(exec.args[2], ['PATH=/usr/bin:/bin', 'HOSTNAME=abc', 'HOME=/home/app'])
  assert.deepEqual(fs.ops.slice(0, 2), [`touch ${ROOT}/dev/null`, `touch ${ROOT}/dev/zero`])
  assert.ok(fs.ops.includes(`symlink ${ROOT}/dev/fd -> /proc/self/fd`))
  // The filter is loaded after everything but the capability drop and exec.
  assert.ok(at('seccomp_load') > at('close_range_cloexec'))
  assert.ok(at('seccomp_load') < at(`capset(${0xa80425fbn}`))
  assert.ok(at('capset') < at(`prctl(${PR_CAP_AMBIENT}, ${PR_CAP_AMBIENT_CLEAR_ALL}`))
})

test('a failing call stops the setup with its errno in one message, exit 125', () => {
  const sys = new RecordingSyscalls().failOn('mount', 'EPERM', args => args[2] === 'overlay')
  assert.throws(
    () => executeSteps(planContainer(config()), sys, new FakeFs()),
    (e: Error & {exitCode?: number; code?: string}) =>
      /container setup failed: mount\("overlay", "\/cache\/containers\/abc\/rootfs", "overlay", 4, "lowerdir=.*redirect_dir=nofollow,metacopy=off,index=off"\) failed: EPERM/.test(
        e.message,
      ) &&
      e.exitCode === 125 &&
      e.code === 'RUN_SETUP_FAILED',
  )
  assert.equal(
    sys.calls.some(c => c.call === 'pivot_root'),
    false,
  )
})

test('exec errors map to docker exit codes: 127 not found, 126 cannot invoke', () => {
  const files = {'/bin/sh': {mode: 0o755}, '/etc': {dir: true, mode: 0o755}, '/etc/passwd': {mode: 0o644, text: ''}}
  const run = (cmd: string[], sys = new RecordingSyscalls()) => {
    try {
      executeSteps([{op: 'resolveCommand', command: cmd, env: ['PATH=/bin']}, {op: 'exec'}], sys, new FakeFs({...files}))
    } catch (e) {
      return e as Error & {exitCode: number}
    }
    throw new Error('no error')
  }
  const notFound = run(['nosuch'])
  assert.equal(notFound.exitCode, 127)
  assert.equal(notFound.message, 'exec: "nosuch": executable file not found in $PATH')
  assert.equal(
    run(
      ['/nosuch'],
      new RecordingSyscalls().failOn('open', 'ENOENT', a => a[0] === '/nosuch'),
    ).exitCode,
    127,
  )
  const dir = run(['/etc'], new RecordingSyscalls().setFile('/etc', {mode: 0o040755}))
  assert.equal(dir.exitCode, 126)
  assert.match(dir.message, /is a directory/)
  const perm = run(['/etc/passwd'], new RecordingSyscalls().failOn('execve', 'EACCES'))
  assert.equal(perm.exitCode, 126)
  assert.match(perm.message, /permission denied/)
})

test('lookPath: the container PATH, regular executable files only, names with / as they are', () => {
  const fs = new FakeFs({'/a/x': {mode: 0o644}, '/b/x': {mode: 0o755}, '/c/y': {dir: true, mode: 0o755}})
  assert.equal(lookPath('x', ['PATH=/a:/b'], fs), '/b/x')
  assert.equal(lookPath('./x', ['PATH=/a'], fs), './x')
  assert.throws(() => lookPath('y', ['PATH=/c'], fs), /executable file not found/)
  assert.throws(() => lookPath('x', [], fs), /executable file not found/)
  // An entry stat cannot look in (a file: ENOTDIR; a symlink loop: ELOOP) is skipped, as by Go's
  // LookPath and so by docker (`-e PATH=/etc/passwd:/bin ... ls` runs /bin/ls).
  const failing = {
    stat: (p: string) => {
      if (p.startsWith('/f/')) throw Object.assign(new Error(`ENOTDIR: not a directory, stat '${p}'`), {code: 'ENOTDIR'})
      return fs.stat(p)
    },
  }
  assert.equal(lookPath('x', ['PATH=/f:/b'], failing), '/b/x')
})

test('a missing working directory is created, then entered', () => {
  const sys = new RecordingSyscalls().failOn('chdir', 'ENOENT', args => args[0] === '/new' && !created)
  let created = false
  const fs = new FakeFs()
  const orig = fs.mkdir.bind(fs)
  fs.mkdir = (p, mode, rec) => {
    created = true
    orig(p, mode, rec)
  }
  executeSteps([{op: 'workdir', path: '/new'}], sys, fs)
  assert.deepEqual(fs.ops, ['mkdir /new 755 -p'])
  assert.deepEqual(sys.lines(), ['chdir(/new)', 'chdir(/new)'])
})

test("a working directory that is not under the container's root is refused (getcwd says unreachable)", () => {
  const sys = new RecordingSyscalls().failOn('getcwd', 'ENOENT')
  assert.throws(
    () => executeSteps([{op: 'workdir', path: '/proc/self/fd/7'}], sys, new FakeFs()),
    (e: Error & {exitCode?: number}) => /working directory \/proc\/self\/fd\/7: it is outside the container/.test(e.message) && e.exitCode === 125,
  )
})

test('NUL bytes never reach a syscall', () => {
  const sys = new RecordingSyscalls()
  assert.throws(() => executeSteps([{op: 'sethostname', name: 'a\0b'}], sys, new FakeFs()), /NUL/)
  assert.equal(sys.calls.length, 0)
})

test('-t: /dev/console made on the tmpfs before pivot_root; the console after pivot_root and the masks, before the user switch', () => {
  const ops = planContainer(config({tty: true}))
  const at = (pred: (s: Step) => boolean) => ops.findIndex(pred)
  const touch = at(s => s.op === 'touch' && s.path === `${ROOT}/dev/console`)
  const pivot = at(s => s.op === 'pivotRoot')
  const console = at(s => s.op === 'console')
  assert.ok(touch !== -1 && touch < pivot, 'the mount point is made while /dev is reachable')
  assert.ok(console > pivot && console > at(s => s.op === 'maskPath'), "the pty is of the container's own devpts")
  assert.ok(console < at(s => s.op === 'switchUser') && console < at(s => s.op === 'exec'))
  assert.equal(
    planContainer(config()).some(s => s.op === 'console'),
    false,
  )
})

test('-t: the console step opens the devpts pty, binds /dev/console, takes it as controlling terminal and stdio, hands the master over', () => {
  const sys = new RecordingSyscalls()
  const fs = new FakeFs()
  executeSteps([{op: 'console'}], sys, fs)
  assert.deepEqual(sys.lines().slice(0, 4), ['open_pty(/dev/ptmx)', 'mount(/dev/pts/0, /dev/console, null, 4096, null)', 'setsid()', 'ioctl(1011, TIOCSCTTY)'])
  assert.deepEqual(sys.lines().slice(4), ['dup3(1011, 0)', 'dup3(1011, 1)', 'dup3(1011, 2)', 'close(1011)', 'close(1010)'])
  assert.deepEqual(fs.consoleHandedOver, [1010])
})

test('in a user namespace: overlay with userxattr, /sys bound read-only unless the init has its own network namespace, devpts without an unmapped gid', () => {
  const host = planContainer(config({userns: {ttyGid: true}, net: 'host'}))
  const overlay = host.find(s => s.op === 'mountOverlay')
  assert.ok(overlay && overlay.op === 'mountOverlay' && overlay.data.endsWith(',userxattr'), 'userxattr')
  const sys = host.filter(s => (s.op === 'mount' || s.op === 'restrictMount') && (s.op === 'mount' ? s.target : s.path) === `${ROOT}/sys`)
  assert.deepEqual(sys, [
    {op: 'mount', source: '/sys', target: `${ROOT}/sys`, fstype: null, flags: MS_BIND | MS_REC, data: null},
    {op: 'restrictMount', path: `${ROOT}/sys`, readOnly: true},
  ])
  const devpts = host.find(s => s.op === 'mount' && s.fstype === 'devpts')
  assert.ok(devpts && devpts.op === 'mount' && devpts.data?.endsWith(',gid=5'))
  // --net none: the init's own network namespace, owned by the user namespace: a fresh sysfs.
  const none = planContainer(config({userns: {ttyGid: false}, net: 'none'}))
  assert.ok(none.some(s => s.op === 'mount' && s.fstype === 'sysfs' && s.target === `${ROOT}/sys`))
  const single = none.find(s => s.op === 'mount' && s.fstype === 'devpts')
  assert.ok(single && single.op === 'mount' && !single.data?.includes('gid='), 'a single-id map has no gid 5')
  // A network namespace the starter made with the user namespace: a fresh sysfs too.
  const own = planContainer(config({userns: {ttyGid: true, ownNetwork: true}, net: 'joined'}))
  assert.ok(own.some(s => s.op === 'mount' && s.fstype === 'sysfs' && s.target === `${ROOT}/sys`))
  // Without a user namespace nothing changes.
  const plain = planContainer(config({net: 'host'}))
  const plainOverlay = plain.find(s => s.op === 'mountOverlay')
  assert.ok(plainOverlay && plainOverlay.op === 'mountOverlay' && !plainOverlay.data.includes('userxattr'))
  assert.ok(plain.some(s => s.op === 'mount' && s.fstype === 'sysfs'))
})
