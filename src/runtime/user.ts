import {RuntimeError} from './runtime-error'

export interface ResolvedUser {
  uid: number
  gid: number
  /** Supplementary groups as docker sets them: the primary gid, and, unless -u named a group, the groups of /etc/group that list the user by name. */
  groups: number[]
  /** From passwd; '/' when the user has no entry (runc's default). */
  home: string
}

interface PasswdEntry {
  name: string
  uid: number
  gid: number
  home: string
}

function parsePasswd(text: string | undefined): PasswdEntry[] {
  const out: PasswdEntry[] = []
  for (const line of (text ?? '').split('\n')) {
    const f = line.split(':')
    if (f.length < 7 || line.startsWith('#')) continue
    const uid = Number(f[2])
    const gid = Number(f[3])
    if (!Number.isInteger(uid) || !Number.isInteger(gid)) continue
    out.push({name: f[0], uid, gid, home: f[5]})
  }
  return out
}

interface GroupEntry {
  name: string
  gid: number
  members: string[]
}

function parseGroup(text: string | undefined): GroupEntry[] {
  const out: GroupEntry[] = []
  for (const line of (text ?? '').split('\n')) {
    const f = line.split(':')
    if (f.length < 4 || line.startsWith('#')) continue
    const gid = Number(f[2])
    if (!Number.isInteger(gid)) continue
    out.push({
      name: f[0],
      gid,
      members: f[3]
        .split(',')
        .map(m => m.trim())
        .filter(Boolean),
    })
  }
  return out
}

const NUMERIC = /^\d+$/
const MAX_ID = 2 ** 31 - 1
/** runc's and docker's message for an id past what the kernel takes as a uid or gid. */
export const ID_RANGE = 'uids and gids must be in range 0-2147483647'

/**
 * `-u` as runc reads it (GetExecUser): `uid`, `uid:gid`, `name`, `name:group`, looked up in the
 * container's own /etc/passwd and /etc/group (the texts are passed in, so this is pure). A name
 * must exist; a number need not (its home is then `/` and its group 0, or the one given).
 * undefined means root.
 */
export function resolveUser(spec: string | undefined, passwdText: string | undefined, groupText: string | undefined): ResolvedUser {
  // runc: an empty user part (`-u :GID`) is uid 0, looked up like a number.
  const [given, groupPart] = (spec ?? '0').split(':', 2)
  const userPart = given === '' ? '0' : given
  const passwd = parsePasswd(passwdText)
  let entry: PasswdEntry | undefined
  let uid: number
  if (NUMERIC.test(userPart)) {
    uid = Number(userPart)
    if (uid > MAX_ID) throw new RuntimeError('RUN_BAD_USER', `invalid user ${JSON.stringify(spec)}: uid ${uid} is out of range`)
    entry = passwd.find(p => p.uid === uid)
  } else {
    entry = passwd.find(p => p.name === userPart)
    if (!entry) throw new RuntimeError('RUN_BAD_USER', `unable to find user ${userPart}: no matching entries in passwd file`)
    uid = entry.uid
  }
  const groups = parseGroup(groupText)
  let gid = entry?.gid ?? 0
  if (groupPart !== undefined && groupPart !== '') {
    if (NUMERIC.test(groupPart)) {
      gid = Number(groupPart)
      if (gid > MAX_ID) throw new RuntimeError('RUN_BAD_USER', `invalid group ${JSON.stringify(groupPart)}: gid ${gid} is out of range`)
    } else {
      const g = groups.find(x => x.name === groupPart)
      if (!g) throw new RuntimeError('RUN_BAD_USER', `unable to find group ${groupPart}: no matching entries in group file`)
      gid = g.gid
    }
  }
  // Docker (runc's GetExecUser, then the daemon adds the gid): the memberships count only when
  // -u gave no group, and the primary gid is always in the list, so `id` shows groups=GID.
  const memberships = entry && (groupPart === undefined || groupPart === '') ? groups.filter(g => g.members.includes(entry!.name)).map(g => g.gid) : []
  // runc's range check, in docker's words: a uid of -1 from passwd would otherwise reach
  // setresuid(-1, -1, -1), which changes nothing, and the command would run as root.
  if ([uid, gid, ...memberships].some(id => id < 0 || id > MAX_ID)) throw new RuntimeError('RUN_BAD_USER', ID_RANGE)
  return {uid, gid, groups: [...new Set([gid, ...memberships])], home: entry?.home || '/'}
}
