/**
 * tar-split: what a layer's tar holds besides its regular files' contents, kept beside the
 * unpacked layer (`layers/<hex>/tar-split`) so that push and save can give back the very tar the
 * layer came from (same bytes, same diff id, same image id) instead of a re-packed one. Docker
 * keeps the same kind of record for the same reason.
 *
 * The file is gzip (one or more concatenated members) of:
 *
 *     MAGIC
 *     record*            in the order of the tar's bytes
 *     'E' u48 total      the end: the tar's length (a file without it is damaged)
 *
 * with three kinds of record:
 *
 *     'R' u32 n, n bytes                      raw bytes of the tar: headers (ustar, pax, GNU long
 *                                             names), the data of entries that leave no file
 *                                             (whiteouts, skipped types), whatever followed the
 *                                             end-of-archive blocks
 *     'Z' u32 n                               n zero bytes: padding, the zero-filled fields of
 *                                             headers, the end-of-archive blocks (about 3/4 of a
 *                                             tar's non-content bytes; gzip then has 4x less to do)
 *     'F' u48 size, u16 n, n bytes of path    `size` bytes: the content of the file unpacked at
 *                                             path (normalised, relative to the layer's root)
 *
 * Numbers are big-endian. Every byte of the tar is in exactly one record, so hard links,
 * sparse-looking headers, pax and GNU headers and trailing garbage need no special case: only
 * file contents are referenced, everything else is kept as it was.
 */
import * as zlib from 'node:zlib'

export const MAGIC = Buffer.from('pivot tar-split 1\n', 'latin1')
const RAW = 0x52 // 'R'
const ZEROS = 0x5a // 'Z'
/** Shorter runs of zero bytes stay in the raw record around them. */
const MIN_ZEROS = 8
const FILE = 0x46 // 'F'
const END = 0x45 // 'E'

/** Uncompressed bytes per gzip member (and the largest raw record). */
const CHUNK = 1 << 20

/**
 * Records a tar as it streams past (synchronously, inside the unpack worker): `tap` sees every
 * byte of the tar in order, `content(path, size)` says the next `size` bytes are a file's content.
 * The gzip members go to `write` as they fill.
 */
export class TarSplitWriter {
  private readonly buf = Buffer.allocUnsafe(CHUNK + 64 * 1024)
  private len = 0
  /** Offset in buf of the open raw record's length field, or -1. */
  private rawAt = -1
  /** Offset in buf of the last record's count when it is a zero run (it grows), or -1. */
  private zerosAt = -1
  private skip = 0
  /** Bytes of the tar seen. */
  total = 0

  constructor(private readonly write: (member: Buffer) => void) {
    MAGIC.copy(this.buf, 0)
    this.len = MAGIC.length
  }

  /** Bytes of the tar, in order (a BlockInput tap). */
  readonly tap = (buf: Buffer, off: number, len: number): void => {
    this.total += len
    if (this.skip > 0) {
      const n = Math.min(this.skip, len)
      this.skip -= n
      off += n
      len -= n
    }
    const end = off + len
    let rawStart = off
    for (let i = off; i < end;) {
      if (buf[i] !== 0) {
        i++
        continue
      }
      let j = i + 1
      while (j < end && buf[j] === 0) j++
      if (j - i >= MIN_ZEROS) {
        this.raw(buf, rawStart, i - rawStart)
        this.zeros(j - i)
        rawStart = j
      }
      i = j
    }
    this.raw(buf, rawStart, end - rawStart)
  }

  private raw(buf: Buffer, off: number, len: number): void {
    while (len > 0) {
      if (this.rawAt < 0) {
        if (this.len + 5 > CHUNK) this.flush()
        this.zerosAt = -1
        this.buf[this.len] = RAW
        this.rawAt = this.len + 1
        this.len += 5
      }
      const n = Math.min(len, CHUNK - this.len)
      buf.copy(this.buf, this.len, off, off + n)
      this.len += n
      off += n
      len -= n
      if (this.len >= CHUNK) this.flush()
    }
  }

  private zeros(n: number): void {
    this.closeRaw()
    if (this.zerosAt >= 0) {
      const had = this.buf.readUInt32BE(this.zerosAt)
      const add = Math.min(n, 0xffffffff - had)
      this.buf.writeUInt32BE(had + add, this.zerosAt)
      n -= add
    }
    while (n > 0) {
      if (this.len + 5 > CHUNK) this.flush()
      const take = Math.min(n, 0xffffffff)
      this.buf[this.len] = ZEROS
      this.buf.writeUInt32BE(take, this.len + 1)
      this.zerosAt = this.len + 1
      this.len += 5
      n -= take
    }
  }

