/**
 * The asynchronous twin of TarReader, for a tar read as a stream in the parent process (the
 * `docker save` archive around the layers): the same header rules (Go's, see tar-reader.ts; the
 * entry itself is made by the shared makeEntry), with each entry's data handed out as a Readable
 * that must be read (or resumed) to its end before the walk goes on. node-tar's Parser read these before; it
 * takes a '0' entry named "x/" for a directory and gives links a body, as Go does not.
 */
import {once} from 'node:events'
import {PassThrough, type Readable} from 'node:stream'
import {finished} from 'node:stream/promises'
import {BLOCK, MAX_META_BYTES, decodeHeader, isZeroBlock, padding, parsePax, type RawHeader} from './tar-format'
import {makeEntry, metaName, type Pax, type TarEntry} from './tar-reader'
import {UnpackError} from './unpack-error'

export interface StreamEntry extends TarEntry {
  /** The entry's data; ends after `size` bytes. */
  body: Readable
}

/** Exact reads from an async byte source. */
class AsyncBytes {
  private readonly it: AsyncIterator<Buffer | string>
  private pending: Buffer = Buffer.alloc(0)
  private done = false

  constructor(source: AsyncIterable<Buffer | string>) {
    this.it = source[Symbol.asyncIterator]()
  }

  private async more(): Promise<boolean> {
    if (this.done) return false
    const r = await this.it.next()
    if (r.done) {
      this.done = true
      return false
    }
    const chunk = typeof r.value === 'string' ? Buffer.from(r.value) : r.value
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk])
    return true
  }

  /** Exactly n bytes; null when the input ends cleanly before the first of them. */
  async read(n: number, what: () => string): Promise<Buffer | null> {
    while (this.pending.length < n) {
      if (!(await this.more())) {
        if (this.pending.length === 0) return null
        throw new UnpackError('UNPACK_TRUNCATED', `the archive is truncated: it ends inside ${what()}`)
      }
    }
    const out = this.pending.subarray(0, n)
    this.pending = this.pending.subarray(n)
    return out
  }

  /** Hands the next n bytes to `sink` chunk by chunk (awaited: backpressure). */
  async pass(n: number, what: () => string, sink: (chunk: Buffer) => Promise<void> | void): Promise<void> {
    while (n > 0) {
      if (this.pending.length === 0 && !(await this.more())) {
        throw new UnpackError('UNPACK_TRUNCATED', `the archive is truncated: it ends inside ${what()} (${n} bytes missing)`)
      }
      const take = Math.min(n, this.pending.length)
      const chunk = this.pending.subarray(0, take)
      this.pending = this.pending.subarray(take)
      n -= take
      await sink(chunk)
    }
  }
}

/** Waits for 'drain' or 'close', leaving no listener behind (one write in many waits here). */
async function drainedOrClosed(body: PassThrough): Promise<void> {
  const done = new AbortController()
  try {
    await Promise.race([once(body, 'drain', {signal: done.signal}), once(body, 'close', {signal: done.signal})])
  } catch (error) {
    // The consumer destroyed the body (its own failure, e.g. EPIPE from a dead unpack worker):
    // that is the consumer's to report; the walk skips the rest of this entry.
    if (!body.destroyed) throw error
  } finally {
    done.abort()
  }
}

/**
 * Walks the tar in `source`, calling `onEntry` for each entry (not for pax, GNU long-name or
 * global headers) and feeding its body; resolves at the end-of-archive marker (what follows is
 * not read) or at the end of input at a header boundary.
 */
export async function walkTarStream(source: AsyncIterable<Buffer | string>, onEntry: (entry: StreamEntry) => void): Promise<void> {
  const input = new AsyncBytes(source)
  let local: Pax | null = null
  let longName: string | null = null
  let longLink: string | null = null
  const meta = async (h: RawHeader, what: string): Promise<Buffer> => {
    if (h.size > MAX_META_BYTES)
      throw new UnpackError('UNPACK_HOSTILE_ENTRY', `${what} of ${h.size} bytes (limit ${MAX_META_BYTES} bytes, as in Go's archive/tar)`)
    const body = (await input.read(h.size + padding(h.size), () => what)) ?? Buffer.alloc(0)
    return body.subarray(0, h.size)
  }
  for (;;) {
    const block = await input.read(BLOCK, () => 'a header block')
    if (block === null) return
    if (isZeroBlock(block, 0)) {
      const second = await input.read(BLOCK, () => 'the end-of-archive marker')
      if (second !== null && !isZeroBlock(second, 0)) {
        throw new UnpackError('UNPACK_CORRUPT', 'not a valid tar archive: a zero block followed by a header (Go and docker stop reading there)')
      }
      return
    }
    const h = decodeHeader(block, 0)
    switch (h.typeflag) {
      case 'x':
        local = new Map(parsePax(await meta(h, 'a pax extended header')))
        continue
      case 'g':
        parsePax(await meta(h, 'a pax global header'))
        local = null
        longName = null
        longLink = null
        continue
      case 'L':
        longName = metaName(await meta(h, 'a GNU long name'))
        continue
      case 'K':
        longLink = metaName(await meta(h, 'a GNU long link name'))
        continue
    }
    const entry = makeEntry(h, local, longName, longLink)
    local = null
    longName = null
    longLink = null
    const body = new PassThrough()
    // A body cut short is destroyed with the walk's error: its consumers see it (an 'end' they
    // await rejects), and one without its own 'error' listener must not crash the process.
    body.on('error', () => undefined)
    onEntry({...entry, body})
    const what = () => `the data of "${entry.raw}"`
    try {
      // A consumer that stops early destroys the body: the rest of the data is skipped.
      await input.pass(entry.size, what, async chunk => {
        if (body.destroyed) return
        if (!body.write(chunk)) await drainedOrClosed(body)
      })
      if (!body.destroyed) {
        body.end()
        // The consumer's reading is part of the walk (as with node-tar's Parser): the caller may
        // start more work once it has read an entry, and that must happen before the walk ends.
        await finished(body).catch((error: unknown) => {
          // Destroyed by its consumer: the consumer reports why.
          if (!body.destroyed) throw error
        })
      }
    } catch (error) {
      body.destroy(error as Error)
      throw error
    }
    await input.pass(padding(entry.size), what, () => undefined)
  }
}
