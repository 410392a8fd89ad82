/**
 * `node cleanup.js STORE_ROOT ID`: what a detached container's monitor execs once the container
 * has exited and its exit record (exit.json) is written (podman's conmon runs an exit command the
 * same way). Removes the container's cgroup, then either the whole container (--rm) or brings its
 * record up to date: exited, the exit code, the finish time. Runs as the monitor's own process
 * (exec keeps its pid and start time), so the record's owner is alive until this is done and
 * `pivot rm`, `prune` or another cleanup never race with it.
 */
import {cgroupIdOf, readExit, readState, removeContainer, writeState, type ContainerState} from '../../store/container-record'
import {openCgroup} from '../cgroups'
import {releaseNetwork} from '../container-network'
import {removeAnonymousVolumes} from '../mounts/volumes'
import {Store} from '../../store/store'
import {shouldRestart, withContainerLock} from '../lifecycle/containers'

/** Set by `stop`/`rm -f`'s SIGTERM: ends a restart's back-off (and never this cleanup's work). */
let stopped = false

async function main(): Promise<void> {
  process.on('SIGTERM', () => {
    stopped = true
  })
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
    // docker's --rm takes the container's anonymous volumes with it, detached or not.
    removeAnonymousVolumes(store, state.mounts)
    return
  }
  const exit = readExit(store, id)
  // Under the container's lock, as `stop` marks it manually stopped: the decision sees the mark
  // of a stop that came first, and a later stop sees this record (lifecycle/containers.ts).
  const decided = await withContainerLock(store, id, () => {
    const now = readState(store, id)
    // `pivot rm -f` removed it meanwhile.
    if (!now) return undefined
    now.status = 'exited'
    delete now.pid
    now.paused = false
    now.exitCode = exit?.exitCode ?? 125
    now.finished = exit?.finished ?? new Date().toISOString()
    const restart = shouldRestart(now)
    if (restart) {
      now.restarting = true
      now.restartCount = (now.restartCount ?? 0) + 1
    }
    try {
      writeState(store, now)
    } catch {
      return undefined
    }
    return {now, restart}
  })
  if (decided?.restart) await restartLater(store, id, decided.now)
}

/**
 * docker's back-off: 100 ms before the first restart, doubled for each restart in a row, back to
 * 100 ms when the container had run for 10 s or more. This process (the monitor's, exec'd) stays
 * the owner while it waits, so `ps` shows Restarting; `stop` SIGTERMs it, which ends the wait.
 */
async function restartLater(store: Store, id: string, state: ContainerState): Promise<void> {
  const ran = Date.parse(state.finished ?? '') - Date.parse(state.started ?? '')
  const previous = state.restartDelayMs ?? 0
  const delay = ran >= 10_000 || previous === 0 ? 100 : Math.min(previous * 2, 60_000)
  const deadline = Date.now() + delay
  while (!stopped && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, Math.min(50, deadline - Date.now())))
  // The check and the whole start under the container's lock: a stop either comes first (no
  // start) or waits for the start to be done and stops a running container.
  await withContainerLock(store, id, async () => {
    const current = readState(store, id)
    if (!current) return
    if (stopped || current.manuallyStopped) {
      writeState(store, {...current, restarting: false})
      return
    }
    writeState(store, {...current, restartDelayMs: delay})
    // This process was born in the container's (now empty) network namespace: the new one is made
    // and connected from the host's.
    if (current.network?.hostNetns !== undefined) {
      try {
        const {enterNetns} = require('../../network/connect') as typeof import('../../network/connect')
        enterNetns(current.network.hostNetns)
      } catch {
        writeState(store, {...current, restarting: false})
        return
      }
    }
    const {startStopped} = require('../lifecycle/start') as typeof import('../lifecycle/start')
    try {
      await startStopped(store, id)
    } catch {
      const failed = readState(store, id)
      if (failed) writeState(store, {...failed, restarting: false})
    }
  })
}

main().catch(() => process.exit(1))
