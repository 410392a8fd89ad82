import {O_CLOEXEC, O_PATH, O_RDONLY, S_IFDIR, S_IFMT, S_IFREG} from '../../sys/constants'
import {SysError} from '../../sys/sys-error'
import type {Syscalls} from '../../sys/syscalls'
import {EXIT_CANNOT_INVOKE, EXIT_NOT_FOUND, RuntimeError} from '../runtime-error'

/**
 * The command's last check before exec: the container must not run pivot's init binary (the
 * host's `node`), nor any other file that is not on one of the container's own mounts.
 *
 * Until it execs, the init's /proc/self/exe (and /proc/1/exe) is the host's node binary: a
 * command `/proc/self/exe`, a script `#!/proc/self/exe`, an ELF file whose interpreter is
 * /proc/self/exe, or `/proc/self/map_files/...` would all run a host binary inside the container,
 * with the container holding a way to reopen it for writing once it exits (CVE-2019-5736's
 * shape). So the init opens the command (O_PATH: no read, no side effect, even for a FIFO),
 * checks the file it got, follows the interpreter chain the kernel would follow (#! lines, ELF
 * PT_INTERP), and then execs exactly what it checked:
 *
 *  - by path when every directory and symlink the path goes through is on the container's root
 *    filesystem (its overlay): nothing but host root can change those while the init runs (the
 *    init is the only process in the container), so the kernel resolves the same file again.
 *    This keeps the kernel's own behaviour: /proc/self/comm is the name the command was run by
 *    (`sh`, not `busybox`), and scripts get their path as $0.
 *  - by descriptor (execveat AT_EMPTY_PATH) otherwise (a volume another container or a host
 *    user can write to, /proc, /dev): no check-then-exec race. A script is then run the way
 *    binfmt_script would, its interpreter by descriptor with [interpreter, arg, script, args...].
 *    The cost: comm is the file's own name (Linux >= 6.14; the descriptor number before).
 */

export interface GuardFs {
  /** lstat: never follows the last component. undefined when it does not exist. */
  lstat(path: string): {dev: bigint; ino: bigint; isSymlink: boolean; isDirectory: boolean} | undefined
  readlink(path: string): string
  /** The text of a /proc file; undefined when it cannot be read. */
  readFile(path: string): string | undefined
}

export interface ExecTarget {
  /** 'path': execve(path) with the kernel resolving it again; 'fd': execveat(fd, "", AT_EMPTY_PATH). */
  how: 'path' | 'fd'
  path: string
  /** O_PATH, close-on-exec; open until exec (it pins the file for 'fd'). */
  fd: number
  argv: string[]
}

/** binfmt_script's and binfmt_elf's nesting limit: more interpreters than this is ELOOP. */
const MAX_INTERPRETERS = 4
const HEAD_BYTES = 256 // BINPRM_BUF_SIZE: all of a #! line the kernel reads
const PT_INTERP = 3

interface FileId {
  dev: bigint
  ino: bigint
}

interface Context {
  sys: Syscalls
  fs: GuardFs
  self: FileId
  rootDev: bigint
  /** Read on first need: most commands never need it. */
  mountIds?: Set<string>
}

/**
 * Opens and checks `file` (already PATH-resolved) and its interpreters; returns how to exec it.
 * Throws RuntimeError 126/127 like a failed exec, 126 for a refused file.
 */
export function resolveExecTarget(file: string, argv: string[], sys: Syscalls, fs: GuardFs): ExecTarget {
  const selfFd = sys.open('/proc/self/exe', O_PATH | O_CLOEXEC)
  let self: FileId
  try {
    self = sys.fstat(selfFd)
  } finally {
    sys.close(selfFd)
  }
  const root = fs.lstat('/')
  if (!root) throw new RuntimeError('RUN_SETUP_FAILED', 'container setup failed: the root directory is missing')
  const ctx: Context = {sys, fs, self, rootDev: root.dev}
  return inspect(ctx, file, argv, 0)
}

