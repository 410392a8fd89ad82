import type {CapabilitySets, FileStat, SeccompRuleSpec, Syscalls} from './syscalls'
import {rejectNul, rejectNulBytes, rejectNulExec, SysError} from './sys-error'
import {constants} from 'node:os'

export interface RecordedCall {
  call: string
  args: unknown[]
}

/**
 * A fake that records every call in order and succeeds, unless told to fail a call with an errno
 * (`failOn('mount', 'EPERM')`). It applies the same NUL checks as the real one, so tests of
 * argument validation hold for both.
 */
export class RecordingSyscalls implements Syscalls {
  readonly calls: RecordedCall[] = []
  private readonly failures = new Map<string, {errno: number; when: (args: unknown[]) => boolean}>()
  private mask = 0o022
  private caps: CapabilitySets = {effective: 0n, permitted: 0n, inheritable: 0n}
  private nextFd = 100
  private readonly openFiles = new Map<number, string>()
  /** What fstat/pread answer for a path opened with open(); see setFile. */
  private readonly files = new Map<string, {stat: FileStat; content: Buffer}>()
  private cwd = '/'

  /** Makes open(path) succeed with this file (default: a regular empty file, dev 1, ino 1). */
  setFile(path: string, file: {mode?: number; rdev?: bigint; dev?: bigint; ino?: bigint; content?: Buffer | string}): this {
    const content = typeof file.content === 'string' ? Buffer.from(file.content) : (file.content ?? Buffer.alloc(0))
    this.files.set(path, {
      stat: {dev: file.dev ?? 1n, ino: file.ino ?? inoOf(path), mode: file.mode ?? 0o100755, rdev: file.rdev ?? 0n, size: BigInt(content.length)},
      content,
    })
    return this
  }

  /** The capability sets capget answers with (capset changes them too). */
  setCaps(caps: CapabilitySets): this {
    this.caps = {...caps}
    return this
  }

  failOn(call: string, errno: keyof typeof constants.errno, when: (args: unknown[]) => boolean = () => true): this {
    this.failures.set(call, {errno: constants.errno[errno], when})
    return this
  }

  /** The calls as one-line strings, e.g. `mount(proc, /proc, proc, 14, null)`, for readable asserts. */
  lines(): string[] {
    return this.calls.map(({call, args}) => `${call}(${args.map(a => (Array.isArray(a) ? `[${a.join(' ')}]` : String(a))).join(', ')})`)
  }

  private record(call: string, ...args: unknown[]): void {
    this.calls.push({call, args})
    const failure = this.failures.get(call)
    if (failure && failure.when(args)) throw new SysError(call, args, failure.errno)
  }

