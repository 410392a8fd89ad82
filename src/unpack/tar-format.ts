/**
 * The tar format as pivot reads and writes it: POSIX ustar headers, pax extended headers ('x' and
 * 'g'), GNU long names ('L'/'K') and GNU base-256 numbers. No I/O here: pure functions, shared by
 * the unpack worker (decode) and the pack worker (encode), and unit-tested on their own.
 *
 * Names, link targets and xattr values are *byte strings*: JS strings holding one byte per char
 * ('latin1'). A Linux file name is bytes, not text, and node-tar's habit of decoding names as
 * UTF-8 turns every invalid sequence into U+FFFD (two different names can collide). Latin1 is a
 * lossless carrier: `Buffer.from(s, 'latin1')` gives the bytes back exactly, and '/' and '.' are
 * the same bytes as in ASCII, so path arithmetic works on it unchanged.
 */
import {isUtf8} from 'node:buffer'
import {UnpackError} from './unpack-error'

export const BLOCK = 512

/** Zero bytes after `size` bytes of entry data, up to the next block. */
export function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK
}

/** A tar path as the bytes libc takes; the archive's root (`''`) is `/` inside the chroot. */
export function pathBytes(path: string): Buffer {
  return Buffer.from(path === '' ? '/' : path, 'latin1')
}
/** A name or link target longer than this (bytes) is refused: the kernel's PATH_MAX. */
export const MAX_NAME_BYTES = 4096
/** A path with more components than this is refused. */
export const MAX_DEPTH = 1024
/** Extended headers (pax, GNU long names) are held in memory: Go's archive/tar caps them at 1 MiB. */
export const MAX_META_BYTES = 1 << 20

/** The byte string's bytes. */
export function bytesOf(s: string): Buffer {
  return Buffer.from(s, 'latin1')
}

/** A byte string for display (messages): decoded as UTF-8, invalid sequences as U+FFFD. */
export function shown(s: string): string {
  return Buffer.from(s, 'latin1').toString('utf8')
}

export interface RawHeader {
  /** Byte string: the name field, with the POSIX ustar prefix applied. */
  name: string
  mode: number
  uid: number
  gid: number
  size: number
  /** Whole seconds since the epoch (may be negative: base-256). */
  mtime: number
  /** The typeflag byte as a one-char string ('\0' for the old regular-file flag). */
  typeflag: string
  /** Byte string. */
  linkname: string
  devmajor: number
  devminor: number
}

/** True when the 512 bytes at `off` are all zero: the end-of-archive marker. */
export function isZeroBlock(buf: Buffer, off: number): boolean {
  for (let i = off; i < off + BLOCK; i++) if (buf[i] !== 0) return false
  return true
}

/**
 * Decodes one header block. Throws UNPACK_CORRUPT on a checksum mismatch or a malformed number:
 * random bytes, or a tar read at the wrong offset, fail here rather than creating junk files.
 */
