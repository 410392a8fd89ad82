import type {CapabilitySets, FileStat, SeccompRuleSpec, Syscalls} from './syscalls'
import * as os from 'node:os'
import {errno, fn, koffiModule, type Koffi} from './koffi-loader'
import {rejectNul, rejectNulBytes, rejectNulExec, SysError} from './sys-error'
import {setns, unshare} from './namespace-calls'

const {ENODATA, ENOENT, ERANGE, EWOULDBLOCK, EINVAL} = os.constants.errno

// Syscalls without a glibc wrapper, or whose glibc wrapper we must avoid (setgroups/setresuid/
// setresgid broadcast to every thread through SIGSETXID; the raw call changes this thread only,
// which is what a thread that is about to exec wants and what a multi-threaded Node allows).
type Nr = 'pivot_root' | 'setgroups' | 'setresuid' | 'setresgid' | 'close_range' | 'execveat' | 'mount_setattr' | 'seccomp' | 'pidfd_open' | 'pidfd_getfd'
const NR: Record<string, Record<Nr, number>> = {
  x64: {
    pivot_root: 155,
    setgroups: 116,
    setresuid: 117,
    setresgid: 119,
    close_range: 436,
    execveat: 322,
    mount_setattr: 442,
    seccomp: 317,
    pidfd_open: 434,
    pidfd_getfd: 438,
  },
  arm64: {
    pivot_root: 41,
    setgroups: 159,
    setresuid: 147,
    setresgid: 149,
    close_range: 436,
    execveat: 281,
    mount_setattr: 442,
    seccomp: 277,
    pidfd_open: 434,
    pidfd_getfd: 438,
  },
}

function nr(name: keyof (typeof NR)['x64']): number {
  const table = NR[process.arch]
  if (!table) throw new Error(`pivot: unsupported architecture ${process.arch}`)
  return table[name]
}

const F_GETFD = 1
const F_SETFD = 2
const FD_CLOEXEC = 1
const CLOSE_RANGE_CLOEXEC = 1 << 2
const SIOCGIFFLAGS = 0x8913
const SIOCSIFFLAGS = 0x8914
const IFF_UP = 0x1
const SIOCBRADDIF = 0x89a2
const O_RDWR = 0o2
const O_NOCTTY = 0o400
const TIOCGPTN = 0x80045430
const LINUX_CAPABILITY_VERSION_3 = 0x20080522
const TIOCSPTLCK = 0x40045431
const TIOCSCTTY = 0x540e
const TIOCSWINSZ = 0x5414

/** Calls libc through koffi. Checks every string for NUL before the call, errno right after it. */
export class KoffiSyscalls implements Syscalls {
  private check(call: string, args: unknown[], result: number | bigint): void {
    if (Number(result) === -1) throw new SysError(call, args, errno())
  }

  unshare(flags: number): void {
    unshare(flags)
  }

  setns(fd: number, nstype: number): void {
    setns(fd, nstype)
  }

  mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null): void {
    for (const [what, v] of [
      ['source', source],
      ['target', target],
      ['fstype', fstype],
      ['data', data],
    ] as const)
      rejectNul('mount', what, v)
    const mount = fn('int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)')
    this.check('mount', [source, target, fstype, flags, data], mount(source, target, fstype, flags, data))
  }

  setFsIds(uid: number, gid: number): {uid: number; gid: number} {
    const setfsuid = fn('int setfsuid(uint32_t fsuid)')
    const setfsgid = fn('int setfsgid(uint32_t fsgid)')
    // Each returns the previous id whatever happened; a second call with -1 reads the current one.
    const gidBefore = Number(setfsgid(gid))
    const uidBefore = Number(setfsuid(uid))
    const gidNow = Number(setfsgid(0xffffffff))
    const uidNow = Number(setfsuid(0xffffffff))
    if (uidNow !== uid || gidNow !== gid) throw new SysError('setfsuid', [uid, gid], os.constants.errno.EPERM)
    return {uid: uidBefore, gid: gidBefore}
  }

  umount2(target: string, flags: number): void {
    rejectNul('umount2', 'target', target)
    this.check('umount2', [target, flags], fn('int umount2(const char *target, int flags)')(target, flags))
  }

  pivotRoot(newRoot: string, putOld: string): void {
    rejectNul('pivot_root', 'new_root', newRoot)
    rejectNul('pivot_root', 'put_old', putOld)
    const syscall = fn('long syscall(long nr, ...)')
    this.check('pivot_root', [newRoot, putOld], syscall(nr('pivot_root'), 'const char *', newRoot, 'const char *', putOld))
  }

  chroot(path: string): void {
    rejectNul('chroot', 'path', path)
    this.check('chroot', [path], fn('int chroot(const char *path)')(path))
  }

  chdir(path: string): void {
    rejectNul('chdir', 'path', path)
    this.check('chdir', [path], fn('int chdir(const char *path)')(path))
  }

  sethostname(name: string): void {
    rejectNul('sethostname', 'name', name)
    const len = Buffer.byteLength(name)
    this.check('sethostname', [name], fn('int sethostname(const char *name, size_t len)')(name, len))
  }

  setrlimit(resource: number, soft: bigint, hard: bigint): void {
    const limit = Buffer.alloc(16) // struct rlimit64: rlim_cur, rlim_max (u64 each)
    limit.writeBigUInt64LE(BigInt.asUintN(64, soft), 0)
    limit.writeBigUInt64LE(BigInt.asUintN(64, hard), 8)
    this.check('prlimit64', [resource, soft, hard], fn('int prlimit64(int pid, int resource, void *new_limit, void *old_limit)')(0, resource, limit, null))
  }

  umask(mask: number): number {
    return fn('uint32_t umask(uint32_t mask)')(mask)
  }

  getpid(): number {
    return fn('int getpid()')()
  }

  mknod(path: string, mode: number, dev: bigint): void {
    rejectNul('mknod', 'path', path)
    this.check('mknod', [path, mode, dev], fn('int mknod(const char *path, uint32_t mode, uint64_t dev)')(path, mode, dev))
  }

  lsetxattr(path: string, name: string, value: Buffer): void {
    rejectNul('lsetxattr', 'path', path)
    rejectNul('lsetxattr', 'name', name)
    const set = fn('int lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags)')
    this.check('lsetxattr', [path, name], set(path, name, value, value.length, 0))
  }

  lgetxattr(path: string, name: string): Buffer | null {
    rejectNul('lgetxattr', 'path', path)
    rejectNul('lgetxattr', 'name', name)
    const get = fn('long lgetxattr(const char *path, const char *name, void *value, size_t size)')
    const size = Number(get(path, name, null, 0))
    if (size === -1) {
      const e = errno()
      if (e === ENODATA) return null
      throw new SysError('lgetxattr', [path, name], e)
    }
    const buf = Buffer.alloc(size)
    this.check('lgetxattr', [path, name], get(path, name, buf, size))
    return buf
  }

  prctl(option: number, arg2 = 0, arg3 = 0, arg4 = 0, arg5 = 0): number {
    const prctl = fn('int prctl(int option, ...)')
    const ul = 'unsigned long'
    const result = prctl(option, ul, arg2, ul, arg3, ul, arg4, ul, arg5)
    this.check('prctl', [option, arg2, arg3, arg4, arg5], result)
    return result
  }

  capget(): CapabilitySets {
    const header = capHeader()
    const data = Buffer.alloc(24)
    this.check('capget', [], fn('int capget(void *header, void *data)')(header, data))
    const read = (offset: number) => BigInt(data.readUInt32LE(offset)) | (BigInt(data.readUInt32LE(offset + 12)) << 32n)
    return {effective: read(0), permitted: read(4), inheritable: read(8)}
  }

  capset(sets: CapabilitySets): void {
    const data = Buffer.alloc(24)
    const write = (value: bigint, offset: number) => {
      data.writeUInt32LE(Number(value & 0xffffffffn), offset)
      data.writeUInt32LE(Number((value >> 32n) & 0xffffffffn), offset + 12)
    }
    write(sets.effective, 0)
    write(sets.permitted, 4)
    write(sets.inheritable, 8)
    this.check('capset', [sets.effective, sets.permitted, sets.inheritable], fn('int capset(void *header, void *data)')(capHeader(), data))
  }

  setgroups(gids: number[]): void {
    const list = Uint32Array.from(gids)
    const syscall = fn('long syscall(long nr, ...)')
    this.check('setgroups', [gids], syscall(nr('setgroups'), 'long', gids.length, 'void *', list))
  }

  setresgid(gid: number): void {
    const syscall = fn('long syscall(long nr, ...)')
    this.check('setresgid', [gid], syscall(nr('setresgid'), 'long', gid, 'long', gid, 'long', gid))
  }

  setresuid(uid: number): void {
    const syscall = fn('long syscall(long nr, ...)')
    this.check('setresuid', [uid], syscall(nr('setresuid'), 'long', uid, 'long', uid, 'long', uid))
  }

  setCloexec(fd: number, on: boolean): void {
    const fcntl = fn('int fcntl(int fd, int cmd, ...)')
    const flags = fcntl(fd, F_GETFD)
    this.check('fcntl', [fd, 'F_GETFD'], flags)
    const next = on ? flags | FD_CLOEXEC : flags & ~FD_CLOEXEC
    this.check('fcntl', [fd, 'F_SETFD', next], fcntl(fd, F_SETFD, 'int', next))
  }

  cloexecFrom(first: number): void {
    const syscall = fn('long syscall(long nr, ...)')
    this.check(
      'close_range',
      [first, 'CLOSE_RANGE_CLOEXEC'],
      syscall(nr('close_range'), 'unsigned int', first, 'unsigned int', 0xffffffff, 'unsigned int', CLOSE_RANGE_CLOEXEC),
    )
  }

  tryFlock(fd: number, exclusive: boolean): boolean {
    const LOCK_SH = 1,
      LOCK_EX = 2,
      LOCK_NB = 4
    const result = fn('int flock(int fd, int operation)')(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB)
    if (result === -1 && errno() === EWOULDBLOCK) return false
    this.check('flock', [fd, exclusive ? 'LOCK_EX' : 'LOCK_SH'], result)
    return true
  }

  interfaceUp(name: string): void {
    rejectNul('interface_up', 'name', name)
    if (Buffer.byteLength(name) >= 16) throw new SysError('interface_up', [name], 36 /* ENAMETOOLONG */)
    const fd = fn('int socket(int domain, int type, int protocol)')(2 /* AF_INET */, 2 /* SOCK_DGRAM */ | 0o2000000 /* SOCK_CLOEXEC */, 0)
    this.check('socket', ['AF_INET', 'SOCK_DGRAM'], fd)
    const close = fn('int close(int fd)')
    try {
      const ioctl = fn('int ioctl(int fd, unsigned long request, ...)')
      const ifreq = Buffer.alloc(40)
      ifreq.write(name, 0)
      this.check('ioctl', [name, 'SIOCGIFFLAGS'], ioctl(fd, SIOCGIFFLAGS, 'void *', ifreq))
      ifreq.writeUInt16LE(ifreq.readUInt16LE(16) | IFF_UP, 16)
      this.check('ioctl', [name, 'SIOCSIFFLAGS'], ioctl(fd, SIOCSIFFLAGS, 'void *', ifreq))
    } finally {
      close(fd)
    }
  }

  bridgeAddInterface(bridge: string, ifname: string): void {
    rejectNul('bridge_add_interface', 'bridge', bridge)
    rejectNul('bridge_add_interface', 'ifname', ifname)
    if (Buffer.byteLength(bridge) >= 16) throw new SysError('bridge_add_interface', [bridge, ifname], 36 /* ENAMETOOLONG */)
    const index = fn('unsigned int if_nametoindex(const char *ifname)')(ifname) as number
    if (index === 0) throw new SysError('if_nametoindex', [ifname], errno())
    const fd = fn('int socket(int domain, int type, int protocol)')(2 /* AF_INET */, 2 /* SOCK_DGRAM */ | 0o2000000 /* SOCK_CLOEXEC */, 0)
    this.check('socket', ['AF_INET', 'SOCK_DGRAM'], fd)
    try {
      // struct ifreq: the bridge's name, then ifr_ifindex (an int at offset 16).
      const ifreq = Buffer.alloc(40)
      ifreq.write(bridge, 0)
      ifreq.writeInt32LE(index, 16)
      this.check('ioctl', [bridge, 'SIOCBRADDIF', ifname], fn('int ioctl(int fd, unsigned long request, ...)')(fd, SIOCBRADDIF, 'void *', ifreq))
    } finally {
      fn('int close(int fd)')(fd)
    }
  }

  signalDefault(signum: number): void {
    // A zeroed struct sigaction is SIG_DFL with an empty mask and no flags; 256 bytes covers
    // glibc's 152-byte struct on every 64-bit architecture.
    const act = Buffer.alloc(256)
    this.check('sigaction', [signum, 'SIG_DFL'], fn('int sigaction(int signum, const void *act, void *oldact)')(signum, act, null))
  }

  execve(path: string, argv: string[], envp: string[]): never {
    rejectNulExec('execve', path, argv, envp)
    const execve = fn('int execve(const char *path, const char **argv, const char **envp)')
    execve(path, [...argv, null], [...envp, null])
    throw new SysError('execve', [path], errno())
  }

  mknodBytes(path: Buffer, mode: number, dev: bigint): void {
    const p = cPath('mknod', path)
    this.check('mknod', [shown(path), mode, dev], fn('int mknod(const char *path, uint32_t mode, uint64_t dev)')(p, mode, dev))
  }

  lsetxattrBytes(path: Buffer, name: string, value: Buffer): void {
    const p = cPath('lsetxattr', path)
    rejectNul('lsetxattr', 'name', name)
    const set = fn('int lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags)')
    this.check('lsetxattr', [shown(path), name], set(p, name, value, value.length, 0))
  }

  lgetxattrBytes(path: Buffer, name: string): Buffer | null {
    const p = cPath('lgetxattr', path)
    rejectNul('lgetxattr', 'name', name)
    const get = fn('long lgetxattr(const char *path, const char *name, void *value, size_t size)')
    // The value can grow between the size query and the read (ERANGE): ask again.
    for (;;) {
      const size = Number(get(p, name, null, 0))
      if (size === -1) {
        const e = errno()
        if (e === ENODATA) return null
        throw new SysError('lgetxattr', [shown(path), name], e)
      }
      const buf = Buffer.alloc(size)
      const got = Number(get(p, name, buf, size))
      if (got === -1) {
        const e = errno()
        if (e === ERANGE) continue
        if (e === ENODATA) return null
        throw new SysError('lgetxattr', [shown(path), name], e)
      }
      return buf.subarray(0, got)
    }
  }

  llistxattrBytes(path: Buffer): string[] {
    const p = cPath('llistxattr', path)
    const list = fn('long llistxattr(const char *path, void *list, size_t size)')
    for (;;) {
      const size = Number(list(p, null, 0))
      this.check('llistxattr', [shown(path)], size)
      if (size === 0) return []
      const buf = Buffer.alloc(size)
      const got = Number(list(p, buf, size))
      if (got === -1 && errno() === ERANGE) continue
      this.check('llistxattr', [shown(path)], got)
      return buf
        .subarray(0, got)
        .toString('utf8')
        .split('\0')
        .filter(n => n !== '')
    }
  }

  lutimensBytes(path: Buffer, atimeNs: bigint, mtimeNs: bigint): void {
    const p = cPath('utimensat', path)
    const utimensat = fn('int utimensat(int dirfd, const char *path, const void *times, int flags)')
    this.check('utimensat', [shown(path)], utimensat(AT_FDCWD, p, timespecs(atimeNs, mtimeNs), AT_SYMLINK_NOFOLLOW))
  }

  futimens(fd: number, atimeNs: bigint, mtimeNs: bigint): void {
    this.check('futimens', [fd], fn('int futimens(int fd, const void *times)')(fd, timespecs(atimeNs, mtimeNs)))
  }

  pipe(): [number, number] {
    const fds = new Int32Array(2)
    this.check('pipe2', ['O_CLOEXEC'], fn('int pipe2(void *fds, int flags)')(fds, O_CLOEXEC))
    return [fds[0]!, fds[1]!]
  }

  setPipeSize(fd: number, size: number): number {
    const result = fn('int fcntl(int fd, int cmd, ...)')(fd, F_SETPIPE_SZ, 'int', size)
    this.check('fcntl', [fd, 'F_SETPIPE_SZ', size], result)
    return result
  }

  open(path: string, flags: number, mode = 0): number {
    rejectNul('open', 'path', path)
    const fd = fn('int open(const char *path, int flags, ...)')(path, flags, 'uint32_t', mode)
    this.check('open', [path, flags], fd)
    return fd
  }

  openPty(ptmx: string, ptsDir: string): {master: number; slave: number; name: string} {
    const master = this.open(ptmx, O_RDWR | O_NOCTTY | O_CLOEXEC)
    try {
      const ioctl = fn('int ioctl(int fd, unsigned long request, ...)')
      const value = new Int32Array(1)
      this.check('ioctl', [ptmx, 'TIOCSPTLCK'], ioctl(master, TIOCSPTLCK, 'void *', value))
      this.check('ioctl', [ptmx, 'TIOCGPTN'], ioctl(master, TIOCGPTN, 'void *', value))
      const name = `${ptsDir}/${value[0]}`
      const slave = this.open(name, O_RDWR | O_NOCTTY | O_CLOEXEC)
      return {master, slave, name}
    } catch (error) {
      fn('int close(int fd)')(master)
      throw error
    }
  }

  setWindowSize(fd: number, rows: number, cols: number): void {
    const ws = Buffer.alloc(8)
    ws.writeUInt16LE(rows, 0)
    ws.writeUInt16LE(cols, 2)
    this.check('ioctl', [fd, 'TIOCSWINSZ'], fn('int ioctl(int fd, unsigned long request, ...)')(fd, TIOCSWINSZ, 'void *', ws))
  }

  takeFd(pid: number, fd: number): number {
    const syscall = fn('long syscall(long nr, ...)')
    const pidfd = Number(syscall(nr('pidfd_open'), 'int', pid, 'unsigned int', 0))
    this.check('pidfd_open', [pid], pidfd)
    try {
      const copy = Number(syscall(nr('pidfd_getfd'), 'int', pidfd, 'int', fd, 'unsigned int', 0))
      this.check('pidfd_getfd', [pid, fd], copy)
      return copy
    } finally {
      fn('int close(int fd)')(pidfd)
    }
  }

  close(fd: number): void {
    this.check('close', [fd], fn('int close(int fd)')(fd))
  }

  fstat(fd: number): FileStat {
    // node's fstat is the fstat(2) call (it takes any descriptor, O_PATH ones included).
    let st: import('node:fs').BigIntStats
    try {
      st = (require('node:fs') as typeof import('node:fs')).fstatSync(fd, {bigint: true})
    } catch (error) {
      throw new SysError('fstat', [fd], -((error as NodeJS.ErrnoException).errno ?? -5))
    }
    return {dev: st.dev, ino: st.ino, mode: Number(st.mode), rdev: st.rdev, size: st.size}
  }

  pread(fd: number, length: number, position: number): Buffer {
    const buf = Buffer.alloc(length)
    const n = Number(fn('long pread(int fd, void *buf, size_t count, int64_t offset)')(fd, buf, length, position))
    this.check('pread', [fd, length, position], n)
    return buf.subarray(0, n)
  }

  execveat(dirfd: number, path: string, argv: string[], envp: string[], flags: number): never {
    rejectNulExec('execveat', path, argv, envp)
    const syscall = fn('long syscall(long nr, ...)')
    syscall(nr('execveat'), 'int', dirfd, 'const char *', path, 'const char **', [...argv, null], 'const char **', [...envp, null], 'int', flags)
    throw new SysError('execveat', [dirfd, path], errno())
  }

  getcwd(): string {
    const buf = Buffer.alloc(4097)
    const result = fn('void *getcwd(void *buf, size_t size)')(buf, buf.length) as unknown
    if (result === null) throw new SysError('getcwd', [], errno())
    const cwd = buf.subarray(0, buf.indexOf(0)).toString()
    // Kernels before glibc's check (or another libc) return "(unreachable)/..." for a directory
    // outside the root instead of failing: treat it as the kernel's ENOENT.
    if (!cwd.startsWith('/')) throw new SysError('getcwd', [], ENOENT)
    return cwd
  }

  mountSetattr(path: string, attrSet: number, attrClr: number, recursive: boolean): void {
    rejectNul('mount_setattr', 'path', path)
    const attr = Buffer.alloc(32) // struct mount_attr: attr_set, attr_clr, propagation, userns_fd (u64 each)
    attr.writeBigUInt64LE(BigInt(attrSet), 0)
    attr.writeBigUInt64LE(BigInt(attrClr), 8)
    const syscall = fn('long syscall(long nr, ...)')
    const flags = recursive ? AT_RECURSIVE : 0
    const result = syscall(nr('mount_setattr'), 'int', AT_FDCWD, 'const char *', path, 'unsigned int', flags, 'void *', attr, 'size_t', attr.length)
    this.check('mount_setattr', [path, attrSet, attrClr, recursive ? 'AT_RECURSIVE' : 0], result)
  }

  statfsFlags(path: string): number {
    rejectNul('statfs', 'path', path)
    // struct statfs on 64-bit Linux (x86_64 and arm64 alike): ten 8-byte words, then f_flags.
    const buf = Buffer.alloc(120)
    this.check('statfs', [path], fn('int statfs(const char *path, void *buf)')(path, buf))
    return Number(buf.readBigUInt64LE(80) & 0xffffffffn)
  }

  seccompCompile(defaultErrno: number, rules: readonly SeccompRuleSpec[], extraArches: readonly number[]): Buffer {
    // Required here: the init and the parent's spawn load this file and never compile a filter.
    const {compileSeccomp} = require('./libseccomp') as typeof import('./libseccomp')
    return compileSeccomp(defaultErrno, rules, extraArches, fd => this.pread(fd, Number(this.fstat(fd).size), 0))
  }

  seccompLoad(program: Buffer): void {
    if (program.length === 0 || program.length % 8 !== 0 || program.length / 8 > 0xffff) {
      throw new SysError('seccomp', ['SECCOMP_SET_MODE_FILTER', `${program.length} bytes`], EINVAL)
    }
    // struct sock_fprog {unsigned short len; struct sock_filter *filter}: the pointer comes from
    // koffi's struct marshalling of the Buffer.
    const koffi = koffiModule()
    sockFprog ??= koffi.struct('pivot_sock_fprog', {len: 'uint16_t', filter: 'void *'})
    const syscall = fn('long syscall(long nr, ...)')
    const result = syscall(nr('seccomp'), 'unsigned int', SECCOMP_SET_MODE_FILTER, 'unsigned int', 0, koffi.pointer(sockFprog), {
      len: program.length / 8,
      filter: program,
    })
    this.check('seccomp', ['SECCOMP_SET_MODE_FILTER'], result)
  }

  linkFd(fd: number, newPath: string): void {
    const linkat = fn('int linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags)')
    this.check('linkat', [`/proc/self/fd/${fd}`, newPath], linkat(AT_FDCWD, `/proc/self/fd/${fd}`, AT_FDCWD, newPath, AT_SYMLINK_FOLLOW))
  }

  setsid(): void {
    this.check('setsid', [], fn('int setsid(void)')())
  }

  dup2(oldfd: number, newfd: number): void {
    this.check('dup3', [oldfd, newfd], fn('int dup3(int oldfd, int newfd, int flags)')(oldfd, newfd, 0))
  }

  setControllingTerminal(fd: number): void {
    this.check('ioctl', [fd, 'TIOCSCTTY'], fn('int ioctl(int fd, unsigned long request, ...)')(fd, TIOCSCTTY, 'int', 0))
  }

  unixConnect(path: string): number {
    rejectNul('connect', 'path', path)
    const sun = Buffer.alloc(110)
    if (Buffer.byteLength(path) >= 108) throw new SysError('connect', [path], 36 /* ENAMETOOLONG */)
    sun.writeUInt16LE(1 /* AF_UNIX */, 0)
    sun.write(path, 2)
    const fd = fn('int socket(int domain, int type, int protocol)')(1 /* AF_UNIX */, 1 /* SOCK_STREAM */ | 0o2000000 /* SOCK_CLOEXEC */, 0)
    this.check('socket', ['AF_UNIX', 'SOCK_STREAM'], fd)
    const result = fn('int connect(int fd, const void *addr, uint32_t len)')(fd, sun, sun.length)
    if (result === -1) {
      const err = errno()
      fn('int close(int fd)')(fd)
      throw new SysError('connect', [path], err)
    }
    return fd
  }

  sendFd(socket: number, fd: number, name: string): void {
    // struct msghdr (56 bytes on 64-bit): name NULL, iov -> one iovec {name bytes}, control ->
    // one cmsghdr {len 20, SOL_SOCKET, SCM_RIGHTS, fd} padded to 24.
    const data = Buffer.from(name.length > 0 ? name : '\0')
    const koffiMod = koffiModule()
    const dataPtr = koffiMod.as(data, 'void *')
    const iov = Buffer.alloc(16)
    const control = Buffer.alloc(24)
    control.writeBigUInt64LE(20n, 0)
    control.writeInt32LE(1 /* SOL_SOCKET */, 8)
    control.writeInt32LE(1 /* SCM_RIGHTS */, 12)
    control.writeInt32LE(fd, 16)
    const address = (b: Buffer) => koffiMod.address(b)
    iov.writeBigUInt64LE(BigInt(address(data)), 0)
    iov.writeBigUInt64LE(BigInt(data.length), 8)
    const msg = Buffer.alloc(56)
    msg.writeBigUInt64LE(BigInt(address(iov)), 16)
    msg.writeBigUInt64LE(1n, 24)
    msg.writeBigUInt64LE(BigInt(address(control)), 32)
    msg.writeBigUInt64LE(24n, 40)
    void dataPtr
    const result = fn('long sendmsg(int fd, const void *msg, int flags)')(socket, msg, 0)
    this.check('sendmsg', [socket, fd], result)
  }
}

