import {
  OVERLAY_XATTR_PREFIX,
  USER_OVERLAY_XATTR_PREFIX,
  isOpaqueXattr,
  isOverlayWhiteout,
  isOverlayXattr,
  opaqueEntryName,
  whiteoutEntryName,
} from './overlay-format'
import {BLOCK, TYPE, type WriteEntry, decodeHeader, encodeHeaders, isZeroBlock, padding, parsePax, timeNs} from './tar-format'
import {makeEntry, type TarEntry} from './tar-reader'
import {UnpackError} from './unpack-error'

/**
 * Turns packRootfs's tar of a tree in overlay layer format (a container's upper dir, or a tree a
 * copy step made) into a Docker layer tar, the form every pulled layer has:
 *
 *   - a whiteout (0/0 character device) becomes an empty `.wh.<name>` file. Since Linux 5.8
 *     overlayfs makes whiteouts as hard links of one shared inode, so a hard link to a whiteout
 *     is a whiteout too;
 *   - an opaque directory (trusted.overlay.opaque=y) becomes the directory plus `.wh..wh..opq`;
 *   - overlay's private attributes (trusted.overlay.origin, .impure, .nlink, ...) are left out:
 *     they describe the upper dir's relation to the lower dirs of one mount, not the content;
 *   - the tree's root entry is left out (a layer does not change the image's root directory).
 *
 * A redirect or metacopy attribute means overlay kept part of the content elsewhere (the
 * redirect_dir or metacopy mount features): committing the upper dir alone would lose it, so it
 * fails. Everything else passes through byte for byte in the same order, so the same tree gives
 * the same tar and the same digest.
 */
export async function* toLayerTar(source: AsyncIterable<Buffer | string>, ids?: IdTranslation): AsyncGenerator<Buffer> {
  const reader = new BlockReader(source)
  const whiteouts = new Set<string>()
  let pax: Array<[string, Buffer]> = []
  for (;;) {
    const block = await reader.read(BLOCK)
    if (block === null) throw corrupt('the archive ends without its end marker')
    if (isZeroBlock(block, 0)) {
      yield Buffer.alloc(2 * BLOCK)
      await reader.discardRest()
      return
    }
    const h = decodeHeader(block, 0)
    if (h.typeflag === 'x') {
      const body = await reader.read(h.size + padding(h.size))
      if (body === null) throw corrupt('truncated pax header')
      pax = parsePax(body.subarray(0, h.size))
      continue
    }
    // The entry as the unpacker reads it (pax path, linkpath, size, owners and times applied).
    let e: TarEntry
    try {
      e = makeEntry(h, pax.length > 0 ? new Map(pax) : null, null, null)
    } catch (error) {
      if (error instanceof UnpackError) throw corrupt(error.message)
      throw error
    }
    if (e.kind === null) throw corrupt(`unexpected entry type ${JSON.stringify(h.typeflag)}`)
    const type = TYPE[e.kind]
    const entry: WriteEntry = {
      name: e.raw,
      type,
      mode: e.mode,
      uid: ids ? ids.uid(e.uid) : e.uid,
      gid: ids ? ids.gid(e.gid) : e.gid,
      size: e.size,
      mtimeNs: timeNs(e.mtime),
    }
    if (e.linkname !== '') entry.linkname = e.linkname
    if (type === TYPE.char || type === TYPE.block) {
      entry.devmajor = e.devmajor
      entry.devminor = e.devminor
    }
    // xattrs from the pax records themselves: empty values too, which makeEntry (as Go) skips.
    const xattrs: Array<[string, Buffer]> = []
    let opaque = false
    for (const [key, value] of pax) {
      if (!key.startsWith('SCHILY.xattr.')) continue
      const name = key.slice('SCHILY.xattr.'.length)
      const overlayName = name.startsWith(OVERLAY_XATTR_PREFIX)
        ? name.slice(OVERLAY_XATTR_PREFIX.length)
        : name.startsWith(USER_OVERLAY_XATTR_PREFIX)
          ? name.slice(USER_OVERLAY_XATTR_PREFIX.length)
          : undefined
      if (isOpaqueXattr(name)) opaque ||= value.toString('latin1') === 'y'
      else if (overlayName === 'redirect' || overlayName === 'metacopy') {
        throw new UnpackError(
          'UNPACK_UNSUPPORTED',
          `cannot commit ${entry.name}: overlayfs kept it as a ${overlayName} (its content lives in a lower layer); mount overlay with redirect_dir=off,metacopy=off`,
        )
      } else if (!isOverlayXattr(name)) xattrs.push([name, value])
    }
    pax = []
    if (xattrs.length > 0) entry.xattrs = xattrs

    const rel = entry.name.replace(/\/+$/, '')
    if (rel === '.' || rel === '') {
      await reader.skip(entry.size + padding(entry.size))
      continue
    }
    const isWhiteout =
      isOverlayWhiteout(e.kind, entry.devmajor, entry.devminor) || (type === TYPE.link && whiteouts.has((entry.linkname ?? '').replace(/\/+$/, '')))
    if (isWhiteout) {
      whiteouts.add(rel)
      yield encodeHeaders({name: whiteoutEntryName(rel), type: TYPE.file, mode: 0, uid: 0, gid: 0, size: 0, mtimeNs: entry.mtimeNs})
      continue
    }
    yield encodeHeaders(entry)
    if (type === TYPE.dir && opaque) {
      yield encodeHeaders({name: opaqueEntryName(rel), type: TYPE.file, mode: 0, uid: 0, gid: 0, size: 0, mtimeNs: entry.mtimeNs})
    }
    if (type === TYPE.file && entry.size > 0) yield* reader.pass(entry.size + padding(entry.size))
  }
}

