import {constants} from 'node:os'

/**
 * pivot's default seccomp profile, as data. It has the effect of docker's default profile (moby's
 * profiles/seccomp): every syscall not listed fails with EPERM; the ordinary ones a program
 * needs are allowed; the ones that reach the kernel as a whole (mount, module loading, kexec,
 * keyrings, bpf, namespaces...) are allowed only when the container was given the capability
 * docker ties them to, so `--cap-add SYS_ADMIN` means the same here as there.
 *
 * Grouped by what the calls do, so a reader can check one group at a time. A name this
 * libseccomp does not know (a syscall newer than it) is skipped: it then gets the default EPERM.
 * Names of other ABIs (stat64, socketcall, ...) are listed for the 32-bit x86 ABI, which the
 * filter also covers on x86_64 (a 32-bit program in an image runs under the same rules).
 */

export type NodeArch = 'x64' | 'arm64'

export interface SyscallArg {
  /** Argument index, 0..5. */
  index: number
  op: 'eq' | 'ne' | 'maskedEq'
  /** eq/ne: the value; maskedEq: the mask. */
  value: bigint
  /** maskedEq: what `arg & value` must equal. */
  valueTwo?: bigint
}

export interface SyscallRule {
  names: readonly string[]
  /** Fail with this errno instead of allowing. */
  errno?: number
  /** Every condition must hold (libseccomp ANDs the comparisons of one rule). */
  args?: readonly SyscallArg[]
  /** The rule applies only when the container has this capability. */
  ifCap?: string
  /** The rule applies only when the container does not have this capability. */
  unlessCap?: string
  /** The rule applies only on these architectures. */
  arches?: readonly NodeArch[]
}

export const {EPERM, ENOSYS} = constants.errno

const FILES = [
  'access',
  'chdir',
  'chmod',
  'chown',
  'chown32',
  'close',
  'close_range',
  'copy_file_range',
  'creat',
  'dup',
  'dup2',
  'dup3',
  'faccessat',
  'faccessat2',
  'fadvise64',
  'fadvise64_64',
  'fallocate',
  'fchdir',
  'fchmod',
  'fchmodat',
  'fchmodat2',
  'fchown',
  'fchown32',
  'fchownat',
  'fcntl',
  'fcntl64',
  'fdatasync',
  'flock',
  'fstat',
  'fstat64',
  'fstatat64',
  'fstatfs',
  'fstatfs64',
  'fsync',
  'ftruncate',
  'ftruncate64',
  'futimesat',
  'getcwd',
  'getdents',
  'getdents64',
  'lchown',
  'lchown32',
  'link',
  'linkat',
  '_llseek',
  'lseek',
  'lstat',
  'lstat64',
  'mkdir',
  'mkdirat',
  'mknod',
  'mknodat',
  'name_to_handle_at',
  'newfstatat',
  'open',
  'openat',
  'openat2',
  'pread64',
  'preadv',
  'preadv2',
  'pwrite64',
  'pwritev',
  'pipe',
  'pipe2',
  'pwritev2',
  'read',
  'readahead',
  'readlink',
  'readlinkat',
  'readv',
  'rename',
  'renameat',
  'renameat2',
  'rmdir',
  'sendfile',
  'sendfile64',
  'splice',
  'stat',
  'stat64',
  'statfs',
  'statfs64',
  'statx',
  'symlink',
  'symlinkat',
  'sync',
  'sync_file_range',
  'syncfs',
  'tee',
  'truncate',
  'truncate64',
  'umask',
  'unlink',
  'unlinkat',
  'utime',
  'utimensat',
  'utimensat_time64',
  'utimes',
  'vmsplice',
  'write',
  'writev',
]

const XATTRS = [
  'fgetxattr',
  'flistxattr',
  'fremovexattr',
  'fsetxattr',
  'getxattr',
  'lgetxattr',
  'listxattr',
  'llistxattr',
  'lremovexattr',
  'lsetxattr',
  'removexattr',
  'setxattr',
]

