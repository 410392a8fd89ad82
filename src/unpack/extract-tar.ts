/**
 * The synchronous tar extractor that runs inside the unpack worker, chrooted into the layer
 * directory (see unpack-worker.ts). Every path it touches is relative to '/', which the kernel
 * holds at the layer directory: `../x`, absolute names, symlinks to '/etc' and hardlinks to
 * '/etc/shadow' all resolve inside it. What this file adds is *fidelity*: exact modes, numeric
 * owners, times to the nanosecond, xattrs, devices, FIFOs, hardlinks and Docker's whiteouts.
 *
 * Why not node-tar's UnpackSync (read from tar 7.5.23's source): its pax parser decodes the body as
 * UTF-8 and keeps only known keys, so SCHILY.xattr records (binary security.capability values
 * included) cannot be recovered from it; it decodes names as UTF-8; it skips devices and FIFOs;
 * forces directory modes to |0700; chowns after creating, which clears setuid/setgid bits and
 * file capabilities; never chowns or timestamps symlinks; sets a directory's mtime before its
 * contents are written; keeps times in milliseconds; and lstat()s plus mkdir -p's before every
 * entry. Working around all of that meant a second parser in lockstep with it, with node-tar left
 * doing only open/write/close — slower than doing it directly, as below.
 *
 * The per-entry sequence is GNU tar's: create exclusively (O_EXCL, never writing through an
 * existing file or symlink), write, chown (skipped when it cannot change anything, see `dirs`),
 * chmod only when chown may have cleared setuid/setgid, set xattrs (after chown, which drops
 * security.capability), set times; directory times last. Nothing else: no lstat or mkdir -p
 * before each entry (a missing parent or an existing name shows up as the create's errno).
 */
import * as fs from 'node:fs'
import {S_IFBLK, S_IFCHR, S_IFIFO, makedev} from '../sys/constants'
import type {Syscalls} from '../sys/syscalls'
import type {BlockInput} from './sync-io'
import {normalizePath, parentOf, pathBytes, shown, timeNs, type Time} from './tar-format'
import {TarReader, label, type TarEntry} from './tar-reader'
import type {TarSplitWriter} from './tar-split'
import {UnpackError} from './unpack-error'
import {AUFS_META_PREFIX, OPAQUE_XATTR, USER_OPAQUE_XATTR, WHITEOUT_PREFIX, dockerWhiteout, isOpaqueXattr, isOverlayXattr} from './overlay-format'

// (libuv adds O_CLOEXEC to every open)
const {O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW} = fs.constants
const CREATE_FLAGS = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW

type Entry = TarEntry

/** Times Node's own utimes calls set exactly: whole seconds, not before 1970. */
function wholeNonNegative(atime: Time, mtime: Time): boolean {
  return atime.nsec === 0 && mtime.nsec === 0 && atime.sec >= 0 && mtime.sec >= 0
}

function errCode(error: unknown): string | undefined {
  const e = error as {code?: string; errnoName?: string}
  return e.errnoName ?? (typeof e.code === 'string' && e.code.startsWith('E') ? e.code : undefined)
}

export class TarExtractor {
  /** Directory times are set last: creating anything inside a directory changes its mtime. */
  private readonly dirTimes = new Map<string, [Time, Time]>()
  /** Overlay whiteouts (0/0 char devices) made for `.wh.` entries in this layer. */
  private readonly whiteouts = new Set<string>()
  /**
   * Directories of this layer -> whether they are setgid. A file we create is owned by us (0:0)
   * unless its directory is setgid (then it takes the directory's group): so for an entry owned
   * 0:0 in a known, non-setgid directory, the chown every other entry gets is a no-op, skipped.
   * Directories reached through a symlink are unknown here and always get the chown.
   */
  private readonly dirs = new Map<string, boolean>()
  readonly reader: TarReader

  /**
   * overlay's opaque marks as this process can write them: root writes both (its layers serve
   * pivot's own overlays and those of `--userns remap`), a user namespace only user.overlay.*.
   */
  private readonly opaqueXattrs: string[]

