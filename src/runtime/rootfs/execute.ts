import type {Syscalls} from '../../sys/syscalls'
import {SysError} from '../../sys/sys-error'
import {
  AT_EMPTY_PATH,
  MOUNT_ATTR_NODEV,
  MOUNT_ATTR_RDONLY,
  MS_BIND,
  MS_NODEV,
  MS_NOEXEC,
  MS_NOSUID,
  MS_RDONLY,
  MS_REC,
  MS_REMOUNT,
  O_CLOEXEC,
  O_CREAT,
  O_DIRECTORY,
  O_NOFOLLOW,
  O_WRONLY,
  O_PATH,
  PR_CAP_AMBIENT,
  PR_CAP_AMBIENT_CLEAR_ALL,
  PR_CAPBSET_DROP,
  S_IFBLK,
  S_IFCHR,
  S_IFMT,
  ST_NOATIME,
  ST_NODIRATIME,
  ST_NOEXEC,
  ST_NODEV,
  ST_NOSUID,
  ST_RDONLY,
  ST_RELATIME,
  makedev,
} from '../../sys/constants'
import {mountOverlayHardened} from '../../unpack/overlay-mount'
import {EXIT_NOT_FOUND, RuntimeError} from '../runtime-error'
import {execError, resolveExecTarget, type ExecTarget, type GuardFs} from '../security/exec-guard'
import {capabilityNames} from '../security/capabilities'
import {ID_RANGE, resolveUser} from '../user'
import type {Step} from './steps'

/** The few file operations the setup makes besides syscalls; synchronous only (see init.ts). */
export interface SetupFs extends GuardFs {
  /** Writes "0" to a cgroup v1 `tasks` file: moves the calling thread, the main one, into that cgroup. */
  joinCgroup(tasks: string): void
  mkdir(path: string, mode: number, recursive: boolean): void
  touch(path: string): void
  symlink(target: string, path: string): void
  /** The file's text, or undefined when it does not exist. */
  readFile(path: string): string | undefined
  /** undefined when the path does not exist. */
  stat(path: string): {isFile: boolean; isDirectory: boolean; mode: number} | undefined
  /**
   * Tells the console's holder, on fd 4, the number of the descriptor the pty master is open on,
   * and waits for its one-byte answer: it has taken a copy (pidfd_getfd), so ours can be closed.
   */
  handOverConsole(master: number): void
}

/** The console channel: a socket from the holder of a `-t` container's pty master. */
export const CONSOLE_FD = 4

/** SetupFs on node:fs, synchronous calls only: they run on the main thread, in its namespaces and root. */
export function nodeSetupFs(): SetupFs {
  const fs = require('node:fs') as typeof import('node:fs')
  return {
    joinCgroup: tasks => {
      const fd = fs.openSync(tasks, fs.constants.O_WRONLY)
      try {
        fs.writeSync(fd, '0')
      } finally {
        fs.closeSync(fd)
      }
    },
    mkdir: (path, mode, recursive) => {
      if (recursive) return mkdirParents(fs, path, mode)
      fs.mkdirSync(path, {mode})
      // mkdir applies the umask; the set-gid/sticky bits are not set by mkdir on every fs.
      fs.chmodSync(path, mode)
    },
    touch: path => fs.closeSync(fs.openSync(path, 'a', 0o644)),
    symlink: (target, path) => fs.symlinkSync(target, path),
    readFile: path => {
      try {
        return fs.readFileSync(path, 'utf8')
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
        throw error
      }
    },
    stat: path => {
      const st = fs.statSync(path, {throwIfNoEntry: false})
      return st && {isFile: st.isFile(), isDirectory: st.isDirectory(), mode: st.mode}
    },
    lstat: path => {
      const st = fs.lstatSync(path, {bigint: true, throwIfNoEntry: false})
      return st && {dev: st.dev, ino: st.ino, isSymlink: st.isSymbolicLink(), isDirectory: st.isDirectory()}
    },
    readlink: path => fs.readlinkSync(path),
    handOverConsole: master => {
      fs.writeSync(CONSOLE_FD, `${master}\n`)
      const answer = Buffer.alloc(1)
      for (;;) {
        try {
          if (fs.readSync(CONSOLE_FD, answer, 0, 1, null) === 1) return
          throw new RuntimeError('RUN_SETUP_FAILED', 'container setup failed: the terminal holder went away')
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1)
        }
      }
    },
  }
}

