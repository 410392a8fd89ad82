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
 * The lock of ID is the file `ID@lock.N` with the highest generation N; it holds its holder's pid
 * and start time (/proc/PID/stat field 22), so a holder that died (SIGKILL, a crash) is seen dead
 * and a recycled pid is not mistaken for it. ('@' is not allowed in ids: no state dir collides.)
 *   - acquire: list the root; the highest `ID@lock.N` alive -> wait and retry; none, or its holder
 *     dead -> create `ID@lock.(N+1)` with link(2), which fails if the name exists: of callers racing
 *     for one generation exactly one wins, and the content is complete the moment the name is;
 *   - release: unlink our own generation.
 * Why taking over a dead holder's lock is safe: its file is never removed (removing a stale lock
 * is the classic race: two callers see it stale, one removes it and locks anew, the other removes
 * that new lock). N+1 is only made after reading N's holder dead (a file that vanished between the
 * listing and the read was released: list again), only a holder unlinks a file, its own, so every
 * file below the highest is a dead holder's that stays, and the highest alone may be alive: a
 * caller that listed before someone made N+1 fails to make N+1 itself. Removing the dead files
 * later would break this (the numbers could come round again under a caller that read an old
 * listing), so a holder killed mid-call leaves its few bytes for good; every call after it makes
 * and unlinks N+1. The steady state is one `ID@lock.1` made and unlinked per call.
 */
export async function withLock<T>(root: string, id: string, fn: () => Promise<T> | T): Promise<T> {
  const prefix = `${id}@lock.`
  const me = `${process.pid} ${procStat(process.pid)?.startTime ?? ''}\n`
  // Written whole first, then linked into place: a lock name is never seen with half its content.
  const mine = path.join(root, `${id}@new.${process.pid}`)
  try {
    fs.writeFileSync(mine, me, {mode: 0o600})
  } catch (error) {
    // No root yet: no container either, nothing to serialize (create makes the root first).
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return fn()
    throw error
  }
  const deadline = Date.now() + 60_000
  let held: string | undefined
  try {
    for (;;) {
      const generations = fs
        .readdirSync(root)
        .filter(n => n.startsWith(prefix) && /^\d+$/.test(n.slice(prefix.length)))
        .map(n => Number(n.slice(prefix.length)))
        .sort((a, b) => a - b)
      const top = generations.at(-1) ?? 0
      const holder = top === 0 ? 'dead' : holderOf(path.join(root, prefix + top))
      if (holder === 'gone') continue
      if (holder === 'dead') {
        const name = path.join(root, prefix + (top + 1))
        try {
          fs.linkSync(mine, name)
          held = name
          break
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
        }
      } else if (Date.now() > deadline) {
        throw new OciError('OCI_BAD_STATE', `container ${id} is busy: another call on it held its lock for 60 s`)
      } else {
        await new Promise(resolve => setTimeout(resolve, 5))
      }
    }
  } finally {
    fs.rmSync(mine, {force: true})
  }
  try {
    return await fn()
  } finally {
    fs.rmSync(held, {force: true})
  }
}

/** Whether a lock file's holder (its pid and start time) still runs; 'gone': the file was released meanwhile. */
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
