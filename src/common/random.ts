import * as fs from 'node:fs'

/**
 * `bytes` random bytes as hex (ids of containers and anonymous volumes), from the kernel's
 * /dev/urandom. Not node:crypto: its modules are not in node's startup snapshot, and loading them
 * cost every `pivot run` ~2.7 ms, for nothing else on its way (src/runtime/README.md). Where
 * /dev/urandom cannot be read (a chroot without /dev), node:crypto after all.
 */
export function randomHex(bytes: number): string {
  const buffer = Buffer.alloc(bytes)
  let fd: number
  try {
    fd = fs.openSync('/dev/urandom', 'r')
  } catch {
    return (require('node:crypto') as typeof import('node:crypto')).randomBytes(bytes).toString('hex')
  }
  try {
    for (let done = 0; done < bytes;) {
      const n = fs.readSync(fd, buffer, done, bytes - done, null)
      if (n <= 0) throw new Error('/dev/urandom: unexpected end of file')
      done += n
    }
  } finally {
    fs.closeSync(fd)
  }
  return buffer.toString('hex')
}
