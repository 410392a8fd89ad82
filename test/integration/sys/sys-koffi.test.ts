import {test} from 'node:test'
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {KoffiSyscalls, SysArgumentError, SysError} from '../../../src/sys'

const sysModule = path.resolve(__dirname, '../../../src/sys')

/** Runs a snippet in a fresh node process (namespace changes must not touch the test runner). */
function child(code: string): {status: number | null; stdout: string; stderr: string} {
  const r = spawnSync(
    process.execPath,
    ['-e', `const sys = new (require(${JSON.stringify(sysModule)}).KoffiSyscalls)(); const C = require(${JSON.stringify(sysModule)});\n${code}`],
    {encoding: 'utf8'},
  )
  return {status: r.status, stdout: r.stdout, stderr: r.stderr}
}

test('a child that unshares UTS sets a hostname the host never sees', () => {
  const name = `pivot-test-${process.pid}`
  const r = child(`sys.unshare(C.CLONE_NEWUTS); sys.sethostname(${JSON.stringify(name)}); process.stdout.write(require('os').hostname())`)
  assert.equal(r.status, 0, r.stderr)
  assert.equal(r.stdout, name)
  assert.notEqual(os.hostname(), name)
})

test('a mount made in an unshared mount namespace is invisible to the host', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pivot-sys-'))
  try {
    const r = child(`sys.unshare(C.CLONE_NEWNS); sys.mount(null, '/', null, C.MS_REC | C.MS_PRIVATE, null);
      sys.mount('tmpfs', ${JSON.stringify(dir)}, 'tmpfs', 0, 'size=1m');
      process.stdout.write(require('fs').readFileSync('/proc/thread-self/mountinfo', 'utf8').includes(${JSON.stringify(dir)}) ? 'mounted' : 'missing')`)
    assert.equal(r.status, 0, r.stderr)
    assert.equal(r.stdout, 'mounted')
    assert.ok(!fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(dir), 'the host sees no mount')
  } finally {
    fs.rmSync(dir, {recursive: true, force: true})
  }
})

test('a failing call throws SysError with the call, its arguments and the errno name', () => {
  const sys = new KoffiSyscalls()
  assert.throws(
    () => sys.chdir('/nonexistent/pivot-test'),
    (e: unknown) => e instanceof SysError && e.call === 'chdir' && e.errnoName === 'ENOENT' && e.args[0] === '/nonexistent/pivot-test',
  )
  assert.throws(
    () => sys.mount('none', '/nonexistent/pivot-test', 'tmpfs', 0, null),
    (e: unknown) => e instanceof SysError && e.errnoName === 'ENOENT',
  )
  assert.throws(
    () => sys.setns(9999, 0),
    (e: unknown) => e instanceof SysError && e.errnoName === 'EBADF',
  )
})

test('NUL bytes are refused before they reach libc', () => {
  const sys = new KoffiSyscalls()
  // Without the check C would see "/tmp" and succeed.
  assert.throws(() => sys.chdir('/tmp\0/nonexistent'), SysArgumentError)
  assert.throws(() => sys.execve('/bin/true', ['true\0x'], []), SysArgumentError)
})

test('xattrs, mknod and capabilities work through the bindings', () => {
  const sys = new KoffiSyscalls()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pivot-sys-'))
  try {
    const file = path.join(dir, 'f')
    fs.writeFileSync(file, '')
    sys.lsetxattr(file, 'user.pivot', Buffer.from('value'))
    assert.equal(sys.lgetxattr(file, 'user.pivot')?.toString(), 'value')
    assert.equal(sys.lgetxattr(file, 'user.absent'), null)
    sys.mknod(path.join(dir, 'fifo'), 0o010600, 0n)
    assert.ok(fs.lstatSync(path.join(dir, 'fifo')).isFIFO())
    const caps = sys.capget()
    assert.ok((caps.effective & (1n << 21n)) !== 0n, 'root has CAP_SYS_ADMIN')
  } finally {
    fs.rmSync(dir, {recursive: true, force: true})
  }
})

test('execve replaces the process, with fds 0-2 kept once FD_CLOEXEC is cleared', () => {
  const r = child(
    `for (const fd of [0, 1, 2]) sys.setCloexec(fd, false); sys.cloexecFrom(3); sys.execve('/bin/sh', ['sh', '-c', 'echo "$GREETING"; ls /proc/self/fd | wc -l'], ['GREETING=hello from execve'])`,
  )
  assert.equal(r.status, 0, r.stderr)
  const [greeting, fds] = r.stdout.trim().split('\n')
  assert.equal(greeting, 'hello from execve')
  // 0, 1, 2 and the fd ls opens for the directory: nothing of node's leaked across exec.
  assert.equal(Number(fds), 4)
})

test('a new network namespace has only loopback, down until interfaceUp brings it up', () => {
  const r = child(`const os = require('os'); sys.unshare(C.CLONE_NEWNET);
    const before = Object.keys(os.networkInterfaces()); sys.interfaceUp('lo');
    process.stdout.write(JSON.stringify({before, after: os.networkInterfaces()}))`)
  assert.equal(r.status, 0, r.stderr)
  const {before, after} = JSON.parse(r.stdout)
  assert.deepEqual(before, [], 'a down loopback has no addresses')
  assert.deepEqual(Object.keys(after), ['lo'])
  assert.ok(after.lo.some((a: {address: string}) => a.address === '127.0.0.1'))
})
