/**
 * The one place that tells what compression a layer or archive uses, and undoes it.
 *
 * gzip is Node's zlib (in libuv's pool, off the main thread). zstd, xz and bzip2 are the system's
 * `zstd`, `xz` and `bzip2` programs, spawned as filters: Node 20's zlib has none of them, and a
 * program in its own process decodes at C speed (zstd: ~1 GB/s) on another core, streams with
 * bounded memory (zstd refuses frames whose window exceeds its 128 MiB default limit: no
 * memory bomb), and brings no npm dependency. A pure-JS decoder (fzstd) was the alternative: an
 * unmaintained-since-2021 package, several times slower, on the main thread. When a program is
 * missing the error says which one to install.
 */
import {spawn} from 'node:child_process'
import type {Readable} from 'node:stream'
import {pipeline} from 'node:stream/promises'
import * as zlib from 'node:zlib'
import {BLOCK, decodeHeader, isZeroBlock} from './tar-format'
import {UnpackError} from './unpack-error'

export type Compression = 'none' | 'gzip' | 'zstd' | 'xz' | 'bzip2'

/** What the first bytes are (give at least 512 when there are). A valid tar header wins over any magic number (a name can start with anything). */
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
  const starts = (...bytes: number[]) => head.length >= bytes.length && bytes.every((b, i) => head[i] === b)
  if (starts(0x1f, 0x8b)) return 'gzip'
  if (starts(0x28, 0xb5, 0x2f, 0xfd)) return 'zstd'
  if (starts(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00)) return 'xz'
  if (starts(0x42, 0x5a, 0x68)) return 'bzip2'
  return 'none'
}

/** Whether the first bytes are a tar stream or a compressed one (of a type sniffCompression knows). */
export function looksLikeArchive(head: Buffer): boolean {
  if (sniffCompression(head) !== 'none') return true
  if (head.length < BLOCK) return false
  if (isZeroBlock(head, 0)) return true
  try {
    decodeHeader(head, 0)
    return true
  } catch {
    return false
  }
}

const PROGRAMS: Record<'zstd' | 'xz' | 'bzip2', {command: string; args: string[]; debian: string}> = {
  // --no-progress/-q: nothing on stderr but errors, which become the message.
  zstd: {command: 'zstd', args: ['-d', '-c', '-q'], debian: 'zstd'},
  xz: {command: 'xz', args: ['-d', '-c', '-q'], debian: 'xz-utils'},
  // (bzip2's -q would hide the "file ends unexpectedly" line)
  bzip2: {command: 'bzip2', args: ['-d', '-c'], debian: 'bzip2'},
}

/**
 * The uncompressed bytes of `compressed` (an iterable of its chunks), which must be of type
 * `compression`. Errors are UnpackErrors naming the format and the real cause: corrupt data,
 * truncated data, or a missing program.
 */
export async function* decompress(
  compressed: AsyncIterable<Buffer>,
  compression: Exclude<Compression, 'none'>,
  chunkSize = 256 * 1024,
): AsyncGenerator<Buffer> {
  if (compression === 'gzip') {
    const gunzip = zlib.createGunzip({chunkSize})
    const feeding = pipeline(compressed, gunzip)
    // Errors surface through the iteration below; this only keeps the rejection handled.
    feeding.catch(() => {})
    try {
      yield* gunzip as AsyncIterable<Buffer>
    } catch (error) {
      if (error instanceof UnpackError) throw error
      if ((error as NodeJS.ErrnoException).code === 'Z_BUF_ERROR') {
        throw new UnpackError('UNPACK_TRUNCATED', `the gzip data is truncated: ${(error as Error).message}`, {cause: error})
      }
      throw new UnpackError('UNPACK_CORRUPT', `the gzip data is corrupt: ${(error as Error).message}`, {cause: error})
    }
    await feeding
    return
  }
  yield* filter(compressed, compression)
}

async function* filter(compressed: AsyncIterable<Buffer>, compression: 'zstd' | 'xz' | 'bzip2'): AsyncGenerator<Buffer> {
  const program = PROGRAMS[compression]
  const child = spawn(program.command, program.args, {stdio: ['pipe', 'pipe', 'pipe']})
  const spawned = new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve)
    child.once('error', reject)
  })
  try {
    await spawned
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT') {
      throw new UnpackError(
        'UNPACK_UNSUPPORTED',
        `${compression}-compressed input needs the ${program.command} program, which is not installed (Debian: apt-get install ${program.debian})`,
      )
    }
    throw new UnpackError('UNPACK_WORKER_FAILED', `cannot start ${program.command}: ${(error as Error).message}`, {cause: error})
  }
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => {
    if (stderr.length < 4096) stderr += chunk.toString('utf8')
  })
  const exited = new Promise<number | null>(resolve => child.once('close', code => resolve(code)))
  let feedError: unknown
  // The program may stop reading (corrupt data) before we stop writing: EPIPE then is not the cause.
  const feeding = pipeline(compressed, child.stdin!).catch(error => {
    feedError = error
  })
  let ok = false
  try {
    yield* child.stdout as Readable as AsyncIterable<Buffer>
    ok = true
  } finally {
    if (!ok) child.kill('SIGKILL')
    await feeding
  }
  const code = await exited
  if (feedError instanceof UnpackError) throw feedError
  if (code !== 0) {
    // The first line is the error (bzip2 adds paragraphs of advice after it).
    const why = (stderr.trim().split('\n')[0] ?? '')
      .replace(/^\S+:\s*/, '')
      .replace(/^(\(stdin\)|\/\*stdin\*\\)\s*:\s*/, '')
      .replace(/;$/, '')
    const truncated = /ends unexpectedly|unexpected end|premature end|truncated|end of file/i.test(why)
    throw new UnpackError(
      truncated ? 'UNPACK_TRUNCATED' : 'UNPACK_CORRUPT',
      `the ${compression} data is ${truncated ? 'truncated' : 'corrupt'}${why ? `: ${why}` : ''}`,
    )
  }
  if (feedError !== undefined) {
    throw new UnpackError('UNPACK_SOURCE_FAILED', `reading the input failed: ${(feedError as Error).message}`, {cause: feedError})
  }
}
