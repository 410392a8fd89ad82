import * as fs from 'node:fs'
import * as path from 'node:path'
import type {KoffiSyscalls} from '../sys/koffi-syscalls'
import {processCommand} from '../common/process-identity'
import {unlinkIfPresent} from '../common/fs-util'
import {StoreError, describeFsError, shellQuote} from './store-error'

// Loaded on the first lock: commands that only read the store (`exec`, `ps`) skip the syscall
// layer's four modules, a few ms of every start.
let sys: KoffiSyscalls | undefined

/** How long a wait stays silent before it says what it waits for (the issue asks: within a second). */
const NOTICE_AFTER_MS = 500

export interface LockOptions {
  /** A shared (reader) lock; exclusive by default. */
  shared?: boolean
  /** What the wait notice names: `pivot: waiting for <what> (held by ...)`. Default: from the file name. */
  what?: string
  timeoutMs?: number
  /** Milliseconds between attempts while waiting. */
  pollMs?: number
  /** No wait notice: for a lock whose holders are quick and whose waiter's stderr is a command's output. */
  quiet?: boolean
  /**
   * Unlink the lock file on release, while still holding it. Safe only because every taker checks,
   * once it holds the flock, that its fd is still the file at that path (see lockFile).
   */
  removeOnRelease?: boolean
  /** `file` is an existing directory, locked as it is (nothing is created). */
  directory?: boolean
}

export interface HeldLock {
  /** Releases the lock; idempotent. */
  release(): void
}

/**
 * Takes a flock on `file` (created if missing), waiting as long as another process holds it.
 * flock rather than a lock file with a pid in it: the kernel drops the lock when its holder dies,
 * even by SIGKILL, so there is no stale lock to detect and steal. Waits by polling (a blocking
 * flock would stall Node's event loop); a wait longer than NOTICE_AFTER_MS prints one line on
 * stderr saying what it waits for and who holds it, so a long wait is never a silent one.
 *
 * A lock file may be unlinked by its holder (removeOnRelease). Whoever then waited on the old
 * file gets a flock on an inode nobody else will ever lock, while a newcomer locks a new file at
 * the same path: both would "hold the lock". So a taker that got the flock checks that the path
 * still names its inode, and starts again on the new file when it does not (the standard
 * unlink-then-verify pattern).
 */
export async function lockFile(file: string, options: LockOptions = {}): Promise<HeldLock> {
  const held = tryLockFile(file, options)
  if (held) return held
  const started = Date.now()
  const deadline = started + (options.timeoutMs ?? 30 * 60_000)
  let noticed = false
  for (;;) {
    await new Promise(resolve => setTimeout(resolve, options.pollMs ?? 50))
    const again = tryLockFile(file, options)
    if (again) return again
    if (!noticed && options.quiet !== true && Date.now() - started >= NOTICE_AFTER_MS) {
      noticed = true
      notice(`pivot: waiting for ${options.what ?? describeLock(file)} (${describeHolders(file)})`)
    }
    if (Date.now() > deadline) throw new StoreError('STORE_LOCKED', `timed out waiting for ${options.what ?? describeLock(file)} (${describeHolders(file)})`)
  }
}

/** One attempt, without waiting: the lock, or undefined when another process holds it. */
export function tryLockFile(file: string, options: Pick<LockOptions, 'shared' | 'removeOnRelease' | 'directory'> = {}): HeldLock | undefined {
  for (let attempt = 0; ; attempt++) {
    const fd = openLockFile(file, options.directory === true)
    let locked = false
    try {
      sys ??= new (require('../sys/koffi-syscalls') as typeof import('../sys/koffi-syscalls')).KoffiSyscalls()
      if (!sys.tryFlock(fd, options.shared !== true)) return undefined
      locked = true
      if (sameFile(fd, file)) return held(fd, file, options.removeOnRelease === true)
    } finally {
      if (!locked) fs.closeSync(fd)
    }
    // The holder before us unlinked the file: this inode is nobody's lock any more.
    fs.closeSync(fd)
    if (attempt > 100) throw new StoreError('STORE_LOCKED', `the lock file ${file} keeps being replaced`)
  }
}

/** Runs `fn` holding a flock on `file` (exclusive unless `shared`). */
export async function withFileLock<T>(file: string, fn: () => Promise<T>, options: LockOptions = {}): Promise<T> {
  const lock = await lockFile(file, options)
  try {
    return await fn()
  } finally {
    lock.release()
  }
}

