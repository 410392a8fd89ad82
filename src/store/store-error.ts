import {PivotError} from '../errors'

/**
 * Codes: STORE_NOT_FOUND, STORE_EXISTS, STORE_CORRUPT, STORE_LOCKED, STORE_IN_USE, STORE_AMBIGUOUS,
 * STORE_UNSAFE (the ownership wall: a cache others could change), STORE_DAMAGED (a cache entry of
 * the wrong kind, e.g. `tmp/` replaced by a file), STORE_IO (a file system error on the cache,
 * with its path and cause).
 */
export class StoreError extends PivotError {}

const REASONS: Record<string, string> = {
  EROFS: 'read-only file system',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted (is it or its directory immutable? see lsattr -d)',
  ENOSPC: 'no space left on device (or no free inodes)',
  EDQUOT: 'disk quota exceeded',
  ENOTDIR: 'a component of the path is not a directory',
  EISDIR: 'it is a directory',
  ELOOP: 'too many levels of symbolic links',
  EEXIST: 'it already exists',
  ENOENT: 'no such file or directory',
  ENOTEMPTY: 'directory not empty',
  EIO: 'input/output error',
  EBUSY: 'device or resource busy',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files in the system',
  ENAMETOOLONG: 'file name too long',
  EXDEV: 'on another file system',
  EUCLEAN: 'the file system needs cleaning (corrupted)',
}

const VERBS: Record<string, string> = {
  open: 'open',
  mkdir: 'create the directory',
  rmdir: 'remove the directory',
  rm: 'remove',
  unlink: 'remove',
  rename: 'rename',
  write: 'write',
  read: 'read',
  scandir: 'list',
  symlink: 'create the link',
  readlink: 'read the link',
  chmod: 'change the mode of',
  lstat: 'look at',
  stat: 'look at',
  copyfile: 'copy',
  utime: 'set the times of',
  futime: 'set the times of',
  link: 'link',
  access: 'access',
  realpath: 'resolve',
  fsync: 'sync',
  close: 'close',
  mkdtemp: 'create a directory in',
}

/**
 * A Node file system error (it has an errno code, a syscall and a path) as one line naming the
 * path and the cause, e.g. `cannot create the directory /c/tmp/x: read-only file system`. Used
 * by the CLI's last-resort handlers: a damaged or read-only cache is the user's to fix, and a
 * stack trace tells them nothing. Anything else is not recognised (undefined).
 */
export function describeFsError(error: unknown): StoreError | undefined {
  if (typeof error !== 'object' || error === null) return undefined
  const e = error as NodeJS.ErrnoException & {dest?: string}
  if (typeof e.code !== 'string' || typeof e.syscall !== 'string' || typeof e.path !== 'string') return undefined
  const reason = fsReason(e)
  const verb = VERBS[e.syscall] ?? e.syscall
  const dest = typeof e.dest === 'string' ? ` to ${e.dest}` : ''
  return new StoreError('STORE_IO', `cannot ${verb} ${e.path}${dest}: ${reason}`, {cause: error})
}

/** The cause of a file system error in words (`read-only file system`). */
export function fsReason(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code
  return typeof code === 'string' ? (REASONS[code] ?? code) : String((error as Error)?.message ?? error)
}

/** `word` quoted for a shell when it needs it: the fix commands in messages must paste as they are. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`
}