export function decodeHeader(buf: Buffer, off: number): RawHeader {
  const stored = parseOctal(buf, off + 148, 8, 'checksum')
  // The checksum is the sum of the header's bytes with its own field read as spaces.
  let sum = 8 * 0x20
  for (let i = off; i < off + 148; i++) sum += buf[i]!
  for (let i = off + 156; i < off + BLOCK; i++) sum += buf[i]!
  if (stored !== sum && stored !== signedChecksum(buf, off)) {
    throw new UnpackError('UNPACK_CORRUPT', `not a valid tar archive: header checksum mismatch (near "${shown(fieldString(buf, off, 100)).slice(0, 60)}")`)
  }
  // "ustar\0" (POSIX) or "ustar " (old GNU, whose prefix area holds other fields).
  const ustar = buf[off + 257] === 0x75 && buf[off + 258] === 0x73 && buf[off + 259] === 0x74 && buf[off + 260] === 0x61 && buf[off + 261] === 0x72
  const posix = ustar && buf[off + 262] === 0
  const gnu = ustar && buf[off + 262] === 0x20
  let name = fieldString(buf, off, 100)
  // The prefix field is a name prefix only in POSIX ustar; in the old GNU format those bytes are
  // atime/ctime/offsets, and reading them as a prefix would invent a directory.
  // star ("tar\0" at 508) keeps atime/ctime in the last 24 bytes of the POSIX prefix field.
  const star = posix && buf[off + 508] === 0x74 && buf[off + 509] === 0x61 && buf[off + 510] === 0x72 && buf[off + 511] === 0
  if (posix && buf[off + 345] !== 0) name = `${fieldString(buf, off + 345, star ? 131 : 155)}/${name}`
  // Old GNU headers keep atime/ctime where POSIX has the prefix. Some writers (Go before 1.8) put
  // a prefix there under GNU magic: Go reads it as a prefix when those times do not parse.
  if (gnu && buf[off + 345] !== 0 && !(timeParses(buf, off + 345) && timeParses(buf, off + 357))) {
    const prefix = fieldString(buf, off + 345, 155)
    if (/^\p{ASCII}*$/u.test(prefix)) name = `${prefix}/${name}`
  }
  return {
    name,
    mode: parseNumber(buf, off + 100, 8, 'mode'),
    uid: parseNumber(buf, off + 108, 8, 'uid'),
    gid: parseNumber(buf, off + 116, 8, 'gid'),
    size: parseNumber(buf, off + 124, 12, 'size'),
    mtime: parseNumber(buf, off + 136, 12, 'mtime', true),
    typeflag: String.fromCharCode(buf[off + 156]!),
    linkname: buf[off + 157] === 0 ? '' : fieldString(buf, off + 157, 100),
    devmajor: posix || gnu ? parseNumber(buf, off + 329, 8, 'devmajor') : 0,
    devminor: posix || gnu ? parseNumber(buf, off + 337, 8, 'devminor') : 0,
  }
}

function timeParses(buf: Buffer, off: number): boolean {
  if (buf[off] === 0) return true
  try {
    parseNumber(buf, off, 12, 'time', true)
    return true
  } catch {
    return false
  }
}

/** Some old writers summed signed chars; GNU tar and Go accept that too. */
function signedChecksum(buf: Buffer, off: number): number {
  let sum = 8 * 0x20
  for (let i = off; i < off + BLOCK; i++) {
    if (i >= off + 148 && i < off + 156) continue
    const b = buf[i]!
    sum += b > 127 ? b - 256 : b
  }
  return sum
}

/** A NUL-terminated (or full-width) string field, as a byte string. */
function fieldString(buf: Buffer, off: number, len: number): string {
  let end = off
  const limit = off + len
  while (end < limit && buf[end] !== 0) end++
  return buf.toString('latin1', off, end)
}

/** An octal field, or a GNU base-256 one (high bit of the first byte set; next bit set = negative). */
function parseNumber(buf: Buffer, off: number, len: number, field: string, signed = false): number {
  const first = buf[off]!
  if (!(first & 0x80)) return parseOctal(buf, off, len, field)
  // Two's complement over the field less its marker bit, as Go reads it.
  const inv = first & 0x40 ? 0xff : 0
  let x = 0n
  for (let i = off; i < off + len; i++) {
    let c = buf[i]! ^ inv
    if (i === off) c &= 0x7f
    x = (x << 8n) | BigInt(c)
  }
  const n = inv ? -x - 1n : x
  if ((n < 0n && !signed) || n > BigInt(Number.MAX_SAFE_INTEGER) || n < -BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new UnpackError('UNPACK_CORRUPT', `not a valid tar archive: ${field} field out of range (${n})`)
  }
  return Number(n)
}

/** Octal digits, padded with spaces or NULs on either side (writers differ); empty means 0. */
function parseOctal(buf: Buffer, off: number, len: number, field: string): number {
  let i = off
  const end = off + len
  while (i < end && (buf[i] === 0x20 || buf[i] === 0)) i++
  let n = 0
  let digits = 0
  while (i < end && buf[i]! >= 0x30 && buf[i]! <= 0x37) {
    n = n * 8 + (buf[i]! - 0x30)
    i++
    digits++
  }
  while (i < end && (buf[i] === 0x20 || buf[i] === 0)) i++
  if (i !== end || digits > 17) {
    throw new UnpackError('UNPACK_CORRUPT', `not a valid tar archive: bad ${field} field "${buf.toString('latin1', off, end).replace(/[^\x20-\x7e]/g, '?')}"`)
  }
  return n
}

