import * as fs from 'node:fs'
import {CgroupError} from './cgroup-error'
import type {CgroupOptions} from './cgroup-manager'
import {CgroupV1Manager} from './cgroup-v1-manager'
import {CgroupV2Manager} from './cgroup-v2-manager'
import {openCgroup} from './create-cgroup'
import {detectCgroups} from './detect-cgroups'

/** A cgroup root path, or the full options (tests: a fake tree and its mountinfo). */
export type CgroupWhere = string | CgroupOptions

function optionsOf(where: CgroupWhere | undefined): CgroupOptions {
  return typeof where === 'string' ? {root: where} : (where ?? {})
}

/** Ids of the pivot cgroups present in any hierarchy, sorted. */
export function listCgroups(where?: CgroupWhere): string[] {
  const options = optionsOf(where)
  const host = detectCgroups(options.root, options.mountinfo)
  const parents = host.version === 2 ? CgroupV2Manager.parents(host) : CgroupV1Manager.parents(host)
  const ids = new Set<string>()
  for (const parent of parents) {
    let entries: fs.Dirent[]
    try {
      entries = fs.readdirSync(parent, {withFileTypes: true})
    } catch {
      continue
    }
    for (const entry of entries) if (entry.isDirectory()) ids.add(entry.name)
  }
  return [...ids].sort()
}

/**
 * For `pivot prune`: removes every pivot cgroup whose id `isLive` rejects, killing what still
 * runs in it (the leftovers of a parent that died before cleaning up). Returns the ids removed.
 * Failures do not stop the sweep; they are reported together at the end.
 *
 * The caller must count as live a container that is still being created (cgroup made, record
 * not yet written), or prune could kill it while it starts.
 */
export async function removeStaleCgroups(isLive: (id: string) => boolean, where?: CgroupWhere): Promise<string[]> {
  const options = optionsOf(where)
  const removed: string[] = []
  const failures: string[] = []
  for (const id of listCgroups(options)) {
    if (isLive(id)) continue
    try {
      await openCgroup(id, options).remove()
      removed.push(id)
    } catch (error) {
      failures.push(error instanceof Error ? error.message : String(error))
    }
  }
  if (failures.length > 0) {
    const done = removed.length > 0 ? ` (removed ${removed.join(', ')})` : ''
    throw new CgroupError('CGROUP_BUSY', `cannot remove ${failures.length} stale cgroup(s)${done}: ${failures.join('; ')}`)
  }
  return removed
}