/**
 * mkdir -p, one component at a time. Not node's recursive mkdirSync: on a path such as
 * /proc/self/fd/99 (mkdir says ENOENT while the parent exists) it retries forever, and a
 * `-w` would hang the container's start.
 */
function mkdirParents(fs: typeof import('node:fs'), path: string, mode: number): void {
  let prefix = ''
  for (const part of path.split('/').filter(Boolean)) {
    prefix += '/' + part
    try {
      fs.mkdirSync(prefix, {mode})
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    }
  }
}

/** What the steps hand on to later steps while they run. */
export interface Progress {
  home?: string
  /** The checked null device, for the masks (O_PATH, close-on-exec). */
  nullFd?: number
  target?: ExecTarget
  env?: string[]
}

/**
 * Carries out a plan from planContainer, in order. Returns only if the plan has no exec step
 * (a real exec replaces the process; RecordingSyscalls' throws). Errors are RuntimeErrors with
 * the exit status docker would give: 125 for setup, 126 cannot invoke, 127 not found.
 */
export function executeSteps(steps: readonly Step[], sys: Syscalls, fs: SetupFs): void {
  const progress: Progress = {}
  for (const step of steps) {
    try {
      runStep(step, sys, fs, progress)
    } catch (error) {
      if (error instanceof RuntimeError) throw error
      throw new RuntimeError('RUN_SETUP_FAILED', `container setup failed: ${describe(error)}`, {cause: error})
    }
  }
}