/** Waiting for events on descriptors, and descriptors that are events. */
const EVENTS = [
  'epoll_create',
  'epoll_create1',
  'epoll_ctl',
  'epoll_ctl_old',
  'epoll_pwait',
  'epoll_pwait2',
  'epoll_wait',
  'epoll_wait_old',
  'eventfd',
  'eventfd2',
  'fanotify_mark',
  'inotify_add_watch',
  'inotify_init',
  'inotify_init1',
  'inotify_rm_watch',
  'poll',
  'ppoll',
  'ppoll_time64',
  'pselect6',
  'pselect6_time64',
  'select',
  '_newselect',
  'signalfd',
  'signalfd4',
  'timerfd_create',
  'timerfd_gettime',
  'timerfd_gettime64',
  'timerfd_settime',
  'timerfd_settime64',
]

/**
 * Linux AIO. Not io_uring: its rings run reads, writes, opens, connects... that the filter never
 * sees, and it has been a steady source of kernel exploits (docker dropped it in 25.0).
 */
const ASYNC_IO = ['io_cancel', 'io_destroy', 'io_getevents', 'io_pgetevents', 'io_pgetevents_time64', 'io_setup', 'io_submit']

const MEMORY = [
  'brk',
  'madvise',
  'membarrier',
  'memfd_create',
  'memfd_secret',
  'mincore',
  'mlock',
  'mlock2',
  'mlockall',
  'mmap',
  'mmap2',
  'mprotect',
  'mremap',
  'msync',
  'munlock',
  'munlockall',
  'munmap',
  'pkey_alloc',
  'pkey_free',
  'pkey_mprotect',
  'remap_file_pages',
]

/** Processes and threads: creating (but see clone below), waiting, scheduling, limits, identity. */
const PROCESSES = [
  'capget',
  'capset',
  'execve',
  'execveat',
  'exit',
  'exit_group',
  'fork',
  'vfork',
  'getcpu',
  'get_robust_list',
  'set_robust_list',
  'get_thread_area',
  'set_thread_area',
  'set_tid_address',
  'gettid',
  'getpid',
  'getppid',
  'getpgid',
  'getpgrp',
  'getsid',
  'setsid',
  'setpgid',
  'getpriority',
  'setpriority',
  'getrlimit',
  'setrlimit',
  'ugetrlimit',
  'prlimit64',
  'getrusage',
  'ioprio_get',
  'ioprio_set',
  'kill',
  'tkill',
  'tgkill',
  'pidfd_open',
  'pidfd_send_signal',
  'prctl',
  'process_mrelease',
  'rseq',
  'restart_syscall',
  'seccomp',
  'sysinfo',
  'times',
  'uname',
  'wait4',
  'waitid',
  'waitpid',
  'landlock_add_rule',
  'landlock_create_ruleset',
  'landlock_restrict_self',
  'sched_getaffinity',
  'sched_getattr',
  'sched_getparam',
  'sched_get_priority_max',
  'sched_get_priority_min',
  'sched_getscheduler',
  'sched_rr_get_interval',
  'sched_rr_get_interval_time64',
  'sched_setaffinity',
  'sched_setattr',
  'sched_setparam',
  'sched_setscheduler',
  'sched_yield',
]

/** Who the process is. Changing it still needs CAP_SETUID/CAP_SETGID: the kernel checks. */
const CREDENTIALS = [
  'getegid',
  'getegid32',
  'geteuid',
  'geteuid32',
  'getgid',
  'getgid32',
  'getgroups',
  'getgroups32',
  'getresgid',
  'getresgid32',
  'getresuid',
  'getresuid32',
  'getuid',
  'getuid32',
  'setfsgid',
  'setfsgid32',
  'setfsuid',
  'setfsuid32',
  'setgid',
  'setgid32',
  'setgroups',
  'setgroups32',
  'setregid',
  'setregid32',
  'setresgid',
  'setresgid32',
  'setresuid',
  'setresuid32',
  'setreuid',
  'setreuid32',
  'setuid',
  'setuid32',
]

