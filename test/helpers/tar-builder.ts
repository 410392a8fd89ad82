/**
 * Hand-made tar archives for the unpack tests: raw ustar headers, pax extended headers (any
 * records, SCHILY.xattr.* included, binary values fine), GNU long names, and whatever a hostile
 * archive needs — names with NUL or '../', sizes that lie, bodies cut short. Deliberately
 * independent of src/unpack/tar-format.ts, so a bug there cannot hide itself in the tests.
 *
 *   const tar = new TarBuilder()
 *     .dir('tmp/', {mode: 0o1777})
 *     .file('bin/ping', 'ELF...', {mode: 0o4755, xattrs: {'security.capability': capBytes}})
 *     .symlink('etc/localtime', '/usr/share/zoneinfo/UTC')
 *     .end()
 *     .toBuffer()
 *
 * makeTar([{path, type, data, ...}]) is the same writer taking a list of entries.
 */
import {gzipSync} from 'node:zlib'

export type EntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo'

const TYPEFLAG: Record<EntryType, string> = {file: '0', hardlink: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6'}

export interface EntryOptions {
  /** Permission bits incl. setuid/setgid/sticky; default 0644 (files) or 0755 (dirs). */
  mode?: number
  uid?: number
  gid?: number
  uname?: string
  gname?: string
  /** Seconds since the epoch; default 1700000000. */
  mtime?: number
  /** Header size field; defaults to the body length. Set it to lie. */
  size?: number
  /** Raw typeflag character, overriding the entry type (e.g. 'S', 'x', 'Z'). */
  typeflag?: string
  devmajor?: number
  devminor?: number
  /** Pax records emitted in an 'x' header before this entry (in order). */
  pax?: Array<[string, string | Buffer]>
  /** Shorthand for SCHILY.xattr.<name> pax records. */
  xattrs?: Record<string, string | Buffer>
  /** Put the name in a GNU 'L' long-name header instead of (or as well as) the ustar field. */
  gnuLongName?: boolean
  /** Put the link target in a GNU 'K' header. */
  gnuLongLink?: boolean
  /** Do not emit a pax path record for a name longer than 100 bytes: truncate it instead. */
  noAutoPax?: boolean
  /** Old GNU magic ("ustar  \0") instead of POSIX "ustar\0" "00". */
  gnuMagic?: boolean
}

export class TarBuilder {
  private readonly parts: Buffer[] = []

  file(name: string | Buffer, body: string | Buffer = '', options: EntryOptions = {}): this {
    return this.entry('file', name, {body, ...options})
  }

  dir(name: string | Buffer, options: EntryOptions = {}): this {
    return this.entry('dir', name, {mode: 0o755, ...options})
  }

  symlink(name: string | Buffer, target: string | Buffer, options: EntryOptions = {}): this {
    return this.entry('symlink', name, {linkname: target, mode: 0o777, ...options})
  }

  hardlink(name: string | Buffer, target: string | Buffer, options: EntryOptions = {}): this {
    return this.entry('hardlink', name, {linkname: target, ...options})
  }

  char(name: string | Buffer, major: number, minor: number, options: EntryOptions = {}): this {
    return this.entry('char', name, {devmajor: major, devminor: minor, mode: 0o666, ...options})
  }

  block(name: string | Buffer, major: number, minor: number, options: EntryOptions = {}): this {
    return this.entry('block', name, {devmajor: major, devminor: minor, mode: 0o660, ...options})
  }

  fifo(name: string | Buffer, options: EntryOptions = {}): this {
    return this.entry('fifo', name, options)
  }

  /** A pax global header ('g'). */
  globalPax(records: Array<[string, string | Buffer]>): this {
    const body = paxBody(records)
    this.parts.push(header({name: Buffer.from('pax_global_header'), typeflag: 'g', size: body.length, mode: 0o644}), pad(body))
    return this
  }

  entry(type: EntryType, name: string | Buffer, options: EntryOptions & {body?: string | Buffer; linkname?: string | Buffer} = {}): this {
    const nameBytes = Buffer.isBuffer(name) ? name : Buffer.from(name)
    const linkBytes = options.linkname === undefined ? Buffer.alloc(0) : Buffer.isBuffer(options.linkname) ? options.linkname : Buffer.from(options.linkname)
    const body = options.body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(options.body) ? options.body : Buffer.from(options.body)
    const records: Array<[string, string | Buffer]> = [...(options.pax ?? [])]
    for (const [k, v] of Object.entries(options.xattrs ?? {})) records.push([`SCHILY.xattr.${k}`, v])
    if (nameBytes.length > 100 && !options.gnuLongName && !options.noAutoPax) records.unshift(['path', nameBytes])
    if (linkBytes.length > 100 && !options.gnuLongLink && !options.noAutoPax) records.unshift(['linkpath', linkBytes])
    if (options.gnuLongName) {
      const longBody = Buffer.concat([nameBytes, Buffer.alloc(1)])
      this.parts.push(header({name: Buffer.from('././@LongLink'), typeflag: 'L', size: longBody.length, mode: 0o644, gnuMagic: true}), pad(longBody))
    }
    if (options.gnuLongLink) {
      const longBody = Buffer.concat([linkBytes, Buffer.alloc(1)])
      this.parts.push(header({name: Buffer.from('././@LongLink'), typeflag: 'K', size: longBody.length, mode: 0o644, gnuMagic: true}), pad(longBody))
    }
    if (records.length > 0) {
      const paxData = paxBody(records)
      this.parts.push(header({name: Buffer.from('PaxHeaders/x'), typeflag: 'x', size: paxData.length, mode: 0o644}), pad(paxData))
    }
    this.parts.push(
      header({
        name: nameBytes.subarray(0, 100),
        typeflag: options.typeflag ?? TYPEFLAG[type],
        mode: options.mode ?? 0o644,
        uid: options.uid ?? 0,
        gid: options.gid ?? 0,
        size: options.size ?? body.length,
        mtime: options.mtime ?? 1_700_000_000,
        linkname: linkBytes.subarray(0, 100),
        uname: options.uname,
        gname: options.gname,
        devmajor: options.devmajor ?? 0,
        devminor: options.devminor ?? 0,
        gnuMagic: options.gnuMagic,
      }),
    )
    if (body.length > 0) this.parts.push(pad(body))
    return this
  }

  /** Appends bytes as they are (a hand-made header, garbage...). */
  raw(bytes: Buffer): this {
    this.parts.push(bytes)
    return this
  }

  /** The end-of-archive marker: two zero blocks. */
  end(): this {
    this.parts.push(Buffer.alloc(1024))
    return this
  }

  toBuffer(): Buffer {
    return Buffer.concat(this.parts)
  }

  gzip(): Buffer {
    return gzipSync(this.toBuffer())
  }
}

/** One entry of makeTar: the object form of a TarBuilder call. */
export interface TarEntry {
  path: string
  /** Default: 'dir' when the path ends in '/', else 'file'. */
  type?: EntryType
  /** File content (type 'file'). */
  data?: string | Buffer
  /** Link target (symlink, hardlink). */
  linkname?: string
  mode?: number
  uid?: number
  gid?: number
  mtime?: number
  devmajor?: number
  devminor?: number
  /** Extended attributes, written as pax `SCHILY.xattr.<name>` records. */
  xattrs?: Record<string, Buffer | string>
}

const DEFAULT_MODE: Partial<Record<EntryType, number>> = {dir: 0o755, symlink: 0o777}

/** One archive from a list of entries, ended by the two zero blocks. */
export function makeTar(entries: TarEntry[]): Buffer {
  const tar = new TarBuilder()
  for (const e of entries) {
    const type = e.type ?? (e.path.endsWith('/') ? 'dir' : 'file')
    tar.entry(type, e.path, {
      body: type === 'file' ? (e.data ?? '') : undefined,
      linkname: e.linkname,
      mode: e.mode ?? DEFAULT_MODE[type] ?? 0o644,
      uid: e.uid,
      gid: e.gid,
      mtime: e.mtime,
      devmajor: e.devmajor,
      devminor: e.devminor,
      xattrs: e.xattrs,
    })
  }
  return tar.end().toBuffer()
}

function pad(data: Buffer): Buffer {
  const rest = data.length % 512
  return rest === 0 ? data : Buffer.concat([data, Buffer.alloc(512 - rest)])
}

/** "<len> key=value\n" records; the length counts itself. */
export function paxBody(records: Array<[string, string | Buffer]>): Buffer {
  return Buffer.concat(
    records.map(([key, value]) => {
      const v = Buffer.isBuffer(value) ? value : Buffer.from(value)
      const rest = Buffer.byteLength(key) + v.length + 3
      let len = rest + 1
      while (String(len).length + rest !== len) len = String(len).length + rest
      return Buffer.concat([Buffer.from(`${len} ${key}=`), v, Buffer.from('\n')])
    }),
  )
}

interface HeaderFields {
  name: Buffer
  typeflag: string
  mode?: number
  uid?: number
  gid?: number
  size?: number
  mtime?: number
  linkname?: Buffer
  uname?: string
  gname?: string
  devmajor?: number
  devminor?: number
  gnuMagic?: boolean
}

/** One 512-byte ustar header with a correct checksum. Numbers that do not fit in octal use GNU base-256. */
export function header(f: HeaderFields): Buffer {
  const h = Buffer.alloc(512)
  f.name.copy(h, 0, 0, Math.min(100, f.name.length))
  octal(h, 100, 8, f.mode ?? 0o644)
  octal(h, 108, 8, f.uid ?? 0)
  octal(h, 116, 8, f.gid ?? 0)
  octal(h, 124, 12, f.size ?? 0)
  octal(h, 136, 12, f.mtime ?? 1_700_000_000)
  h.write(f.typeflag, 156, 1, 'latin1')
  f.linkname?.copy(h, 157, 0, Math.min(100, f.linkname.length))
  if (f.gnuMagic) h.write('ustar  \0', 257, 'latin1')
  else h.write('ustar\x0000', 257, 'latin1')
  h.write(f.uname ?? 'root', 265, 32, 'latin1')
  h.write(f.gname ?? 'root', 297, 32, 'latin1')
  octal(h, 329, 8, f.devmajor ?? 0)
  octal(h, 337, 8, f.devminor ?? 0)
  return checksum(h)
}

/** (Re)computes the checksum of a 512-byte header in place and returns it. */
export function checksum(h: Buffer): Buffer {
  h.fill(0x20, 148, 156)
  let sum = 0
  for (let i = 0; i < 512; i++) sum += h[i]!
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1')
  return h
}

function octal(h: Buffer, off: number, len: number, n: number): void {
  if (n >= 0 && n < 8 ** (len - 1)) {
    h.write(`${n.toString(8).padStart(len - 1, '0')}\0`, off, 'latin1')
    return
  }
  let v = BigInt.asUintN(len * 8, BigInt(n))
  for (let i = off + len - 1; i >= off; i--) {
    h[i] = Number(v & 0xffn)
    v >>= 8n
  }
  h[off] = n < 0 ? 0xff : 0x80
}
