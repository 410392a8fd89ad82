import * as fs from 'node:fs'
import {constants} from 'node:os'
import type {Store} from '../../store/store'
import {containerDir, isOwnerAlive, listContainerIds, readExit, readState, type ContainerState} from '../../store/container-record'
import {RuntimeError} from '../runtime-error'

/**
 * What `ps`, `stop`, `kill`, `rm`, `wait` and `logs` need to know about a container, from its
 * record, its monitor's exit record and whether its owner (the `pivot run`, or the monitor of a
 * detached container) is alive. No daemon: every command reads the same files.
 */
export interface ContainerStatus {
  id: string
  record: ContainerState
  /**
   * created: being made; running; exited (with exitCode); dead: its owner (a foreground `pivot
   * run`, or a detached container's monitor) was killed before it could record an end.
   */
  state: 'created' | 'running' | 'exited' | 'dead' | 'restarting'
  /** Running but frozen (`pause`). */
  paused?: boolean
  exitCode?: number
  started?: string
  finished?: string
  /** PID 1 on the host, while running. */
  pid?: number
  /** The owner is alive (exited containers: their monitor may still be cleaning up). */
  ownerAlive: boolean
}

export function containerStatus(store: Store, id: string): ContainerStatus | undefined {
  const record = readState(store, id)
  if (!record) return undefined
  const ownerAlive = isOwnerAlive(record)
  // The monitor writes exit.json the moment PID 1 exits, before its cleanup updates the record.
  const exit = record.status === 'exited' ? undefined : readExit(store, id)
  // Between PID 1's exit (exit.json) and the cleanup's decision, a container its policy will
  // start again is restarting already, as docker shows it: `rm` without -f must not take it then.
  const restarting = record.status === 'exited' ? record.restarting : exit !== undefined && shouldRestart({...record, exitCode: exit.exitCode})
  if (record.status === 'exited' || exit) {
    return {
      id,
      record,
      state: restarting && ownerAlive ? 'restarting' : 'exited',
      exitCode: exit?.exitCode ?? record.exitCode,
      started: record.started,
      finished: exit?.finished ?? record.finished,
      ownerAlive,
    }
  }
  if (!ownerAlive) return {id, record, state: 'dead', started: record.started, ownerAlive}
  return {
    id,
    record,
    state: record.status,
    started: record.started,
    pid: record.status === 'running' ? record.pid : undefined,
    ownerAlive,
    ...(record.status === 'running' && record.paused ? {paused: true} : {}),
  }
}

/** docker's rules: on-failure for a non-zero status (at most N times), always and unless-stopped unless stopped by the user. */
export function shouldRestart(state: ContainerState): boolean {
  const policy = state.restartPolicy
  if (!policy || policy.name === 'no' || state.manuallyStopped) return false
  if (policy.name === 'on-failure') {
    if (state.exitCode === 0) return false
    return policy.maximumRetryCount === 0 || (state.restartCount ?? 0) < policy.maximumRetryCount
  }
  return true
}

/** Every container of the cache with a readable record, newest first. */
export function allContainers(store: Store): ContainerStatus[] {
  const out: ContainerStatus[] = []
  for (const id of listContainerIds(store)) {
    const s = containerStatus(store, id)
    if (s) out.push(s)
  }
  return out.sort((a, b) => b.record.created.localeCompare(a.record.created))
}

/**
 * A container by what a docker user types: its full id, its name, or a unique prefix of its id
 * (docker's order). Unknown or ambiguous: one line, docker's exit status 1.
 */
export function resolveContainer(store: Store, ref: string): string {
  const ids = listContainerIds(store)
  if (/^[0-9a-f]{64}$/.test(ref) && ids.includes(ref)) return ref
  // docker accepts a name with its leading slash (/web), as its API shows names.
  const name = ref.startsWith('/') ? ref.slice(1) : ref
  if (name !== '' && !name.includes('/') && !name.includes('\0') && name !== '.' && name !== '..') {
    try {
      const id = fs.readlinkSync(store.path('containers', 'names', name))
      if (ids.includes(id)) return id
    } catch {
      // not a name
    }
  }
  if (/^[0-9a-f]+$/.test(ref)) {
    const matches = ids.filter(id => id.startsWith(ref))
    if (matches.length === 1) return matches[0]
    if (matches.length > 1) {
      throw new RuntimeError('CONTAINER_AMBIGUOUS', `multiple containers found with provided prefix: ${ref}`, {exitCode: 1})
    }
  }
  throw new RuntimeError('CONTAINER_NOT_FOUND', `No such container: ${JSON.stringify(ref).slice(1, -1)}`, {exitCode: 1})
}

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