let sockFprog: ReturnType<Koffi['struct']> | undefined
const SECCOMP_SET_MODE_FILTER = 1
const AT_RECURSIVE = 0x8000

const O_CLOEXEC = 0o2000000
const F_SETPIPE_SZ = 1031

const AT_FDCWD = -100
const AT_SYMLINK_FOLLOW = 0x400
const AT_SYMLINK_NOFOLLOW = 0x100
const NUL = Buffer.alloc(1)

/** A byte path as C wants it: refused if it holds a NUL, terminated by one. */
function cPath(call: string, path: Buffer): Buffer {
  rejectNulBytes(call, path)
  return Buffer.concat([path, NUL])
}

/** How a byte path appears in an error message (invalid UTF-8 shows as U+FFFD). */
function shown(path: Buffer): string {
  return path.toString('utf8')
}

/** struct timespec[2] for utimensat/futimens from nanoseconds since the epoch (floor division). */
function timespecs(atimeNs: bigint, mtimeNs: bigint): Buffer {
  const buf = Buffer.alloc(32)
  let offset = 0
  for (const ns of [atimeNs, mtimeNs]) {
    let sec = ns / 1_000_000_000n
    let nsec = ns % 1_000_000_000n
    if (nsec < 0n) {
      nsec += 1_000_000_000n
      sec -= 1n
    }
    buf.writeBigInt64LE(sec, offset)
    buf.writeBigInt64LE(nsec, offset + 8)
    offset += 16
  }
  return buf
}

function capHeader(): Buffer {
  const header = Buffer.alloc(8)
  header.writeUInt32LE(LINUX_CAPABILITY_VERSION_3, 0)
  return header
}