const SIGNALS = [
  'alarm',
  'pause',
  'rt_sigaction',
  'rt_sigpending',
  'rt_sigprocmask',
  'rt_sigqueueinfo',
  'rt_sigreturn',
  'rt_sigsuspend',
  'rt_sigtimedwait',
  'rt_sigtimedwait_time64',
  'rt_tgsigqueueinfo',
  'sigaltstack',
  'sigprocmask',
  'sigreturn',
]

/** Clocks and timers. adjtimex/clock_adjtime only read unless CAP_SYS_TIME (the kernel checks). */
const TIME = [
  'adjtimex',
  'clock_adjtime',
  'clock_adjtime64',
  'clock_getres',
  'clock_getres_time64',
  'clock_gettime',
  'clock_gettime64',
  'clock_nanosleep',
  'clock_nanosleep_time64',
  'getitimer',
  'setitimer',
  'gettimeofday',
  'nanosleep',
  'time',
  'timer_create',
  'timer_delete',
  'timer_getoverrun',
  'timer_gettime',
  'timer_gettime64',
  'timer_settime',
  'timer_settime64',
]

const FUTEX = ['futex', 'futex_time64', 'futex_waitv']

/** Sockets (socket itself is below: every family but vsock). */
const NETWORK = [
  'accept',
  'accept4',
  'bind',
  'connect',
  'getpeername',
  'getsockname',
  'getsockopt',
  'listen',
  'recv',
  'recvfrom',
  'recvmmsg',
  'recvmmsg_time64',
  'recvmsg',
  'send',
  'sendmmsg',
  'sendmsg',
  'sendto',
  'setsockopt',
  'shutdown',
  'socketcall',
  'socketpair',
]

/** System V IPC and POSIX message queues: the container's own IPC namespace. */
const IPC = [
  'ipc',
  'msgctl',
  'msgget',
  'msgrcv',
  'msgsnd',
  'semctl',
  'semget',
  'semop',
  'semtimedop',
  'semtimedop_time64',
  'shmat',
  'shmctl',
  'shmdt',
  'shmget',
  'mq_getsetattr',
  'mq_notify',
  'mq_open',
  'mq_timedreceive',
  'mq_timedreceive_time64',
  'mq_timedsend',
  'mq_timedsend_time64',
  'mq_unlink',
]

const MISC = ['getrandom', 'ioctl']

/** Every namespace flag of clone/unshare/setns. */
export const CLONE_NAMESPACE_FLAGS = 0x7e020000n // NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET

const AF_VSOCK = 40n

/**
 * The profile. Conditions mirror docker's: a capability that lets the kernel allow a dangerous
 * call also lets the filter allow it; without the capability the call stays blocked even where
 * the kernel would not check one (keyctl, userfaultfd, personality flags, vsock).
 */
