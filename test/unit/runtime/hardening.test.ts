// The hardening ops of the container's setup, executed against RecordingSyscalls: what each one
// calls, in which order, and that each refuses to weaken anything when the kernel or the files
// are not what it expects. No root, no kernel.
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {
  AT_EMPTY_PATH,
  MOUNT_ATTR_NODEV,
  MOUNT_ATTR_RDONLY,
  MS_BIND,
  MS_NODEV,
  MS_NOEXEC,
  MS_NOSUID,
  MS_RDONLY,
  MS_REC,
  MS_REMOUNT,
  O_CLOEXEC,
  O_NOFOLLOW,
  O_PATH,
  PR_CAPBSET_DROP,
  RecordingSyscalls,
  S_IFCHR,
  makedev,
} from '../../../src/sys'
import {executeSteps} from '../../../src/runtime/rootfs/execute'
import type {Step} from '../../../src/runtime/rootfs/steps'
import {FakeFs, devices} from './fake-fs'

const run = (steps: Step[], sys: RecordingSyscalls, fs = new FakeFs()) => executeSteps(steps, sys, fs)

test('maskPath: /dev/null checked (no symlink followed, char 1:3) and bound through the checked descriptor', () => {
  const sys = devices(new RecordingSyscalls())
  run(
    [
      {op: 'maskPath', path: '/proc/kcore'},
      {op: 'maskPath', path: '/proc/keys'},
    ],
    sys,
    new FakeFs({'/proc/kcore': {}, '/proc/keys': {}}),
  )
  const lines = sys.lines()
  assert.deepEqual(lines, [
    `open(/dev/null, ${O_PATH | O_NOFOLLOW | O_CLOEXEC}, 0)`,
    'fstat(100)',
    `mount(/proc/self/fd/100, /proc/kcore, null, ${MS_BIND}, null)`,
    `mount(/proc/self/fd/100, /proc/keys, null, ${MS_BIND}, null)`,
  ])
})

test('maskPath: a /dev/null that is not the null device fails the setup and mounts nothing', () => {
  for (const bad of [{mode: 0o100666}, {mode: S_IFCHR | 0o666, rdev: makedev(8, 0)}]) {
    const sys = new RecordingSyscalls().setFile('/dev/null', bad)
    assert.throws(
      () => run([{op: 'maskPath', path: '/proc/kcore'}], sys, new FakeFs({'/proc/kcore': {}})),
      (e: Error & {exitCode?: number}) => /\/dev\/null is not the character device 1:3/.test(e.message) && e.exitCode === 125,
    )
    assert.equal(
      sys.calls.some(c => c.call === 'mount'),
      false,
    )
    assert.ok(
      sys.calls.some(c => c.call === 'close'),
      'the descriptor is closed',
    )
  }
  // A symlink is never followed: open(O_NOFOLLOW|O_PATH) gives the link itself, not a char device.
  assert.equal(O_NOFOLLOW !== 0, true)
})

test('maskPath: a directory gets an empty read-only tmpfs, a missing path nothing', () => {
  const sys = new RecordingSyscalls()
  run(
    [
      {op: 'maskPath', path: '/sys/firmware'},
      {op: 'maskPath', path: '/proc/nope'},
    ],
    sys,
    new FakeFs({'/sys/firmware': {dir: true}}),
  )
  assert.deepEqual(sys.lines(), [`mount(tmpfs, /sys/firmware, tmpfs, ${MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC}, size=0,mode=555)`])
})

test('readonlyPath: bind onto itself, then read-only by mount_setattr (other flags kept); missing: nothing', () => {
  const sys = new RecordingSyscalls()
  run(
    [
      {op: 'readonlyPath', path: '/proc/sys'},
      {op: 'readonlyPath', path: '/proc/sysrq-trigger'},
    ],
    sys,
    new FakeFs({'/proc/sys': {dir: true}}),
  )
  assert.deepEqual(sys.lines(), [`mount(/proc/sys, /proc/sys, null, ${MS_BIND | MS_REC}, null)`, `mount_setattr(/proc/sys, ${MOUNT_ATTR_RDONLY}, 0, false)`])
})

