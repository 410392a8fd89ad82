import * as fs from 'node:fs'

/**
 * Whether this process runs in a user namespace other than the host's, and how many uids and gids
 * its maps give it (a user other than root unpacks and packs in one, issue 14). Read before the
 * worker chroots: /proc is out of reach afterwards.
 */
export function ownIdMaps(): {uids: number; gids: number} | undefined {
  const size = (file: string) => {
    const lines = fs.readFileSync(file, 'utf8').trim().split('\n')
    // The initial namespace's map is the identity over every id.
    if (lines.length === 1 && lines[0].trim().split(/\s+/).join(' ') === '0 0 4294967295') return undefined
    return lines.reduce((n, line) => n + Number(line.trim().split(/\s+/)[2] ?? 0), 0)
  }
  try {
    const uids = size('/proc/self/uid_map')
    const gids = size('/proc/self/gid_map')
    return uids === undefined || gids === undefined ? undefined : {uids, gids}
  } catch {
    return undefined
  }
}
