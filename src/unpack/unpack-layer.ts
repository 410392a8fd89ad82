import {createHash} from 'node:crypto'
import * as fs from 'node:fs'
import * as net from 'node:net'
import * as path from 'node:path'
import type {Writable} from 'node:stream'
import {pipeline} from 'node:stream/promises'
import {KoffiSyscalls} from '../sys/koffi-syscalls'
import {decompress, sniffCompression} from './compression'
import {BLOCK} from './tar-format'
import {UnpackError} from './unpack-error'
import {startWorker, workerError, type Worker} from './worker-process'

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
 * `tarSplit`: a file to create with the tar's tar-split (tar-split.ts), what push and save need
 * to give back this very tar from `dest`; removed again when the unpack fails. `prepared`: a
 * worker started ahead (prepareUnpacker), used if no other unpackLayer took it yet.
 *
 * Any failure rejects with an UnpackError and may leave `dest` half-filled: the caller stages it
 * and deletes it. The source stream is consumed to its end (the digest covers every byte) and is
 * destroyed on failure or abort.
 */
export async function unpackLayer(
  source: NodeJS.ReadableStream,
  dest: string,
  options: {signal?: AbortSignal; tarSplit?: string; prepared?: PreparedUnpacker} = {},
): Promise<UnpackResult> {
  const {signal, tarSplit} = options
  if (signal?.aborted) throw aborted(signal)
  try {
    return await unpackInto(source, dest, signal, tarSplit, options.prepared as Prepared | undefined)
  } catch (error) {
    if (tarSplit !== undefined) fs.rmSync(tarSplit, {force: true})
    throw error
  }
}

async function unpackInto(
  source: NodeJS.ReadableStream,
  dest: string,
  signal: AbortSignal | undefined,
  tarSplit: string | undefined,
  prepared: Prepared | undefined,
): Promise<UnpackResult> {
  const {worker, sink, split} = prepared?.take(path.resolve(dest), tarSplit) ?? launch(path.resolve(dest), tarSplit)
  const onAbort = () => worker.child.kill('SIGKILL')
  signal?.addEventListener('abort', onAbort, {once: true})
  const hash = new LaggingHash()
  let inputError: unknown
  let sourceError: unknown
  // Whichever fails first is the cause: a failing source or decoder makes the worker see its
  // input end short (it then reports "truncated" or "empty"); a failing worker (ENOSPC, a bad
  // header) makes our writes to its pipe fail with EPIPE.
  let stageError: unknown
  let workerFailedFirst = false
  // A worker that dies (ENOSPC, a bad header) breaks its pipe: the pipeline then destroys the
  // source with that EPIPE, which is not the source's own failure.
  let sinkFailed = false
  sink.once('error', () => {
    sinkFailed = true
  })
  // Once the worker has exited (failed, or done with the archive and its tail), what the abort
  // below does to the source and our stage is its consequence, not a cause.
  let workerExited = false
  source.once('error', (error: unknown) => {
    if (!workerExited && !sinkFailed) sourceError ??= error
  })
  // A worker that is done reads no more: stop the pipeline now rather than at the next write,
  // which may never come if the source is slow or stalled (or, after the end-of-archive marker,
  // never ends).
  const workerGone = new AbortController()
  worker.child.once('exit', code => {
    workerExited = true
    if (code !== 0 && sourceError === undefined && stageError === undefined) workerFailedFirst = true
    workerGone.abort()
  })
  try {
    const stop = signal ? AbortSignal.any([signal, workerGone.signal]) : workerGone.signal
    const stage = decodeAndHash(hash, error => {
      if (!workerExited) stageError ??= error
    })
    await pipeline(source, stage, sink, {signal: stop})
  } catch (error) {
    inputError = error
  } finally {
    signal?.removeEventListener('abort', onAbort)
  }
  const outcome = await worker.done
  if (signal?.aborted) throw aborted(signal)
  // A prepared worker's tar-split came through us (launch): written to its end, or why not.
  const splitError = await split.then(
    () => undefined,
    (error: unknown) => error,
  )
  // Our own stage's errors (bad compressed data, a failing source) come first: the worker then
  // only saw its input stop short. Otherwise the worker's report says more than the broken pipe
  // it caused.
  if (stageError instanceof UnpackError && !workerFailedFirst) throw stageError
  if (sourceError !== undefined) {
    throw new UnpackError('UNPACK_SOURCE_FAILED', `reading the layer failed: ${(sourceError as Error)?.message ?? String(sourceError)}`, {cause: sourceError})
  }
  if (splitError !== undefined) {
    throw new UnpackError('UNPACK_WRITE_FAILED', `cannot write ${tarSplit}: ${(splitError as Error).message}`, {cause: splitError})
  }
  const failed = workerError(outcome, 'the unpack worker')
  if (failed) throw failed
  const report = outcome.report as unknown as {entries: number; bytes: number; stoppedEarly?: boolean}
  // The worker stopped reading MAX_TAIL_BYTES past the end-of-archive marker: the broken pipe
  // (or the abort) that caused on our side is expected.
  if (inputError && !report.stoppedEarly) {
    throw new UnpackError('UNPACK_WORKER_FAILED', `feeding the unpack worker failed: ${(inputError as Error).message}`, {cause: inputError})
  }
  if (report.stoppedEarly) (source as {destroy?: () => void}).destroy?.()
  else if (report.bytes !== hash.fed) throw new UnpackError('UNPACK_WORKER_FAILED', `the unpack worker read ${report.bytes} bytes of ${hash.fed}`)
  const digest = hash.digestOf(report.bytes)
  if (digest === null) throw new UnpackError('UNPACK_WORKER_FAILED', `the unpack worker read ${report.bytes} bytes, fewer than were hashed`)
  return {digest, size: report.bytes, entries: report.entries}
}

