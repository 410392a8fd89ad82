import * as path from 'node:path'
import {PassThrough, type Readable} from 'node:stream'
import {startWorker, workerError} from './worker-process'

/**
 * A tar of `dir`'s contents: './' for dir itself, then relative names ('etc/', 'etc/passwd'),
 * sorted, never following a symlink. Faithful to what unpackLayer restores: modes (setuid, sticky),
 * numeric owners, nanosecond mtimes, symlink targets, hardlinks (one inode -> Link entries),
 * devices, FIFOs and xattrs (security.capability included). GNU tar and `docker import` read it.
 *
 * Streaming: a child process (pack-worker.ts, chrooted into dir) writes it, and backpressure
 * reaches it through the pipe. The stream ends only after the child has exited cleanly; any
 * failure destroys it with an UnpackError (and the tar then lacks its end-of-archive marker, so
 * even a reader that ignores the error cannot take it for complete). Destroying the stream kills
 * the child.
 *
 * `flat`: the tar is a rootfs, not a layer (export): overlay's marks (trusted.overlay.* and
 * user.overlay.*) are left out. They are bookkeeping of layers, and an overlay's merged view, which
 * export packs, shows the user.* ones as plain xattrs (overlay hides only trusted.*). A layer's
 * own tree (save, push) keeps them: its opaque marks become whiteout entries (layer-tar.ts).
 */
export function packRootfs(dir: string, flat = false): NodeJS.ReadableStream {
  const out = new PassThrough({highWaterMark: 1 << 20})
  const worker = startWorker('pack-worker.js', path.resolve(dir), {stdin: 'ignore', stdout: 'pipe'}, flat ? ['--flat'] : [])
  const stdout = worker.child.stdout as Readable
  stdout.pipe(out, {end: false})
  void worker.done.then(outcome => {
    if (out.destroyed) return
    const failed = workerError(outcome, 'the pack worker')
    if (failed) out.destroy(failed)
    else out.end()
  })
  out.once('close', () => {
    if (worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill('SIGKILL')
  })
  return out
}
