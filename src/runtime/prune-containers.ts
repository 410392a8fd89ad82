import * as fs from 'node:fs'
import * as path from 'node:path'
import type {Store} from '../store/store'
import {MNT_DETACH} from '../sys/constants'
import type {Syscalls} from '../sys/syscalls'
import {removeStaleCgroups, type CgroupWhere} from './cgroups'
import {unescapeMountinfo} from './cgroups/detect-cgroups'
import {
  cgroupIdOf,
  containerDir,
  containerOfCgroup,
  isOwnerAlive,
  listContainerIds,
  readState,
  removeContainer,
  removeStaleName,
  staleNames,
} from '../store/container-record'

export interface PruneContainersOptions {
  /** Default: the real syscalls (to unmount leftovers). */
  sys?: Syscalls
  /** Default: /proc/self/mountinfo. */
  mountinfo?: string
  /** Default: the host's cgroup root. */
  cgroups?: CgroupWhere
  /** A directory without a record younger than this is a container being created. Default 60 s. */
  graceMs?: number
}

/**
 * For `pivot prune`: removes every container that is not running (docker's `container prune`):
 * exited ones kept without --rm, and the leftovers of a `pivot run` that was SIGKILLed (its
 * record says running, but its owner process is gone; the container itself died with it through
 * the init's parent-death signal). For each: any mount of it still in the host's mount table
 * (there should be none: the mounts live in the container's own mount namespace), its cgroup,
 * its directory and its name. Then pivot cgroups of containers that no longer exist. Returns the
 * ids removed.
 */
export async function pruneContainers(store: Store, options: PruneContainersOptions = {}): Promise<string[]> {
  const removed = new Set<string>()
  const graceMs = options.graceMs ?? 60_000
  const live = new Set<string>()
  // Each with its name from the record, read once.
  const doomed: Array<{id: string; name?: string | null}> = []
  for (const id of listContainerIds(store)) {
    const state = readState(store, id)
    if (state) {
      if (isOwnerAlive(state)) live.add(id)
      else doomed.push({id, name: state.name ?? null})
      continue
    }
    // No record yet: a run is between mkdir and its first write. Leave it unless it is old.
    let age = 0
    try {
      age = Date.now() - fs.statSync(containerDir(store, id)).mtimeMs
    } catch {
      continue
    }
    if (age < graceMs) live.add(id)
    else doomed.push({id})
  }

  const failures: string[] = []
  if (doomed.length > 0) {
    const mounts = mountsUnder(path.resolve(store.path('containers')), options.mountinfo)
    for (const {id, name} of doomed) {
      try {
        await destroyContainer(store, id, name, {...options, mounts})
        removed.add(id)
      } catch (error) {
        failures.push(`${id.slice(0, 12)}: ${(error as Error).message}`)
      }
    }
  }

  // This store's cgroups whose container is gone (its directory removed, or never written). Other
  // cgroups (another cache's containers, builds, tests) are someone else's business.
  try {
    const isLive = (cgroupId: string) => {
      const id = containerOfCgroup(store, cgroupId)
      return id === undefined || live.has(id) || fs.existsSync(containerDir(store, id))
    }
    for (const cgroupId of await removeStaleCgroups(isLive, options.cgroups)) removed.add(containerOfCgroup(store, cgroupId) ?? cgroupId)
  } catch (error) {
    failures.push((error as Error).message)
  }
  for (const name of staleNames(store)) removeStaleName(store, name)
  // Addresses and published ports whose holder is gone (a SIGKILLed run, a killed monitor), of
  // every cache: the network state is the host's (src/network/network-state.ts).
  try {
    const {pruneNetworkState} = require('../network/connect') as typeof import('../network/connect')
    await pruneNetworkState()
  } catch (error) {
    failures.push((error as Error).message)
  }
  // Attach sockets of monitors killed by SIGKILL, whatever cache their container was in.
  try {
    ;(require('./monitor/start-monitor') as typeof import('./monitor/start-monitor')).sweepAttachSockets()
  } catch (error) {
    failures.push((error as Error).message)
  }
  if (failures.length > 0) {
    const {RuntimeError} = require('./runtime-error') as typeof import('./runtime-error')
    throw new RuntimeError('RUN_PRUNE_FAILED', `could not remove ${failures.length} container(s): ${failures.join('; ')}`)
  }
  return [...removed]
}

/**
 * Removes a container that no longer runs (prune, `pivot rm`): any mount of it left in the host's
 * mount table (there should be none: its mounts live in its own mount namespace), its cgroup
 * (killing what is left in it), its directory and its name (null: none; undefined: its record's).
 */
export async function destroyContainer(
  store: Store,
  id: string,
  name: string | null | undefined,
  options: PruneContainersOptions & {mounts?: string[]} = {},
): Promise<void> {
  const dir = path.resolve(containerDir(store, id))
  const mounts = options.mounts ?? mountsUnder(dir, options.mountinfo)
  // Deepest first, so that a mount on top of another comes off before the one below it.
  const own = mounts.filter(m => m === dir || m.startsWith(dir + '/')).sort((a, b) => b.length - a.length)
  let sys = options.sys
  for (const m of own) {
    sys ??= new (require('../sys/koffi-syscalls').KoffiSyscalls)() as Syscalls
    sys.umount2(m, MNT_DETACH)
  }
  const {openCgroup} = require('./cgroups') as typeof import('./cgroups')
  await openCgroup(cgroupIdOf(store, id), typeof options.cgroups === 'string' ? {root: options.cgroups} : options.cgroups).remove()
  const record = readState(store, id)?.network
  if (record) await (require('./container-network') as typeof import('./container-network')).releaseNetwork(record, id)
  removeContainer(store, id, name === undefined ? undefined : name)
  // A killed monitor could not remove its attach socket.
  fs.rmSync((require('./monitor/start-monitor') as typeof import('./monitor/start-monitor')).attachSocketPath(id), {force: true})
}

/** Mount points at or below `dir` in a mountinfo file (octal escapes decoded). */
export function mountsUnder(dir: string, mountinfo = '/proc/self/mountinfo'): string[] {
  let text: string
  try {
    text = fs.readFileSync(mountinfo, 'utf8')
  } catch {
    return []
  }
  const out: string[] = []
  for (const line of text.split('\n')) {
    const field = line.split(' ')[4]
    if (field === undefined) continue
    const m = unescapeMountinfo(field)
    if (m === dir || m.startsWith(dir + '/')) out.push(m)
  }
  return out
}
