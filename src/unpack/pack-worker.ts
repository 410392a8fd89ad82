/**
 * The pack child (started by packRootfs): `node pack-worker.js <dir> [--flat]`, writes a tar of dir's
 * contents to stdout, one JSON line on fd 3 at the end ({ok, entries, bytes} or an error).
 *
 * It chroot()s into dir first, like the unpack worker: the tree may be a container's upper dir,
 * and a symlink swapped in for a directory while we walk (between readdir and open) would then
 * lead to dir's own files, never to the host's. Within the root nothing is followed anyway:
 * lstat, O_NOFOLLOW, llistxattr/lgetxattr, readlink; devices and FIFOs are never opened.
 *
 * The tar is written by hand (tar-format.ts encodeHeaders) rather than with node-tar's Pack,
 * which writes neither xattrs nor device nodes and resolves owners by name: ustar headers plus a
 * pax header only where needed (long names, sub-second times, SCHILY.xattr.* records), which
 * GNU tar, Docker (Go's archive/tar) and our unpacker all read. Entries are sorted by name, so
 * the same tree always gives the same bytes (and the same digest).
 */
import * as fs from 'node:fs'
import type {Syscalls} from '../sys/syscalls'
import {runChrootedWorker} from './run-chrooted-worker'
import {BlockOutput} from './sync-io'
import {BLOCK, TYPE, encodeHeaders, padding, pathBytes, shown, type WriteEntry} from './tar-format'
import {UnpackError} from './unpack-error'
import {isOverlayXattr} from './overlay-format'

const {O_RDONLY, O_NOFOLLOW, O_NONBLOCK, S_IFMT, S_IFREG, S_IFDIR, S_IFLNK, S_IFCHR, S_IFBLK, S_IFIFO} = fs.constants

class Packer {
  entries = 0
  /** dev:ino -> the first name of a multiply-linked inode: later names become hardlink entries. */
  private readonly seen = new Map<string, string>()

  constructor(
    private readonly out: BlockOutput,
    private readonly sys: Syscalls,
    /** A rootfs, not a layer (packRootfs's `flat`): overlay's marks are left out. */
    private readonly flat: boolean,
  ) {}

  run(): void {
    this.entry('')
    const stack: Array<{dir: string; names: string[]; next: number}> = [{dir: '', names: this.list(''), next: 0}]
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!
      if (top.next === top.names.length) {
        stack.pop()
        continue
      }
      const name = top.names[top.next++]!
      const rel = top.dir === '' ? name : `${top.dir}/${name}`
      if (this.entry(rel)) stack.push({dir: rel, names: this.list(rel), next: 0})
    }
    this.out.zeros(2 * BLOCK)
    this.out.flush()
  }

  private list(dir: string): string[] {
    // latin1 keeps the names' bytes, and sorting latin1 strings sorts by bytes.
    return (fs.readdirSync(pathBytes(dir), {encoding: 'latin1'}) as string[]).sort()
  }

  /** Writes one entry; true when it is a directory to descend into. */
  private entry(rel: string): boolean {
    const p = pathBytes(rel)
    const st = fs.lstatSync(p, {bigint: true})
    const format = Number(st.mode) & S_IFMT
    if (format === fs.constants.S_IFSOCK) return false // sockets are not archived (GNU tar, docker)
    const name = rel === '' ? './' : format === S_IFDIR ? `${rel}/` : rel
    const base = {name, mode: Number(st.mode) & 0o7777, uid: Number(st.uid), gid: Number(st.gid), size: 0, mtimeNs: st.mtimeNs}
    if (format !== S_IFDIR && st.nlink > 1n) {
      const key = `${st.dev}:${st.ino}`
      const first = this.seen.get(key)
      if (first !== undefined) {
        this.write({...base, type: TYPE.link, linkname: first})
        return false
      }
      this.seen.set(key, rel)
    }
    const xattrs = this.xattrs(p)
    switch (format) {
      case S_IFREG:
        this.regular(p, st, {...base, type: TYPE.file, size: Number(st.size), xattrs})
        return false
      case S_IFDIR:
        this.write({...base, type: TYPE.dir, xattrs})
        return true
      case S_IFLNK:
        this.write({...base, type: TYPE.symlink, linkname: fs.readlinkSync(p, {encoding: 'latin1'}) as string, xattrs})
        return false
      case S_IFCHR:
      case S_IFBLK: {
        const rdev = st.rdev
        const devmajor = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn))
        const devminor = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn))
        this.write({...base, type: format === S_IFCHR ? TYPE.char : TYPE.block, devmajor, devminor, xattrs})
        return false
      }
      case S_IFIFO:
        this.write({...base, type: TYPE.fifo, xattrs})
        return false
      default:
        throw new UnpackError('UNPACK_PACK_FAILED', `cannot pack "${shown(rel)}": unknown file type ${format.toString(8)}`, {entry: shown(rel)})
    }
  }

  private regular(p: Buffer, st: fs.BigIntStats, e: WriteEntry): void {
    // O_NONBLOCK: if a FIFO was swapped in since the lstat, open must not hang on it.
    const fd = fs.openSync(p, O_RDONLY | O_NOFOLLOW | O_NONBLOCK)
    try {
      const now = fs.fstatSync(fd, {bigint: true})
      if (now.ino !== st.ino || now.dev !== st.dev || (Number(now.mode) & S_IFMT) !== S_IFREG) {
        throw new UnpackError('UNPACK_PACK_FAILED', `cannot pack "${shown(e.name)}": it was replaced while being packed`, {entry: shown(e.name)})
      }
      this.write(e)
      const got = this.out.copyFrom(fd, e.size)
      if (got < e.size) {
        throw new UnpackError('UNPACK_PACK_FAILED', `cannot pack "${shown(e.name)}": it shrank from ${e.size} to ${got} bytes while being packed`, {
          entry: shown(e.name),
        })
      }
      this.out.zeros(padding(e.size))
    } finally {
      fs.closeSync(fd)
    }
  }

  private xattrs(p: Buffer): Array<[string, Buffer]> {
    let names: string[]
    try {
      names = this.sys.llistxattrBytes(p)
    } catch (error) {
      const code = (error as {errnoName?: string}).errnoName
      if (code === 'ENOTSUP' || code === 'EOPNOTSUPP') return []
      throw error
    }
    const out: Array<[string, Buffer]> = []
    for (const name of names.sort()) {
      if (this.flat && isOverlayXattr(name)) continue
      const value = this.sys.lgetxattrBytes(p, name)
      if (value !== null) out.push([name, value])
    }
    return out
  }

  private write(e: WriteEntry): void {
    this.out.write(encodeHeaders(e))
    this.entries++
  }
}

runChrootedWorker({
  usage: 'usage: pack-worker.js /absolute/dir [--flat]',
  chrootFailure: (dir, error) => new UnpackError('UNPACK_PACK_FAILED', `cannot pack ${dir}: ${error.message}`, {cause: error}),
  work: sys => {
    const out = new BlockOutput(1)
    const packer = new Packer(out, sys, process.argv[3] === '--flat')
    packer.run()
    return {entries: packer.entries, bytes: out.total}
  },
  otherFailure: error => {
    const e = error as NodeJS.ErrnoException
    // The reader went away; the parent knows and reports that itself.
    if (e.code === 'EPIPE') return {code: 'UNPACK_PACK_FAILED', message: 'the tar stream was closed by its reader'}
    const where = e.path ? ` "${Buffer.isBuffer(e.path) ? e.path.toString() : e.path}"` : ''
    return {code: 'UNPACK_PACK_FAILED', message: `cannot pack${where}: ${e.message}`}
  },
})
