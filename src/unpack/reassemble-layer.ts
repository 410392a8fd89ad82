import {createHash} from 'node:crypto'
import * as fs from 'node:fs'
import * as path from 'node:path'
import type {Readable} from 'node:stream'
import {pipeline} from 'node:stream/promises'
import {UnpackError} from './unpack-error'
import {startWorker, workerError} from './worker-process'

/**
 * The layer's original tar, rebuilt from its tar-split (tar-split.ts) and the files of its
 * unpacked `rootfs` by a child chrooted there (tar-split-worker.ts), and verified as it streams:
 * the generator throws an UnpackError (UNPACK_TAR_SPLIT) instead of ending when the tar is not
 * exactly `diffId`'s bytes (a damaged tar-split, a file changed since the unpack), so a consumer
 * never takes a wrong tar for complete. Returning early (the consumer failed) kills the child.
 */
export async function* reassembleLayer(rootfs: string, tarSplit: string, diffId: string): AsyncGenerator<Buffer> {
  const zlib = await import('node:zlib')
  const worker = startWorker('tar-split-worker.js', path.resolve(rootfs), {stdin: 'pipe', stdout: 'pipe'})
  let feedError: unknown
  const feed = pipeline(fs.createReadStream(tarSplit), zlib.createGunzip(), worker.child.stdin!).catch((error: unknown) => {
    feedError = error
  })
  const hash = createHash('sha256')
  let complete = false
  try {
    for await (const chunk of worker.child.stdout as Readable) {
      hash.update(chunk as Buffer)
      yield chunk as Buffer
    }
    const outcome = await worker.done
    await feed
    // A broken pipe only means the worker stopped reading: its own report says why.
    const code = (feedError as NodeJS.ErrnoException | undefined)?.code
    if (feedError !== undefined && code !== 'EPIPE' && code !== 'ERR_STREAM_PREMATURE_CLOSE') {
      throw new UnpackError('UNPACK_TAR_SPLIT', `the tar-split cannot be read: ${(feedError as Error).message}`, {cause: feedError})
    }
    const failed = workerError(outcome, 'the tar-split worker')
    if (failed) throw failed.code === 'UNPACK_TAR_SPLIT' ? failed : new UnpackError('UNPACK_TAR_SPLIT', failed.message, {cause: failed})
    const got = `sha256:${hash.digest('hex')}`
    if (got !== diffId) throw new UnpackError('UNPACK_TAR_SPLIT', `the rebuilt tar has digest ${got}, not the layer's`)
    complete = true
  } finally {
    if (!complete && worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill('SIGKILL')
  }
}