  /**
   * `userns`: this process runs in a user namespace (a user other than root unpacks there) whose
   * maps give it ids 0..uids-1 and 0..gids-1: overlay marks in their user.* form, device nodes
   * as placeholders (no namespace but the host's may make them), and an owner outside the maps
   * named as such.
   */
  constructor(
    input: BlockInput,
    private readonly sys: Syscalls,
    private readonly userns?: {uids: number; gids: number},
    /** Records the tar's non-content bytes (its tap must be on `input`). */
    private readonly split?: TarSplitWriter,
  ) {
    this.reader = new TarReader(input)
    this.opaqueXattrs = userns ? [USER_OPAQUE_XATTR] : [OPAQUE_XATTR, USER_OPAQUE_XATTR]
  }

  /** Archive entries seen (headers that describe a file, not pax/long-name headers). */
  get entries(): number {
    return this.reader.entries
  }

  run(): void {
    if (process.getuid?.() === 0 && process.getgid?.() === 0) this.dirs.set('', (fs.lstatSync('/').mode & 0o2000) !== 0)
    for (let entry = this.reader.next(); entry !== null; entry = this.reader.next()) {
      try {
        this.apply(entry)
      } catch (error) {
        const u = this.userns
        if (u && errCode(error) === 'EINVAL' && (entry.uid >= u.uids || entry.gid >= u.gids)) {
          const why = u.uids === 1 ? 'no subordinate range: only your own id is mapped, as 0' : `ids 0-${u.uids - 1} (uids) and 0-${u.gids - 1} (gids)`
          throw new UnpackError(
            'UNPACK_ID_UNMAPPED',
            `entry "${label(entry.raw)}" is owned by uid ${entry.uid}, gid ${entry.gid}, outside your user namespace (${why}): ask root for a range of 65536 ids in /etc/subuid and /etc/subgid (usermod --add-subuids and --add-subgids)`,
            {entry: shown(entry.raw)},
          )
        }
        throw asEntryError(error, entry.raw)
      }
    }
    this.finish()
  }

  private skip(): void {
    this.reader.data(() => 'the data of an entry')
  }

  private apply(e: Entry): void {
    const what = () => `entry "${label(e.raw)}"`
    // uid_t is 32 bits and (uid_t)-1 means "leave unchanged": a bigger owner cannot be kept.
    for (const [what, id] of [
      ['owner', e.uid],
      ['group', e.gid],
    ] as const) {
      if (id > 0xfffffffe)
        throw new UnpackError('UNPACK_UNSUPPORTED', `entry "${label(e.raw)}": ${what} id ${id} does not fit in 32 bits`, {entry: shown(e.raw)})
    }
    if (e.kind === null) {
      // Go reads these; docker's extractor refuses them ("unhandled tar header type") but a
      // volume label, which GNU tar writes with -V and which names no file.
      if (e.typeflag === 'V') return this.skip()
      const type = e.typeflag === 'M' ? 'multi-volume continuation' : `type '${e.typeflag.replace(/[^\x20-\x7e]/g, '?')}'`
      throw new UnpackError('UNPACK_UNSUPPORTED', `entry "${label(e.raw)}": unsupported entry (${type})`, {entry: shown(e.raw)})
    }
    // overlayfs reads trusted.overlay.* of its layers as instructions (redirect: look up this
    // directory under another path; metacopy/origin: the data is elsewhere; whiteout(s)...).
    // A layer is data, not instructions: only the opaque mark, which is how a layer says
    // "hide what is below", is kept.
    // In a user namespace the mark is user.overlay.opaque (and user.overlay.* are instructions too).
    if (e.xattrs.some(([name]) => isOverlayXattr(name))) {
      const opaque = e.xattrs.find(([name]) => isOpaqueXattr(name))
      e.xattrs = e.xattrs.filter(([name]) => !isOverlayXattr(name))
      if (opaque) for (const name of this.opaqueXattrs) e.xattrs.push([name, opaque[1]])
    }
    if (e.path.includes(WHITEOUT_PREFIX)) return this.whiteoutEntry(e, what)
    return this.applyPlain(e, what)
  }

