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

/** What fstat(2) says about an open file (O_PATH descriptors included). */
export interface FileStat {
  dev: bigint
  ino: bigint
  /** st_mode: type and permission bits. */
  mode: number
  /** The device a character or block special file stands for (glibc's makedev encoding). */
  rdev: bigint
  size: bigint
}

/** One argument comparison of a seccomp rule (libseccomp's struct scmp_arg_cmp). */
export interface SeccompArgCmp {
  index: number
  op: 'eq' | 'ne' | 'maskedEq'
  /** eq/ne: the value; maskedEq: the mask. */
  value: bigint
  /** maskedEq: what `arg & value` must equal. */
  valueTwo?: bigint
}

/** One seccomp rule: the syscall by name, allowed (errno undefined) or failing with errno. */
export interface SeccompRuleSpec {
  name: string
  errno?: number
  args: readonly SeccompArgCmp[]
}

export interface Syscalls {
  unshare(flags: number): void
  setns(fd: number, nstype: number): void
  mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null): void
  umount2(target: string, flags: number): void
  /**
   * setfsgid(2), then setfsuid(2), of the calling thread only (the ids its file accesses and the
   * files it creates use); returns the previous ones. Node's *Sync fs calls run on this thread.
   * Throws EPERM when the kernel kept the old ids (it does not say otherwise).
   */
  setFsIds(uid: number, gid: number): {uid: number; gid: number}
  /** pivot_root(2) has no glibc wrapper: made through syscall(2). */
  pivotRoot(newRoot: string, putOld: string): void
  chroot(path: string): void
  chdir(path: string): void
  sethostname(name: string): void
  /** setrlimit(2) of the calling process (prlimit64 on pid 0); RLIM_INFINITY is ~0n. */
  setrlimit(resource: number, soft: bigint, hard: bigint): void
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
  /** Adds an interface to a bridge (SIOCBRADDIF), as `ip link set IF master BRIDGE` does. */
  bridgeAddInterface(bridge: string, ifname: string): void
  /**
   * Sets a signal's disposition back to SIG_DFL (sigaction). An ignored signal stays ignored
   * across execve: Node ignores SIGPIPE and SIGXFSZ, and a command exec'd from Node must not.
   */
  signalDefault(signum: number): void
  /** Replaces the process image. Returns only by throwing. */
  execve(path: string, argv: string[], envp: string[]): never

  // Byte-path variants: a Linux file name is a string of bytes that need not be valid UTF-8, and a
  // layer must be unpacked (and packed) with its names exactly as the archive has them. The Buffer
  // holds the path without a terminating NUL; one inside it is refused like a NUL in a string.
  mknodBytes(path: Buffer, mode: number, dev: bigint): void
  lsetxattrBytes(path: Buffer, name: string, value: Buffer): void
  /** The attribute's value, or null when the file has none by that name. Never follows a symlink. */
  lgetxattrBytes(path: Buffer, name: string): Buffer | null
  /** Names of the extended attributes of the file itself (never of a symlink's target). */
  llistxattrBytes(path: Buffer): string[]
  /** utimensat(AT_FDCWD, path, [atime, mtime], AT_SYMLINK_NOFOLLOW): exact nanoseconds since the epoch, on a symlink itself. */
  lutimensBytes(path: Buffer, atimeNs: bigint, mtimeNs: bigint): void
  /** futimens(2): exact nanoseconds since the epoch on an open file. */
  futimens(fd: number, atimeNs: bigint, mtimeNs: bigint): void
  /** pipe2(O_CLOEXEC): [read end, write end]. A real pipe, where Node's spawn would give a socketpair. */
  pipe(): [number, number]
  /** fcntl(F_SETPIPE_SZ): asks for a pipe buffer of `size` bytes; returns the size the kernel granted. */
  setPipeSize(fd: number, size: number): number

  // The container's hardening (runtime/rootfs/hardening.ts, runtime/security/).
  /** open(2); returns the descriptor. Pass O_CLOEXEC: nothing opened here may reach the command. */
  open(path: string, flags: number, mode?: number): number
  close(fd: number): void
  fstat(fd: number): FileStat
  /** pread(2) of up to `length` bytes at `position`; shorter at the end of the file. */
  pread(fd: number, length: number, position: number): Buffer
  /** execveat(2): with AT_EMPTY_PATH and path "", runs exactly the file `dirfd` is open on. Returns only by throwing. */
  execveat(dirfd: number, path: string, argv: string[], envp: string[], flags: number): never
  /** getcwd(2) of the calling thread; throws ENOENT when the directory is not under its root. */
  getcwd(): string
  /** mount_setattr(2) (Linux 5.12): sets/clears MOUNT_ATTR_* on a mount, with AT_RECURSIVE on every mount under it. */
  mountSetattr(path: string, attrSet: number, attrClr: number, recursive: boolean): void
  /** statfs(2)'s f_flags: the ST_* (= MS_*) flags of the mount that holds `path`. */
  statfsFlags(path: string): number
  /**
   * Compiles a seccomp filter with libseccomp (libseccomp.so.2): default action ERRNO(defaultErrno),
   * the rules, for the native architecture plus `extraArches` (libseccomp arch tokens). Returns the
   * BPF program (struct sock_filter[]). Throws SysLibraryError when libseccomp cannot be loaded.
   * A rule whose syscall this libseccomp does not know is skipped (it keeps the default action).
   */
  seccompCompile(defaultErrno: number, rules: readonly SeccompRuleSpec[], extraArches: readonly number[]): Buffer
  /**
   * seccomp(SECCOMP_SET_MODE_FILTER) of a compiled program, for the calling thread only (no TSYNC).
   * Needs no_new_privs or CAP_SYS_ADMIN in the effective set.
   */
  seccompLoad(program: Buffer): void
  /**
   * linkat(AT_FDCWD, "/proc/self/fd/<fd>", AT_FDCWD, newPath, AT_SYMLINK_FOLLOW): gives a name to a
   * file opened with O_TMPFILE (which has none until then, so a killed writer leaves nothing).
   */
  linkFd(fd: number, newPath: string): void

  // Terminals: the container's console (runtime/rootfs/execute.ts, oci/oci-plan.ts), its holder
  // (runtime/lifecycle/tty.ts), and the OCI mode's console socket.
  /** setsid(2). */
  setsid(): void
  /** dup3(oldfd, newfd, 0): newfd is NOT close-on-exec. */
  dup2(oldfd: number, newfd: number): void
  /**
   * A new pty from the devpts instance whose ptmx is `ptmx`: opens it (O_RDWR|O_NOCTTY|O_CLOEXEC),
   * unlocks the slave (TIOCSPTLCK) and opens it (O_NOCTTY|O_CLOEXEC). `name`: the slave's path.
   */
  openPty(ptmx: string, ptsDir: string): {master: number; slave: number; name: string}
  /** ioctl(fd, TIOCSCTTY, 0): fd's terminal becomes the controlling terminal of this session (setsid first). */
  setControllingTerminal(fd: number): void
  /** ioctl(TIOCSWINSZ): a terminal's size, which sends SIGWINCH to its foreground process group. */
  setWindowSize(fd: number, rows: number, cols: number): void
  /** pidfd_open + pidfd_getfd (Linux 5.6): a copy of descriptor `fd` of process `pid` (close-on-exec). */
  takeFd(pid: number, fd: number): number
  /** A connected AF_UNIX stream socket (close-on-exec). */
  unixConnect(path: string): number
  /** sendmsg of one byte... `name` with `fd` as SCM_RIGHTS (how runc hands over a console master). */
  sendFd(socket: number, fd: number, name: string): void
}
