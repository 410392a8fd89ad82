import {createHash} from 'node:crypto'
import * as fs from 'node:fs'
import * as path from 'node:path'

/** The attributes a rootfs round trip must keep, per path (relative, '.' for the root). */
export interface TreeEntry {
  type: 'file' | 'dir' | 'symlink' | 'char' | 'block' | 'fifo' | 'socket'
  mode: string
  uid: number
  gid: number
  size?: number
  sha256?: string
  rdev?: number
  target?: string
  mtime?: number
  /** The first path (sorted) of this file's hardlink group, when it has more than one name. */
  linkGroup?: string
  xattrs?: Record<string, string>
}

export interface ListingOptions {
  /** Also compare modification times (whole seconds) of non-directories. */
  mtimes?: boolean
  /** xattr names to read on each entry (hex values); needs a reader since node has no getxattr. */
  xattrs?: {names: string[]; get: (file: string, name: string) => Buffer | null}
}

function typeOf(st: fs.Stats): TreeEntry['type'] {
  if (st.isFile()) return 'file'
  if (st.isDirectory()) return 'dir'
  if (st.isSymbolicLink()) return 'symlink'
  if (st.isCharacterDevice()) return 'char'
  if (st.isBlockDevice()) return 'block'
  if (st.isFIFO()) return 'fifo'
  return 'socket'
}

/** A recursive listing that two faithful copies of a tree share, whatever their inode numbers. */
export function treeListing(root: string, options: ListingOptions = {}): Record<string, TreeEntry> {
  const out: Record<string, TreeEntry> = {}
  const inodes = new Map<number, string[]>()
  const visit = (rel: string) => {
    const full = rel === '.' ? root : path.join(root, rel)
    const st = fs.lstatSync(full)
    const entry: TreeEntry = {type: typeOf(st), mode: (st.mode & 0o7777).toString(8), uid: st.uid, gid: st.gid}
    if (entry.type === 'file') {
      entry.size = st.size
      entry.sha256 = createHash('sha256').update(fs.readFileSync(full)).digest('hex')
      if (st.nlink > 1) inodes.set(st.ino, [...(inodes.get(st.ino) ?? []), rel])
    }
    if (entry.type === 'char' || entry.type === 'block') entry.rdev = st.rdev
    if (entry.type === 'symlink') entry.target = fs.readlinkSync(full)
    if (options.mtimes && entry.type !== 'dir') entry.mtime = Math.floor(st.mtimeMs / 1000)
    if (options.xattrs) {
      for (const name of options.xattrs.names) {
        const value = options.xattrs.get(full, name)
        if (value !== null) (entry.xattrs ??= {})[name] = value.toString('hex')
      }
    }
    out[rel] = entry
    if (entry.type === 'dir') for (const name of fs.readdirSync(full).sort()) visit(rel === '.' ? name : path.join(rel, name))
  }
  visit('.')
  for (const names of inodes.values()) {
    const group = [...names].sort()[0]
    for (const n of names) out[n].linkGroup = group
  }
  return out
}

/** Every path under `root` with its type, mode, owner, size and content hash: no times. */
export function cacheListing(root: string): string[] {
  const listing = treeListing(root)
  return Object.entries(listing).map(([p, e]) => `${p} ${e.type} ${e.mode} ${e.uid}:${e.gid} ${e.size ?? ''} ${e.sha256 ?? ''} ${e.target ?? ''}`)
}
