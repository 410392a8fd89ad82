/**
 * Walks a tar stream header by header and yields its entries exactly as Go's archive/tar (the
 * reader docker uses) yields them: the same entries, names, types, sizes and data boundaries.
 * Two readers that disagree on where an entry's data ends are how a file hidden from one of them
 * reaches the other, so every rule below is Go's (src/archive/tar/reader.go), not a guess:
 *
 * - Typeflag '\0' (old V7 regular file) with a name ending in '/' is a directory, and a directory
 *   has no data: its size field is ignored and the next header follows at once. Typeflag '0' is a
 *   regular file whatever its name ends with (its data is file data, never headers).
 * - Types 1-6 (links, devices, directories, FIFOs) have no data; every other type, unknown ones
 *   included, has `size` bytes of it.
 * - A pax 'x' header applies to the next entry only, and a second 'x' replaces the first; a pax
 *   'g' header applies to nothing (Go returns it as an entry of its own, docker ignores it) and
 *   drops pending 'x'/'L'/'K' headers. Empty pax values keep the header's value.
 * - A GNU long name ('L') or link ('K') wins over a pax path or linkpath; it ends at its first NUL.
 * - Pax and GNU long-name bodies are at most 1 MiB (Go's maxSpecialFileSize).
 * - One zero block followed by a second, or by the end of input, ends the archive; a zero block
 *   followed by anything else is an error. Nothing after the end is an entry.
 *
 * - The input may end at a header boundary without the marker (Go and GNU tar accept that too; a
 *   pulled layer's digest catches a cut-off download).
 *
 * Deliberate differences, each a refusal (never a different reading): an empty input (no archive
 * at all), sparse files (old GNU 'S' and GNU.sparse pax records; docker refuses 'S' too), negative
 * pax uid/gid values, and the names nameProblem() refuses (empty, NUL, over 4096 bytes, over 1024
 * components).
 */
import type {BlockInput} from './sync-io'
import {
  MAX_META_BYTES,
  decodeHeader,
  isZeroBlock,
  nameProblem,
  normalizePath,
  padding,
  parsePax,
  parsePaxInteger,
  parsePaxTime,
  shown,
  type Kind,
  type RawHeader,
  type Time,
  HEADER_ONLY,
  KINDS,
} from './tar-format'
import {UnpackError} from './unpack-error'

export type {Kind}

export interface TarEntry {
  /** The name as the archive gives it (byte string), for messages. */
  raw: string
  /** Normalised, relative to the root; '' is the root. */
  path: string
  /** The typeflag as Go reports it ('\0' becomes '0', or '5' for a name ending in '/'). */
  typeflag: string
  /** What pivot makes of it; null for a type it does not unpack (volume labels, unknown types). */
  kind: Kind | null
  mode: number
  uid: number
  gid: number
  /** Bytes of data that follow the header. */
  size: number
  /** Times as whole seconds (floor) and nanoseconds 0..999999999. */
  mtime: Time
  atime: Time
  /** Byte string: symlink target (verbatim) or hardlink target (an archive path). */
  linkname: string
  devmajor: number
  devminor: number
  xattrs: Array<[string, Buffer]>
}

export type Pax = Map<string, Buffer>

const NO_XATTRS: Array<[string, Buffer]> = []

/**
 * Data after the end-of-archive marker is read (and hashed: it is part of a layer's diff id)
 * up to this many bytes, enough for any tar blocking factor (tar -b 2048 pads to 1 MiB); an
 * input that goes on past that (`/dev/zero`) is not read further.
 */
export const MAX_TAIL_BYTES = 1 << 20

/** An archive name for a message: shown as UTF-8, cut short if it is absurdly long. */
export function label(raw: string): string {
  const text = shown(raw)
  return text.length > 200 ? `${text.slice(0, 200)}…` : text
}

export class TarReader {
  /** Archive entries seen (headers that describe a file, not pax/long-name headers). */
  entries = 0
  /** Bytes of the input that belong to the archive: all of it, or up to MAX_TAIL_BYTES past the marker. */
  consumed = 0
  /** The input went on past MAX_TAIL_BYTES after the end-of-archive marker and was not read to its end. */
  stoppedEarly = false
  /** Data (and padding) of the last entry not consumed by the caller yet. */
  private remaining = 0
  private pad = 0
  private ended = false

  constructor(private readonly input: BlockInput) {}

  /** The next entry, or null at the end of the archive (after which the tail has been read). */
  next(): TarEntry | null {
    if (this.ended) return null
    this.skipData()
    let local: Pax | null = null
    let longName: string | null = null
    let longLink: string | null = null
    for (;;) {
      const off = this.input.block()
      if (off === null) {
        if (this.input.total === 0) throw new UnpackError('UNPACK_CORRUPT', 'not a tar archive: the input is empty')
        // Go and GNU tar take the end of input at a header boundary for the end of the archive.
        this.end()
        return null
      }
      if (isZeroBlock(this.input.buf, off)) {
        const second = this.input.block()
        if (second !== null && !isZeroBlock(this.input.buf, second)) {
          throw new UnpackError('UNPACK_CORRUPT', 'not a valid tar archive: a zero block followed by a header (Go and docker stop reading there)')
        }
        this.end()
        return null
      }
      const h = decodeHeader(this.input.buf, off)
      // Go checks the raw header's size before anything else, meta headers included.
      switch (h.typeflag) {
        case 'x':
          local = new Map(parsePax(this.readMeta(h, 'a pax extended header')))
          continue
        case 'g':
          // Parsed (a bad one is an error in Go too) and dropped, with what was pending.
          parsePax(this.readMeta(h, 'a pax global header'))
          local = null
          longName = null
          longLink = null
          continue
        case 'L':
          longName = metaName(this.readMeta(h, 'a GNU long name'))
          continue
        case 'K':
          longLink = metaName(this.readMeta(h, 'a GNU long link name'))
          continue
      }
      const entry = makeEntry(h, local, longName, longLink)
      this.entries++
      this.remaining = entry.size
      this.pad = padding(entry.size)
      return entry
    }
  }

