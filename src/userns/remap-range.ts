import {overlaps, readSubIds, type IdMaps, type SubIdEntry} from './id-maps'
import {UsernsError} from './userns-error'

/**
 * The host ids `pivot run --userns remap` maps a root container to (docs/security.md, "User
 * namespaces"). One range for every remapped container, as dockerd's --userns-remap:
 * - a `pivot` entry in /etc/subuid and /etc/subgid, when the administrator made one (the first
 *   of at least REMAP_SIZE ids); else
 * - the fixed default DEFAULT_REMAP_START..+REMAP_SIZE (far above the ranges useradd hands out,
 *   100000..600100000 by default), refused when any entry of either file overlaps it: those ids
 *   belong to someone else, and a container escape would land as them.
 */
export const REMAP_OWNER = 'pivot'
export const REMAP_SIZE = 65536
export const DEFAULT_REMAP_START = 1_000_000_000

export interface RemapRange {
  uid: number
  gid: number
  count: number
  /** Where it came from, for messages and inspect. */
  source: 'subid' | 'default'
}

export function chooseRemapRange(subuid: readonly SubIdEntry[], subgid: readonly SubIdEntry[]): RemapRange {
  const own = (entries: readonly SubIdEntry[]) => entries.find(e => e.owner === REMAP_OWNER && e.count >= REMAP_SIZE)
  const u = own(subuid)
  const g = own(subgid)
  if (u && g) return {uid: u.start, gid: g.start, count: REMAP_SIZE, source: 'subid'}
  if (u || g || subuid.some(e => e.owner === REMAP_OWNER) || subgid.some(e => e.owner === REMAP_OWNER)) {
    throw new UsernsError(
      'USERNS_RANGE_SMALL',
      `--userns remap: the "${REMAP_OWNER}" entries of /etc/subuid and /etc/subgid must both exist and hold ${REMAP_SIZE} ids at least (e.g. ${REMAP_OWNER}:${DEFAULT_REMAP_START}:${REMAP_SIZE} in each)`,
    )
  }
  const range = {start: DEFAULT_REMAP_START, count: REMAP_SIZE}
  for (const [file, entries] of [
    ['/etc/subuid', subuid],
    ['/etc/subgid', subgid],
  ] as const) {
    const clash = entries.find(e => overlaps(e, range))
    if (clash) {
      throw new UsernsError(
        'USERNS_RANGE_OVERLAP',
        `--userns remap: pivot's default range ${DEFAULT_REMAP_START}-${DEFAULT_REMAP_START + REMAP_SIZE - 1} overlaps ${clash.owner}:${clash.start}:${clash.count} in ${file}: give pivot a range of its own (a "${REMAP_OWNER}:START:${REMAP_SIZE}" line in /etc/subuid and /etc/subgid)`,
      )
    }
  }
  return {uid: DEFAULT_REMAP_START, gid: DEFAULT_REMAP_START, count: REMAP_SIZE, source: 'default'}
}

/** The range from the machine's files. */
export function remapRange(): RemapRange {
  return chooseRemapRange(readSubIds('/etc/subuid'), readSubIds('/etc/subgid'))
}

/** Container ids 0..count-1 as host ids start.. (root inside is the range's first id). */
export function remapMaps(range: RemapRange): IdMaps {
  return {uid: [{inside: 0, outside: range.uid, count: range.count}], gid: [{inside: 0, outside: range.gid, count: range.count}]}
}
