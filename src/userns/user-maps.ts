import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {rangesOf, readSubIds, rootlessMap} from './id-maps'
import type {UsernsSpec} from './spawn-in-userns'
import {UsernsError} from './userns-error'

export const SUBUID_FILE = '/etc/subuid'
export const SUBGID_FILE = '/etc/subgid'

let noted = false

/**
 * The user namespace a user other than root unpacks, packs and runs containers in (issue 14):
 * container root is the user, ids 1.. are the user's subordinate ranges from /etc/subuid and
 * /etc/subgid (written through newuidmap/newgidmap). Without a range for either: the single-id map
 * (only root exists inside), with a note once per process of what that limits.
 */
export function userNamespaceSpec(files = {subuid: SUBUID_FILE, subgid: SUBGID_FILE}): UsernsSpec & {single: boolean} {
  const uid = process.geteuid?.() ?? 0
  const gid = process.getegid?.() ?? 0
  let name: string | undefined
  try {
    name = os.userInfo().username
  } catch {
    // no passwd entry: ranges by uid only (newuidmap will refuse such a user anyway)
  }
  const uids = rangesOf(readSubIds(files.subuid), {name, uid})
  const gids = rangesOf(readSubIds(files.subgid), {name, uid})
  if (uids.length === 0 || gids.length === 0) {
    if (!noted) {
      noted = true
      try {
        process.stderr.write(
          `pivot: note: no subordinate ids for ${name ?? `uid ${uid}`} in ${files.subuid} and ${files.subgid}: only root exists in its containers and images ` +
            `(files of other owners cannot be unpacked, su and setuid to another user fail); ask root for a range (usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${name ?? uid})\n`,
        )
      } catch {
        // stderr closed
      }
    }
    return {maps: {uid: [{inside: 0, outside: uid, count: 1}], gid: [{inside: 0, outside: gid, count: 1}]}, single: true}
  }
  // Checked here, before anything is spawned or made: the maps of a range need the setuid helpers.
  for (const tool of ['newuidmap', 'newgidmap']) {
    if (!MAPPER_DIRS.some(dir => isExecutable(path.join(dir, tool)))) {
      throw new UsernsError(
        'USERNS_NO_HELPER',
        `${tool} is missing (or not executable): it maps ${name ?? `uid ${uid}`}'s subordinate ids into the user namespace; install it (Debian: apt-get install uidmap)`,
      )
    }
  }
  return {maps: {uid: rootlessMap(uid, uids), gid: rootlessMap(gid, gids)}, single: false}
}

/** Where spawn-in-userns's runMapper looks for newuidmap/newgidmap (its PATH). */
const MAPPER_DIRS = ['/usr/bin', '/bin', '/usr/sbin', '/sbin']

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK)
    return fs.statSync(file).isFile()
  } catch {
    return false
  }
}
