import * as fs from 'node:fs'
import {UsernsError} from './userns-error'

/**
 * Subordinate id ranges (/etc/subuid, /etc/subgid: `owner:start:count`, owner a name or a uid,
 * several lines per owner allowed) and the uid/gid maps of a user namespace made from them.
 */

/** One line of /etc/subuid or /etc/subgid. */
export interface SubIdEntry {
  owner: string
  start: number
  count: number
}

/** One line of /proc/PID/uid_map: ids [inside, inside+count) are host ids [outside, outside+count). */
export interface IdMapEntry {
  inside: number
  outside: number
  count: number
}

export interface IdMaps {
  uid: IdMapEntry[]
  gid: IdMapEntry[]
}

const MAX_ID = 2 ** 32 - 1

/** Parses the file's text; comments, blank and malformed lines are skipped (as shadow's own tools do). */
export function parseSubIds(text: string): SubIdEntry[] {
  const entries: SubIdEntry[] = []
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) continue
    const parts = line.split(':')
    if (parts.length !== 3 || parts[0] === '') continue
    if (!/^\d+$/.test(parts[1]) || !/^\d+$/.test(parts[2])) continue
    const start = Number(parts[1])
    const count = Number(parts[2])
    if (count === 0 || start + count > MAX_ID) continue
    entries.push({owner: parts[0], start, count})
  }
  return entries
}

/** The entries of one user: by name or by uid, in file order. */
export function rangesOf(entries: readonly SubIdEntry[], user: {name?: string; uid: number}): SubIdEntry[] {
  return entries.filter(e => e.owner === String(user.uid) || (user.name !== undefined && e.owner === user.name))
}

/** The file's entries, or none when it does not exist. */
export function readSubIds(file: string): SubIdEntry[] {
  let text: string
  try {
    text = fs.readFileSync(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw new UsernsError('USERNS_NO_RANGE', `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`)
  }
  return parseSubIds(text)
}

/**
 * A rootless user's map (podman's and runc's shape): inside 0 is the user's own id, inside 1..
 * are the subordinate ranges one after the other. Without ranges: the single-id map `0 id 1`
 * (only root exists inside; chown to any other id fails with EINVAL).
 */
export function rootlessMap(ownId: number, ranges: readonly SubIdEntry[]): IdMapEntry[] {
  const map: IdMapEntry[] = [{inside: 0, outside: ownId, count: 1}]
  let next = 1
  for (const r of ranges) {
    // A range holding the user's own id would map it twice: the kernel refuses overlapping outside ids.
    if (ownId >= r.start && ownId < r.start + r.count) continue
    map.push({inside: next, outside: r.start, count: r.count})
    next += r.count
  }
  return map
}

/** The number of ids a map gives the namespace (inside 0 .. size-1 when contiguous). */
export function mapSize(map: readonly IdMapEntry[]): number {
  return map.reduce((n, e) => n + e.count, 0)
}

/** The uid_map/gid_map file's text: one line per entry, written in a single write(). */
export function formatMap(map: readonly IdMapEntry[]): string {
  return map.map(e => `${e.inside} ${e.outside} ${e.count}\n`).join('')
}

/** newuidmap/newgidmap's arguments after the pid: `inside outside count` triples. */
export function mapArgs(map: readonly IdMapEntry[]): string[] {
  return map.flatMap(e => [String(e.inside), String(e.outside), String(e.count)])
}

/** The host id that `inside` maps to, or undefined when it is not mapped. */
export function hostId(map: readonly IdMapEntry[], inside: number): number | undefined {
  const e = map.find(m => inside >= m.inside && inside < m.inside + m.count)
  return e === undefined ? undefined : e.outside + (inside - e.inside)
}

/** The inverse of hostId: the id a host id shows as inside the namespace, undefined when the map lacks it. */
export function insideId(map: readonly IdMapEntry[], host: number): number | undefined {
  const e = map.find(m => host >= m.outside && host < m.outside + m.count)
  return e === undefined ? undefined : e.inside + (host - e.outside)
}

/** The kernel's overflow id: what an id the namespace does not map shows as inside (nobody). */
export const OVERFLOW_ID = 65534

/** Whether two [start, start+count) ranges share an id. */
export function overlaps(a: {start: number; count: number}, b: {start: number; count: number}): boolean {
  return a.start < b.start + b.count && b.start < a.start + a.count
}
