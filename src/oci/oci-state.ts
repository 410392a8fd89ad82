import * as fs from 'node:fs'
import * as path from 'node:path'
import type {OciHooks} from './oci-config'
import {OciError} from './oci-error'

/**
 * A container's state under --root (default /run/pivot-runtime): `<root>/<id>/state.json` and,
 * between create and start, `<root>/<id>/exec.fifo`. Apart from pivot's image cache on purpose:
 * it is host runtime state, gone at reboot like the containers it describes.
 */
export interface OciState {
  id: string
  pid: number
  /** /proc/PID/stat field 22: a pid reused by another process after the container's exit is not it. */
  startTime: string
  bundle: string
  rootfs: string
  created: string
  annotations: Record<string, string>
  ociVersion: string
  /** The cgroup, as createCgroup/openCgroup take it; absent when none was made. */
  cgroup?: {parent: string; name: string}
  /** Its directories (one per v1 hierarchy, one on v2): state, kill and ps read them without loading the cgroup code. */
  cgroupPaths: string[]
  /**
   * v1 cgroups pivot's CgroupManager does not cover, made here for config.json: the devices
   * cgroup (linux.resources.devices) and cpuset (cpu.cpus/mems). Removed by delete.
   */
  extraCgroups: string[]
  hooks: OciHooks
  /** The compiled seccomp program (base64), for exec. */
  seccompFilter: string | null
  /**
   * Without a mount namespace of its own, the container's mounts are in the caller's: how many
   * mounts its root path had before create stacked the container's on it (delete detaches the rest).
   */
  hostMounts?: {path: string; before: number}
}

export type OciStatus = 'created' | 'running' | 'paused' | 'stopped'

/** runc's rule for ids. */
const ID = /^[\w+.-]+$/

export function checkId(id: string | undefined): string {
  if (id === undefined || id === '') throw new OciError('OCI_BAD_ARGS', 'container id cannot be empty')
  if (!ID.test(id) || id === '.' || id === '..') throw new OciError('OCI_BAD_ARGS', `invalid container id format: ${id}`)
  return id
}

export function stateDir(root: string, id: string): string {
  return path.join(root, id)
}

export function loadState(root: string, id: string): OciState {
  let text: string
  try {
    text = fs.readFileSync(path.join(stateDir(root, id), 'state.json'), 'utf8')
  } catch {
    throw new OciError('OCI_NOT_FOUND', 'container does not exist')
  }
  try {
    return JSON.parse(text) as OciState
  } catch {
    throw new OciError('OCI_NOT_FOUND', `container does not exist (its state file ${path.join(stateDir(root, id), 'state.json')} is damaged)`)
  }
}

export function saveState(root: string, state: OciState): void {
  const file = path.join(stateDir(root, state.id), 'state.json')
  fs.writeFileSync(file + '.tmp', JSON.stringify(state))
  fs.renameSync(file + '.tmp', file)
}

/** Field 22 of /proc/PID/stat and the state letter, or undefined when there is no such process. */
export function procStat(pid: number): {startTime: string; state: string} | undefined {
  let text: string
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch {
    return undefined
  }
  // The command name (field 2) may hold spaces and parentheses: split after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
  return {state: fields[0]!, startTime: fields[19]!}
}

/** The container's process is alive (a zombie has exited: its status only waits to be reaped). */
export function isRunning(state: Pick<OciState, 'pid' | 'startTime'>): boolean {
  const st = procStat(state.pid)
  return st !== undefined && st.startTime === state.startTime && st.state !== 'Z' && st.state !== 'X'
}

export function statusOf(root: string, state: OciState, frozen: () => boolean): OciStatus {
  if (!isRunning(state)) return 'stopped'
  if (fs.existsSync(path.join(stateDir(root, state.id), 'exec.fifo'))) return 'created'
  return frozen() ? 'paused' : 'running'
}

/** runc's `state` output (and the JSON hooks get on stdin). */
export function stateJson(state: OciState, status: OciStatus): Record<string, unknown> {
  return {
    ociVersion: state.ociVersion,
    id: state.id,
    pid: status === 'stopped' ? 0 : state.pid,
    status,
    bundle: state.bundle,
    rootfs: state.rootfs,
    created: state.created,
    owner: '',
    ...(Object.keys(state.annotations).length > 0 ? {annotations: state.annotations} : {}),
  }
}

