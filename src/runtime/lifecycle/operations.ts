import type {Store} from '../../store/store'
import {RuntimeError} from '../runtime-error'
import {containerStatus, parseSignal, resolveContainer, signalPid1, waitStopped, type ContainerStatus} from './containers'

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
  const status = statusOf(store, ref)
  if (status.state !== 'running') return
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
}

/**
 * `pivot rm`: a container that is not running, or with `force` a running one (SIGKILLed first):
 * its mounts, cgroup, directory and name. Waits for a detached container's monitor to finish its
 * own cleanup first, so the two never remove the same things at once.
 */
export async function removeContainerByRef(store: Store, ref: string, force: boolean, volumes = false): Promise<void> {
  const status = statusOf(store, ref)
  if ((status.state === 'running' || status.state === 'created') && !force) {
    throw new RuntimeError(
      'CONTAINER_RUNNING',
      `you cannot remove a running container ${status.id}. Stop the container before attempting removal or force remove`,
      {exitCode: 1},
    )
  }
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
