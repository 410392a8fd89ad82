import {test} from 'node:test'
import assert from 'node:assert/strict'
import {CLONE_NEWNS, CLONE_NEWUTS, MNT_DETACH, MS_PRIVATE, MS_REC, RecordingSyscalls, SysArgumentError, SysError, errnoName, makedev} from '../../../src/sys'

test('the fake records calls in the order they were made', () => {
  const sys = new RecordingSyscalls()
  sys.unshare(CLONE_NEWNS | CLONE_NEWUTS)
  sys.mount(null, '/', null, MS_REC | MS_PRIVATE, null)
  sys.sethostname('box')
  sys.pivotRoot('.', '.')
  sys.umount2('.', MNT_DETACH)
  assert.deepEqual(
    sys.calls.map(c => c.call),
    ['unshare', 'mount', 'sethostname', 'pivot_root', 'umount2'],
  )
  assert.deepEqual(sys.calls[1].args, [null, '/', null, MS_REC | MS_PRIVATE, null])
  assert.equal(sys.lines()[2], 'sethostname(box)')
})

test('the fake fails a chosen call with a typed error naming the errno', () => {
  const sys = new RecordingSyscalls().failOn('mount', 'EPERM', args => args[2] === 'proc')
  sys.mount('tmpfs', '/dev', 'tmpfs', 0, 'mode=755')
  assert.throws(
    () => sys.mount('proc', '/proc', 'proc', 0, null),
    (e: unknown) =>
      e instanceof SysError &&
      e.errnoName === 'EPERM' &&
      e.call === 'mount' &&
      e.code === 'SYS_CALL_FAILED' &&
      /mount\("proc", "\/proc", "proc", 0, null\) failed: EPERM/.test(e.message),
  )
  assert.equal(sys.calls.length, 2, 'the failed call is still recorded')
})

test('errno numbers map to their names', () => {
  assert.equal(errnoName(1), 'EPERM')
  assert.equal(errnoName(2), 'ENOENT')
  assert.equal(errnoName(22), 'EINVAL')
  assert.equal(errnoName(11), 'EAGAIN')
  assert.equal(errnoName(99999), 'errno 99999')
})

test('strings with a NUL byte are refused before any call is made', () => {
  const sys = new RecordingSyscalls()
  const cases: Array<[string, () => void]> = [
    ['mount', () => sys.mount('a\0b', '/x', null, 0, null)],
    ['chdir', () => sys.chdir('/tmp\0/../etc')],
    ['sethostname', () => sys.sethostname('evil\0name')],
    ['execve', () => sys.execve('/bin/sh', ['sh', '-c', 'echo\0rm -rf /'], [])],
    ['execve', () => sys.execve('/bin/sh', ['sh'], ['A=1\0B=2'])],
    ['pivot_root', () => sys.pivotRoot('.', '.\0')],
  ]
  for (const [call, fn] of cases) {
    assert.throws(fn, (e: unknown) => e instanceof SysArgumentError && e.code === 'SYS_BAD_ARGUMENT' && e.message.startsWith(`${call}:`), call)
  }
  assert.equal(sys.calls.length, 0)
})

test('makedev encodes major/minor as glibc does', () => {
  assert.equal(makedev(1, 3), 0x103n) // /dev/null
  assert.equal(makedev(5, 2), 0x502n) // /dev/ptmx
  assert.equal(makedev(259, 0x12345), 0x45n | (259n << 8n) | (0x123n << 20n))
})
