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
 * One caller at a time per id (create, start, delete, pause, resume): the lock is an abstract unix
 * socket name bound by the holder, which the kernel frees when the holder exits or dies (a flock
 * would do the same, but Node has none: the FFI it needs costs ~15 ms per call to load, and these
 * calls are on containerd's path for every container). Abstract names belong to a network
 * namespace: callers of one --root share the host's (containerd's shims, podman, dockerd do).
 * The name holds a hash of the root: two roots that collide only wait for each other.
 */
export async function withLock<T>(root: string, id: string, fn: () => Promise<T> | T): Promise<T> {
  const net = require('node:net') as typeof import('node:net')
  let hash = 0x811c9dc5
  for (const ch of Buffer.from(root)) hash = Math.imul(hash ^ ch, 0x01000193) >>> 0
  // 107 bytes at most: a long id is hashed too (a collision only serializes two ids).
  let key = id
  if (id.length > 80) {
    let h = 0x811c9dc5
    for (const ch of Buffer.from(id)) h = Math.imul(h ^ ch, 0x01000193) >>> 0
    key = `${id.slice(0, 64)}#${h.toString(16)}`
  }
  const name = `\0pivot-runtime/${hash.toString(16)}/${key}`
  const deadline = Date.now() + 60_000
  let server: import('node:net').Server
  for (;;) {
    server = net.createServer()
    const bound = await new Promise<boolean>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) => (error.code === 'EADDRINUSE' ? resolve(false) : reject(error)))
      server.listen({path: name}, () => resolve(true))
    })
    if (bound) break
    if (Date.now() > deadline) throw new OciError('OCI_BAD_STATE', `container ${id} is busy: another call on it held its lock for 60 s`)
    await new Promise(resolve => setTimeout(resolve, 5))
  }
  // The lock must not keep this process alive, nor reach a child (Node's fds are close-on-exec).
  server.unref()
  try {
    return await fn()
  } finally {
    server.close()
  }
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