/** One step (exported for the OCI runtime mode's executor, which adds its own ops around these). */
export function runStep(step: Step, sys: Syscalls, fs: SetupFs, progress: Progress): void {
  switch (step.op) {
    case 'joinCgroup':
      try {
        fs.joinCgroup(step.tasks)
      } catch (error) {
        throw new RuntimeError(
          'RUN_SETUP_FAILED',
          `cannot move the container's init into its cgroup ${step.tasks.replace(/\/tasks$/, '')}: ${(error as NodeJS.ErrnoException).code ?? describe(error)}`,
        )
      }
      break
    case 'unshare':
      sys.unshare(step.flags)
      break
    case 'mount':
      sys.mount(step.source, step.target, step.fstype, step.flags, step.data)
      break
    case 'umount2':
      sys.umount2(step.target, step.flags)
      break
    case 'chdir':
      sys.chdir(step.path)
      break
    case 'pivotRoot':
      sys.pivotRoot(step.newRoot, step.putOld)
      break
    case 'sethostname':
      sys.sethostname(step.name)
      break
    case 'interfaceUp':
      sys.interfaceUp(step.name)
      break
    case 'umask':
      sys.umask(step.mask)
      break
    case 'prctl':
      sys.prctl(step.option, step.arg2)
      break
    case 'mkdir':
      fs.mkdir(step.path, step.mode, false)
      break
    case 'touch':
      fs.touch(step.path)
      break
    case 'symlink':
      fs.symlink(step.target, step.path)
      break
    case 'mountOverlay':
      mountOverlay(step, sys)
      break
    case 'bindDevice': {
      const fd = openDevice(sys, step.source, step.major, step.minor, step.block === true)
      try {
        fs.touch(step.target)
        sys.mount(`/proc/self/fd/${fd}`, step.target, null, MS_BIND, null)
      } finally {
        sys.close(fd)
      }
      break
    }
    case 'mountInRoot':
      mountInRoot(step, sys)
      break
    case 'setrlimit':
      sys.setrlimit(step.resource, step.soft, step.hard)
      break
    case 'restrictMount':
      restrictMount(sys, step.path, MOUNT_ATTR_NODEV | (step.readOnly ? MOUNT_ATTR_RDONLY : 0), true)
      break
    case 'maskPath': {
      const st = fs.stat(step.path)
      if (!st) break
      if (st.isDirectory) {
        sys.mount('tmpfs', step.path, 'tmpfs', MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, 'size=0,mode=555')
      } else {
        progress.nullFd ??= openDevice(sys, '/dev/null', 1, 3)
        sys.mount(`/proc/self/fd/${progress.nullFd}`, step.path, null, MS_BIND, null)
      }
      break
    }
    case 'readonlyPath':
      if (!fs.stat(step.path)) break
      sys.mount(step.path, step.path, null, MS_BIND | MS_REC, null)
      restrictMount(sys, step.path, MOUNT_ATTR_RDONLY, false)
      break
    case 'workdir':
      workdir(step.path, sys, fs)
      break
    case 'resolveCommand': {
      // Before the user switch and the capability drop: the checks read the command's first
      // bytes, which a user may lack the right to (an execute-only file), and the exec itself
      // still checks the user's right to run it.
      const file = lookPath(step.command[0], step.env, fs)
      progress.target = resolveExecTarget(file, step.command, sys, fs)
      progress.env = step.env
      break
    }
    case 'capBounding':
      for (let cap = 0; cap < 64; cap++) {
        if ((step.keep >> BigInt(cap)) & 1n) continue
        try {
          sys.prctl(PR_CAPBSET_DROP, cap)
        } catch (error) {
          // EINVAL: past the kernel's last capability.
          if (error instanceof SysError && error.errnoName === 'EINVAL') break
          throw error
        }
      }
      break
    case 'raiseEffective': {
      const caps = sys.capget()
      sys.capset({effective: caps.permitted, permitted: caps.permitted, inheritable: caps.inheritable})
      break
    }
    case 'capabilities':
      try {
        sys.capset({effective: step.effective, permitted: step.permitted, inheritable: step.inheritable})
      } catch (error) {
        if (!(error instanceof SysError) || error.errnoName !== 'EPERM') throw error
        const missing = step.permitted & ~sys.capget().permitted
        throw new RuntimeError(
          'RUN_SETUP_FAILED',
          `container setup failed: pivot itself does not hold ${capabilityNames(missing).join(', ') || 'the capabilities asked for'}`,
        )
      }
      sys.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
      break
    case 'seccomp':
      sys.seccompLoad(Buffer.from(step.program, 'base64'))
      break
    case 'switchUser': {
      const groupFile = fs.readFile('/etc/group')
      const user = resolveUser(step.user, fs.readFile('/etc/passwd'), groupFile)
      const extra = (step.groupAdd ?? []).map(g => groupId(g, groupFile))
      // setgroups takes 32-bit gids: 4294967296 would become 0, the root group.
      if (extra.some(g => g > 2 ** 31 - 1)) throw new RuntimeError('RUN_BAD_USER', ID_RANGE)
      sys.setgroups([...user.groups, ...extra.filter(g => !user.groups.includes(g))])
      // gid before uid: once the uid is not 0, the thread may no longer change its gid.
      sys.setresgid(user.gid)
      sys.setresuid(user.uid)
      progress.home = user.home
      break
    }
    case 'resetSignals':
      for (let signum = 1; signum <= 31; signum++) {
        if (signum !== 9 && signum !== 19) sys.signalDefault(signum)
      }
      break
    case 'closeFds':
      sys.cloexecFrom(3)
      for (const fd of [0, 1, 2]) sys.setCloexec(fd, false)
      break
    case 'console': {
      const pty = sys.openPty('/dev/ptmx', '/dev/pts')
      // docker's /dev/console is the container's terminal: what writes to the console is seen.
      sys.mount(pty.name, '/dev/console', null, MS_BIND, null)
      sys.setsid()
      sys.setControllingTerminal(pty.slave)
      for (const fd of [0, 1, 2]) sys.dup2(pty.slave, fd)
      sys.close(pty.slave)
      fs.handOverConsole(pty.master)
      sys.close(pty.master)
      break
    }
    case 'exec': {
      const target = progress.target
      if (!target || !progress.env) throw new RuntimeError('RUN_SETUP_FAILED', 'container setup failed: exec before resolveCommand')
      const base = progress.env
      const env = base.some(e => e.startsWith('HOME=')) ? [...base] : [...base, `HOME=${progress.home ?? '/'}`]
      try {
        if (target.how === 'path') sys.execve(target.path, target.argv, env)
        else sys.execveat(target.fd, '', target.argv, env, AT_EMPTY_PATH)
      } catch (error) {
        throw execError(target.argv[0] ?? target.path, error)
      }
      break
    }
    default:
      throw new RuntimeError('RUN_SETUP_FAILED', `unknown setup step ${JSON.stringify(step)}`)
  }
}

