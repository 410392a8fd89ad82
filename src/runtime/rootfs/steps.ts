/**
 * One operation of a container's setup, as data: `planContainer` builds the ordered list from the
 * container's config (a pure function, unit-tested for its order), and `executeSteps` carries it
 * out through the `Syscalls` interface and a small filesystem interface. The ops that read the
 * container's files (switchUser, workdir, exec) resolve what they need when they run, after
 * pivot_root, from the container's own /etc/passwd and PATH.
 */
export type Step =
  /** cgroup v1: "0" written to the container's cgroup's `tasks` file of one hierarchy (moves the calling thread). */
  | {op: 'joinCgroup'; tasks: string}
  | {op: 'unshare'; flags: number}
  | {op: 'mount'; source: string | null; target: string; fstype: string | null; flags: number; data: string | null}
  | {op: 'umount2'; target: string; flags: number}
  | {op: 'chdir'; path: string}
  | {op: 'pivotRoot'; newRoot: string; putOld: string}
  | {op: 'sethostname'; name: string}
  | {op: 'interfaceUp'; name: string}
  | {op: 'umask'; mask: number}
  | {op: 'prctl'; option: number; arg2: number}
  | {op: 'mkdir'; path: string; mode: number}
  /** An empty file to bind a file onto (a file volume under /dev, whose tmpfs the parent cannot prepare). */
  | {op: 'touch'; path: string}
  | {op: 'symlink'; target: string; path: string}
  /** setgroups + setresgid + setresuid for `user` looked up in the container's /etc/passwd and /etc/group; sets HOME when absent. */
  | {op: 'switchUser'; user: string | undefined; groupAdd?: string[]}
  /** chdir to the working directory, creating it (mode 0755) when it does not exist. */
  | {op: 'workdir'; path: string}
  /** Every signal but SIGKILL and SIGSTOP back to SIG_DFL (ignored ones would stay ignored across exec). */
  | {op: 'resetSignals'}
  /** Every fd above 2 close-on-exec, FD_CLOEXEC cleared on 0-2 (Node sets it). */
  | {op: 'closeFds'}
  /**
   * The overlay root, with the hardening options first (`hardening`, tried in order: the first
   * this kernel accepts wins; EINVAL means an option it does not know) and none as the last resort.
   */
  | {op: 'mountOverlay'; target: string; flags: number; data: string; hardening: string[]}
  /**
   * A host device node bound onto an empty file (the /dev tmpfs is nodev: a bind mount has its
   * own flags, so only these nodes work). The source is checked to be the character device
   * major:minor and bound through the descriptor that was checked.
   */
  | {op: 'bindDevice'; source: string; target: string; major: number; minor: number; block?: boolean}
  /**
   * A mount onto `inside` (absolute, in the container) under `root`, reached one component at a
   * time through O_PATH|O_NOFOLLOW descriptors: a symlink on the way is an error, a missing
   * component is made (the last one a file when `kind` is file). With `restrict`, nodev (and ro)
   * are then set on the new mount and its submounts.
   */
  | {
      op: 'mountInRoot'
      root: string
      inside: string
      kind: 'dir' | 'file'
      source: string
      fstype: string | null
      flags: number
      data: string | null
      restrict?: {readOnly: boolean}
    }
  /** setrlimit (prlimit on itself) before exec: --ulimit. */
  | {op: 'setrlimit'; resource: number; soft: bigint; hard: bigint}
  /** MOUNT_ATTR_NODEV (and RDONLY) on a mount and every mount under it (mount_setattr), else by remount. */
  | {op: 'restrictMount'; path: string; readOnly: boolean}
  /** /dev/null (checked: char 1:3) over a file, an empty read-only tmpfs over a directory; nothing when absent. */
  | {op: 'maskPath'; path: string}
  /** A bind of the path onto itself, made read-only; nothing when absent. */
  | {op: 'readonlyPath'; path: string}
  /** PR_CAPBSET_DROP of every capability not in `keep`. */
  | {op: 'capBounding'; keep: bigint}
  /** capset(effective = permitted): a switch to a non-root uid cleared the effective set. */
  | {op: 'raiseEffective'}
  /** capset, then the ambient set cleared. */
  | {op: 'capabilities'; effective: bigint; permitted: bigint; inheritable: bigint}
  /** Loads the seccomp filter (base64 of struct sock_filter[]) for this thread. */
  | {op: 'seccomp'; program: string}
  /**
   * Resolves command[0] with the container's PATH, opens it and checks it (security/exec-guard.ts):
   * not pivot's own init binary, directly or as the interpreter of a script or an ELF file.
   */
  | {op: 'resolveCommand'; command: string[]; env: string[]}
  /**
   * `-t`: a pty of the container's devpts becomes PID 1's controlling terminal and stdio 0-2, its
   * slave is bound onto /dev/console, and its master goes to the holder (the monitor or `pivot
   * run`) through the console channel, fd 4.
   */
  | {op: 'console'}
  /** execve (or execveat on the descriptor resolveCommand checked) with the env and HOME. */
  | {op: 'exec'}