/**
 * A pax extended header body: "<len> <key>=<value>\n" records. Values are raw bytes (xattr values
 * are binary; a path may hold a newline), so the body is walked by the length prefixes, never split
 * on newlines. Returns [key, value] in order; an empty value means "unset" (POSIX). As strict as
 * Go's archive/tar: no NUL padding after the records, no NUL in a key, nor in a path, linkpath,
 * uname or gname value.
 */
export function parsePax(body: Buffer): Array<[string, Buffer]> {
  const records: Array<[string, Buffer]> = []
  let pos = 0
  while (pos < body.length) {
    let len = 0
    let i = pos
    while (i < body.length && body[i]! >= 0x30 && body[i]! <= 0x39 && i - pos < 12) len = len * 10 + (body[i++]! - 0x30)
    if (i === pos || body[i] !== 0x20) throw badPax('record length')
    const end = pos + len
    if (len < 5 || end > body.length || body[end - 1] !== 0x0a || end <= i + 1) throw badPax('record length')
    const eq = body.indexOf(0x3d, i + 1)
    if (eq < 0 || eq >= end - 1 || eq === i + 1) throw badPax('record without key')
    const key = body.toString('utf8', i + 1, eq)
    const value = body.subarray(eq + 1, end - 1)
    if (NUL_FREE_VALUES.has(key) ? value.includes(0) : key.includes('\0')) throw badPax(`NUL byte in the ${key.replace(/\0/g, '\\0').slice(0, 40)} record`)
    records.push([key, value])
    pos = end
  }
  return records
}

const NUL_FREE_VALUES = new Set(['path', 'linkpath', 'uname', 'gname'])

function badPax(what: string): UnpackError {
  return new UnpackError('UNPACK_CORRUPT', `not a valid tar archive: bad pax extended header (${what})`)
}

/** A time as whole seconds (rounded down) and nanoseconds 0..999999999. */
export interface Time {
  sec: number
  nsec: number
}

/** A pax decimal time ("1700000000", "1700000000.5", "-1.25" = -2 s + 0.75 s). */
export function parsePaxTime(value: string): Time {
  const m = /^(-?)(\d{1,15})(?:\.(\d*))?$/.exec(value)
  if (!m) throw badPax(`time "${value.slice(0, 40)}"`)
  const whole = Number(m[2])
  const nsec = Number(((m[3] ?? '') + '000000000').slice(0, 9))
  if (!m[1]) return {sec: whole, nsec}
  return nsec === 0 ? {sec: -whole, nsec: 0} : {sec: -whole - 1, nsec: 1_000_000_000 - nsec}
}

/** A Time as nanoseconds since the epoch. */
export function timeNs(t: Time): bigint {
  return BigInt(t.sec) * 1_000_000_000n + BigInt(t.nsec)
}

/** Nanoseconds since the epoch as a pax decimal time, shortest exact form. */
export function formatPaxTime(ns: bigint): string {
  const negative = ns < 0n
  const abs = negative ? -ns : ns
  const sec = abs / 1_000_000_000n
  const frac = abs % 1_000_000_000n
  const fraction = frac === 0n ? '' : `.${frac.toString().padStart(9, '0').replace(/0+$/, '')}`
  return `${negative ? '-' : ''}${sec}${fraction}`
}

/** A pax decimal integer as Go's strconv.ParseInt reads it (leading zeros, a '+'), not negative. */
export function parsePaxInteger(value: string, key: string): number {
  const m = /^\+?0*(\d{1,16})$/.exec(value)
  const n = m ? Number(m[1]) : NaN
  if (!Number.isSafeInteger(n)) throw badPax(`${key} "${value.slice(0, 40)}"`)
  return n
}

/** The parent of a normalised archive path ('' for a top-level entry and for the root). */
export function parentOf(path: string): string {
  const slash = path.lastIndexOf('/')
  return slash < 0 ? '' : path.slice(0, slash)
}

