/**
 * A comparable picture of a directory tree: per path (relative, '.' for the root; names as bytes
 * read in latin1 so any name survives), the attributes a faithful copy must keep, the link
 * target, the xattrs and a content hash. Hardlinks show as a shared group (the first path, sorted,
 * of the inode), not inode numbers, so two faithful copies of one tree compare equal.
 */
import {createHash} from 'node:crypto'
import * as fs from 'node:fs'

export interface TreeEntry {
  type: 'file' | 'dir' | 'symlink' | 'char' | 'block' | 'fifo' | 'socket'
  mode: string
  uid: number
  gid: number
  size?: number
  sha256?: string
  rdev?: number
  target?: string
  /** Whole seconds (`mtimes`, non-directories only). */
  mtime?: number
  /** Nanoseconds as text (`mtimeNs`, every entry). */
  mtimeNs?: string
  /** The first path (sorted) of this entry's hardlink group, when it has more than one name. */
  linkGroup?: string
  xattrs?: Record<string, string>
}

export interface ListingOptions {
  /** Also compare modification times (whole seconds) of non-directories. */
  mtimes?: boolean
  /** Also compare modification times in nanoseconds, directories included. */
  mtimeNs?: boolean
  /**
   * xattrs to read (hex values): 'all' lists each entry's names (through pivot's own syscalls,
   * as node has no getxattr), or the given names with a reader.
   */
  xattrs?: 'all' | {names: string[]; get: (file: Buffer, name: string) => Buffer | null}
}

function typeOf(st: fs.BigIntStats): TreeEntry['type'] {
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
  const inodes = new Map<string, string[]>()
  let allXattrs: ((file: Buffer) => Record<string, string>) | undefined
  if (options.xattrs === 'all') {
    // Required here: only the listings that read every xattr load koffi.
    const {KoffiSyscalls} = require('../../src/sys/koffi-syscalls') as typeof import('../../src/sys/koffi-syscalls')
    const sys = new KoffiSyscalls()
    allXattrs = file => {
      const values: Record<string, string> = {}
      for (const name of sys.llistxattrBytes(file).sort()) values[name] = sys.lgetxattrBytes(file, name)?.toString('hex') ?? ''
      return values
    }
  }
  const visit = (rel: string) => {
    const full = Buffer.from(rel === '.' ? root : `${root}/${rel}`, 'latin1')
    const st = fs.lstatSync(full, {bigint: true})
    const entry: TreeEntry = {type: typeOf(st), mode: (Number(st.mode) & 0o7777).toString(8), uid: Number(st.uid), gid: Number(st.gid)}
    if (entry.type === 'file') {
      entry.size = Number(st.size)
      entry.sha256 = createHash('sha256').update(fs.readFileSync(full)).digest('hex')
    }
    if (entry.type !== 'dir' && st.nlink > 1n) {
      const key = `${st.dev}:${st.ino}`
      inodes.set(key, [...(inodes.get(key) ?? []), rel])
    }
    if (entry.type === 'char' || entry.type === 'block') entry.rdev = Number(st.rdev)
    if (entry.type === 'symlink') entry.target = (fs.readlinkSync(full, {encoding: 'buffer'}) as Buffer).toString('latin1')
    if (options.mtimes && entry.type !== 'dir') entry.mtime = Number(st.mtimeMs / 1000n)
    if (options.mtimeNs) entry.mtimeNs = st.mtimeNs.toString()
    const wanted = options.xattrs
    if (allXattrs) entry.xattrs = allXattrs(full)
    else if (wanted && wanted !== 'all') {
      for (const name of wanted.names) {
        const value = wanted.get(full, name)
        if (value !== null) (entry.xattrs ??= {})[name] = value.toString('hex')
      }
    }
    out[rel] = entry
    if (entry.type === 'dir') {
      for (const name of (fs.readdirSync(full, {encoding: 'latin1'}) as string[]).sort()) visit(rel === '.' ? name : `${rel}/${name}`)
    }
  }
  visit('.')
  for (const names of inodes.values()) {
    const group = [...names].sort()[0]
    for (const n of names) out[n].linkGroup = group
  }
  return out
}

/** Human-readable differences between two listings (empty when equal). */
export function diffTrees(a: Record<string, TreeEntry>, b: Record<string, TreeEntry>, limit = 20): string[] {
  const diffs: string[] = []
  for (const [p, entry] of Object.entries(a)) {
    const other = b[p]
    if (!other) diffs.push(`only in first: ${p}`)
    else if (JSON.stringify(entry) !== JSON.stringify(other)) diffs.push(`${p}: ${JSON.stringify(entry)} != ${JSON.stringify(other)}`)
    if (diffs.length >= limit) return diffs
  }
  for (const p of Object.keys(b)) {
    if (!(p in a)) diffs.push(`only in second: ${p}`)
    if (diffs.length >= limit) break
  }
  return diffs
}

/** Every path under `root` with its type, mode, owner, size and content hash: no times. */
export function cacheListing(root: string): string[] {
  const listing = treeListing(root)
  return Object.entries(listing).map(([p, e]) => `${p} ${e.type} ${e.mode} ${e.uid}:${e.gid} ${e.size ?? ''} ${e.sha256 ?? ''} ${e.target ?? ''}`)
}