  /** An entry with '.wh.' somewhere in its name: a whiteout, an opaque marker, AUFS metadata, or an ordinary file. */
  private whiteoutEntry(e: Entry, what: () => string): void {
    const parts = e.path.split('/')
    const base = parts[parts.length - 1]!
    for (let i = 0; i < parts.length - 1; i++) {
      if (!parts[i]!.startsWith(WHITEOUT_PREFIX)) continue
      // AUFS metadata directories (.wh..wh.plnk, .wh..wh.aufs): Docker skips them, so do we.
      if (parts[i]!.startsWith(AUFS_META_PREFIX)) return this.skip()
      throw new UnpackError('UNPACK_HOSTILE_ENTRY', `entry "${label(e.raw)}": a whiteout cannot be a directory`, {entry: shown(e.raw)})
    }
    const whiteout = dockerWhiteout(base)
    if (whiteout !== null) {
      this.skip()
      if (whiteout.kind === 'opaque') return this.markOpaque(parentOf(e.path))
      if (whiteout.kind === 'aufs') return
      const name = whiteout.name
      if (name === '' || name === '.' || name === '..') {
        throw new UnpackError('UNPACK_HOSTILE_ENTRY', `entry "${label(e.raw)}": a whiteout that names no file`, {entry: shown(e.raw)})
      }
      const parent = parentOf(e.path)
      return this.whiteout(parent === '' ? name : `${parent}/${name}`)
    }
    // '.wh.' inside a name ("x.wh.y"): an ordinary entry.
    return this.applyPlain(e, what)
  }

  private applyPlain(e: Entry, what: () => string): void {
    if (e.path === '' && e.kind !== 'dir') {
      throw new UnpackError('UNPACK_HOSTILE_ENTRY', `entry "${label(e.raw)}": would replace the root directory with a ${e.kind}`, {entry: shown(e.raw)})
    }
    switch (e.kind) {
      case 'file':
        return this.file(e, what)
      case 'dir':
        this.skip()
        return this.directory(e)
      case 'symlink':
        return this.symlink(e)
      case 'link':
        return this.hardlink(e)
      case 'char':
      case 'block':
      case 'fifo':
        return this.special(e)
    }
  }

  private file(e: Entry, what: () => string): void {
    const path = pathBytes(e.path)
    const fd = this.create(e, () => fs.openSync(path, CREATE_FLAGS, e.mode))
    try {
      if (e.size > 0) this.split?.content(path, e.size)
      this.reader.data(what, (buf, off, len) => {
        while (len > 0) {
          const n = fs.writeSync(fd, buf, off, len)
          off += n
          len -= n
        }
      })
      if (this.needsChown(e)) {
        fs.fchownSync(fd, e.uid, e.gid)
        // chown clears setuid/setgid on a non-directory (even for root): put them back.
        if (e.mode & 0o7000) fs.fchmodSync(fd, e.mode)
      }
      this.setXattrs(path, e.xattrs)
      // Node's own call for whole seconds (exact, and cheaper than FFI); futimens for nanoseconds
      // and for times before 1970, which Node's futimes silently turns into "now".
      if (wholeNonNegative(e.atime, e.mtime)) fs.futimesSync(fd, e.atime.sec, e.mtime.sec)
      else this.sys.futimens(fd, timeNs(e.atime), timeNs(e.mtime))
    } finally {
      fs.closeSync(fd)
    }
  }

  private directory(e: Entry): void {
    const path = pathBytes(e.path)
    let opaque = false
    let existed = false
    try {
      fs.mkdirSync(path, e.mode)
    } catch (error) {
      const code = errCode(error)
      if (code === 'ENOENT' || code === 'ENOTDIR') {
        this.makeParents(e.path)
        fs.mkdirSync(path, e.mode)
      } else if (code === 'EEXIST') {
        existed = fs.lstatSync(path).isDirectory()
        if (!existed) {
          // A directory replacing what this layer whited out earlier must hide the lower layers'
          // directory of that name, not merge with it.
          opaque = this.remove(e.path)
          fs.mkdirSync(path, e.mode)
        }
      } else {
        throw error
      }
    }
    const inSetgidOrUnknown = e.path === '' || this.dirs.get(parentOf(e.path)) !== false
    if (existed || this.needsChown(e)) fs.lchownSync(path, e.uid, e.gid)
    // mkdir(2) ignores setuid/setgid in the mode and inherits setgid from a setgid parent; an
    // existing directory keeps its mode: then set the archive's mode explicitly.
    if (existed || inSetgidOrUnknown || e.mode & 0o6000) fs.chmodSync(path, e.mode)
    this.dirs.set(e.path, (e.mode & 0o2000) !== 0)
    this.setXattrs(path, e.xattrs)
    if (opaque) this.setOpaque(path)
    this.dirTimes.set(e.path, [e.atime, e.mtime])
  }