/** The container's overlay root, with the hardening options the plan gives (see overlay-mount.ts). */
function mountOverlay(step: Extract<Step, {op: 'mountOverlay'}>, sys: Syscalls): void {
  mountOverlayHardened(sys, step.target, step.flags, step.data, step.hardening)
}

/** Opens a device node without following a symlink and checks it is the character device major:minor. */
function openDevice(sys: Syscalls, path: string, major: number, minor: number, block = false): number {
  const fd = sys.open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC)
  try {
    const st = sys.fstat(fd)
    if ((st.mode & S_IFMT) !== (block ? S_IFBLK : S_IFCHR) || st.rdev !== makedev(major, minor)) {
      throw new RuntimeError('RUN_SETUP_FAILED', `container setup failed: ${path} is not the ${block ? 'block' : 'character'} device ${major}:${minor}`)
    }
    return fd
  } catch (error) {
    sys.close(fd)
    throw error
  }
}

/** A --group-add entry: a gid, or a group name of the container's /etc/group (docker's message when unknown). */
function groupId(group: string, groupFile: string | undefined): number {
  if (/^\d+$/.test(group)) return Number(group)
  for (const line of (groupFile ?? '').split('\n')) {
    const [name, , gid] = line.split(':')
    if (name === group && /^\d+$/.test(gid ?? '')) return Number(gid)
  }
  throw new RuntimeError('RUN_BAD_USER', `Unable to find group ${group}: no matching entries in group file`)
}

/**
 * A descriptor (O_PATH) of `inside` under `root`, one component at a time, never following a
 * symlink (O_NOFOLLOW on each, opened through the previous one's /proc/self/fd link, which is how
 * openat(2) is reached here): what is mounted on it is in the container whatever its content
 * says. Missing components are made, directories 0755 (the last one a file with kind file).
 */