interface Launched {
  worker: Worker
  sink: Writable
  /** Settles once the tar-split file is complete (at once when the worker writes it itself). */
  split: Promise<void>
}

/**
 * Starts an unpack worker for `dest` (or `-`: the path comes on its stdin first) and its input.
 * `tarSplit`: the file it writes the tar-split to, opened here as its stdout; PIPE: to its stdout
 * pipe, for a worker started before the file is known (Prepared.take then saves it).
 */
function launch(dest: string, tarSplit: string | typeof PIPE | undefined): Launched {
  const file = tarSplit === PIPE ? undefined : tarSplit
  let splitFd: number | undefined
  try {
    if (file !== undefined) splitFd = fs.openSync(file, 'wx', 0o644)
  } catch (error) {
    throw new UnpackError('UNPACK_WRITE_FAILED', `cannot create ${file}: ${(error as Error).message}`, {cause: error})
  }
  const {stdin, input} = workerInput()
  let worker: Worker
  try {
    const stdout = splitFd ?? (tarSplit === PIPE ? 'pipe' : 'ignore')
    worker = startWorker('unpack-worker.js', dest, {stdin, stdout}, tarSplit === undefined ? [] : ['--tar-split'])
  } catch (error) {
    input?.destroy()
    throw new UnpackError('UNPACK_WORKER_FAILED', `cannot start the unpack worker: ${(error as Error).message}`, {cause: error})
  } finally {
    // The child has its own copies now (or there is no child): ours would keep them open.
    if (typeof stdin === 'number') fs.closeSync(stdin)
    if (splitFd !== undefined) fs.closeSync(splitFd)
  }
  return {worker, sink: input ?? worker.child.stdin!, split: Promise.resolve()}
}

const PIPE = Symbol('pipe')

/**
 * An unpack worker started before its layer is known: its start-up (a node process, ~60 ms of
 * CPU on the other core) overlaps what comes before the first layer's bytes (the puller's
 * modules, the registry's ping, manifest and config, the locks). The first unpackLayer given it
 * sends it the directory and uses it; `discard` ends it when none did.
 */
