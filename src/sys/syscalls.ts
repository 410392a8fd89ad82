/**
 * The libc calls pivot makes, behind one interface: `KoffiSyscalls` makes them for real,
 * `RecordingSyscalls` records them so that the order of mounts and namespace changes can be
 * unit-tested without root. Every method throws `SysError` (call, args, errno name) on failure
 * and `SysArgumentError` for a string holding a NUL byte.
 */
export interface CapabilitySets {
  effective: bigint
  permitted: bigint
  inheritable: bigint
}

export interface Syscalls {
  unshare(flags: number): void
  setns(fd: number, nstype: number): void
  mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null): void
  umount2(target: string, flags: number): void
  /** pivot_root(2) has no glibc wrapper: made through syscall(2). */
  pivotRoot(newRoot: string, putOld: string): void
  chroot(path: string): void
  chdir(path: string): void
  sethostname(name: string): void
  /** Returns the previous mask. */
  umask(mask: number): number
  getpid(): number
  mknod(path: string, mode: number, dev: bigint): void
  lsetxattr(path: string, name: string, value: Buffer): void
  /** The attribute's value, or null when the file has none by that name. */
  lgetxattr(path: string, name: string): Buffer | null
  prctl(option: number, arg2?: number, arg3?: number, arg4?: number, arg5?: number): number
  capget(): CapabilitySets
  capset(sets: CapabilitySets): void
  /** Raw setgroups/setresgid/setresuid: they change the calling thread only (no glibc broadcast). */
  setgroups(gids: number[]): void
  setresgid(gid: number): void
  setresuid(uid: number): void
  /** Sets or clears FD_CLOEXEC on one descriptor. */
  setCloexec(fd: number, on: boolean): void
  /** Marks every descriptor from `first` up close-on-exec (close_range(2), CLOSE_RANGE_CLOEXEC). */
  cloexecFrom(first: number): void
  /** flock(2) with LOCK_NB: true when taken, false when another holder has it (EWOULDBLOCK). */
  tryFlock(fd: number, exclusive: boolean): boolean
  /** Brings a network interface up (SIOCSIFFLAGS), e.g. `lo` in a fresh network namespace. */
  interfaceUp(name: string): void
  /** Replaces the process image. Returns only by throwing. */
  execve(path: string, argv: string[], envp: string[]): never
}