const NEEDS_NORMALIZING = /^\/|\/$|\/\/|(^|\/)\.\.?(\/|$)/

/**
 * Lexical normalisation of an archive path, clamped at the root: no leading '/', no '.', no
 * empty components, '..' removes the previous component and never climbs above the root. The
 * unpacker runs chrooted, so this is not what keeps it inside (the kernel does that); it gives
 * every entry one canonical name, for hardlink targets, whiteouts and the directory-times table.
 * '' is the root itself.
 */
export function normalizePath(p: string): string {
  if (!NEEDS_NORMALIZING.test(p)) return p
  const out: string[] = []
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue
    if (part === '..') out.pop()
    else out.push(part)
  }
  return out.join('/')
}

/** Why a name (path or link target) is refused, or null. */
export function nameProblem(p: string, isPath: boolean): {code: 'UNPACK_HOSTILE_ENTRY' | 'UNPACK_TOO_DEEP'; why: string} | null {
  if (p.length === 0) return {code: 'UNPACK_HOSTILE_ENTRY', why: isPath ? 'empty name' : 'empty link target'}
  if (p.includes('\0')) return {code: 'UNPACK_HOSTILE_ENTRY', why: `${isPath ? 'name' : 'link target'} contains a NUL byte`}
  if (p.length > MAX_NAME_BYTES)
    return {code: 'UNPACK_HOSTILE_ENTRY', why: `${isPath ? 'name' : 'link target'} is ${p.length} bytes long (limit ${MAX_NAME_BYTES})`}
  if (isPath) {
    let depth = 0
    let start = 0
    for (;;) {
      const slash = p.indexOf('/', start)
      const end = slash < 0 ? p.length : slash
      if (end > start) depth++
      if (slash < 0) break
      start = slash + 1
    }
    if (depth > MAX_DEPTH) return {code: 'UNPACK_TOO_DEEP', why: `path has ${depth} components (limit ${MAX_DEPTH})`}
  }
  return null
}

// ----------------------------------------------------------------------------------------------
// Entry types

/** What pivot makes of an entry type. */
export type Kind = 'file' | 'dir' | 'symlink' | 'link' | 'char' | 'block' | 'fifo'

/** Go's isHeaderOnlyType: these types carry no data, whatever the size field says. */
export const HEADER_ONLY = new Set(['1', '2', '3', '4', '5', '6'])

export const KINDS: Record<string, Kind> = {
  '0': 'file',
  '7': 'file', // contiguous file: an ordinary file everywhere but on one old Unix
  '1': 'link',
  '2': 'symlink',
  '3': 'char',
  '4': 'block',
  '5': 'dir',
  D: 'dir', // GNU dump directory: a directory whose data (a listing) is skipped
  '6': 'fifo',
}

/** The typeflag pivot writes for each kind. */
export const TYPE = {
  file: '0',
  link: '1',
  symlink: '2',
  char: '3',
  block: '4',
  dir: '5',
  fifo: '6',
} as const satisfies Record<Kind, string>

// ----------------------------------------------------------------------------------------------
// Writing

export interface WriteEntry {
  /** Byte string, relative, directories with a trailing '/'. */
  name: string
  type: (typeof TYPE)[keyof typeof TYPE]
  /** Permission bits and setuid/setgid/sticky (07777). */
  mode: number
  uid: number
  gid: number
  size: number
  mtimeNs: bigint
  /** Byte string: symlink target or hardlink target (an archive path). */
  linkname?: string
  devmajor?: number
  devminor?: number
  /** Attribute name (UTF-8) and raw value. */
  xattrs?: Array<[string, Buffer]>
}

/**
 * The header block(s) of one entry: a pax 'x' header when the ustar fields cannot hold it all
 * (a name or target over 100 bytes, sub-second mtime, xattrs), then the ustar header. Numbers too
 * big for octal use GNU base-256, which GNU tar, Go (docker) and node-tar all read.
 */