  /** The next `size` bytes of the tar are the content of the file unpacked at `path` (bytes). */
  content(path: Buffer, size: number): void {
    if (this.skip > 0) throw new Error('tar-split: a content reference inside another')
    this.closeRaw()
    this.zerosAt = -1
    if (this.len + 9 + path.length > CHUNK) this.flush()
    this.buf[this.len] = FILE
    this.buf.writeUIntBE(size, this.len + 1, 6)
    this.buf.writeUInt16BE(path.length, this.len + 7)
    path.copy(this.buf, this.len + 9)
    this.len += 9 + path.length
    this.skip = size
  }

  /** The end: the tar's length, then the last member. */
  end(): void {
    this.closeRaw()
    this.buf[this.len] = END
    this.buf.writeUIntBE(this.total, this.len + 1, 6)
    this.len += 7
    this.flush()
  }

  private closeRaw(): void {
    if (this.rawAt < 0) return
    this.buf.writeUInt32BE(this.len - this.rawAt - 4, this.rawAt)
    this.rawAt = -1
  }

  private flush(): void {
    this.closeRaw()
    this.zerosAt = -1
    if (this.len === 0) return
    this.write(zlib.gzipSync(this.buf.subarray(0, this.len), {level: 6}))
    this.len = 0
  }
}

export type TarSplitRecord =
  {kind: 'raw'; data: Buffer} | {kind: 'zeros'; size: number} | {kind: 'file'; path: Buffer; size: number} | {kind: 'end'; total: number}

/**
 * Reads the records from the uncompressed stream, with exact reads from `read(n)` (null at the
 * end of input). Throws an Error naming what is wrong for anything malformed: a missing magic,
 * an unknown record, a stream cut short, bytes after the end record, or an end record whose
 * total disagrees with the records.
 */
export class TarSplitReader {
  private started = false
  private ended = false
  private counted = 0

  constructor(private readonly read: (n: number) => Buffer | null) {}

  next(): TarSplitRecord | null {
    if (!this.started) {
      const magic = this.read(MAGIC.length)
      if (magic === null || !magic.equals(MAGIC)) throw new Error('not a tar-split (bad magic)')
      this.started = true
    }
    const kind = this.read(1)
    if (kind === null) {
      if (this.ended) return null
      throw new Error('the tar-split is cut short (no end record)')
    }
    if (this.ended) throw new Error('the tar-split goes on after its end record')
    switch (kind[0]) {
      case RAW: {
        const n = this.need(4).readUInt32BE(0)
        const data = this.need(n)
        this.counted += n
        return {kind: 'raw', data}
      }
      case ZEROS: {
        const size = this.need(4).readUInt32BE(0)
        this.counted += size
        return {kind: 'zeros', size}
      }
      case FILE: {
        const head = this.need(8)
        const size = head.readUIntBE(0, 6)
        const path = this.need(head.readUInt16BE(6))
        if (path.length === 0 || path.includes(0)) throw new Error('the tar-split names a file with an empty path or a NUL byte')
        this.counted += size
        return {kind: 'file', path, size}
      }
      case END: {
        const total = this.need(6).readUIntBE(0, 6)
        if (total !== this.counted) throw new Error(`the tar-split's records add up to ${this.counted} bytes, not the ${total} its end says`)
        this.ended = true
        return {kind: 'end', total}
      }
      default:
        throw new Error(`the tar-split has an unknown record type ${kind[0]}`)
    }
  }

  private need(n: number): Buffer {
    const b = n === 0 ? Buffer.alloc(0) : this.read(n)
    if (b === null || b.length !== n) throw new Error('the tar-split is cut short')
    return b
  }
}

/** Exact reads over one buffer (a whole uncompressed tar-split, for tests and `pivot check`). */
export function bufferReads(data: Buffer): (n: number) => Buffer | null {
  let at = 0
  return n => {
    if (at >= data.length) return null
    const out = data.subarray(at, Math.min(at + n, data.length))
    at += out.length
    return out
  }
}

/** Every record of a whole tar-split file's bytes (gzip), or the reason it is damaged. */
export function parseTarSplit(gz: Buffer): {records: TarSplitRecord[]} | {problem: string} {
  let data: Buffer
  try {
    data = zlib.gunzipSync(gz)
  } catch (error) {
    return {problem: `it is not valid gzip (${(error as Error).message})`}
  }
  const reader = new TarSplitReader(bufferReads(data))
  const records: TarSplitRecord[] = []
  try {
    for (let r = reader.next(); r !== null; r = reader.next()) records.push(r)
  } catch (error) {
    return {problem: (error as Error).message}
  }
  return {records}
}
