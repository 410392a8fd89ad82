/**
 * `node pivot-tar-list.js FILE...`: lists each archive as pivot's own tar reader (src/unpack/
 * tar-reader.ts, the one the unpack worker uses) sees it, one JSON line per file, in the format of
 * go-tar-list/main.go (Go's archive/tar), so archives-differential.test.ts can compare the two.
 * Failures print {"ok": false, "code": ..., "error": ...}.
 */
import {createHash} from 'node:crypto'
import * as fs from 'node:fs'
import {BlockInput} from '../../src/unpack/sync-io'
import {TarReader} from '../../src/unpack/tar-reader'
import {UnpackError} from '../../src/unpack/unpack-error'

const MAX_READ = 256 << 20

export interface ListedEntry {
  name: string
  type: string
  size: number
  mode: number
  uid: number
  gid: number
  mtime: string
  linkname: string
  devmajor: number
  devminor: number
  sha256: string
  xattrs: Record<string, string>
}

export interface Listing {
  file: string
  ok: boolean
  code?: string
  error?: string
  entries: ListedEntry[]
}

export function listArchive(file: string): Listing {
  const out: Listing = {file, ok: false, entries: []}
  let fd: number | undefined
  try {
    fd = fs.openSync(file, 'r')
    const reader = new TarReader(new BlockInput(fd))
    for (let e = reader.next(); e !== null; e = reader.next()) {
      // As go-tar-list: entries over 256 MiB are skipped unread.
      const hash = createHash('sha256')
      let size = e.size
      if (e.size <= MAX_READ) {
        size = 0
        reader.data(
          () => 'entry',
          (buf, off, len) => {
            hash.update(buf.subarray(off, off + len))
            size += len
          },
        )
      }
      const xattrs: Record<string, string> = {}
      for (const [k, v] of [...e.xattrs].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) xattrs[k] = v.toString('hex')
      out.entries.push({
        name: Buffer.from(e.raw, 'latin1').toString('hex'),
        type: e.typeflag,
        size,
        mode: e.mode,
        uid: e.uid,
        gid: e.gid,
        mtime: `${e.mtime.sec}.${String(e.mtime.nsec).padStart(9, '0')}`,
        linkname: Buffer.from(e.linkname, 'latin1').toString('hex'),
        devmajor: e.devmajor,
        devminor: e.devminor,
        sha256: e.size <= MAX_READ ? hash.digest('hex') : 'not-read',
        xattrs,
      })
    }
    out.ok = true
  } catch (error) {
    out.code = error instanceof UnpackError ? error.code : 'EXCEPTION'
    out.error = (error as Error).message
  } finally {
    if (fd !== undefined) fs.closeSync(fd)
  }
  return out
}

if (require.main === module) {
  for (const file of process.argv.slice(2)) process.stdout.write(`${JSON.stringify(listArchive(file))}\n`)
}