/**
 * One caller at a time per id (create, start, delete, pause, resume), by lock files in the state
 * root itself, which only root may write (create makes it 0711: a user can pass through to a
 * container's fifo, but neither list nor add entries). Not an abstract unix socket name: those
 * belong to the network namespace, where any local user could bind the name first and stall
 * every call on the id. Not flock(2) either: Node has none, and the FFI for it costs ~3 ms of CPU
 * per call (start and delete, on containerd's path for every container, load no FFI otherwise).
 *
 * Each caller's file is named after it, `ID@lock.PID.STARTTIME.N` (STARTTIME: /proc/PID/stat
 * field 22, so a recycled pid is not mistaken for the caller; N tells apart calls of one process;
 * '@' is not allowed in ids: no state dir collides):
 *   - acquire: create our file (O_EXCL), then list the root. Another caller's file whose process
 *     runs: remove ours, wait a few random ms, start again. One whose process is dead (SIGKILL, a
 *     crash): remove it, it is nobody's lock any more. None left alive: ours is the lock;
 *   - release: unlink our file.
 * Two callers cannot both hold it: each lists after creating its file and before holding, so the
 * one that created last lists while the other's file is there, and backs off. Removing a dead
 * caller's file is safe because no other caller ever uses its name (pid and start time are the
 * dead process's), so there is never a stale file for anyone to wait on: a killed holder's file
 * goes with the next call on the id. The numbered locks of an older pivot-runtime (`ID@lock.N`
 * holding "PID STARTTIME", and its `ID@new.PID` temp files) are waited for or removed alike.
 */
let lockCalls = 0

export async function withLock<T>(root: string, id: string, fn: () => Promise<T> | T): Promise<T> {
  const prefix = `${id}@lock.`
  const name = `${prefix}${process.pid}.${procStat(process.pid)?.startTime ?? '0'}.${++lockCalls}`
  const mine = path.join(root, name)
  const deadline = Date.now() + 60_000
  for (;;) {
    try {
      fs.writeFileSync(mine, '', {flag: 'wx', mode: 0o600})
    } catch (error) {
      // No root yet: no container either, nothing to serialize (create makes the root first).
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return fn()
      throw error
    }
    let busy: boolean
    try {
      busy = othersAlive(root, id, name)
    } catch (error) {
      fs.rmSync(mine, {force: true})
      throw error
    }
    if (!busy) break
    fs.rmSync(mine, {force: true})
    if (Date.now() > deadline) throw new OciError('OCI_BAD_STATE', `container ${id} is busy: another call on it held its lock for 60 s`)
    // Random: two callers that keep meeting each other's files stop meeting.
    await new Promise(resolve => setTimeout(resolve, 2 + Math.random() * 8))
  }
  try {
    return await fn()
  } finally {
    fs.rmSync(mine, {force: true})
  }
}

/** Whether another caller's lock file of `id` has a live process; removes those of dead ones. */
function othersAlive(root: string, id: string, mine: string): boolean {
  let busy = false
  for (const entry of fs.readdirSync(root)) {
    if (entry === mine || !entry.startsWith(`${id}@`)) continue
    const rest = entry.slice(id.length + 1)
    let alive: boolean
    const named = /^lock\.(\d+)\.(\d+)\.\d+$/.exec(rest)
    if (named) alive = isRunning({pid: Number(named[1]), startTime: named[2]!})
    else if (/^lock\.\d+$/.test(rest)) {
      const holder = holderOf(path.join(root, entry))
      if (holder === 'gone') continue
      alive = holder === 'alive'
    } else if (/^new\.\d+$/.test(rest)) {
      // An older pivot-runtime's temp file, named by pid alone: kept while that pid runs.
      alive = procStat(Number(rest.slice(4))) !== undefined
    } else continue
    if (alive) busy = true
    else fs.rmSync(path.join(root, entry), {force: true})
  }
  return busy
}

/** Whether an older pivot-runtime's lock file's holder (its pid and start time) still runs; 'gone': released meanwhile. */
function holderOf(file: string): 'alive' | 'dead' | 'gone' {
  let text: string
  try {
    text = fs.readFileSync(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'gone'
    throw error
  }
  const [pid, startTime] = text.trim().split(' ')
  return isRunning({pid: Number(pid), startTime: startTime ?? ''}) ? 'alive' : 'dead'
}

/** How many mounts are stacked on PATH in this process's mount namespace. */
export function mountsAt(target: string): number {
  // mountinfo escapes space, tab, newline and backslash in paths as octal.
  const escaped = target.replace(/[ \t\n\\]/g, c => '\\' + c.charCodeAt(0).toString(8).padStart(3, '0'))
  let n = 0
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) if (line.split(' ')[4] === escaped) n++
  return n
}

/** Detaches what the container stacked on its root path (and all below it) in the caller's namespace. */
export function unmountHostMounts(hostMounts: {path: string; before: number}): void {
  const {KoffiSyscalls} = require('../sys/koffi-syscalls') as typeof import('../sys/koffi-syscalls')
  const {MNT_DETACH} = require('../sys/constants') as typeof import('../sys/constants')
  const sys = new KoffiSyscalls()
  for (let left = mountsAt(hostMounts.path) - hostMounts.before; left > 0; left--) sys.umount2(hostMounts.path, MNT_DETACH)
}