/**
 * Owners rewritten on the way (`commit` of a --userns remap container: its upper dir holds host
 * ids, base+N, and the layer must hold the container's, N).
 */
export interface IdTranslation {
  uid(id: number): number
  gid(id: number): number
}

function corrupt(message: string): UnpackError {
  return new UnpackError('UNPACK_PACK_FAILED', `packing the layer failed: ${message}`)
}

/** Exact-size reads over a stream of chunks. */
class BlockReader {
  private readonly it: AsyncIterator<Buffer | string>
  private chunks: Buffer[] = []
  private buffered = 0
  private ended = false

  constructor(source: AsyncIterable<Buffer | string>) {
    this.it = source[Symbol.asyncIterator]()
  }

  private async fill(n: number): Promise<void> {
    while (this.buffered < n && !this.ended) {
      const r = await this.it.next()
      if (r.done) {
        this.ended = true
        break
      }
      const chunk = typeof r.value === 'string' ? Buffer.from(r.value, 'latin1') : r.value
      this.chunks.push(chunk)
      this.buffered += chunk.length
    }
  }

  private take(n: number): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks)
    const out = all.subarray(0, n)
    const rest = all.subarray(n)
    this.chunks = rest.length > 0 ? [rest] : []
    this.buffered = rest.length
    return out
  }

  /** Exactly n bytes; null at a clean end of input. */
  async read(n: number): Promise<Buffer | null> {
    await this.fill(n)
    if (this.buffered === 0 && this.ended) return null
    if (this.buffered < n) throw corrupt('the archive is truncated')
    return this.take(n)
  }

  /** n bytes passed on in pieces (file data: never held whole). */
  async *pass(n: number): AsyncGenerator<Buffer> {
    let left = n
    while (left > 0) {
      if (this.buffered === 0) await this.fill(1)
      if (this.buffered === 0) throw corrupt('the archive is truncated')
      const piece = this.take(Math.min(left, this.buffered))
      left -= piece.length
      yield piece
    }
  }

  async skip(n: number): Promise<void> {
    for await (const _ of this.pass(n)) void _
  }

  async discardRest(): Promise<void> {
    this.chunks = []
    this.buffered = 0
    while (!this.ended) {
      const r = await this.it.next()
      if (r.done) this.ended = true
    }
  }
}
