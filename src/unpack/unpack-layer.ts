import {createHash, type Hash} from 'node:crypto'
import * as fs from 'node:fs'
import * as net from 'node:net'
import * as path from 'node:path'
import {Readable} from 'node:stream'
import {pipeline} from 'node:stream/promises'
import * as zlib from 'node:zlib'
import {KoffiSyscalls} from '../sys/koffi-syscalls'
import {BLOCK, decodeHeader, isZeroBlock} from './tar-format'
import {UnpackError} from './unpack-error'
import {startWorker, workerError} from './worker-process'

export interface UnpackResult {
  /** 'sha256:<hex>' of the uncompressed tar stream (Docker's diff id). */
  digest: string
  /** Bytes of the uncompressed tar stream. */
  size: number
  /** Archive entries (files, directories, links, devices, whiteouts; not pax or long-name headers). */
  entries: number
}

/**
 * Unpacks one layer (a tar stream, plain or gzip-compressed) into `dest`, an existing empty
 * directory, faithfully (modes, numeric owners, nanosecond times, xattrs, devices, hardlinks,
 * symlink targets verbatim) and confined to `dest` (see unpack-worker.ts). Docker whiteouts become
 * overlayfs ones: `.wh.<name>` a 0/0 character device, `.wh..wh..opq` the directory's
 * trusted.overlay.opaque=y.
 *
 * Any failure rejects with an UnpackError and may leave `dest` half-filled: the caller stages it
 * and deletes it. The source stream is consumed to its end (the digest covers every byte) and is
 * destroyed on failure or abort.
 */
export async function unpackLayer(source: NodeJS.ReadableStream, dest: string, options: {signal?: AbortSignal} = {}): Promise<UnpackResult> {
  const {signal} = options
  if (signal?.aborted) throw aborted(signal)
  const {stdin, input} = workerInput()
  let worker: ReturnType<typeof startWorker>
  try {
    worker = startWorker('unpack-worker.js', path.resolve(dest), {stdin, stdout: 'ignore'})
  } catch (error) {
    input?.destroy()
    throw new UnpackError('UNPACK_WORKER_FAILED', `cannot start the unpack worker: ${(error as Error).message}`, {cause: error})
  } finally {
    // The child has its own copy now (or there is no child): ours would keep the pipe open.
    if (typeof stdin === 'number') fs.closeSync(stdin)
  }
  const onAbort = () => worker.child.kill('SIGKILL')
  signal?.addEventListener('abort', onAbort, {once: true})
  const hash = createHash('sha256')
  const counted = {bytes: 0}
  let inputError: unknown
  let sourceError: unknown
  // Whichever fails first is the cause: a failing source makes the worker see its input end
  // short; a failing worker makes us stop reading the source.
  let workerFailedFirst = false
  source.once('error', (error: unknown) => {
    if (!workerFailedFirst) sourceError ??= error
  })
  // A worker that failed reads no more: stop the pipeline now rather than at the next write,
  // which may never come if the source is slow or stalled.
  const workerGone = new AbortController()
  worker.child.once('exit', code => {
    if (code === 0) return
    if (sourceError === undefined) workerFailedFirst = true
    workerGone.abort()
  })
  try {
    const stop = signal ? AbortSignal.any([signal, workerGone.signal]) : workerGone.signal
    await pipeline(source, decodeAndHash(hash, counted), input ?? worker.child.stdin!, {signal: stop})
  } catch (error) {
    inputError = error
  } finally {
    signal?.removeEventListener('abort', onAbort)
  }
  const outcome = await worker.done
  if (signal?.aborted) throw aborted(signal)
  // Our own stage's errors (bad gzip, a failing source) come first: the worker then only saw its
  // input stop short. Otherwise the worker's report says more than the broken pipe it caused.
  if (inputError instanceof UnpackError && !workerFailedFirst) throw inputError
  if (sourceError !== undefined) {
    throw new UnpackError('UNPACK_SOURCE_FAILED', `reading the layer failed: ${(sourceError as Error)?.message ?? String(sourceError)}`, {cause: sourceError})
  }
  const failed = workerError(outcome, 'the unpack worker')
  if (failed) throw failed
  if (inputError) {
    throw new UnpackError('UNPACK_WORKER_FAILED', `feeding the unpack worker failed: ${(inputError as Error).message}`, {cause: inputError})
  }
  const report = outcome.report as unknown as {entries: number; bytes: number}
  if (report.bytes !== counted.bytes) {
    throw new UnpackError('UNPACK_WORKER_FAILED', `the unpack worker read ${report.bytes} bytes of ${counted.bytes}`)
  }
  return {digest: `sha256:${hash.digest('hex')}`, size: counted.bytes, entries: report.entries}
}