export interface PreparedUnpacker {
  /** Kills the worker if no unpackLayer took it, and waits for it to exit. */
  discard(): Promise<void>
}

class Prepared implements PreparedUnpacker {
  private taken = false

  constructor(private readonly launched: Launched) {}

  /**
   * The worker, told its directory, its tar-split saved to `tarSplit` (or dropped); undefined
   * when it was taken or discarded already.
   */
  take(dest: string, tarSplit: string | undefined): Launched | undefined {
    if (this.taken) return undefined
    this.taken = true
    const out = this.launched.worker.child.stdout!
    let split: Promise<void>
    if (tarSplit === undefined) {
      out.resume()
      split = Promise.resolve()
    } else {
      split = pipeline(out, fs.createWriteStream(tarSplit, {flags: 'wx', mode: 0o644}))
      split.catch(() => undefined)
    }
    const name = Buffer.from(dest, 'utf8')
    const header = Buffer.alloc(4)
    header.writeUInt32BE(name.length, 0)
    // Ahead of the tar stream in the same pipe (see runChrootedWorker's dirOnStdin).
    this.launched.sink.write(Buffer.concat([header, name]))
    return {...this.launched, split}
  }

  async discard(): Promise<void> {
    if (this.taken) return
    this.taken = true
    this.launched.sink.destroy()
    this.launched.worker.child.kill('SIGKILL')
    await this.launched.worker.done
  }
}

/** Starts an unpack worker for a layer to come; undefined when it cannot start (unpackLayer then starts its own and reports why). */
export function prepareUnpacker(): PreparedUnpacker | undefined {
  try {
    const launched = launch('-', PIPE)
    launched.sink.once('error', () => undefined)
    return new Prepared(launched)
  } catch {
    return undefined
  }
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

/**
 * Hashes the bytes the worker is fed, a few MiB behind: the worker may stop reading past the
 * end-of-archive marker (see MAX_TAIL_BYTES), and the digest must then cover exactly the bytes
 * it read, whatever was still in the pipe. What is held back is more than the pipe (1 MiB), the
 * socket's buffer and one chunk can hold.
 */
class LaggingHash {
  private readonly hash = createHash('sha256')
  private readonly held: Buffer[] = []
  private heldBytes = 0
  /** Bytes hashed so far. */
  hashed = 0
  /** Bytes fed so far. */
  fed = 0

  constructor(private readonly lag = 8 << 20) {}

  push(chunk: Buffer): void {
    this.fed += chunk.length
    this.held.push(chunk)
    this.heldBytes += chunk.length
    while (this.held.length > 1 && this.heldBytes - this.held[0]!.length >= this.lag) {
      const first = this.held.shift()!
      this.heldBytes -= first.length
      this.hash.update(first)
      this.hashed += first.length
    }
  }

  /** The digest of the first `n` bytes fed; null when more than that was hashed already. */
  digestOf(n: number): string | null {
    if (n < this.hashed || n > this.fed) return null
    let left = n - this.hashed
    for (const chunk of this.held) {
      if (left === 0) break
      const part = chunk.length <= left ? chunk : chunk.subarray(0, left)
      this.hash.update(part)
      left -= part.length
    }
    return `sha256:${this.hash.digest('hex')}`
  }
}

/**
 * The pipeline stage between the source and the worker: sniffs the compression, decompresses,
 * and hashes/counts the uncompressed bytes on their way out. `failed` is told of a failure of
 * this stage before the worker can see its input stop short and report that instead.
 */
function decodeAndHash(hash: LaggingHash, failed: (error: unknown) => void) {
  return async function* (source: AsyncIterable<Buffer | string>): AsyncGenerator<Buffer> {
    try {
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
      const body = compression === 'none' ? rest() : decompress(rest(), compression)
      for await (const chunk of body) {
        // Hand the chunk to the worker first, then hash it while the worker writes files.
        yield chunk
        hash.push(chunk)
      }
    } catch (error) {
      failed(error)
      throw error
    }
  }
}