test("restrictMount: mount_setattr recursive; before Linux 5.12 a remount keeping the source's flags", () => {
  const sys = new RecordingSyscalls()
  run([{op: 'restrictMount', path: '/r/data', readOnly: true}], sys)
  assert.deepEqual(sys.lines(), [`mount_setattr(/r/data, ${MOUNT_ATTR_NODEV | MOUNT_ATTR_RDONLY}, 0, true)`])
  const old = new RecordingSyscalls().failOn('mount_setattr', 'ENOSYS')
  old.statfsFlags = (path: string) => {
    old.calls.push({call: 'statfs', args: [path]})
    return MS_NOSUID | MS_NOEXEC | 0x20 /* ST_VALID: not a mount flag */
  }
  run([{op: 'restrictMount', path: '/r/data', readOnly: false}], old)
  assert.equal(old.lines().at(-1), `mount(null, /r/data, null, ${MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NOEXEC | MS_NODEV}, null)`)
})

test('readonlyPath before Linux 5.12: the remount keeps a nodev the path had (it asks only read-only)', () => {
  const old = new RecordingSyscalls().failOn('mount_setattr', 'ENOSYS')
  old.statfsFlags = () => MS_NOSUID | MS_NODEV | MS_NOEXEC
  run([{op: 'readonlyPath', path: '/proc/sys'}], old, new FakeFs({'/proc/sys': {dir: true}}))
  assert.equal(old.lines().at(-1), `mount(null, /proc/sys, null, ${MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY}, null)`)
})

test('bindDevice: the host node checked, an empty file made, the checked node bound; a wrong node fails', () => {
  const sys = devices(new RecordingSyscalls())
  const fs = new FakeFs()
  run([{op: 'bindDevice', source: '/dev/zero', target: '/r/dev/zero', major: 1, minor: 5}], sys, fs)
  assert.deepEqual(fs.ops, ['touch /r/dev/zero'])
  assert.deepEqual(sys.lines().slice(-2), [`mount(/proc/self/fd/100, /r/dev/zero, null, ${MS_BIND}, null)`, 'close(100)'])
  const wrong = devices(new RecordingSyscalls())
  assert.throws(
    () => run([{op: 'bindDevice', source: '/dev/zero', target: '/r/dev/zero', major: 1, minor: 3}], wrong),
    /\/dev\/zero is not the character device 1:3/,
  )
})

test('mountOverlay: the hardening options the kernel takes, else fewer, else none; other errors at once', () => {
  const sys = new RecordingSyscalls().failOn('mount', 'EINVAL', a => String(a[4]).includes('metacopy'))
  run(
    [{op: 'mountOverlay', target: '/r', flags: MS_NODEV, data: 'lowerdir=a:b', hardening: ['redirect_dir=nofollow,metacopy=off', 'redirect_dir=nofollow']}],
    sys,
  )
  assert.deepEqual(
    sys.calls.map(c => c.args[4]),
    ['lowerdir=a:b,redirect_dir=nofollow,metacopy=off', 'lowerdir=a:b,redirect_dir=nofollow'],
  )
  const none = new RecordingSyscalls().failOn('mount', 'EINVAL', a => String(a[4]).includes('redirect'))
  run([{op: 'mountOverlay', target: '/r', flags: 0, data: 'lowerdir=a:b', hardening: ['redirect_dir=nofollow']}], none)
  assert.equal(none.calls.at(-1)!.args[4], 'lowerdir=a:b')
  const perm = new RecordingSyscalls().failOn('mount', 'EPERM')
  assert.throws(() => run([{op: 'mountOverlay', target: '/r', flags: 0, data: 'x', hardening: ['y']}], perm), /EPERM/)
  assert.equal(perm.calls.length, 1)
})

test("capBounding drops every capability not kept, up to the kernel's last (EINVAL)", () => {
  const sys = new RecordingSyscalls().failOn('prctl', 'EINVAL', a => a[0] === PR_CAPBSET_DROP && (a[1] as number) > 40)
  run([{op: 'capBounding', keep: 0xa80425fbn}], sys)
  const dropped = sys.calls.filter(c => c.args[0] === PR_CAPBSET_DROP).map(c => c.args[1] as number)
  const kept = [0, 1, 3, 4, 5, 6, 7, 8, 10, 13, 18, 27, 29, 31]
  assert.deepEqual(
    dropped,
    Array.from({length: 42}, (_, i) => i).filter(i => !kept.includes(i)),
  )
})