/**
 * The worker's stdin: a real pipe with a 1 MiB buffer when we can make one. Node's own 'pipe' is a
 * socketpair with ~200 KiB of buffer, small enough that the parent (hashing) and the worker
 * (writing files) take turns rather than work at the same time, and the worker reads ~25 KiB per
 * call: 10-20% slower on a 68k-entry layer here.
 */
function workerInput(): {stdin: 'pipe' | number; input?: net.Socket} {
  let fds: [number, number]
  const sys = new KoffiSyscalls()
  try {
    fds = sys.pipe()
  } catch {
    return {stdin: 'pipe'}
  }
  try {
    sys.setPipeSize(fds[1], 1 << 20)
  } catch {
    // pipe-max-size may be lower here: the default buffer still works
  }
  return {stdin: fds[0], input: new net.Socket({fd: fds[1], readable: false, writable: true})}
}

function aborted(signal: AbortSignal): UnpackError {
  return new UnpackError('UNPACK_ABORTED', 'unpacking was aborted', {cause: signal.reason})
}

type Compression = 'none' | 'gzip' | 'zstd' | 'xz' | 'bzip2'

/** What the first bytes are. A valid tar header wins over any magic number (a name can start with anything). */
export function sniffCompression(head: Buffer): Compression {
  if (head.length >= BLOCK) {
    if (isZeroBlock(head, 0)) return 'none'
    try {
      decodeHeader(head, 0)
      return 'none'
    } catch {
      // not a tar header: look at the magic numbers
    }
  }
  const starts = (...bytes: number[]) => bytes.every((b, i) => head[i] === b)
  if (starts(0x1f, 0x8b)) return 'gzip'
  if (starts(0x28, 0xb5, 0x2f, 0xfd)) return 'zstd'
  if (starts(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00)) return 'xz'
  if (starts(0x42, 0x5a, 0x68)) return 'bzip2'
  return 'none'
}

/**
 * The pipeline stage between the source and the worker: sniffs the compression, gunzips in
 * libuv's pool (off this thread), and hashes/counts the uncompressed bytes on their way out.
 */
function decodeAndHash(hash: Hash, counted: {bytes: number}) {
  return async function* (source: AsyncIterable<Buffer | string>): AsyncGenerator<Buffer> {
    const it = source[Symbol.asyncIterator]()
    const next = async (): Promise<Buffer | null> => {
      let r: IteratorResult<Buffer | string>
      try {
        r = await it.next()
      } catch (error) {
        throw new UnpackError('UNPACK_SOURCE_FAILED', `reading the layer failed: ${(error as Error).message}`, {cause: error})
      }
      if (r.done) return null
      return typeof r.value === 'string' ? Buffer.from(r.value) : r.value
    }
    const headParts: Buffer[] = []
    let headLength = 0
    let ended = false
    while (headLength < BLOCK) {
      const chunk = await next()
      if (chunk === null) {
        ended = true
        break
      }
      headParts.push(chunk)
      headLength += chunk.length
    }
    const head = Buffer.concat(headParts)
    const rest = async function* (): AsyncGenerator<Buffer> {
      if (head.length > 0) yield head
      if (ended) return
      for (let chunk = await next(); chunk !== null; chunk = await next()) yield chunk
    }
    const compression = sniffCompression(head)
    if (compression !== 'none' && compression !== 'gzip') {
      throw new UnpackError('UNPACK_UNSUPPORTED', `${compression}-compressed layers are not supported (only gzip or uncompressed)`)
    }
    let body: AsyncIterable<Buffer> = rest()
    let feeding: Promise<void> | undefined
    if (compression === 'gzip') {
      const gunzip = zlib.createGunzip({chunkSize: 256 * 1024})
      feeding = pipeline(Readable.from(body, {objectMode: false}), gunzip)
      // Errors surface through the iteration below; this only keeps the rejection handled.
      feeding.catch(() => {})
      body = gunzip as AsyncIterable<Buffer>
    }
    try {
      for await (const chunk of body) {
        // Hand the chunk to the worker first, then hash it while the worker writes files.
        yield chunk
        hash.update(chunk)
        counted.bytes += chunk.length
      }
    } catch (error) {
      // The source's own failures are UnpackErrors already; what else fails here is zlib.
      if (error instanceof UnpackError || compression === 'none') throw error
      if ((error as NodeJS.ErrnoException).code === 'Z_BUF_ERROR') {
        throw new UnpackError('UNPACK_TRUNCATED', `the layer's gzip data is truncated: ${(error as Error).message}`, {cause: error})
      }
      throw new UnpackError('UNPACK_CORRUPT', `the layer's gzip data is corrupt: ${(error as Error).message}`, {cause: error})
    }
    await feeding
  }
}