function held(fd: number, file: string, remove: boolean): HeldLock {
  let open = true
  return {
    release() {
      if (!open) return
      open = false
      // Unlinked before the close: nobody can take this inode's lock between the two.
      if (remove) unlinkIfPresent(file)
      fs.closeSync(fd) // releases the lock
    },
  }
}

function openLockFile(file: string, directory: boolean): number {
  try {
    // O_NOFOLLOW: a symlink planted at the lock's path must not make us create or lock its target.
    // Node opens every fd O_CLOEXEC.
    if (directory) return fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW)
    return fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW, 0o600)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ELOOP' || (code === 'EISDIR' && !directory) || (code === 'ENOTDIR' && directory)) {
      const what = directory ? 'the lock directory' : 'the lock file'
      const kind = code === 'ENOTDIR' ? 'not a directory' : `${code === 'ELOOP' ? 'a symbolic link' : 'a directory'}, not a ${directory ? 'directory' : 'file'}`
      throw new StoreError('STORE_DAMAGED', `${what} ${file} is ${kind}: remove it (rm -r ${shellQuote(file)}) and try again`, {cause: error})
    }
    throw describeFsError(error) ?? error
  }
}

function sameFile(fd: number, file: string): boolean {
  const mine = fs.fstatSync(fd)
  const now = fs.statSync(file, {throwIfNoEntry: false})
  return now !== undefined && now.ino === mine.ino && now.dev === mine.dev
}

function notice(line: string): void {
  try {
    // fd 2 written synchronously, never through process.stderr (see src/cli/run.ts's say()).
    fs.writeSync(2, line + '\n')
  } catch {
    // stderr closed
  }
}

/** What a lock file under locks/ serialises, in words (for the wait notice). */
export function describeLock(file: string): string {
  const name = path.basename(file).replace(/\.lock$/, '')
  if (name === 'locks') return "the cache's garbage-collection lock"
  if (name === 'prune') return 'another prune of this cache'
  if (name.startsWith('pull-')) return `another pull of image ${name.slice(5, 17)}`
  if (name.startsWith('ref-')) return `another command naming ${name.slice(4)}`
  if (name.startsWith('build-')) return 'another build running the same step'
  return `the lock ${file}`
}

/** `held by pid N: pivot pull x` (and how many more), from /proc/locks and /proc/PID/cmdline. */
export function describeHolders(file: string): string {
  const pids = lockHolders(file).filter(pid => pid !== process.pid)
  if (pids.length === 0) return 'held by another process'
  const first = `held by pid ${pids[0]}${commandOf(pids[0])}`
  return pids.length === 1 ? first : `${first}, and ${pids.length - 1} other process${pids.length > 2 ? 'es' : ''}`
}

function commandOf(pid: number): string {
  const command = processCommand(pid)
  return command === undefined ? '' : `: ${command}`
}

/**
 * Pids holding a lock on `file`, from /proc/locks (`N: FLOCK ADVISORY WRITE PID MAJ:MIN:INODE 0 EOF`;
 * lines with `->` are blocked waiters, not holders).
 */
export function lockHolders(file: string): number[] {
  const st = fs.statSync(file, {throwIfNoEntry: false})
  if (!st) return []
  let table: string
  try {
    table = fs.readFileSync('/proc/locks', 'utf8')
  } catch {
    return []
  }
  const want = `${major(st.dev)}:${minor(st.dev)}:${st.ino}`
  const pids = new Set<number>()
  for (const line of table.split('\n')) {
    if (line.includes('->')) continue
    const m = /\s(\d+)\s+([0-9a-f]+):([0-9a-f]+):(\d+)\s/.exec(line)
    if (!m || Number(m[1]) <= 0) continue
    if (`${parseInt(m[2], 16)}:${parseInt(m[3], 16)}:${m[4]}` === want) pids.add(Number(m[1]))
  }
  return [...pids].sort((a, b) => a - b)
}

function major(dev: number): number {
  return Number((BigInt(dev) >> 8n) & 0xfffn)
}

function minor(dev: number): number {
  const d = BigInt(dev)
  return Number((d & 0xffn) | ((d >> 12n) & 0xfff00n))
}
