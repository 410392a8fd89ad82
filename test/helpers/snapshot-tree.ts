/**
 * A comparable picture of a directory tree for the unpack tests: per path (relative, as bytes in
 * latin1), the lstat fields that a faithful unpack must reproduce, the link target, the xattrs
 * and a content hash. Hardlinks show as a shared inode group number (by first path), not inode
 * numbers, so two unpacks of one archive compare equal.
 */
import {createHash} from 'node:crypto'
import * as fs from 'node:fs'
import {KoffiSyscalls} from '../../src/sys/koffi-syscalls'

export interface NodeInfo {
  type: string
  mode: string
  uid: number
  gid: number
  size?: number
  mtimeNs: string
  rdev?: string
  target?: string
  sha256?: string
  xattrs: Record<string, string>
  /** For a multiply-linked non-directory: the first path (sorted) of its inode. */
  linkGroup?: string
}

const sys = new KoffiSyscalls()

export function snapshotTree(root: string, options: {skipRootTimes?: boolean} = {}): Map<string, NodeInfo> {
  const out = new Map<string, NodeInfo>()
  const inodes = new Map<string, string>()
  const walk = (rel: string) => {
    const abs = Buffer.from(rel === '' ? root : `${root}/${rel}`, 'latin1')
    const st = fs.lstatSync(abs, {bigint: true})
    const fmt = Number(st.mode) & fs.constants.S_IFMT
    const type =
      fmt === fs.constants.S_IFDIR ? 'dir'
      : fmt === fs.constants.S_IFREG ? 'file'
      : fmt === fs.constants.S_IFLNK ? 'symlink'
      : fmt === fs.constants.S_IFCHR ? 'char'
      : fmt === fs.constants.S_IFBLK ? 'block'
      : fmt === fs.constants.S_IFIFO ? 'fifo'
      : 'other'
    const xattrs: Record<string, string> = {}
    for (const name of sys.llistxattrBytes(abs).sort()) xattrs[name] = sys.lgetxattrBytes(abs, name)?.toString('hex') ?? ''
    const info: NodeInfo = {
      type,
      mode: (Number(st.mode) & 0o7777).toString(8),
      uid: Number(st.uid),
      gid: Number(st.gid),
      mtimeNs: rel === '' && options.skipRootTimes ? '-' : st.mtimeNs.toString(),
      xattrs,
    }
    if (type === 'file') {
      info.size = Number(st.size)
      info.sha256 = createHash('sha256').update(fs.readFileSync(abs)).digest('hex')
    }
    if (type === 'symlink') info.target = (fs.readlinkSync(abs, {encoding: 'buffer'}) as Buffer).toString('latin1')
    if (type === 'char' || type === 'block') info.rdev = st.rdev.toString()
    if (type !== 'dir' && st.nlink > 1n) {
      const key = `${st.dev}:${st.ino}`
      if (!inodes.has(key)) inodes.set(key, rel)
      info.linkGroup = inodes.get(key)
    }
    out.set(rel, info)
    if (type === 'dir') {
      const names = (fs.readdirSync(abs, {encoding: 'latin1'}) as string[]).sort()
      for (const name of names) walk(rel === '' ? name : `${rel}/${name}`)
    }
  }
  walk('')
  return out
}

/** Human-readable differences between two snapshots (empty when equal). */
export function diffTrees(a: Map<string, NodeInfo>, b: Map<string, NodeInfo>, limit = 20): string[] {
  const diffs: string[] = []
  for (const [p, info] of a) {
    const other = b.get(p)
    if (!other) diffs.push(`only in first: ${p}`)
    else if (JSON.stringify(info) !== JSON.stringify(other)) diffs.push(`${p}: ${JSON.stringify(info)} != ${JSON.stringify(other)}`)
    if (diffs.length >= limit) return diffs
  }
  for (const p of b.keys()) {
    if (!a.has(p)) diffs.push(`only in second: ${p}`)
    if (diffs.length >= limit) break
  }
  return diffs
}
