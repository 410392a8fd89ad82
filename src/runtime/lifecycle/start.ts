import * as fs from 'node:fs'
import type {Store} from '../../store/store'
import {cgroupIdOf, configPath, exitPath, logPath, readState, writeState, type ContainerState} from '../../store/container-record'
import type {InitConfig} from '../init-config'
import {RuntimeError} from '../runtime-error'
import {containerStatus, resolveContainer, waitStopped} from './containers'

/**
 * Starts a container that is not running again, in the background, as `docker start`: the same
 * init config as its first run (config.json), the same upper dir (what it wrote is still there),
 * a new cgroup and a new monitor, which appends to the same json-file log. A container first run
 * in the foreground is detached from now on (its output goes to the log).
 */
export async function startStopped(store: Store, id: string): Promise<void> {
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
    const init = startMonitor(store, id, state.network ? 'new' : undefined, config.tty === true, state.logRotation)
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
 * `pivot start [-a] CONTAINER`: a running one is left as it is (docker: no error). With `attach`,
 * prints its output from now on and returns its exit status once it stops.
 */
export async function startContainer(
  store: Store,
  ref: string,
  options: {attach: boolean; write(stream: 'stdout' | 'stderr', text: string): void},
): Promise<number | undefined> {
  const id = resolveContainer(store, ref)
  let status = containerStatus(store, id)
  if (!status) throw new RuntimeError('CONTAINER_NOT_FOUND', `No such container: ${ref}`, {exitCode: 1})
  if (status.paused) throw new RuntimeError('CONTAINER_PAUSED', 'cannot start a paused container, try unpause instead', {exitCode: 1})
  if (status.state === 'running' || status.state === 'restarting') return options.attach ? attachUntilStopped(store, id, undefined, options.write) : undefined
  // An exited container's monitor may still be cleaning up (cgroup, record): let it finish.
  if (status.ownerAlive) status = await waitStopped(store, id, {settled: true})
  if (!status) throw new RuntimeError('CONTAINER_NOT_FOUND', `No such container: ${ref}`, {exitCode: 1})
  let from = 0
  try {
    from = fs.statSync(logPath(store, id)).size
  } catch {
    // no log yet
  }
  await startStopped(store, id)
  return options.attach ? attachUntilStopped(store, id, from, options.write) : undefined
}

async function attachUntilStopped(
  store: Store,
  id: string,
  from: number | undefined,
  write: (stream: 'stdout' | 'stderr', text: string) => void,
): Promise<number> {
  const {showLogs} = require('./logs') as typeof import('./logs')
  await showLogs(store, id, {follow: true, timestamps: false, write, ...(from === undefined ? {tail: 0} : {startOffset: from})})
  const end = await waitStopped(store, id)
  return end?.exitCode ?? 0
}