export const SECCOMP_PROFILE: readonly SyscallRule[] = [
  {names: [...FILES, ...XATTRS, ...EVENTS, ...ASYNC_IO, ...MEMORY, ...PROCESSES, ...CREDENTIALS, ...SIGNALS, ...TIME, ...FUTEX, ...NETWORK, ...IPC, ...MISC]},

  // Debugging one's own processes: the kernel (>= 4.8) checks ptrace access against the seccomp
  // filter of the tracee, so ptrace no longer lets a process step around its filter.
  {names: ['ptrace', 'process_vm_readv', 'process_vm_writev']},

  // AF_VSOCK talks to the hypervisor, outside any network namespace.
  {names: ['socket'], args: [{index: 0, op: 'ne', value: AF_VSOCK}]},

  // personality: only the harmless personas (Linux, 32-bit Linux, the uname-2.6 one, and the
  // query 0xffffffff); ADDR_NO_RANDOMIZE and friends would weaken the process's own ASLR.
  ...[0x0n, 0x8n, 0x20000n, 0x20008n, 0xffffffffn].map(value => ({names: ['personality'], args: [{index: 0, op: 'eq' as const, value}]})),

  {names: ['arch_prctl', 'modify_ldt'], arches: ['x64']},
  {names: ['arm_fadvise64_64', 'arm_sync_file_range', 'sync_file_range2', 'breakpoint', 'cacheflush', 'set_tls'], arches: ['arm64']},

  // New processes and threads, but no new namespaces: clone only when no CLONE_NEW* flag is set
  // (x86_64 and arm64 both pass the flags in argument 0). clone3 passes its flags in a struct
  // the filter cannot read: it fails with ENOSYS so that libc falls back to clone.
  {names: ['clone'], args: [{index: 0, op: 'maskedEq', value: CLONE_NAMESPACE_FLAGS, valueTwo: 0n}], unlessCap: 'CAP_SYS_ADMIN'},
  {names: ['clone3'], errno: ENOSYS, unlessCap: 'CAP_SYS_ADMIN'},

  // The rest only with the capability the kernel would check anyway.
  {names: ['open_by_handle_at'], ifCap: 'CAP_DAC_READ_SEARCH'},
  {
    names: [
      'bpf',
      'clone',
      'clone3',
      'fanotify_init',
      'fsconfig',
      'fsmount',
      'fsopen',
      'fspick',
      'lookup_dcookie',
      'mount',
      'mount_setattr',
      'move_mount',
      'open_tree',
      'perf_event_open',
      'quotactl',
      'quotactl_fd',
      'setdomainname',
      'sethostname',
      'setns',
      'syslog',
      'umount',
      'umount2',
      'unshare',
    ],
    ifCap: 'CAP_SYS_ADMIN',
  },
  {names: ['reboot'], ifCap: 'CAP_SYS_BOOT'},
  {names: ['chroot'], ifCap: 'CAP_SYS_CHROOT'},
  {names: ['delete_module', 'init_module', 'finit_module'], ifCap: 'CAP_SYS_MODULE'},
  {names: ['acct'], ifCap: 'CAP_SYS_PACCT'},
  {names: ['kcmp', 'pidfd_getfd', 'process_madvise', 'process_vm_readv', 'process_vm_writev', 'ptrace'], ifCap: 'CAP_SYS_PTRACE'},
  {names: ['iopl', 'ioperm'], ifCap: 'CAP_SYS_RAWIO'},
  {names: ['settimeofday', 'stime', 'clock_settime', 'clock_settime64'], ifCap: 'CAP_SYS_TIME'},
  {names: ['vhangup'], ifCap: 'CAP_SYS_TTY_CONFIG'},
  {names: ['get_mempolicy', 'mbind', 'set_mempolicy', 'set_mempolicy_home_node'], ifCap: 'CAP_SYS_NICE'},
  {names: ['syslog'], ifCap: 'CAP_SYSLOG'},
  {names: ['bpf'], ifCap: 'CAP_BPF'},
  {names: ['perf_event_open'], ifCap: 'CAP_PERFMON'},
  // Never allowed, whatever the capabilities (by not being listed): kexec_load, kexec_file_load,
  // keyctl, add_key, request_key, userfaultfd, pivot_root, io_uring_*, swapon, swapoff, uselib...
]

/** One rule as libseccomp takes it: a syscall name, an action, its argument comparisons. */
export interface ResolvedRule {
  name: string
  /** undefined = allow. */
  errno?: number
  args: readonly SyscallArg[]
}

/**
 * The profile's rules for a container with these capabilities on this architecture, with each
 * name once per distinct condition (libseccomp refuses an exact duplicate of an unconditional
 * rule, and an unconditional allow makes any conditional rule for the name moot).
 */
export function seccompRules(capabilities: readonly string[], arch: NodeArch): ResolvedRule[] {
  const caps = new Set(capabilities)
  const unconditional = new Map<string, ResolvedRule>()
  const conditional: ResolvedRule[] = []
  for (const rule of SECCOMP_PROFILE) {
    if (rule.ifCap && !caps.has(rule.ifCap)) continue
    if (rule.unlessCap && caps.has(rule.unlessCap)) continue
    if (rule.arches && !rule.arches.includes(arch)) continue
    for (const name of rule.names) {
      if (!rule.args || rule.args.length === 0) {
        if (!unconditional.has(name)) unconditional.set(name, {name, errno: rule.errno, args: []})
      } else conditional.push({name, errno: rule.errno, args: rule.args})
    }
  }
  return [...unconditional.values(), ...conditional.filter(r => !unconditional.has(r.name))]
}
