import * as fs from 'node:fs'
import type {Store} from '../../store/store'
import {cgroupIdOf, configPath, containerDir, exitPath, readState, writeState, type ContainerState} from '../../store/container-record'
import type {InitConfig} from '../init-config'
import {RuntimeError} from '../runtime-error'
import {containerStatus, resolveContainer, waitStopped} from './containers'

/**
 * Starts a container that is not running again, in the background, as `docker start`: the same
 * init config as its first run (config.json), the same upper dir (what it wrote is still there),
 * a new cgroup and a new monitor, which appends to the same json-file log. A container first run
 * in the foreground is detached from now on (its output goes to the log).
 */
export async function startStopped(store: Store, id: string, waitClient = false): Promise<void> {
  const state = readState(store, id)
  if (!state) throw new RuntimeError('CONTAINER_NOT_FOUND', `No such container: ${id}`, {exitCode: 1})
  let config: InitConfig
  try {
    config = JSON.parse(fs.readFileSync(configPath(store, id), 'utf8')) as InitConfig
  } catch {
    throw new RuntimeError('CONTAINER_NO_CONFIG', `container ${id.slice(0, 12)} cannot be started again: it was made by an older pivot (no config.json)`, {
      exitCode: 1,
    })
  }
  // A container: joiner's namespace was the other container's, and that one may be gone or have
  // started again in another: there is no namespace to give it back.
  if (config.net === 'joined' && !state.network) {
    throw new RuntimeError(
      'CONTAINER_NOT_RESTARTABLE',
      `container ${id.slice(0, 12)} cannot be started again: it shared the network namespace of another container (--net container:), which went with its exit; remove it and run it again`,
      {exitCode: 1},
    )
  }
  // --userns remap: its user namespace went with it; the starter makes one again, with the same
  // maps (its writable layer is owned by them) and the same idmapped layers.
  const remap = state.runFlags?.UsernsMode === 'remap' ? remapAgain(store, state) : undefined
  const {createCgroup} = require('../cgroups') as typeof import('../cgroups')
  const {startMonitor} = require('../monitor/start-monitor') as typeof import('../monitor/start-monitor')
  const {runDetached} = require('../run-container') as typeof import('../run-container')
  fs.rmSync(exitPath(store, id), {force: true})
  const next: ContainerState = {...state, status: 'created', detached: true, restarting: false, manuallyStopped: false, paused: false}
  delete next.exitCode
  delete next.pid
  writeState(store, next)
  const cgroup = createCgroup(cgroupIdOf(store, id), state.limits)
  const handover = {done: false}
  let connected = false
  try {
    // On a bridge or user network: born in a namespace of its own, then connected again.
    // `-d -i` keeps a stdin for `attach` at each start; `start -a` makes the monitor wait for it.
    const init = startMonitor(
      store,
      id,
      state.network ? 'new' : undefined,
      config.tty === true,
      state.logRotation,
      {stdin: state.interactive === true, waitClient},
      remap,
    )
    if (state.network) {
      const {reconnectNetwork} = require('../container-network') as typeof import('../container-network')
      try {
        next.network = await reconnectNetwork(store, state, init)
      } catch (error) {
        init.abandon()
        throw error
      }
      connected = true
    }
    await runDetached(init, config, cgroup, next, store, {requested: false}, handover)
  } catch (error) {
    if (!handover.done) {
      await cgroup.remove().catch(() => undefined)
      if (connected) {
        const {releaseNetwork} = require('../container-network') as typeof import('../container-network')
        await releaseNetwork(next.network, id)
      }
      const failed = readState(store, id)
      if (failed) writeState(store, {...failed, status: 'exited', exitCode: 128, finished: new Date().toISOString()})
    }
    throw error
  }
}

/**
 * The starter's spec for a --userns remap container started again: its recorded maps, which must
 * still be pivot's range (an administrator may have moved or removed it since: the layer on disk
 * is owned by the old one, and the old ids may now be someone else's).
 */