test('raiseEffective, then seccomp, then capabilities: capset and the ambient set cleared', () => {
  const sys = new RecordingSyscalls().setCaps({effective: 0n, permitted: 0x1ffffffffffn, inheritable: 0n})
  run(
    [
      {op: 'raiseEffective'},
      {op: 'seccomp', program: Buffer.alloc(24).toString('base64')},
      {op: 'capabilities', effective: 0xa80425fbn, permitted: 0xa80425fbn, inheritable: 0n},
    ],
    sys,
  )
  assert.deepEqual(sys.lines(), [
    'capget()',
    `capset(${0x1ffffffffffn}, ${0x1ffffffffffn}, 0)`,
    'seccomp_load(3)',
    `capset(${0xa80425fbn}, ${0xa80425fbn}, 0)`,
    'prctl(47, 4, 0, 0, 0)',
  ])
})

test('capabilities pivot itself lacks: a one-line error naming them', () => {
  const sys = new RecordingSyscalls().failOn('capset', 'EPERM').setCaps({effective: 0n, permitted: 0x1fffeffffffn, inheritable: 0n})
  assert.throws(
    () => run([{op: 'capabilities', effective: 1n << 24n, permitted: 1n << 24n, inheritable: 0n}], sys),
    /pivot itself does not hold CAP_SYS_RESOURCE/,
  )
})

// -- the command's checks (security/exec-guard.ts) --

const SELF = {dev: 9n, ino: 4242n}
const cmd = (command: string[], env = ['PATH=/bin']): Step[] => [{op: 'resolveCommand', command, env}, {op: 'exec'}]
const guarded = (files: Record<string, {mode?: number; dev?: bigint; ino?: bigint; content?: string}>) => {
  const sys = new RecordingSyscalls().setFile('/proc/self/exe', SELF)
  for (const [p, f] of Object.entries(files)) sys.setFile(p, f)
  return sys
}
const fail = (fn: () => void) => {
  try {
    fn()
  } catch (e) {
    return e as Error & {exitCode: number}
  }
  throw new Error('no error')
}

test('the command on the root filesystem: checked, then execve by path (the kernel finds the same file)', () => {
  const sys = guarded({'/bin/sh': {content: '\x7fELF'}})
  assert.throws(() => run(cmd(['sh', '-c', 'x']), sys, new FakeFs({'/bin/sh': {mode: 0o755}})), /RecordingSyscalls.execve/)
  assert.deepEqual(sys.calls.at(-1)!.args.slice(0, 2), ['/bin/sh', ['sh', '-c', 'x']])
})

