import type {CapabilitySets, Syscalls} from './syscalls'
import {SysArgumentError, SysError, rejectNul} from './sys-error'
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

  unshare(flags: number): void { this.record('unshare', flags) }
  setns(fd: number, nstype: number): void { this.record('setns', fd, nstype) }
  mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null): void {
    for (const [what, v] of [['source', source], ['target', target], ['fstype', fstype], ['data', data]] as const) rejectNul('mount', what, v)
    this.record('mount', source, target, fstype, flags, data)
  }
  umount2(target: string, flags: number): void { rejectNul('umount2', 'target', target); this.record('umount2', target, flags) }
  pivotRoot(newRoot: string, putOld: string): void {
    rejectNul('pivot_root', 'new_root', newRoot); rejectNul('pivot_root', 'put_old', putOld)
    this.record('pivot_root', newRoot, putOld)
  }
  chroot(path: string): void { rejectNul('chroot', 'path', path); this.record('chroot', path) }
  chdir(path: string): void { rejectNul('chdir', 'path', path); this.record('chdir', path) }
  sethostname(name: string): void { rejectNul('sethostname', 'name', name); this.record('sethostname', name) }
  umask(mask: number): number { this.record('umask', mask); const old = this.mask; this.mask = mask; return old }
  getpid(): number { this.record('getpid'); return 1 }
  mknod(path: string, mode: number, dev: bigint): void { rejectNul('mknod', 'path', path); this.record('mknod', path, mode, dev) }
  lsetxattr(path: string, name: string, value: Buffer): void {
    rejectNul('lsetxattr', 'path', path); rejectNul('lsetxattr', 'name', name)
    this.record('lsetxattr', path, name, value.toString('hex'))
  }
  lgetxattr(path: string, name: string): Buffer | null { this.record('lgetxattr', path, name); return null }
  prctl(option: number, arg2 = 0, arg3 = 0, arg4 = 0, arg5 = 0): number { this.record('prctl', option, arg2, arg3, arg4, arg5); return 0 }
  capget(): CapabilitySets { this.record('capget'); return {...this.caps} }
  capset(sets: CapabilitySets): void { this.record('capset', sets.effective, sets.permitted, sets.inheritable); this.caps = {...sets} }
  setgroups(gids: number[]): void { this.record('setgroups', gids) }
  setresgid(gid: number): void { this.record('setresgid', gid) }
  setresuid(uid: number): void { this.record('setresuid', uid) }
  setCloexec(fd: number, on: boolean): void { this.record('set_cloexec', fd, on) }
  cloexecFrom(first: number): void { this.record('close_range_cloexec', first) }
  tryFlock(fd: number, exclusive: boolean): boolean { this.record('flock', fd, exclusive); return true }
  interfaceUp(name: string): void { rejectNul('interface_up', 'name', name); this.record('interface_up', name) }
  signalDefault(signum: number): void { this.record('signal_default', signum) }
  execve(path: string, argv: string[], envp: string[]): never {
    rejectNul('execve', 'path', path)
    argv.forEach((a, i) => rejectNul('execve', `argv[${i}]`, a))
    envp.forEach((e, i) => rejectNul('execve', `envp[${i}]`, e))
    this.record('execve', path, argv, envp)
    throw new Error('RecordingSyscalls.execve: a fake cannot replace the process')
  }
  mknodBytes(path: Buffer, mode: number, dev: bigint): void { rejectNulBytes('mknod', path); this.record('mknod', path.toString(), mode, dev) }
  lsetxattrBytes(path: Buffer, name: string, value: Buffer): void {
    rejectNulBytes('lsetxattr', path); rejectNul('lsetxattr', 'name', name)
    this.record('lsetxattr', path.toString(), name, value.toString('hex'))
  }
  lgetxattrBytes(path: Buffer, name: string): Buffer | null { rejectNulBytes('lgetxattr', path); this.record('lgetxattr', path.toString(), name); return null }
  llistxattrBytes(path: Buffer): string[] { rejectNulBytes('llistxattr', path); this.record('llistxattr', path.toString()); return [] }
  lutimensBytes(path: Buffer, atimeNs: bigint, mtimeNs: bigint): void { rejectNulBytes('utimensat', path); this.record('utimensat', path.toString(), atimeNs, mtimeNs) }
  futimens(fd: number, atimeNs: bigint, mtimeNs: bigint): void { this.record('futimens', fd, atimeNs, mtimeNs) }
  pipe(): [number, number] { this.record('pipe2'); return [1000, 1001] }
  setPipeSize(fd: number, size: number): number { this.record('set_pipe_size', fd, size); return size }
}

function rejectNulBytes(call: string, path: Buffer): void {
  if (path.includes(0)) throw new SysArgumentError(call, 'path')
}