function remapAgain(store: Store, state: ContainerState): import('../../userns/spawn-in-userns').UsernsSpec {
  const {remapRange, remapMaps} = require('../../userns/remap-range') as typeof import('../../userns/remap-range')
  const {remapSpec, volumeSources} = require('../run-container') as typeof import('../run-container')
  const short = state.id.slice(0, 12)
  let now: ReturnType<typeof remapMaps>
  try {
    now = remapMaps(remapRange())
  } catch (error) {
    throw new RuntimeError('CONTAINER_NOT_RESTARTABLE', `container ${short} cannot be started again: ${(error as Error).message}`, {exitCode: 1})
  }
  const maps = state.usernsMaps
  if (!maps) {
    throw new RuntimeError(
      'CONTAINER_NOT_RESTARTABLE',
      `container ${short} cannot be started again: it was made by an older pivot that did not record its user namespace's range; remove it and run it again`,
      {exitCode: 1},
    )
  }
  const text = (m: typeof maps) => `uids ${m.uid.map(e => `${e.outside}+${e.count}`).join(',')}, gids ${m.gid.map(e => `${e.outside}+${e.count}`).join(',')}`
  if (text(maps) !== text(now)) {
    throw new RuntimeError(
      'CONTAINER_NOT_RESTARTABLE',
      `container ${short} cannot be started again: it was made with pivot's --userns remap range ${text(maps)}, and the range is now ${text(now)} (/etc/subuid, /etc/subgid); remove it and run it again`,
      {exitCode: 1},
    )
  }
  return remapSpec(
    maps,
    containerDir(store, state.id),
    [...state.layers].reverse().map(d => store.layerRootfs(d)),
    volumeSources(state.mounts),
  )
}

/**
 * `pivot start [-a] [-i] CONTAINER`: a running one is left as it is (docker: no error). With
 * `attach`, relays its output (and with `interactive` pivot's stdin, for a container run with -i)
 * from its first byte: the new monitor forks the init only once this client is connected. Returns
 * its exit status once it stops, or 'detached' (the detach keys, on a -t container).
 */
export async function startContainer(
  store: Store,
  ref: string,
  options: {attach: boolean; interactive?: boolean; detachKeys?: number[]; write(stream: 'stdout' | 'stderr', chunk: Buffer): void},
): Promise<number | 'detached' | undefined> {
  const id = resolveContainer(store, ref)
  let status = containerStatus(store, id)
  if (!status) throw new RuntimeError('CONTAINER_NOT_FOUND', `No such container: ${ref}`, {exitCode: 1})
  if (status.paused) throw new RuntimeError('CONTAINER_PAUSED', 'cannot start a paused container, try unpause instead', {exitCode: 1})
  const attach = require('./attach') as typeof import('./attach')
  const session = {stdin: options.interactive === true, detachKeys: options.detachKeys ?? attach.DEFAULT_DETACH_KEYS, write: options.write}
  if (status.state === 'running' || status.state === 'restarting') {
    return options.attach ? attach.attachContainer(store, ref, session) : undefined
  }
  // An exited container's monitor may still be cleaning up (cgroup, record): let it finish.
  if (status.ownerAlive) status = await waitStopped(store, id, {settled: true})
  if (!status) throw new RuntimeError('CONTAINER_NOT_FOUND', `No such container: ${ref}`, {exitCode: 1})
  if (!options.attach) {
    await startStopped(store, id)
    return undefined
  }
  const {attachSocketPath} = require('../monitor/start-monitor') as typeof import('../monitor/start-monitor')
  const connecting = attach.connectAttach(attachSocketPath(id), 15_000)
  connecting.catch(() => undefined)
  try {
    await startStopped(store, id, true)
  } catch (error) {
    void connecting.then(s => s.destroy())
    throw error
  }
  return attach.finishAttach(store, id, await connecting, session)
}