  private symlink(e: Entry): void {
    const path = pathBytes(e.path)
    // The target is stored verbatim: absolute and '../' targets are what the image means, and
    // the kernel resolves them inside whatever root the container gets.
    const target = Buffer.from(e.linkname, 'latin1')
    this.create(e, () => fs.symlinkSync(target, path))
    if (this.needsChown(e)) fs.lchownSync(path, e.uid, e.gid)
    this.setXattrs(path, e.xattrs)
    this.setTimes(path, e.atime, e.mtime)
  }

  private hardlink(e: Entry): void {
    const target = normalizePath(e.linkname)
    if (target === e.path) return
    const path = pathBytes(e.path)
    try {
      this.create(e, () => fs.linkSync(pathBytes(target), path))
    } catch (error) {
      if (errCode(error) === 'ENOENT') {
        throw new UnpackError('UNPACK_WRITE_FAILED', `entry "${label(e.raw)}": hard link target "${shown(e.linkname)}" is not in the layer`, {
          entry: shown(e.raw),
        })
      }
      throw error
    }
  }

  private special(e: Entry): void {
    const path = pathBytes(e.path)
    const type = e.kind === 'char' ? S_IFCHR : e.kind === 'block' ? S_IFBLK : S_IFIFO
    const dev = e.kind === 'fifo' ? 0n : makedev(e.devmajor, e.devminor)
    if (this.userns && e.kind !== 'fifo') {
      // Only the host's user namespace may make device nodes: an empty file holds the name and the
      // owner (a container gets its devices bound from the host's /dev anyway).
      fs.closeSync(this.create(e, () => fs.openSync(path, CREATE_FLAGS, e.mode & 0o777)))
    } else this.create(e, () => this.sys.mknodBytes(path, type | e.mode, dev))
    if (this.needsChown(e)) fs.lchownSync(path, e.uid, e.gid)
    if (e.mode & 0o7000) fs.chmodSync(path, e.mode)
    this.setXattrs(path, e.xattrs)
    this.setTimes(path, e.atime, e.mtime)
  }

  /** Whether the entry, just created by us, needs a chown to get the archive's owner. */
  private needsChown(e: Entry): boolean {
    return e.uid !== 0 || e.gid !== 0 || this.dirs.get(parentOf(e.path)) !== false
  }

  /**
   * Runs `make` (which creates e.path exclusively); if something is in the way, removes it and
   * tries again; if the parent is missing, creates it (mode 0755, like GNU tar) and tries again.
   */
  private create<T>(e: Entry, make: () => T): T {
    let madeParents = false
    let removed = false
    for (;;) {
      try {
        return make()
      } catch (error) {
        const code = errCode(error)
        if (code === 'EEXIST' && !removed) {
          removed = true
          this.remove(e.path)
        } else if ((code === 'ENOENT' || code === 'ENOTDIR') && !madeParents) {
          // ENOTDIR: a parent is not a directory; makeParents replaces it if it is one of our
          // whiteouts and explains otherwise.
          madeParents = true
          this.makeParents(e.path)
        } else {
          throw error
        }
      }
    }
  }

  /**
   * Removes whatever is at `path` without following a symlink there; a directory goes with its
   * contents, as Docker replaces a directory by a file. Returns true when it was one of this
   * layer's whiteouts.
   */
  private remove(path: string): boolean {
    const p = pathBytes(path)
    let st: fs.Stats
    try {
      st = fs.lstatSync(p)
    } catch (error) {
      if (errCode(error) === 'ENOENT') return false
      throw error
    }
    if (st.isDirectory()) {
      fs.rmSync(p, {recursive: true, force: true})
      const prefix = `${path}/`
      for (const key of this.dirTimes.keys()) if (key.startsWith(prefix)) this.dirTimes.delete(key)
      for (const key of this.whiteouts) if (key.startsWith(prefix)) this.whiteouts.delete(key)
      for (const key of this.dirs.keys()) if (key.startsWith(prefix)) this.dirs.delete(key)
      this.dirs.delete(path)
    } else {
      fs.unlinkSync(p)
    }
    this.dirTimes.delete(path)
    return this.whiteouts.delete(path)
  }

