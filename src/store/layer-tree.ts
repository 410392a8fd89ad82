import * as fs from 'node:fs'
import {isRoot} from '../common/user-dirs'

/**
 * A layer's tree as it was committed: one line per entry (sorted by path) with its type, mode,
 * owner, size, mtime, device number and link target, and file contents left out. Written at
 * commit, in the same walk that measures the layer's disk size, so a pull pays no extra pass
 * over the data; `pivot check` walks the tree again and compares, naming the files that were
 * deleted, truncated, changed or added. What it cannot see: a same-size rewrite that kept the
 * mtime (hashing every byte would double the I/O of every pull; see docs/DESIGN.md).
 */
export interface LayerTree {
  /** Bytes of regular files, each hard-linked inode once. */
  diskSize: number
  /** The manifest, one entry per line. */
  manifest: string
  /** Entries under the rootfs (not counting the rootfs itself). */
  files: number
}

export function measureTree(rootfs: string): LayerTree {
  const seen = new Set<string>()
  const lines: string[] = []
  let diskSize = 0
  // Names as bytes: a layer may hold names that are not UTF-8, which a string path would not reach.
  const walk = (file: Buffer, rel: string) => {
    const st = fs.lstatSync(file)
    let type = 'o'
    let extra = ''
    if (st.isDirectory()) type = 'd'
    else if (st.isFile()) {
      type = 'f'
      const key = `${st.dev}:${st.ino}`
      if (st.nlink <= 1 || !seen.has(key)) diskSize += st.size
      if (st.nlink > 1) seen.add(key)
    } else if (st.isSymbolicLink()) {
      type = 'l'
      extra = ' ' + JSON.stringify(shown(fs.readlinkSync(file, {encoding: 'buffer'})))
    } else if (st.isCharacterDevice()) type = 'c'
    else if (st.isBlockDevice()) type = 'b'
    else if (st.isFIFO()) type = 'p'
    else if (st.isSocket()) type = 's'
    // A directory's size and times are the file system's business (and change with its entries).
    const size = type === 'f' ? st.size : 0
    const mtime = type === 'd' ? 0 : Math.trunc(st.mtimeMs)
    const line = `${type} ${(st.mode & 0o7777).toString(8)} ${st.uid} ${st.gid} ${size} ${mtime} ${st.rdev} ${JSON.stringify(rel || '.')}${extra}`
    lines.push(line)
    if (type !== 'd') return
    let entries: Buffer[]
    try {
      entries = fs.readdirSync(file, {encoding: 'buffer'}).sort(Buffer.compare)
    } catch (error) {
      // A user other than root unpacks in a user namespace: a 0700 directory of another id there
      // (Debian's /var/cache/apt/archives/partial, _apt's) is a subordinate id's on the host,
      // closed to the user out here. Its entries stay out of the manifest and the size, the same
      // way on every walk, so `pivot check` compares like with like.
      if ((error as NodeJS.ErrnoException).code !== 'EACCES' || isRoot()) throw error
      lines[lines.length - 1] = `${line} unlisted`
      return
    }
    for (const entry of entries) walk(Buffer.concat([file, SLASH, entry]), rel === '' ? shown(entry) : `${rel}/${shown(entry)}`)
  }
  walk(Buffer.from(rootfs), '')
  return {diskSize, manifest: lines.join('\n') + '\n', files: lines.length - 1}
}

const SLASH = Buffer.from('/')

/** A name as text: itself when it is UTF-8, else its bytes in hex (unambiguous, and still a line of its own). */
function shown(name: Buffer): string {
  const text = name.toString('utf8')
  return Buffer.from(text, 'utf8').equals(name) ? text : `<hex:${name.toString('hex')}>`
}

/** What differs between a recorded manifest and the tree now, as short phrases naming paths. */
export function compareTrees(recorded: string, now: string, limit = 5): string[] {
  const parse = (text: string) => {
    const map = new Map<string, string>()
    for (const line of text.split('\n')) {
      const m = /^(\S+ \S+ \S+ \S+ \S+ \S+ \S+) ("(?:[^"\\]|\\.)*")(.*)$/.exec(line)
      if (m) map.set(JSON.parse(m[2]) as string, m[1] + m[3])
    }
    return map
  }
  const before = parse(recorded)
  const after = parse(now)
  const out: string[] = []
  let more = 0
  const add = (s: string) => (out.length < limit ? out.push(s) : more++)
  for (const [file, meta] of before) {
    const cur = after.get(file)
    if (cur === undefined) add(`${file} is missing`)
    else if (cur !== meta) add(`${file} changed (${describe(meta, cur)})`)
  }
  for (const file of after.keys()) if (!before.has(file)) add(`${file} was added`)
  if (more > 0) out.push(`and ${more} more`)
  return out
}

function describe(before: string, after: string): string {
  const names = ['type', 'mode', 'uid', 'gid', 'size', 'mtime', 'device']
  const a = before.split(' ')
  const b = after.split(' ')
  const diffs: string[] = []
  for (let i = 0; i < names.length; i++) if (a[i] !== b[i]) diffs.push(`${names[i]} ${a[i]} -> ${b[i]}`)
  if (diffs.length === 0) diffs.push('link target')
  return diffs.join(', ')
}