function openInRoot(sys: Syscalls, root: string, inside: string, kind: 'dir' | 'file'): number {
  let fd = sys.open(root, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
  const parts = inside.split('/').filter(Boolean)
  try {
    parts.forEach((part, i) => {
      const last = i === parts.length - 1
      const at = `/proc/self/fd/${fd}/${part}`
      const wantFile = last && kind === 'file'
      let next: number
      try {
        next = sys.open(at, O_PATH | O_NOFOLLOW | O_CLOEXEC | (wantFile ? 0 : O_DIRECTORY))
      } catch (error) {
        if (!(error instanceof SysError)) throw error
        if (error.errnoName === 'ENOENT') {
          if (wantFile) sys.close(sys.open(at, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o644))
          else nodeMkdir(at)
          next = sys.open(at, O_PATH | O_NOFOLLOW | O_CLOEXEC | (wantFile ? 0 : O_DIRECTORY))
        } else if (error.errnoName === 'ELOOP' || error.errnoName === 'ENOTDIR') {
          throw new RuntimeError(
            'RUN_SETUP_FAILED',
            `container setup failed: cannot mount on ${inside}: /${parts.slice(0, i + 1).join('/')} is a symlink or not a directory in the container`,
          )
        } else throw error
      }
      sys.close(fd)
      fd = next
    })
    return fd
  } catch (error) {
    sys.close(fd)
    throw error
  }
}

function nodeMkdir(at: string): void {
  const fs = require('node:fs') as typeof import('node:fs')
  try {
    fs.mkdirSync(at, {mode: 0o755})
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
  }
}

function mountInRoot(step: Extract<Step, {op: 'mountInRoot'}>, sys: Syscalls): void {
  const fd = openInRoot(sys, step.root, step.inside, step.kind)
  try {
    sys.mount(step.source, `/proc/self/fd/${fd}`, step.fstype, step.flags, step.data)
  } finally {
    sys.close(fd)
  }
  if (!step.restrict) return
  // Opened again: the walk now ends on the new mount's root, which is what gets the attributes.
  const top = openInRoot(sys, step.root, step.inside, step.kind)
  try {
    restrictMount(sys, `/proc/self/fd/${top}`, MOUNT_ATTR_NODEV | (step.restrict.readOnly ? MOUNT_ATTR_RDONLY : 0), true)
  } finally {
    sys.close(top)
  }
}

/**
 * Sets mount attributes without touching the others (nosuid, noexec... of the source stay):
 * mount_setattr, recursive for a volume's submounts; before Linux 5.12 a bind remount, on the
 * one mount, with the flags it has (statfs) plus the new ones.
 */
function restrictMount(sys: Syscalls, path: string, attrs: number, recursive: boolean): void {
  try {
    sys.mountSetattr(path, attrs, 0, recursive)
    return
  } catch (error) {
    if (!(error instanceof SysError) || error.errnoName !== 'ENOSYS') throw error
  }
  // nodev kept too: a remount without it clears it (readonlyPath's /proc/sys, proc's own nodev).
  const keep = sys.statfsFlags(path) & (ST_RDONLY | ST_NOSUID | ST_NODEV | ST_NOEXEC | ST_NOATIME | ST_NODIRATIME | ST_RELATIME)
  const add = (attrs & MOUNT_ATTR_NODEV ? MS_NODEV : 0) | (attrs & MOUNT_ATTR_RDONLY ? MS_RDONLY : 0)
  sys.mount(null, path, null, MS_BIND | MS_REMOUNT | keep | add, null)
}

export function describe(error: unknown): string {
  if (error instanceof SysError) return error.message
  const e = error as NodeJS.ErrnoException
  return e.code && e.syscall ? `${e.syscall} ${e.path ?? ''}: ${e.code}`.replace(' :', ':') : String(e?.message ?? e)
}

function workdir(path: string, sys: Syscalls, fs: SetupFs): void {
  try {
    sys.chdir(path)
    insideRoot(path, sys)
    return
  } catch (error) {
    if (error instanceof RuntimeError) throw error
    if (!(error instanceof SysError) || error.errnoName !== 'ENOENT') {
      throw new RuntimeError('RUN_SETUP_FAILED', `cannot use the working directory ${path}: ${error instanceof SysError ? error.errnoName : String(error)}`)
    }
  }
  try {
    // Docker creates a missing working directory too (root-owned, 0755); it lands in the
    // container's upper layer, so a build step's commit keeps it.
    fs.mkdir(path, 0o755, true)
    sys.chdir(path)
  } catch (error) {
    const code = error instanceof SysError ? error.errnoName : ((error as NodeJS.ErrnoException).code ?? String(error))
    throw new RuntimeError('RUN_SETUP_FAILED', `cannot create the working directory ${path}: ${code}`)
  }
}

/**
 * The working directory must be under the container's root: a path through a magic link
 * (/proc/self/fd/N of a descriptor to a host directory, CVE-2024-21626's shape) could chdir out
 * of it. getcwd(2) fails (ENOENT, "unreachable") for a directory outside the thread's root.
 */
function insideRoot(path: string, sys: Syscalls): void {
  try {
    sys.getcwd()
  } catch (error) {
    const why = error instanceof SysError ? error.errnoName : String(error)
    throw new RuntimeError('RUN_SETUP_FAILED', `cannot use the working directory ${path}: it is outside the container (${why})`)
  }
}

/**
 * Go's exec.LookPath, which runc uses: a name with a slash is used as it is; otherwise the first
 * PATH entry holding a regular file with an execute bit. PATH is the container's.
 */
export function lookPath(name: string, env: readonly string[], fs: Pick<SetupFs, 'stat'>): string {
  if (name === '') throw new RuntimeError('RUN_COMMAND_NOT_FOUND', 'exec: "": executable file not found in $PATH', {exitCode: EXIT_NOT_FOUND})
  if (name.includes('/')) return name
  const pathVar =
    [...env]
      .reverse()
      .find(e => e.startsWith('PATH='))
      ?.slice(5) ?? ''
  for (const dir of pathVar.split(':')) {
    const candidate = (dir === '' ? '.' : dir) + '/' + name
    let st: ReturnType<typeof fs.stat>
    try {
      st = fs.stat(candidate)
    } catch {
      // As Go's LookPath (and so docker): an entry that cannot be looked in (a file, a symlink
      // loop: ENOTDIR, ELOOP) is skipped, not a failure of the container's start.
      continue
    }
    if (st && st.isFile && (st.mode & 0o111) !== 0) return candidate
  }
  throw new RuntimeError('RUN_COMMAND_NOT_FOUND', `exec: ${JSON.stringify(name)}: executable file not found in $PATH`, {exitCode: EXIT_NOT_FOUND})
}