  /** Hands the current entry's data to `sink` (slices valid only during the call), then its padding. */
  data(what: () => string, sink?: (buf: Buffer, off: number, len: number) => void): void {
    const n = this.remaining
    this.remaining = 0
    this.input.consume(n, what, sink)
    this.skipData()
  }

  private skipData(): void {
    const n = this.remaining + this.pad
    this.remaining = 0
    this.pad = 0
    if (n > 0) this.input.consume(n, () => 'the data of the last entry')
  }

  private end(): void {
    this.ended = true
    const markerEnd = this.input.position
    this.stoppedEarly = !this.input.drain(MAX_TAIL_BYTES)
    this.consumed = Math.min(this.input.total, markerEnd + MAX_TAIL_BYTES)
  }

  private readMeta(h: RawHeader, what: string): Buffer {
    if (h.size > MAX_META_BYTES) {
      throw new UnpackError('UNPACK_HOSTILE_ENTRY', `${what} of ${h.size} bytes (limit ${MAX_META_BYTES} bytes, as in Go's archive/tar)`)
    }
    const body = this.input.take(h.size, () => what)
    this.input.consume(padding(h.size), () => what)
    return body
  }
}

/** A header and the extended headers before it -> one entry, as Go makes it (shared with tar-stream.ts). */
export function makeEntry(h: RawHeader, local: Pax | null, longName: string | null, longLink: string | null): TarEntry {
  // An empty pax value keeps the header's value (POSIX, and Go).
  const pax = (key: string): Buffer | undefined => {
    const v = local?.get(key)
    return v === undefined || v.length === 0 ? undefined : v
  }
  const paxNumber = (key: string, fallback: number): number => {
    const v = pax(key)
    return v === undefined ? fallback : parsePaxInteger(v.toString('latin1'), key)
  }
  const raw = longName || pax('path')?.toString('latin1') || h.name
  const linkname = longLink || pax('linkpath')?.toString('latin1') || h.linkname

  let typeflag = h.typeflag
  if (typeflag === '\0') typeflag = raw.endsWith('/') ? '5' : '0'
  if (typeflag === 'S') {
    throw new UnpackError('UNPACK_UNSUPPORTED', `entry "${label(raw)}": unsupported entry (GNU sparse file)`, {entry: shown(raw)})
  }
  const size = HEADER_ONLY.has(typeflag) ? 0 : paxNumber('size', h.size)

  let mtime: Time = {sec: h.mtime, nsec: 0}
  let atime = mtime
  let xattrs = NO_XATTRS
  if (local !== null) {
    const mtimeValue = pax('mtime')
    if (mtimeValue !== undefined) mtime = parsePaxTime(mtimeValue.toString('latin1'))
    const atimeValue = pax('atime')
    atime = atimeValue === undefined ? mtime : parsePaxTime(atimeValue.toString('latin1'))
    const found: Array<[string, Buffer]> = []
    for (const [key, value] of local) {
      // Go (and so docker) reads xattrs from SCHILY.xattr records only, and skips empty values as it
      // skips every empty pax value.
      if (key.startsWith('SCHILY.xattr.')) {
        if (value.length > 0) found.push([key.slice('SCHILY.xattr.'.length), value])
      } else if (key.startsWith('GNU.sparse.')) {
        throw new UnpackError('UNPACK_UNSUPPORTED', `entry "${label(raw)}": sparse files (GNU.sparse pax records) are not supported`, {entry: shown(raw)})
      }
    }
    if (found.length > 0) xattrs = found
  }

  const problem = nameProblem(raw, true)
  if (problem) throw new UnpackError(problem.code, `entry "${label(raw)}": ${problem.why}`, {entry: shown(raw)})
  const kind = KINDS[typeflag] ?? null
  if (kind === 'link' || kind === 'symlink') {
    const linkProblem = nameProblem(linkname, false)
    if (linkProblem) throw new UnpackError(linkProblem.code, `entry "${label(raw)}": ${linkProblem.why}`, {entry: shown(raw)})
  }
  return {
    raw,
    path: normalizePath(raw),
    typeflag,
    kind,
    mode: h.mode & 0o7777,
    uid: paxNumber('uid', h.uid),
    gid: paxNumber('gid', h.gid),
    size,
    mtime,
    atime,
    linkname,
    devmajor: h.devmajor,
    devminor: h.devminor,
    xattrs,
  }
}

/** A GNU long name/link body: up to its first NUL, as Go reads it. */
export function metaName(body: Buffer): string {
  const nul = body.indexOf(0)
  return body.toString('latin1', 0, nul < 0 ? body.length : nul)
}