function inspect(ctx: Context, file: string, argv: string[], depth: number): ExecTarget {
  const fd = openChecked(ctx, file, argv[0] ?? file)
  try {
    // On the root filesystem it is inside by construction; elsewhere its mount must be one of the
    // container's (not a host file reached through a /proc magic link).
    const stable = staysOnRoot(ctx, file)
    if (!stable) checkMount(ctx, fd, argv[0] ?? file)
    const head = readAt(ctx.sys, fd, 0, 4096)
    if (head[0] === 0x23 && head[1] === 0x21) {
      const line = shebang(head)
      if (!line) throw execFailure(argv[0] ?? file, 'ENOEXEC')
      refuseUnreadableName(line.interpreter, argv[0] ?? file)
      if (depth + 1 > MAX_INTERPRETERS) throw execFailure(argv[0] ?? file, 'ELOOP')
      const interpArgv = [line.interpreter, ...(line.arg === undefined ? [] : [line.arg]), file, ...argv.slice(1)]
      const inner = inspect(ctx, line.interpreter, interpArgv, depth + 1)
      if (inner.how === 'path' && stable) {
        // The kernel can run the script itself: it finds the same interpreter again.
        ctx.sys.close(inner.fd)
        return {how: 'path', path: file, fd, argv}
      }
      ctx.sys.close(fd)
      return inner
    }
    const interpreter = elfInterpreter(ctx.sys, fd, head)
    if (interpreter !== undefined) {
      refuseUnreadableName(interpreter, argv[0] ?? file)
      checkElfInterpreter(ctx, interpreter, argv[0] ?? file)
    }
    return {how: stable ? 'path' : 'fd', path: file, fd, argv}
  } catch (error) {
    closeQuietly(ctx.sys, fd)
    throw error
  }
}

/**
 * An interpreter's name is bytes the kernel uses as they are, but it reaches these checks decoded
 * as UTF-8: bytes that are not UTF-8 become U+FFFD, and the checks would open another file than
 * the one the kernel runs (`#!/x/\xff` checked as `/x/\u{fffd}`). Such a name is refused.
 */
function refuseUnreadableName(interpreter: string, shown: string): void {
  if (!interpreter.includes('\uFFFD')) return
  throw new RuntimeError('RUN_CANNOT_INVOKE', `exec: ${JSON.stringify(shown)}: refusing an interpreter whose name is not valid UTF-8`, {
    exitCode: EXIT_CANNOT_INVOKE,
  })
}

/** open(O_PATH), then the checks that do not need the content: a regular file, not the init. */
function openChecked(ctx: Context, file: string, shown: string): number {
  let fd: number
  try {
    fd = ctx.sys.open(file, O_PATH | O_CLOEXEC)
  } catch (error) {
    throw execError(shown, error)
  }
  try {
    const st = ctx.sys.fstat(fd)
    if ((st.mode & S_IFMT) === S_IFDIR) {
      throw new RuntimeError('RUN_CANNOT_INVOKE', `exec: ${JSON.stringify(shown)}: is a directory`, {exitCode: EXIT_CANNOT_INVOKE})
    }
    // execve refuses anything but a regular file with EACCES.
    if ((st.mode & S_IFMT) !== S_IFREG) throw execFailure(shown, 'EACCES')
    if (st.dev === ctx.self.dev && st.ino === ctx.self.ino) {
      throw new RuntimeError(
        'RUN_CANNOT_INVOKE',
        `exec: ${JSON.stringify(shown)}: refusing to run pivot's own init binary (the host's node) in the container`,
        {exitCode: EXIT_CANNOT_INVOKE},
      )
    }
    return fd
  } catch (error) {
    closeQuietly(ctx.sys, fd)
    throw error
  }
}

/** The file's mount must be one the container sees (all of them its own, after pivot_root). Fails closed. */
function checkMount(ctx: Context, fd: number, shown: string): void {
  ctx.mountIds ??= mountIds(ctx.fs)
  const mnt = mountIdOf(ctx.fs, fd)
  if (mnt === undefined || !ctx.mountIds.has(mnt)) {
    throw new RuntimeError('RUN_CANNOT_INVOKE', `exec: ${JSON.stringify(shown)}: refusing to run a file from outside the container's filesystems`, {
      exitCode: EXIT_CANNOT_INVOKE,
    })
  }
}

