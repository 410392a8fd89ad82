import * as fs from 'node:fs'
import {KoffiSyscalls} from '../sys/koffi-syscalls'
import {StoreError, describeFsError, shellQuote} from './store-error'

const sys = new KoffiSyscalls()

/**
 * Runs `fn` holding an exclusive flock on `file`. flock rather than a lock file with a pid in it:
 * the kernel drops the lock when its holder dies, even by SIGKILL, so there is no stale lock to
 * detect and steal. Waits by polling (a blocking flock would stall Node's event loop).
 */
export async function withFileLock<T>(file: string, fn: () => Promise<T>, timeoutMs = 30 * 60_000): Promise<T> {
  const fd = openLockFile(file)
  try {
    const deadline = Date.now() + timeoutMs
    while (!sys.tryFlock(fd, true)) {
      if (Date.now() > deadline) throw new StoreError('STORE_LOCKED', `timed out waiting for the lock ${file}`)
      await new Promise(resolve => setTimeout(resolve, 50))
    }
    return await fn()
  } finally {
    fs.closeSync(fd) // releases the lock
  }
}

/** O_NOFOLLOW: a symlink planted as a lock file must not make pivot create or open a file elsewhere. */
function openLockFile(file: string): number {
  try {
    return fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW, 0o600) // Node opens every fd O_CLOEXEC
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'EISDIR' || code === 'ELOOP') {
      const kind = code === 'EISDIR' ? 'a directory' : 'a symbolic link'
      throw new StoreError('STORE_DAMAGED', `the lock file ${file} is ${kind}, not a file: remove it (rm -r ${shellQuote(file)}) and try again`)
    }
    throw describeFsError(error) ?? error
  }
}