export function encodeHeaders(e: WriteEntry): Buffer {
  const records: Buffer[] = []
  const nameBytes = bytesOf(e.name)
  const linkBytes = bytesOf(e.linkname ?? '')
  let binary = false
  if (nameBytes.length > 100) {
    records.push(paxRecord('path', nameBytes))
    binary ||= !isUtf8(nameBytes)
  }
  if (linkBytes.length > 100) {
    records.push(paxRecord('linkpath', linkBytes))
    binary ||= !isUtf8(linkBytes)
  }
  // Pax path values are UTF-8 by default; GNU tar converts them unless told they are raw bytes.
  if (binary) records.unshift(paxRecord('hdrcharset', Buffer.from('BINARY')))
  if (e.mtimeNs % 1_000_000_000n !== 0n) records.push(paxRecord('mtime', Buffer.from(formatPaxTime(e.mtimeNs))))
  for (const [name, value] of e.xattrs ?? []) records.push(paxRecord(`SCHILY.xattr.${name}`, value))

  const mtimeSec = floorDiv(e.mtimeNs, 1_000_000_000n)
  const header = Buffer.alloc(BLOCK)
  nameBytes.copy(header, 0, 0, Math.min(100, nameBytes.length))
  writeNumber(header, 100, 8, BigInt(e.mode & 0o7777))
  writeNumber(header, 108, 8, BigInt(e.uid))
  writeNumber(header, 116, 8, BigInt(e.gid))
  writeNumber(header, 124, 12, BigInt(e.size))
  writeNumber(header, 136, 12, mtimeSec)
  header[156] = e.type.charCodeAt(0)
  linkBytes.copy(header, 157, 0, Math.min(100, linkBytes.length))
  header.write('ustar\x0000', 257, 'latin1')
  if (e.type === TYPE.char || e.type === TYPE.block) {
    writeNumber(header, 329, 8, BigInt(e.devmajor ?? 0))
    writeNumber(header, 337, 8, BigInt(e.devminor ?? 0))
  }
  writeChecksum(header)
  if (records.length === 0) return header

  const body = Buffer.concat(records)
  const pax = Buffer.alloc(BLOCK + Math.ceil(body.length / BLOCK) * BLOCK)
  pax.write('././@PaxHeader', 0, 'latin1')
  writeNumber(pax, 100, 8, 0o644n)
  writeNumber(pax, 108, 8, 0n)
  writeNumber(pax, 116, 8, 0n)
  writeNumber(pax, 124, 12, BigInt(body.length))
  writeNumber(pax, 136, 12, mtimeSec)
  pax[156] = 'x'.charCodeAt(0)
  pax.write('ustar\x0000', 257, 'latin1')
  writeChecksum(pax)
  body.copy(pax, BLOCK)
  return Buffer.concat([pax, header])
}

/** One "<len> key=value\n" record; the length counts its own digits. */
export function paxRecord(key: string, value: Buffer): Buffer {
  const rest = Buffer.byteLength(key) + value.length + 3 // ' ', '=', '\n'
  const digits = String(rest).length
  const len = String(rest + digits).length > digits ? rest + digits + 1 : rest + digits
  return Buffer.concat([Buffer.from(`${len} ${key}=`), value, Buffer.from('\n')])
}

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b
  return a % b !== 0n && a < 0n ? q - 1n : q
}

function writeNumber(buf: Buffer, off: number, len: number, n: bigint): void {
  const maxOctal = (1n << BigInt((len - 1) * 3)) - 1n
  if (n >= 0n && n <= maxOctal) {
    buf.write(n.toString(8).padStart(len - 1, '0') + '\0', off, 'latin1')
    return
  }
  // GNU base-256: big-endian two's complement over the field, first byte 0x80 (or 0xff if negative).
  let v = BigInt.asUintN(len * 8, n)
  for (let i = off + len - 1; i >= off; i--) {
    buf[i] = Number(v & 0xffn)
    v >>= 8n
  }
  buf[off] = n < 0n ? 0xff : 0x80
}

function writeChecksum(header: Buffer): void {
  header.fill(0x20, 148, 156)
  let sum = 0
  for (let i = 0; i < BLOCK; i++) sum += header[i]!
  header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1')
}
