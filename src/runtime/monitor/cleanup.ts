/**
 * `node cleanup.js STORE_ROOT ID`: what a detached container's monitor execs once the container
 * has exited and its exit record (exit.json) is written (podman's conmon runs an exit command the
 * same way). Removes the container's cgroup, then either the whole container (--rm) or brings its
 * record up to date: exited, the exit code, the finish time. Runs as the monitor's own process
 * (exec keeps its pid and start time), so the record's owner is alive until this is done and
 * `pivot rm`, `prune` or another cleanup never race with it.
 */
import {cgroupIdOf, readExit, readState, removeContainer, writeState} from '../../store/container-record'
import {openCgroup} from '../cgroups'
import {releaseNetwork} from '../container-network'
import {Store} from '../../store/store'

async function main(): Promise<void> {
  const [root, id] = process.argv.slice(2)
  if (!root || !/^[0-9a-f]{64}$/.test(id ?? '')) process.exit(2)
  const store = Store.open(root)
  const state = readState(store, id)
  if (!state) return
  try {
    await openCgroup(cgroupIdOf(store, id)).remove()
  } catch {
    // Left for rm/prune, which remove stale cgroups.
  }
  // Its address, ports and veth, while this process (the lease's owner) still lives.
  await releaseNetwork(state.network, id)
  if (state.remove) {
    removeContainer(store, id, state.name ?? null)
    return
  }
  const exit = readExit(store, id)
  state.status = 'exited'
  delete state.pid
  state.exitCode = exit?.exitCode ?? 125
  state.finished = exit?.finished ?? new Date().toISOString()
  try {
    writeState(store, state)
  } catch {
    // `pivot rm -f` removed it meanwhile.
  }
}

main().catch(() => process.exit(1))