  unshare(flags: number): void {
    this.record('unshare', flags)
  }
  setns(fd: number, nstype: number): void {
    this.record('setns', fd, nstype)
  }
  mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null): void {
    for (const [what, v] of [
      ['source', source],
      ['target', target],
      ['fstype', fstype],
      ['data', data],
    ] as const)
      rejectNul('mount', what, v)
    this.record('mount', source, target, fstype, flags, data)
  }
  private fsIds = {uid: 0, gid: 0}
  setFsIds(uid: number, gid: number): {uid: number; gid: number} {
    this.record('setFsIds', uid, gid)
    const before = this.fsIds
    this.fsIds = {uid, gid}
    return before
  }
  umount2(target: string, flags: number): void {
    rejectNul('umount2', 'target', target)
    this.record('umount2', target, flags)
  }
  pivotRoot(newRoot: string, putOld: string): void {
    rejectNul('pivot_root', 'new_root', newRoot)
    rejectNul('pivot_root', 'put_old', putOld)
    this.record('pivot_root', newRoot, putOld)
  }
  chroot(path: string): void {
    rejectNul('chroot', 'path', path)
    this.record('chroot', path)
  }
  chdir(path: string): void {
    rejectNul('chdir', 'path', path)
    this.record('chdir', path)
    this.cwd = path.startsWith('/') ? path : `${this.cwd.replace(/\/$/, '')}/${path}`
  }
  sethostname(name: string): void {
    rejectNul('sethostname', 'name', name)
    this.record('sethostname', name)
  }
  setrlimit(resource: number, soft: bigint, hard: bigint): void {
    this.record('setrlimit', resource, soft, hard)
  }
  umask(mask: number): number {
    this.record('umask', mask)
    const old = this.mask
    this.mask = mask
    return old
  }
  getpid(): number {
    this.record('getpid')
    return 1
  }
  mknod(path: string, mode: number, dev: bigint): void {
    rejectNul('mknod', 'path', path)
    this.record('mknod', path, mode, dev)
  }
  lsetxattr(path: string, name: string, value: Buffer): void {
    rejectNul('lsetxattr', 'path', path)
    rejectNul('lsetxattr', 'name', name)
    this.record('lsetxattr', path, name, value.toString('hex'))
  }
  lgetxattr(path: string, name: string): Buffer | null {
    this.record('lgetxattr', path, name)
    return null
  }
  prctl(option: number, arg2 = 0, arg3 = 0, arg4 = 0, arg5 = 0): number {
    this.record('prctl', option, arg2, arg3, arg4, arg5)
    return 0
  }
  capget(): CapabilitySets {
    this.record('capget')
    return {...this.caps}
  }
  capset(sets: CapabilitySets): void {
    this.record('capset', sets.effective, sets.permitted, sets.inheritable)
    this.caps = {...sets}
  }
  setgroups(gids: number[]): void {
    this.record('setgroups', gids)
  }
  setresgid(gid: number): void {
    this.record('setresgid', gid)
  }
  setresuid(uid: number): void {
    this.record('setresuid', uid)
  }
  setCloexec(fd: number, on: boolean): void {
    this.record('set_cloexec', fd, on)
  }
  cloexecFrom(first: number): void {
    this.record('close_range_cloexec', first)
  }
  tryFlock(fd: number, exclusive: boolean): boolean {
    this.record('flock', fd, exclusive)
    return true
  }
  interfaceUp(name: string): void {
    rejectNul('interface_up', 'name', name)
    this.record('interface_up', name)
  }
  bridgeAddInterface(bridge: string, ifname: string): void {
    rejectNul('bridge_add_interface', 'bridge', bridge)
    rejectNul('bridge_add_interface', 'ifname', ifname)
    this.record('bridge_add_interface', bridge, ifname)
  }
  signalDefault(signum: number): void {
    this.record('signal_default', signum)
  }
  execve(path: string, argv: string[], envp: string[]): never {
    rejectNulExec('execve', path, argv, envp)
    this.record('execve', path, argv, envp)
    throw new Error('RecordingSyscalls.execve: a fake cannot replace the process')
  }
  mknodBytes(path: Buffer, mode: number, dev: bigint): void {
    rejectNulBytes('mknod', path)
    this.record('mknod', path.toString(), mode, dev)
  }
  lsetxattrBytes(path: Buffer, name: string, value: Buffer): void {
    rejectNulBytes('lsetxattr', path)
    rejectNul('lsetxattr', 'name', name)
    this.record('lsetxattr', path.toString(), name, value.toString('hex'))
  }
  lgetxattrBytes(path: Buffer, name: string): Buffer | null {
    rejectNulBytes('lgetxattr', path)
    this.record('lgetxattr', path.toString(), name)
    return null
  }
  llistxattrBytes(path: Buffer): string[] {
    rejectNulBytes('llistxattr', path)
    this.record('llistxattr', path.toString())
    return []
  }
  lutimensBytes(path: Buffer, atimeNs: bigint, mtimeNs: bigint): void {
    rejectNulBytes('utimensat', path)
    this.record('utimensat', path.toString(), atimeNs, mtimeNs)
  }
  futimens(fd: number, atimeNs: bigint, mtimeNs: bigint): void {
    this.record('futimens', fd, atimeNs, mtimeNs)
  }
  pipe(): [number, number] {
    this.record('pipe2')
    return [1000, 1001]
  }
  setPipeSize(fd: number, size: number): number {
    this.record('set_pipe_size', fd, size)
    return size
  }
  open(path: string, flags: number, mode = 0): number {
    rejectNul('open', 'path', path)
    this.record('open', path, flags, mode)
    const fd = this.nextFd++
    this.openFiles.set(fd, path)
    return fd
  }
  close(fd: number): void {
    this.record('close', fd)
    this.openFiles.delete(fd)
  }
  fstat(fd: number): FileStat {
    this.record('fstat', fd)
    const path = this.openFiles.get(fd)
    const file =
      path === undefined ? undefined : this.files.get(path.replace(/^\/proc\/self\/fd\/(\d+)$/, (_, n: string) => this.openFiles.get(Number(n)) ?? _))
    // An unknown path is a regular file of its own (ino from its name), so two paths are two files.
    return file ? {...file.stat} : {dev: 1n, ino: inoOf(path ?? `fd ${fd}`), mode: 0o100755, rdev: 0n, size: 0n}
  }
  pread(fd: number, length: number, position: number): Buffer {
    this.record('pread', fd, length, position)
    let path = this.openFiles.get(fd) ?? ''
    path = path.replace(/^\/proc\/self\/fd\/(\d+)$/, (_, n: string) => this.openFiles.get(Number(n)) ?? _)
    return Buffer.from((this.files.get(path)?.content ?? Buffer.alloc(0)).subarray(position, position + length))
  }
  execveat(dirfd: number, path: string, argv: string[], envp: string[], flags: number): never {
    rejectNulExec('execveat', path, argv, envp)
    this.record('execveat', dirfd, path, argv, envp, flags)
    throw new Error('RecordingSyscalls.execveat: a fake cannot replace the process')
  }
  getcwd(): string {
    this.record('getcwd')
    return this.cwd
  }
  mountSetattr(path: string, attrSet: number, attrClr: number, recursive: boolean): void {
    rejectNul('mount_setattr', 'path', path)
    this.record('mount_setattr', path, attrSet, attrClr, recursive)
  }
  statfsFlags(path: string): number {
    rejectNul('statfs', 'path', path)
    this.record('statfs', path)
    return 0
  }
  seccompCompile(defaultErrno: number, rules: readonly SeccompRuleSpec[], extraArches: readonly number[]): Buffer {
    this.record('seccomp_compile', defaultErrno, rules.length, [...extraArches])
    // One BPF instruction per rule, so a test can tell filters apart by size.
    return Buffer.alloc(8 * (rules.length + 1))
  }
  seccompLoad(program: Buffer): void {
    this.record('seccomp_load', program.length / 8)
  }
  openPty(ptmx: string, ptsDir: string): {master: number; slave: number; name: string} {
    this.record('open_pty', ptmx)
    return {master: 1010, slave: 1011, name: `${ptsDir}/0`}
  }
  takeFd(pid: number, fd: number): number {
    this.record('take_fd', pid, fd)
    return 1020
  }
  linkFd(fd: number, newPath: string): void {
    rejectNul('linkat', 'newpath', newPath)
    this.record('linkat', fd, newPath)
  }
  setsid(): void {
    this.record('setsid')
  }
  dup2(oldfd: number, newfd: number): void {
    this.record('dup3', oldfd, newfd)
  }
  setControllingTerminal(fd: number): void {
    this.record('ioctl', fd, 'TIOCSCTTY')
  }
  setWindowSize(fd: number, rows: number, cols: number): void {
    this.record('ioctl', fd, 'TIOCSWINSZ', rows, cols)
  }
  unixConnect(path: string): number {
    rejectNul('connect', 'path', path)
    this.record('connect', path)
    return this.nextFd++
  }
  sendFd(socket: number, fd: number, name: string): void {
    this.record('sendmsg', socket, fd, name)
  }
}

function inoOf(path: string): bigint {
  let h = 0x811c9dc5
  for (const c of Buffer.from(path)) h = Math.imul(h ^ c, 0x01000193) >>> 0
  return BigInt(h) + 1000n
}
