import * as fs from 'node:fs'
import type {Store} from '../../store/store'
import {cgroupIdOf, containerDir, readState, releaseName, writeState, type ContainerState} from '../../store/container-record'
import {reserveName} from '../container-name'
import {RuntimeError} from '../runtime-error'
import {containerStatus, parseSignal, resolveContainer, signalPid1, waitStopped, withContainerLock, type ContainerStatus} from './containers'

const SIGKILL = 9

function statusOf(store: Store, ref: string): ContainerStatus {
  const id = resolveContainer(store, ref)
  const status = containerStatus(store, id)
  if (!status) throw new RuntimeError('CONTAINER_NOT_FOUND', `No such container: ${ref}`, {exitCode: 1})
  return status
}

/**
 * `pivot stop`: the stop signal (the image's StopSignal, else SIGTERM) to PID 1, then SIGKILL after
 * `timeoutSeconds` if it still runs (docker's order and default of 10 s). A container that is not
 * running is left as it is (docker: no error). Resolves once it has exited.
 */
export async function stopContainer(store: Store, ref: string, timeoutSeconds?: number): Promise<void> {
  const status = await markStopped(store, statusOf(store, ref))
  // One waiting out its back-off is stopped there: its owner (the monitor's cleanup) ends on SIGTERM.
  if (status.state === 'restarting') {
    endBackoff(status)
    await waitStopped(store, status.id, {settled: true})
    return
  }
  if (status.state !== 'running') return
  // A frozen PID 1 would get the signal only when thawed: thaw it, as docker does.
  if (status.paused) thawContainer(store, status.id)
  // docker: -t, else the container's --stop-timeout, else 10 s.
  timeoutSeconds ??= status.record.runFlags?.StopTimeout ?? 10
  // -1: wait for as long as it takes.
  if (timeoutSeconds < 0) {
    signalPid1(status, parseSignal(status.record.stopSignal ?? 'SIGTERM'))
    await waitStopped(store, status.id)
    return
  }
  signalPid1(status, parseSignal(status.record.stopSignal ?? 'SIGTERM'))
  const after = await waitStopped(store, status.id, {timeoutMs: Math.max(0, timeoutSeconds) * 1000})
  if (after && (after.state === 'running' || after.state === 'created')) {
    // From the host SIGKILL always reaches PID 1, and its namespace dies with it.
    signalPid1(after, SIGKILL)
    await waitStopped(store, status.id)
  }
}

/**
 * No restart policy brings back a container the user stopped (docker's rule): the mark, under the
 * container's lock, as the monitor's cleanup decides on a restart (withContainerLock). Returns the
 * status after the mark: a restart decided before it has started the container again by then.
 */
async function markStopped(store: Store, status: ContainerStatus): Promise<ContainerStatus> {
  if (!status.record.restartPolicy) return status
  return withContainerLock(store, status.id, () => {
    markRecord(store, status.id, {manuallyStopped: true})
    return containerStatus(store, status.id) ?? status
  })
}

/** SIGTERM to a restarting container's owner (the monitor's cleanup): its back-off ends, and with it the restart. */
function endBackoff(status: ContainerStatus): void {
  try {
    process.kill(status.record.owner.pid, 'SIGTERM')
  } catch {
    // it just went
  }
}

/** `pivot kill`: one signal to PID 1 (default SIGKILL); an error if the container is not running. */
export function killContainer(store: Store, ref: string, signal: string): void {
  const number = parseSignal(signal)
  let status: ContainerStatus
  try {
    status = statusOf(store, ref)
  } catch (error) {
    const e = error as RuntimeError
    throw new RuntimeError(e.code, `cannot kill container: ${ref}: ${e.message}`, {exitCode: 1})
  }
  if (status.state !== 'running' || status.pid === undefined) {
    throw new RuntimeError('CONTAINER_NOT_RUNNING', `cannot kill container: ${ref}: container ${status.id} is not running`, {exitCode: 1})
  }
  signalPid1(status, number)
  // SIGKILL reaches a frozen container only once it is thawed (docker's containerd does the same).
  if (number === SIGKILL && status.paused) thawContainer(store, status.id)
}

/**
 * `pivot rm`: a container that is not running, or with `force` a running one (SIGKILLed first):
 * its mounts, cgroup, directory and name. Waits for a detached container's monitor to finish its
 * own cleanup first, so the two never remove the same things at once.
 */
export async function removeContainerByRef(store: Store, ref: string, force: boolean, volumes = false): Promise<void> {
  let status = statusOf(store, ref)
  if ((status.state === 'running' || status.state === 'created' || status.state === 'restarting') && !force) {
    throw new RuntimeError(
      'CONTAINER_RUNNING',
      `you cannot remove a ${status.state === 'restarting' ? 'restarting' : 'running'} container ${status.id}. Stop the container before attempting removal or force remove`,
      {exitCode: 1},
    )
  }
  // rm -f of a container with a restart policy: no restart may start it again meanwhile, and
  // one waiting out its back-off ends it now rather than after the settle wait.
  if (force) status = await markStopped(store, status)
  if (status.state === 'restarting') endBackoff(status)
  // A frozen process takes even SIGKILL only once thawed (cgroup v1's freezer).
  if (status.paused) thawContainer(store, status.id)
  if (status.state === 'running') signalPid1(status, SIGKILL)
  const settled = await waitStopped(store, status.id, {settled: true})
  if (!settled) return // its monitor removed it (--rm)
  const {destroyContainer} = require('../prune-containers') as typeof import('../prune-containers')
  await destroyContainer(store, status.id, settled.record.name ?? null)
  // rm -v: its anonymous volumes too (named ones stay, as in docker).
  if (volumes) (require('../mounts/volumes') as typeof import('../mounts/volumes')).removeAnonymousVolumes(store, settled.record.mounts)
}

