/**
 * What `pivot run` sends the container's init over fd 3, as one JSON line: everything the init
 * needs, resolved by the parent, so the init reads no store files and loads nothing heavy. The
 * line is also the "go": the parent writes it once the init is in the container's cgroup, or, on
 * cgroup v1, with `joinCgroup`, which the init's first step carries out.
 */
export interface InitVolume {
  /** Absolute host path (the init still sees the host's tree until pivot_root). */
  source: string
  /** Absolute path inside the container. */
  target: string
  readOnly: boolean
  /** What the source is: a file is bound onto a file, anything else onto a directory; tmpfs: a new tmpfs (source unused). */
  kind: 'dir' | 'file' | 'tmpfs'
  /** tmpfs: MS_* flags besides nodev (nosuid, noexec, rdonly). */
  flags?: number
  /** tmpfs: its options (size=, mode=...). */
  data?: string
}

export interface InitConfig {
  /**
   * Host pid of the process this init was forked by (`pivot run`, or the monitor for -d). The
   * init reads its config only after setting its parent-death signal; a parent that died before
   * that sent no signal but may have left the config buffered on fd 3, so the init checks it.
   */
  parentPid?: number
  /**
   * cgroup v1, an init outside any user namespace: the container's cgroup's `tasks` file in each
   * hierarchy, which the init writes "0" to as its first step. That moves only its calling
   * thread, for which the kernel skips cgroup_threadgroup_rwsem: its RCU grace period made the
   * parent's write of the whole process to `cgroup.procs` cost 8-14 ms of every run. Sent with
   * "go" only, never in config.json: the cgroup is made anew at each start. Absent: the parent
   * moved the init before "go" (v2 takes whole processes only; in a user namespace the init may
   * not write the host's cgroup files).
   */
  joinCgroup?: string[]
  /** The store root, absolute: the init chdirs here so overlay's lowerdir paths are short relative ones. */
  storeRoot: string
  /** Overlay lower dirs relative to storeRoot, TOPMOST FIRST (overlay's order): the container's init layer, then the image's layers via `l/<short>`. */
  lowerDirs: string[]
  /** Relative to storeRoot; absent with a read-only rootfs (an overlay without upper is read-only). */
  upperDir?: string
  workDir?: string
  /** Absolute mount point of the container's root (`containers/<id>/rootfs`). */
  rootfs: string
  hostname: string
  /** host: the host's; none: the init makes its own with only loopback; joined: the parent spawned the init in the container's (bridge, user network, container:). */
  net: 'host' | 'none' | 'joined'
  volumes: InitVolume[]
  readOnlyRootfs: boolean
  command: string[]
  /** --device: host nodes bound under /dev, checked to be the device they were when the flag was read. */
  devices?: Array<{source: string; target: string; type: 'char' | 'block'; major: number; minor: number}>
  /**
   * What the container sees of cgroups under /sys/fs/cgroup (absent: nothing mounted there, as
   * for build steps). `ns` private: a cgroup namespace rooted at the container's cgroup (made in
   * the init's first unshare, after the parent put it in the cgroup), and the cgroup filesystems
   * mounted in it; host: the container's own cgroup directories bound from the host. Read-only.
   */
  cgroup?: {
    ns: 'private' | 'host'
    version: 1 | 2
    /** The container's cgroup directory on the host for each hierarchy, and its mount's name under /sys/fs/cgroup (v1: `memory`, `cpu,cpuacct`). */
    dirs: Array<{name: string; hostDir: string}>
  }
  /** /dev/shm's size in bytes; undefined: 64 MiB. */
  shmSize?: number
  /** setrlimit before exec (--ulimit): RLIMIT_* numbers, -1n for unlimited. */
  rlimits?: Array<{resource: number; soft: string; hard: string}>
  /** Supplementary groups added after the user's (--group-add): names (looked up in /etc/group) or gids. */
  groupAdd?: string[]
  /** Final environment but HOME, which the init takes from the container's passwd when absent. */
  env: string[]
  /** Absolute path inside the container; created when missing. */
  workdir: string
  /** `uid[:gid]` or `name[:group]`; undefined = root. */
  user?: string
  /** PR_SET_NO_NEW_PRIVS before exec: on for build steps, with --security-opt no-new-privileges for run. */
  noNewPrivileges: boolean
  /**
   * The container's capabilities (CAP_* names, docker's rules applied by the parent, see
   * security/capabilities.ts): its bounding, permitted and effective sets.
   */
  capabilities: string[]
  /** --privileged: no masked or read-only paths, /sys read-write (the parent also gave every capability and no filter). */
  privileged: boolean
  /**
   * The seccomp filter the init loads last before exec: a BPF program (struct sock_filter[]) in
   * base64, compiled by the parent with libseccomp. null only with --privileged or
   * --security-opt seccomp=unconfined.
   */
  seccompFilter: string | null
  /** -t: the command's stdio and controlling terminal is a pty whose master goes out on fd 4. */
  tty?: boolean
  /**
   * Set when the init runs in a user namespace of its own (run --userns remap, rootless): the
   * overlay with `userxattr`, /sys bound from the host unless the init makes its own network
   * namespace (only then may it mount a sysfs), devpts without a gid the map lacks.
   */
  userns?: {
    /** Whether gid 5 (tty, devpts's gid=) is mapped: a single-id map has only 0. */
    ttyGid: boolean
    /** The network namespace (net 'joined') was made with the user namespace: a fresh sysfs may be mounted. */
    ownNetwork?: boolean
  }
}

/** What the init writes back on fd 3 when it fails before exec (one JSON line), then exits with exitCode. */
export interface InitFailure {
  code: string
  message: string
  exitCode: number
}