/**
 * Waits until the container is no longer running (exited or dead) and returns its status; with
 * `settled`, also until its owner is gone (the monitor's cleanup is done: its cgroup and, with
 * --rm, its directory are removed), at most `settleMs` more. Undefined: the container is gone.
 */
export async function waitStopped(
  store: Store,
  id: string,
  options: {timeoutMs?: number; settled?: boolean; settleMs?: number} = {},
): Promise<ContainerStatus | undefined> {
  const deadline = options.timeoutMs === undefined ? Infinity : Date.now() + options.timeoutMs
  let status = containerStatus(store, id)
  while (status && (status.state === 'running' || status.state === 'created')) {
    if (Date.now() >= deadline) return status
    await sleep(50)
    status = containerStatus(store, id)
  }
  if (status && options.settled) {
    const settleBy = Date.now() + (options.settleMs ?? 10_000)
    while (status?.ownerAlive && Date.now() < settleBy) {
      await sleep(50)
      status = containerStatus(store, id) ?? (fs.existsSync(containerDir(store, id)) ? status : undefined)
    }
  }
  return status
}

/**
 * A signal by docker's rules: a name with or without SIG, any case (`usr1`, `SIGTERM`), or a
 * number from 1 to 64. Returns the signal number.
 */
export function parseSignal(value: string): number {
  const v = value.trim()
  if (/^\d+$/.test(v)) {
    const n = Number(v)
    if (n >= 1 && n <= 64) return n
  } else {
    const upper = v.toUpperCase()
    const name = (upper.startsWith('SIG') ? upper : `SIG${upper}`) as keyof typeof constants.signals
    const rt = /^SIGRTMIN(?:\+(\d+))?$/.exec(name) ?? /^SIGRTMAX(?:-(\d+))?$/.exec(name)
    if (rt) {
      const n = name.startsWith('SIGRTMIN') ? 34 + Number(rt[1] ?? 0) : 64 - Number(rt[1] ?? 0)
      if (n >= 34 && n <= 64) return n
    }
    const n = constants.signals[name]
    if (typeof n === 'number') return n
  }
  throw new RuntimeError('CONTAINER_BAD_SIGNAL', `invalid signal: ${JSON.stringify(value)}`, {exitCode: 1})
}

/** Sends a signal to the container's PID 1 (from the host, so PID 1 gets SIGKILL, and any signal it handles). */
export function signalPid1(status: ContainerStatus, signal: number): void {
  if (status.pid === undefined) return
  try {
    process.kill(status.pid, signal)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error
  }
}

/**
 * Runs `fn` holding a flock on the container's directory: the one order for the decisions about a
 * detached container with a restart policy. `stop`/`rm -f` mark it manually stopped under it; the
 * monitor's cleanup decides on a restart, and later starts it again, under it after reading that
 * mark; so a stop either comes before the decision (no restart) or finds the new start done (a
 * running container it stops). The record is read-modify-written under it, so neither side's
 * write loses the other's. Without a directory (the container is gone) `fn` runs unlocked.
 */
export async function withContainerLock<T>(store: Store, id: string, fn: () => Promise<T> | T): Promise<T> {
  const {lockFile} = require('../../store/file-lock') as typeof import('../../store/file-lock')
  const dir = containerDir(store, id)
  let lock: {release(): void}
  try {
    // Quiet (a notice would land in stop's output), polled often: the holders are quick, a start
    // of the container at the longest.
    lock = await lockFile(dir, {directory: true, quiet: true, pollMs: 20, timeoutMs: 120_000})
  } catch (error) {
    if (!fs.existsSync(dir)) return fn()
    if ((error as {code?: string}).code === 'STORE_LOCKED') {
      throw new RuntimeError('CONTAINER_LOCKED', `timed out waiting for container ${id.slice(0, 12)}: another pivot command holds it`)
    }
    throw error
  }
  try {
    return await fn()
  } finally {
    lock.release()
  }
}