/** An ELF interpreter is opened by the kernel by path: it must be inside, not the init, and on the root filesystem (no one may swap it). */
function checkElfInterpreter(ctx: Context, interpreter: string, shown: string): void {
  let fd: number
  try {
    fd = openChecked(ctx, interpreter, interpreter)
  } catch (error) {
    // A missing interpreter: the exec fails with ENOENT, as it would anyway.
    if (error instanceof RuntimeError && error.exitCode === EXIT_NOT_FOUND) return
    throw error
  }
  ctx.sys.close(fd)
  if (!staysOnRoot(ctx, interpreter)) {
    throw new RuntimeError(
      'RUN_CANNOT_INVOKE',
      `exec: ${JSON.stringify(shown)}: refusing an ELF interpreter (${interpreter}) outside the container's root filesystem`,
      {exitCode: EXIT_CANNOT_INVOKE},
    )
  }
}

/** A `#!` line parsed as fs/binfmt_script.c does; undefined where the kernel says ENOEXEC. */
export function shebang(head: Buffer): {interpreter: string; arg?: string} | undefined {
  const buf = head.subarray(0, HEAD_BYTES)
  const isBlank = (c: number) => c === 0x20 || c === 0x09
  const isEnd = (c: number) => c === 0x20 || c === 0x09 || c === 0x00
  let end = buf.indexOf(0x0a)
  if (end === -1) {
    // No newline in the buffer (whose last byte the kernel keeps for a NUL): fine only if the
    // interpreter's name visibly ends in it.
    const last = Math.min(buf.length, HEAD_BYTES - 1)
    let start = 2
    while (start < last && isBlank(buf[start])) start++
    if (start >= last) return undefined
    let term = start
    while (term < last && !isEnd(buf[term])) term++
    if (term >= last) return undefined
    end = last
  }
  while (end > 2 && isBlank(buf[end - 1])) end--
  let name = 2
  while (name < end && isBlank(buf[name])) name++
  if (name >= end) return undefined
  let sep = name
  while (sep < end && !isEnd(buf[sep])) sep++
  const interpreter = buf.subarray(name, sep).toString()
  let arg: string | undefined
  if (sep < end && buf[sep] !== 0x00) {
    let a = sep
    while (a < end && isBlank(buf[a])) a++
    if (a < end) {
      const raw = buf.subarray(a, end)
      const nul = raw.indexOf(0)
      arg = (nul === -1 ? raw : raw.subarray(0, nul)).toString()
    }
  }
  return {interpreter, arg}
}

/** PT_INTERP of an ELF file (32 or 64 bit, either byte order), or undefined (static, or not ELF). */
export function elfInterpreter(sys: Syscalls, fd: number, head: Buffer): string | undefined {
  if (head.length < 52 || head.readUInt32BE(0) !== 0x7f454c46) return undefined
  const is64 = head[4] === 2
  const le = head[5] !== 2
  if (is64 && head.length < 64) return undefined
  const u16 = (b: Buffer, o: number) => (le ? b.readUInt16LE(o) : b.readUInt16BE(o))
  const u32 = (b: Buffer, o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o))
  const word = (b: Buffer, o: number) => (is64 ? Number(le ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o)) : u32(b, o))
  const phoff = word(head, is64 ? 0x20 : 0x1c)
  const phentsize = u16(head, is64 ? 0x36 : 0x2a)
  const phnum = u16(head, is64 ? 0x38 : 0x2c)
  // The kernel refuses program header tables over 64 KiB (ENOEXEC): no need to read more.
  if (phentsize < (is64 ? 56 : 32) || phnum === 0 || phentsize * phnum > 65536) return undefined
  const table = phoff + phentsize * phnum <= head.length ? head.subarray(phoff, phoff + phentsize * phnum) : readAt(sys, fd, phoff, phentsize * phnum)
  for (let i = 0; i + phentsize <= table.length; i += phentsize) {
    if (u32(table, i) !== PT_INTERP) continue
    const offset = word(table, i + (is64 ? 0x08 : 0x04))
    const size = Math.min(word(table, i + (is64 ? 0x20 : 0x10)), 4096)
    const raw = offset + size <= head.length ? head.subarray(offset, offset + size) : readAt(sys, fd, offset, size)
    const nul = raw.indexOf(0)
    return (nul === -1 ? raw : raw.subarray(0, nul)).toString()
  }
  return undefined
}