/**
 * `pivot wait`: blocks until the container stops and returns its exit code (a dead one, whose
 * owner was killed, died of its parent-death signal SIGKILL: 137).
 */
export async function waitContainer(store: Store, ref: string): Promise<number> {
  const status = statusOf(store, ref)
  const end = await waitStopped(store, status.id)
  if (!end) throw new RuntimeError('CONTAINER_NOT_FOUND', `No such container: ${ref}`, {exitCode: 1})
  return end.state === 'dead' ? 128 + SIGKILL : (end.exitCode ?? 125)
}

/** Read-modify-write of a few fields of the record (the monitor's cleanup writes it too). */
export function markRecord(store: Store, id: string, fields: Partial<ContainerState>): void {
  const state = readState(store, id)
  if (state) writeState(store, {...state, ...fields})
}

function thawContainer(store: Store, id: string): void {
  const {openCgroup} = require('../cgroups') as typeof import('../cgroups')
  openCgroup(cgroupIdOf(store, id)).thaw()
  markRecord(store, id, {paused: false})
}

/** `pivot pause`: freezes every process of the container (its cgroup's freezer: v1 freezer.state, v2 cgroup.freeze). */
export async function pauseContainer(store: Store, ref: string): Promise<void> {
  const status = statusOf(store, ref)
  if (status.state !== 'running') throw new RuntimeError('CONTAINER_NOT_RUNNING', `container ${status.id} is not running`, {exitCode: 1})
  if (status.paused) throw new RuntimeError('CONTAINER_PAUSED', `Container ${status.id} is already paused`, {exitCode: 1})
  const {openCgroup} = require('../cgroups') as typeof import('../cgroups')
  const cgroup = openCgroup(cgroupIdOf(store, status.id))
  if (!cgroup.canFreeze()) {
    // A rootless container has a freezer only in a delegated cgroup.
    const uid = process.geteuid?.() ?? 0
    const why =
      uid !== 0 && cgroup.paths.length === 0
        ? `the container has no cgroup: pivot runs as uid ${uid} (rootless) without a delegated one (ask root to delegate one and set PIVOT_CGROUP_PARENT, see pivot run --memory)`
        : 'this host has no cgroup freezer'
    throw new RuntimeError('CONTAINER_NO_FREEZER', `${why}: cannot pause`, {exitCode: 1})
  }
  await cgroup.freeze()
  markRecord(store, status.id, {paused: true})
}

/** `pivot unpause`. */
export function unpauseContainer(store: Store, ref: string): void {
  const status = statusOf(store, ref)
  if (status.state !== 'running' || !status.paused) throw new RuntimeError('CONTAINER_NOT_PAUSED', `Container ${status.id} is not paused`, {exitCode: 1})
  thawContainer(store, status.id)
}

/** `pivot rename OLD NEW`: docker's rules and messages. */
export function renameContainer(store: Store, ref: string, newName: string): void {
  const status = statusOf(store, ref)
  const name = newName.startsWith('/') ? newName.slice(1) : newName
  const {checkContainerName} = require('../container-config') as typeof import('../container-config')
  try {
    checkContainerName(name)
  } catch (error) {
    throw new RuntimeError('CONTAINER_BAD_NAME', (error as Error).message, {exitCode: 1})
  }
  const old = status.record.name
  if (old === name) throw new RuntimeError('CONTAINER_BAD_NAME', 'Renaming a container with the same name as its current name', {exitCode: 1})
  try {
    reserveName(store, name, status.id)
  } catch (error) {
    throw new RuntimeError('CONTAINER_NAME_IN_USE', (error as Error).message, {exitCode: 1})
  }
  const state = readState(store, status.id)
  if (!state || !fs.existsSync(containerDir(store, status.id))) {
    releaseName(store, name, status.id)
    throw new RuntimeError('CONTAINER_NOT_FOUND', `No such container: ${ref}`, {exitCode: 1})
  }
  writeState(store, {...state, name})
  if (old !== undefined) releaseName(store, old, status.id)
}

/** `pivot restart`: stop (the stop signal, SIGKILL after the timeout), then start. */
export async function restartContainer(store: Store, ref: string, timeoutSeconds: number): Promise<void> {
  const status = statusOf(store, ref)
  await stopContainer(store, status.id, timeoutSeconds)
  const {startContainer} = require('./start') as typeof import('./start')
  await startContainer(store, status.id, {attach: false, write: () => undefined})
}