test("pivot's own init binary is refused, as the command or as a script's interpreter (CVE-2019-5736)", () => {
  const self = fail(() => run(cmd(['/proc/self/exe']), guarded({'/proc/self/exe': SELF}), new FakeFs({'/proc/self/exe': {dev: 5n}})))
  assert.equal(self.exitCode, 126)
  assert.match(self.message, /refusing to run pivot's own init binary/)
  const sys = guarded({'/x.sh': {content: '#!/proc/self/exe\n'}, '/proc/1/exe': SELF})
  // /proc/self/exe as the interpreter resolves to the init too.
  sys.setFile('/proc/self/exe', SELF)
  const script = fail(() => run(cmd(['/x.sh']), sys, new FakeFs({'/x.sh': {mode: 0o755}})))
  assert.equal(script.exitCode, 126)
  assert.match(script.message, /refusing to run pivot's own init binary/)
  assert.equal(
    sys.calls.some(c => c.call === 'execve' || c.call === 'execveat'),
    false,
  )
})

test("a file from outside the container's mounts (a host file through a magic link) is refused", () => {
  const sys = guarded({'/proc/self/map_files/1-2': {}})
  const fs = new FakeFs({'/proc/self/map_files/1-2': {dev: 3n}, '/proc/self/fdinfo/101': {text: 'mnt_id:\t7\n'}})
  const e = fail(() => run(cmd(['/proc/self/map_files/1-2']), sys, fs))
  assert.equal(e.exitCode, 126)
  assert.match(e.message, /from outside the container's filesystems/)
})

test('a command on another mount (a volume): execveat on the checked descriptor, no second lookup', () => {
  const sys = guarded({'/vol/tool': {content: '\x7fELF'}})
  assert.throws(() => run(cmd(['/vol/tool', 'a']), sys, new FakeFs({'/vol': {dir: true, dev: 2n}, '/vol/tool': {dev: 2n}})), /RecordingSyscalls.execveat/)
  const exec = sys.calls.at(-1)!
  assert.equal(exec.call, 'execveat')
  assert.deepEqual([exec.args[1], exec.args[2], exec.args[4]], ['', ['/vol/tool', 'a'], AT_EMPTY_PATH])
})

test('a script on a volume: its interpreter run by descriptor with [interp, arg, script, args] as binfmt_script does', () => {
  const sys = guarded({'/vol/run.sh': {content: '#!/bin/sh -e \nexit 0\n'}, '/bin/sh': {content: '\x7fELF'}})
  assert.throws(() => run(cmd(['/vol/run.sh', 'x']), sys, new FakeFs({'/vol/run.sh': {dev: 2n}, '/bin/sh': {}})), /RecordingSyscalls.execve/)
  const exec = sys.calls.at(-1)!
  // /bin/sh is on the root filesystem: by path.
  assert.deepEqual(exec.args.slice(0, 2), ['/bin/sh', ['/bin/sh', '-e', '/vol/run.sh', 'x']])
})

test('a script on the root filesystem with its interpreter there too: the kernel runs it (argv untouched)', () => {
  const sys = guarded({'/app/run.sh': {content: '#!/bin/sh\n'}, '/bin/sh': {content: '\x7fELF'}})
  assert.throws(() => run(cmd(['/app/run.sh', 'x']), sys, new FakeFs({'/app/run.sh': {}, '/bin/sh': {}})), /RecordingSyscalls.execve/)
  assert.deepEqual(sys.calls.at(-1)!.args.slice(0, 2), ['/app/run.sh', ['/app/run.sh', 'x']])
})

test('an ELF file whose interpreter is the init, or outside the root filesystem, is refused', () => {
  const elf = (interp: string) => {
    const b = Buffer.alloc(0x200)
    b.write('\x7fELF', 0, 'latin1')
    b[4] = 2
    b[5] = 1
    b.writeBigUInt64LE(64n, 0x20) // e_phoff
    b.writeUInt16LE(56, 0x36) // e_phentsize
    b.writeUInt16LE(1, 0x38) // e_phnum
    b.writeUInt32LE(3, 64) // PT_INTERP
    b.writeBigUInt64LE(0x100n, 64 + 8)
    b.writeBigUInt64LE(BigInt(interp.length + 1), 64 + 0x20)
    b.write(interp, 0x100)
    return b.toString('latin1')
  }
  const sys = guarded({'/bin/x': {content: elf('/proc/self/exe')}})
  sys.setFile('/bin/x', {content: Buffer.from(elf('/proc/self/exe'), 'latin1')})
  const e = fail(() => run(cmd(['/bin/x']), sys, new FakeFs({'/bin/x': {}})))
  assert.match(e.message, /refusing to run pivot's own init binary/)
  const vol = guarded({'/vol/ld.so': {}})
  vol.setFile('/bin/x', {content: Buffer.from(elf('/vol/ld.so'), 'latin1')})
  const v = fail(() => run(cmd(['/bin/x']), vol, new FakeFs({'/bin/x': {}, '/vol/ld.so': {dev: 2n}})))
  assert.match(v.message, /refusing an ELF interpreter \(\/vol\/ld.so\) outside the container's root filesystem/)
  const ok = guarded({'/lib/ld.so': {}})
  ok.setFile('/bin/x', {content: Buffer.from(elf('/lib/ld.so'), 'latin1')})
  assert.throws(() => run(cmd(['/bin/x']), ok, new FakeFs({'/bin/x': {}, '/lib/ld.so': {}})), /RecordingSyscalls.execve/)
})

test('a symlink into /proc makes the path unstable: execveat, and the identity check still applies', () => {
  const sys = guarded({'/bin/tool': {content: '\x7fELF'}})
  // /bin/tool -> /proc/1/root/bin/real: the walk leaves the root filesystem at /proc.
  const fs = new FakeFs({'/bin/tool': {link: '/proc/1/root/bin/real'}, '/proc': {dir: true, dev: 4n}})
  assert.throws(() => run(cmd(['/bin/tool']), sys, fs), /RecordingSyscalls.execveat/)
})
