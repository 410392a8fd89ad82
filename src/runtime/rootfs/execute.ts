import type {Syscalls} from '../../sys/syscalls'
import {SysError} from '../../sys/sys-error'
import {makedev} from '../../sys/constants'
import {EXIT_CANNOT_INVOKE, EXIT_NOT_FOUND, RuntimeError} from '../runtime-error'
import {resolveUser} from '../user'
import type {Step} from './steps'

/** The few file operations the setup makes besides syscalls; synchronous only (see init.ts). */
export interface SetupFs {
  mkdir(path: string, mode: number, recursive: boolean): void
  touch(path: string): void
  symlink(target: string, path: string): void
  /** The file's text, or undefined when it does not exist. */
  readFile(path: string): string | undefined
  /** undefined when the path does not exist. */
  stat(path: string): {isFile: boolean; isDirectory: boolean; mode: number} | undefined
}

/** SetupFs on node:fs, synchronous calls only: they run on the main thread, in its namespaces and root. */
export function nodeSetupFs(): SetupFs {
  const fs = require('node:fs') as typeof import('node:fs')
  return {
    mkdir: (path, mode, recursive) => {
      fs.mkdirSync(path, {mode, recursive})
      // mkdir applies the umask; the set-gid/sticky bits are not set by mkdir on every fs.
      if (!recursive) fs.chmodSync(path, mode)
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
  }
}

/**
 * Carries out a plan from planContainer, in order. Returns only if the plan has no exec step
 * (a real exec replaces the process; RecordingSyscalls' throws). Errors are RuntimeErrors with
 * the exit status docker would give: 125 for setup, 126 cannot invoke, 127 not found.
 */
export function executeSteps(steps: readonly Step[], sys: Syscalls, fs: SetupFs): void {
  let env: string[] | undefined
  let home: string | undefined
  for (const step of steps) {
    try {
      switch (step.op) {
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
        case 'mknod':
          sys.mknod(step.path, step.mode, makedev(step.major, step.minor))
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
        case 'workdir':
          workdir(step.path, sys, fs)
          break
        case 'switchUser': {
          const user = resolveUser(step.user, fs.readFile('/etc/passwd'), fs.readFile('/etc/group'))
          sys.setgroups(user.groups)
          // gid before uid: once the uid is not 0, the thread may no longer change its gid.
          sys.setresgid(user.gid)
          sys.setresuid(user.uid)
          home = user.home
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
        case 'exec': {
          env = step.env.some(e => e.startsWith('HOME=')) ? [...step.env] : [...step.env, `HOME=${home ?? '/'}`]
          const file = lookPath(step.command[0], env, fs)
          try {
            sys.execve(file, step.command, env)
          } catch (error) {
            const isDir = error instanceof SysError && error.errnoName === 'EACCES' && fs.stat(file)?.isDirectory
            throw isDir
              ? new RuntimeError('RUN_CANNOT_INVOKE', `exec: ${JSON.stringify(step.command[0])}: is a directory`, {exitCode: EXIT_CANNOT_INVOKE})
              : execError(step.command[0], error)
          }
          break
        }
        default:
          throw new RuntimeError('RUN_SETUP_FAILED', `unknown setup step ${JSON.stringify(step)}`)
      }
    } catch (error) {
      if (error instanceof RuntimeError) throw error
      throw new RuntimeError('RUN_SETUP_FAILED', `container setup failed: ${describe(error)}`, {cause: error})
    }
  }
}

function describe(error: unknown): string {
  if (error instanceof SysError) return error.message
  const e = error as NodeJS.ErrnoException
  return e.code && e.syscall ? `${e.syscall} ${e.path ?? ''}: ${e.code}`.replace(' :', ':') : String(e?.message ?? e)
}

function workdir(path: string, sys: Syscalls, fs: SetupFs): void {
  try {
    sys.chdir(path)
    return
  } catch (error) {
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
    const code = error instanceof SysError ? error.errnoName : (error as NodeJS.ErrnoException).code ?? String(error)
    throw new RuntimeError('RUN_SETUP_FAILED', `cannot create the working directory ${path}: ${code}`)
  }
}

/**
 * Go's exec.LookPath, which runc uses: a name with a slash is used as it is; otherwise the first
 * PATH entry holding a regular file with an execute bit. PATH is the container's.
 */
export function lookPath(name: string, env: readonly string[], fs: Pick<SetupFs, 'stat'>): string {
  if (name === '') throw new RuntimeError('RUN_COMMAND_NOT_FOUND', 'exec: "": executable file not found in $PATH', {exitCode: EXIT_NOT_FOUND})
  if (name.includes('/')) return name
  const pathVar = [...env].reverse().find(e => e.startsWith('PATH='))?.slice(5) ?? ''
  for (const dir of pathVar.split(':')) {
    const candidate = (dir === '' ? '.' : dir) + '/' + name
    const st = fs.stat(candidate)
    if (st && st.isFile && (st.mode & 0o111) !== 0) return candidate
  }
  throw new RuntimeError('RUN_COMMAND_NOT_FOUND', `exec: ${JSON.stringify(name)}: executable file not found in $PATH`, {exitCode: EXIT_NOT_FOUND})
}

function execError(name: string, error: unknown): RuntimeError {
  if (!(error instanceof SysError)) {
    return new RuntimeError('RUN_SETUP_FAILED', `exec ${JSON.stringify(name)}: ${describe(error)}`)
  }
  switch (error.errnoName) {
    case 'ENOENT':
      return new RuntimeError('RUN_COMMAND_NOT_FOUND', `exec: ${JSON.stringify(name)}: no such file or directory`, {exitCode: EXIT_NOT_FOUND})
    case 'EACCES':
    case 'EPERM':
      return new RuntimeError('RUN_CANNOT_INVOKE', `exec: ${JSON.stringify(name)}: permission denied`, {exitCode: EXIT_CANNOT_INVOKE})
    case 'EISDIR':
      return new RuntimeError('RUN_CANNOT_INVOKE', `exec: ${JSON.stringify(name)}: is a directory`, {exitCode: EXIT_CANNOT_INVOKE})
    case 'ENOEXEC':
      return new RuntimeError('RUN_CANNOT_INVOKE', `exec: ${JSON.stringify(name)}: exec format error`, {exitCode: EXIT_CANNOT_INVOKE})
    case 'ETXTBSY':
      return new RuntimeError('RUN_CANNOT_INVOKE', `exec: ${JSON.stringify(name)}: text file busy`, {exitCode: EXIT_CANNOT_INVOKE})
    default:
      return new RuntimeError('RUN_CANNOT_INVOKE', `exec: ${JSON.stringify(name)}: ${error.errnoName}`, {exitCode: EXIT_CANNOT_INVOKE})
  }
}
