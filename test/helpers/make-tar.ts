/**
 * A tiny ustar/pax writer for tests: archives are built byte by byte, so a test controls every
 * header field (owners, modes, devices, whiteouts, xattrs) and can corrupt or truncate them,
 * independently of the tar code pivot itself uses.
 */
export interface TarEntry {
  path: string
  type?: 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo'
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

const TYPEFLAG = {file: '0', hardlink: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6'} as const

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, '0') + '\0'
}

function header(name: string, fields: {size: number; typeflag: string; linkname?: string; mode: number; uid: number; gid: number; mtime: number; devmajor?: number; devminor?: number}): Buffer {
  const h = Buffer.alloc(512)
  let prefix = ''
  if (Buffer.byteLength(name) > 100) {
    const cut = name.lastIndexOf('/', 154)
    prefix = name.slice(0, cut)
    name = name.slice(cut + 1)
  }
  h.write(name, 0, 100)
  h.write(octal(fields.mode & 0o7777, 8), 100)
  h.write(octal(fields.uid, 8), 108)
  h.write(octal(fields.gid, 8), 116)
  h.write(octal(fields.size, 12), 124)
  h.write(octal(fields.mtime, 12), 136)
  h.write('        ', 148)
  h.write(fields.typeflag, 156)
  h.write(fields.linkname ?? '', 157, 100)
  h.write('ustar\x0000', 257)
  h.write('root', 265)
  h.write('root', 297)
  h.write(octal(fields.devmajor ?? 0, 8), 329)
  h.write(octal(fields.devminor ?? 0, 8), 337)
  h.write(prefix, 345, 155)
  let sum = 0
  for (const b of h) sum += b
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148)
  return h
}

function pad(data: Buffer): Buffer[] {
  const rest = data.length % 512
  return rest === 0 ? [data] : [data, Buffer.alloc(512 - rest)]
}

function paxRecord(key: string, value: Buffer): Buffer {
  // "<len> <key>=<value>\n" where len counts itself.
  const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')])
  let len = body.length + 1
  while (String(len).length + body.length !== len) len = String(len).length + body.length
  return Buffer.concat([Buffer.from(String(len)), body])
}

/** One archive from entries, ended by the two zero blocks. */
export function makeTar(entries: TarEntry[]): Buffer {
  const parts: Buffer[] = []
  for (const e of entries) {
    const type = e.type ?? (e.path.endsWith('/') ? 'dir' : 'file')
    const data = type === 'file' ? Buffer.from(e.data ?? '') : Buffer.alloc(0)
    const common = {mode: e.mode ?? (type === 'dir' ? 0o755 : type === 'symlink' ? 0o777 : 0o644), uid: e.uid ?? 0, gid: e.gid ?? 0, mtime: e.mtime ?? 1_700_000_000}
    if (e.xattrs && Object.keys(e.xattrs).length > 0) {
      const pax = Buffer.concat(Object.entries(e.xattrs).map(([k, v]) => paxRecord(`SCHILY.xattr.${k}`, Buffer.from(v))))
      parts.push(header(`PaxHeaders/${e.path.replace(/\/$/, '').split('/').pop()}`, {...common, size: pax.length, typeflag: 'x'}), ...pad(pax))
    }
    parts.push(
      header(e.path, {...common, size: data.length, typeflag: TYPEFLAG[type], linkname: e.linkname, devmajor: e.devmajor, devminor: e.devminor}),
      ...pad(data),
    )
  }
  parts.push(Buffer.alloc(1024))
  return Buffer.concat(parts)
}