/** Bytes of the file behind an O_PATH descriptor, through a read-only reopen of /proc/self/fd/N (the very same file). */
function readAt(sys: Syscalls, fd: number, position: number, length: number): Buffer {
  const rfd = sys.open(`/proc/self/fd/${fd}`, O_RDONLY | O_CLOEXEC)
  try {
    return sys.pread(rfd, length, position)
  } finally {
    sys.close(rfd)
  }
}

/**
 * Whether the kernel's resolution of `path` goes only through the container's root filesystem:
 * each component (after `..` and symlinks, resolved as the kernel would) on the root's device.
 */
export function staysOnRoot(ctx: Pick<Context, 'fs' | 'rootDev'>, path: string): boolean {
  let parts: string[] = []
  if (!path.startsWith('/')) {
    const here = ctx.fs.lstat('.')
    if (!here || here.dev !== ctx.rootDev) return false
    const cwd = ctx.fs.readlink('/proc/self/cwd')
    if (!cwd.startsWith('/')) return false
    parts = cwd.split('/').filter(Boolean)
  }
  let pending = path.split('/').filter(Boolean)
  let links = 0
  while (pending.length > 0) {
    const c = pending.shift()!
    if (c === '.') continue
    if (c === '..') {
      parts.pop()
      continue
    }
    const candidate = '/' + [...parts, c].join('/')
    const st = ctx.fs.lstat(candidate)
    if (!st || st.dev !== ctx.rootDev) return false
    if (st.isSymlink) {
      if (++links > 40) return false
      const target = ctx.fs.readlink(candidate)
      if (target.startsWith('/')) parts = []
      pending = [...target.split('/').filter(Boolean), ...pending]
      continue
    }
    parts.push(c)
  }
  return true
}

/** Mount ids of every mount the init sees (all of them the container's, after pivot_root). */
function mountIds(fs: GuardFs): Set<string> {
  const text = fs.readFile('/proc/self/mountinfo') ?? ''
  return new Set(
    text
      .split('\n')
      .map(l => l.split(' ')[0])
      .filter(Boolean),
  )
}

function mountIdOf(fs: GuardFs, fd: number): string | undefined {
  return /^mnt_id:\s*(\d+)$/m.exec(fs.readFile(`/proc/self/fdinfo/${fd}`) ?? '')?.[1]
}

function closeQuietly(sys: Syscalls, fd: number): void {
  try {
    sys.close(fd)
  } catch {
    // already failing
  }
}

function execFailure(name: string, errnoName: string): RuntimeError {
  const codes: Record<string, number> = {EACCES: 13, ENOEXEC: 8, ELOOP: 40}
  return execError(name, new SysError('execve', [name], codes[errnoName] ?? 13))
}

/** An exec failure as docker reports it: 127 for a missing file, 126 for one that cannot run. */
export function execError(name: string, error: unknown): RuntimeError {
  if (error instanceof RuntimeError) return error
  if (!(error instanceof SysError)) {
    return new RuntimeError('RUN_SETUP_FAILED', `exec ${JSON.stringify(name)}: ${String((error as Error)?.message ?? error)}`)
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
    case 'ELOOP':
      return new RuntimeError('RUN_CANNOT_INVOKE', `exec: ${JSON.stringify(name)}: too many levels of symbolic links or interpreters`, {
        exitCode: EXIT_CANNOT_INVOKE,
      })
    default:
      return new RuntimeError('RUN_CANNOT_INVOKE', `exec: ${JSON.stringify(name)}: ${error.errnoName}`, {exitCode: EXIT_CANNOT_INVOKE})
  }
}