  /** mkdir -p of the parent of `path`. Follows symlinks to directories (the kernel keeps that inside the root). */
  private makeParents(path: string): void {
    const parent = parentOf(path)
    if (parent === '') return
    const p = pathBytes(parent)
    try {
      return this.implicitDir(p, parent)
    } catch (error) {
      const code = errCode(error)
      if (code === 'ENOENT') {
        this.makeParents(parent)
        return this.implicitDir(p, parent)
      }
      if (code !== 'EEXIST' && code !== 'ENOTDIR') throw error
      if (code === 'ENOTDIR') {
        // A grandparent is not a directory: fix that level first.
        this.makeParents(parent)
        try {
          return this.implicitDir(p, parent)
        } catch (again) {
          if (errCode(again) !== 'EEXIST') throw again
        }
      }
    }
    let isDir = false
    try {
      isDir = fs.statSync(p).isDirectory()
    } catch {
      // a dangling symlink: handled below
    }
    if (isDir) return
    if (this.whiteouts.has(parent)) {
      // `.wh.x` then `x/y` in one layer: x was deleted, then recreated with only y in it.
      this.remove(parent)
      this.implicitDir(p, parent)
      this.setOpaque(p)
      return
    }
    throw new UnpackError('UNPACK_WRITE_FAILED', `"${shown(parent)}" is not a directory`)
  }

  /** A directory the archive did not list (0755, like GNU tar); it inherits setgid from its parent. */
  private implicitDir(p: Buffer, dir: string): void {
    fs.mkdirSync(p, 0o755)
    const inherited = this.dirs.get(parentOf(dir))
    if (inherited !== undefined) this.dirs.set(dir, inherited)
  }

  /** `.wh.<name>`: delete <name> from this layer, and leave an overlay whiteout to hide it in the layers below. */
  private whiteout(path: string): void {
    this.remove(path)
    const p = pathBytes(path)
    try {
      this.sys.mknodBytes(p, S_IFCHR, 0n)
    } catch (error) {
      if (errCode(error) !== 'ENOENT') throw error
      this.makeParents(path)
      this.sys.mknodBytes(p, S_IFCHR, 0n)
    }
    this.whiteouts.add(path)
  }

  /** `.wh..wh..opq` in a directory: overlay must not show the lower layers' contents of it. */
  private markOpaque(dir: string): void {
    const p = pathBytes(dir)
    if (dir !== '') {
      this.makeParents(`${dir}/x`)
    }
    this.setOpaque(p)
  }

  /** The opaque marks: trusted.* for pivot's own overlays, user.* for one in a user namespace. */
  private setOpaque(p: Buffer): void {
    for (const name of this.opaqueXattrs) this.sys.lsetxattrBytes(p, name, Buffer.from('y'))
  }

  private setXattrs(path: Buffer, xattrs: Array<[string, Buffer]>): void {
    for (const [name, value] of xattrs) {
      try {
        this.sys.lsetxattrBytes(path, name, value)
      } catch (error) {
        throw new UnpackError(
          'UNPACK_WRITE_FAILED',
          `cannot set extended attribute ${name} on "${path.toString()}": ${errCode(error) ?? (error as Error).message}`,
        )
      }
    }
  }

  /** Times on a path, never following a symlink. */
  private setTimes(path: Buffer, atime: Time, mtime: Time): void {
    if (wholeNonNegative(atime, mtime)) fs.lutimesSync(path, atime.sec, mtime.sec)
    else this.sys.lutimensBytes(path, timeNs(atime), timeNs(mtime))
  }

  private finish(): void {
    for (const [path, [atime, mtime]] of this.dirTimes) {
      try {
        this.setTimes(pathBytes(path), atime, mtime)
      } catch (error) {
        throw asEntryError(error, path)
      }
    }
  }
}

function asEntryError(error: unknown, raw: string): UnpackError {
  if (error instanceof UnpackError) {
    if (error.entry !== undefined) return error
    const message = error.message.includes(`"${label(raw)}"`) ? error.message : `entry "${label(raw)}": ${error.message}`
    return new UnpackError(error.code as never, message, {entry: shown(raw), cause: error.cause})
  }
  const code = errCode(error)
  const message = (error as Error).message
  const prefix = code && !message.startsWith(code) ? `${code}: ` : ''
  // ENOSPC is also what running out of inodes looks like: say both.
  const hint = code === 'ENOSPC' ? ' (the file system is out of space or of inodes)' : code === 'EDQUOT' ? ' (disk quota exceeded)' : ''
  return new UnpackError('UNPACK_WRITE_FAILED', `entry "${label(raw)}": ${prefix}${message}${hint}`, {entry: shown(raw), cause: error})
}
