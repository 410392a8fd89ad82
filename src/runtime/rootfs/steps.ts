/**
 * One operation of a container's setup, as data: `planContainer` builds the ordered list from the
 * container's config (a pure function, unit-tested for its order), and `executeSteps` carries it
 * out through the `Syscalls` interface and a small filesystem interface. The ops that read the
 * container's files (switchUser, workdir, exec) resolve what they need when they run, after
 * pivot_root, from the container's own /etc/passwd and PATH.
 */
export type Step =
  | {op: 'unshare'; flags: number}
  | {op: 'mount'; source: string | null; target: string; fstype: string | null; flags: number; data: string | null}
  | {op: 'umount2'; target: string; flags: number}
  | {op: 'chdir'; path: string}
  | {op: 'pivotRoot'; newRoot: string; putOld: string}
  | {op: 'sethostname'; name: string}
  | {op: 'interfaceUp'; name: string}
  | {op: 'umask'; mask: number}
  | {op: 'prctl'; option: number; arg2: number}
  | {op: 'mknod'; path: string; mode: number; major: number; minor: number}
  | {op: 'mkdir'; path: string; mode: number}
  /** An empty file to bind a file onto (a file volume under /dev, whose tmpfs the parent cannot prepare). */
  | {op: 'touch'; path: string}
  | {op: 'symlink'; target: string; path: string}
  /** setgroups + setresgid + setresuid for `user` looked up in the container's /etc/passwd and /etc/group; sets HOME when absent. */
  | {op: 'switchUser'; user: string | undefined}
  /** chdir to the working directory, creating it (mode 0755) when it does not exist. */
  | {op: 'workdir'; path: string}
  /** Every signal but SIGKILL and SIGSTOP back to SIG_DFL (ignored ones would stay ignored across exec). */
  | {op: 'resetSignals'}
  /** Every fd above 2 close-on-exec, FD_CLOEXEC cleared on 0-2 (Node sets it). */
  | {op: 'closeFds'}
  /** Resolves command[0] with the container's PATH, then execve. */
  | {op: 'exec'; command: string[]; env: string[]}

export type StepOp = Step['op']
