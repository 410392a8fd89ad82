import * as fs from 'node:fs'
import * as path from 'node:path'
import {type Store, removeStaging} from './store'
import {currentProcess, isRunning, processStartTime} from '../common/process-identity'
import {writeJsonAtomic} from '../common/fs-util'
import {randomHex} from '../common/random'

/**
 * `containers/<id>/state.json`: one container's record. The container's other files sit beside
 * it: `init/` (its topmost lower layer: etc/hostname, hosts, resolv.conf, mount points),
 * `upper/` and `work/` (overlay's writable layer), `rootfs/` (the mount point, used only inside
 * the container's mount namespace).
 */
/** A container's resource limits (`--pids-limit`, `--memory`, `--cpus`, `--memory-swap`). */
export interface ResourceLimits {
  /** pids.max; undefined = pivot's default (see DEFAULT_PIDS_LIMIT). */
  pids?: number
  /** Bytes. */
  memory?: number
  /** CPUs as a decimal (1.5 = one and a half cores). */
  cpus?: number
  /** --memory-swap: memory plus swap in bytes, -1 for unlimited swap; only with memory. Unset: no swap. */
  memorySwap?: number
}

export interface ContainerState {
  id: string
  name?: string
  /** The image id, and the name it was run by. */
  image: string
  imageName?: string
  /** The image's layer digests, bottom first: prune keeps them while the container exists. */
  layers: string[]
  command: string[]
  hostname: string
  status: 'created' | 'running' | 'exited'
  /**
   * The `pivot run` (or build) process that owns the container, with its start time from
   * /proc/<pid>/stat so a reused pid is not taken for the owner. A container whose owner is gone
   * and is not `exited` was left by a killed pivot: prune removes it.
   */
  owner: {pid: number; startTime: string}
  /** The init's (then the command's) pid on the host, while it runs. */
  pid?: number
  limits: ResourceLimits
  remove: boolean
  created: string
  started?: string
  finished?: string
  exitCode?: number
  /** Run with -d: a monitor (pivot-monitor, the owner) logs its output to `json.log`. */
  detached?: boolean
  /** The signal `pivot stop` sends first: the image's StopSignal, else SIGTERM. */
  stopSignal?: string
  /** The working directory PID 1 started in: `pivot exec`'s default. */
  workdir?: string
  /** What PID 1's seccomp filter was made from: `pivot exec` loads the same filter. */
  security?: {capAdd?: string[]; capDrop?: string[]; privileged?: boolean; seccomp?: 'default' | 'unconfined'}
  /** --net bridge or a user network: its address lease and published ports (src/network), given back at exit. */
  network?: {network: string; bridge: string; ip: string; gateway: string; ports: PortBinding[]; aliases: string[]; hostNetns?: string}
  /** The container's mounts in docker inspect's shape: `volume rm` refuses a volume named here, `rm -v` removes anonymous ones. */
  mounts?: MountRecord[]
  /** The `run` flags `inspect` shows (HostConfig/Config) that nothing else reads back. */
  runFlags?: RecordedRunFlags
  /** -t and -i as given to run (inspect's Config.Tty and OpenStdin). */
  tty?: boolean
  interactive?: boolean
  /** --restart: what the monitor's cleanup does when PID 1 exits (docker's policies). */
  restartPolicy?: RestartPolicy
  /** How often it was restarted by its policy (docker's RestartCount). */
  restartCount?: number
  /** Waiting out the restart back-off: the owner is the cleanup that will start it again. */
  restarting?: boolean
  /** The last restart back-off (docker doubles it for each restart in a row). */
  restartDelayMs?: number
  /** `stop` was asked for: no restart policy brings it back (docker's HasBeenManuallyStopped). */
  manuallyStopped?: boolean
  /** --log-opt max-size/max-file: json.log is rotated to json.log.1... by the monitor. */
  logRotation?: {maxSize: number; maxFile: number}
  /** Frozen by `pause` (its cgroup's freezer). */
  paused?: boolean
  /**
   * --userns remap: the host ids container ids 0.. were mapped to (its writable layer is owned by
   * them), so that `start` maps it alike and `commit` and `cp` shift them back.
   */
  usernsMaps?: {uid: Array<{inside: number; outside: number; count: number}>; gid: Array<{inside: number; outside: number; count: number}>}
}

/** A published port (-p): src/network makes and removes its rules. */
export interface PortBinding {
  /** '' = every host address (docker's 0.0.0.0). */
  hostIp: string
  hostPort: number
  containerPort: number
  proto: 'tcp' | 'udp'
}

/** One entry of docker inspect's Mounts. */
export interface MountRecord {
  Type: 'bind' | 'volume' | 'tmpfs'
  /** The volume's name (volumes only). */
  Name?: string
  /** The host path (binds, volumes); '' for tmpfs. */
  Source: string
  Destination: string
  RW: boolean
  /** An anonymous volume (`-v /path`): `rm -v` removes it with the container. */
  Anonymous?: boolean
}

/** Flags of `pivot run` recorded for `inspect` (docker's HostConfig and Config field names). */
export interface RecordedRunFlags {
  Labels?: Record<string, string>
  StopTimeout?: number
  ShmSize?: number
  Ulimits?: Array<{Name: string; Soft: number; Hard: number}>
  GroupAdd?: string[]
  Tmpfs?: Record<string, string>
  Init?: boolean
  CgroupnsMode?: 'private' | 'host'
  /** --userns: 'remap' (a user namespace from pivot's range); absent: the host's. */
  UsernsMode?: string
  Devices?: Array<{PathOnHost: string; PathInContainer: string; CgroupPermissions: string}>
}

export interface RestartPolicy {
  name: 'no' | 'on-failure' | 'always' | 'unless-stopped'
  /** on-failure:N; 0: no limit. */
  maximumRetryCount: number
}

/** `containers/<id>/config.json`: what its init was sent, so that `start` can run it again. */
export function configPath(store: Store, id: string): string {
  return path.join(containerDir(store, id), 'config.json')
}

/** What the monitor of a detached container writes when the container's PID 1 exits. */
export interface ExitRecord {
  exitCode: number
  finished: string
}

/** The json-file log of a detached container. */
export function logPath(store: Store, id: string): string {
  return path.join(containerDir(store, id), 'json.log')
}

/** The monitor's exit record of a detached container (written atomically when PID 1 exits). */
export function exitPath(store: Store, id: string): string {
  return path.join(containerDir(store, id), 'exit.json')
}

export function readExit(store: Store, id: string): ExitRecord | undefined {
  try {
    const e = JSON.parse(fs.readFileSync(exitPath(store, id), 'utf8')) as ExitRecord
    return typeof e.exitCode === 'number' ? e : undefined
  } catch {
    return undefined
  }
}

/** `containers/names/<name>` -> id: a symlink, so taking a name is one atomic syscall. */
const NAMES_DIR = 'names'

/** The directory of the name links (reserveName in src/runtime/container-name.ts takes them). */
export function namesDir(store: Store): string {
  return store.path('containers', NAMES_DIR)
}

/**
 * A short tag of the store's root (FNV-1a, 48 bits, no crypto to load): cgroups are host-wide
 * but containers belong to one cache, so a container's cgroup is named `<tag>-<id>`, and
 * `pivot prune` on one cache never touches the cgroups of another cache's containers.
 */
export function storeTag(root: string): string {
  let h = 0xcbf29ce484222325n
  for (const byte of Buffer.from(path.resolve(root))) {
    h ^= BigInt(byte)
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn
  }
  return (h >> 16n).toString(16).padStart(12, '0')
}

/** The cgroup id of a container of this store. */
export function cgroupIdOf(store: Store, containerId: string): string {
  return `${storeTag(store.root)}-${containerId}`
}

/** The container id of a cgroup id made by cgroupIdOf for this store, or undefined. */
export function containerOfCgroup(store: Store, cgroupId: string): string | undefined {
  const m = /^([0-9a-f]{12})-([0-9a-f]{64})$/.exec(cgroupId)
  return m && m[1] === storeTag(store.root) ? m[2] : undefined
}

export function newContainerId(): string {
  return randomHex(32)
}

export function containerDir(store: Store, id: string): string {
  return store.path('containers', id)
}

export function writeState(store: Store, state: ContainerState): void {
  writeJsonAtomic(path.join(containerDir(store, state.id), 'state.json'), state)
}

export function readState(store: Store, id: string): ContainerState | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(containerDir(store, id), 'state.json'), 'utf8')) as ContainerState
  } catch {
    return undefined
  }
}

/** Every container directory's id (whatever its state, even without a readable record). */
export function listContainerIds(store: Store): string[] {
  let entries: string[]
  try {
    entries = fs.readdirSync(store.path('containers'))
  } catch {
    return []
  }
  return entries.filter(e => /^[0-9a-f]{64}$/.test(e))
}

export {processStartTime}

export function currentOwner(): ContainerState['owner'] {
  return currentProcess()
}

/** Whether the process that runs this container is still there (same pid, same start time). */
export function isOwnerAlive(state: Pick<ContainerState, 'owner'>): boolean {
  return isRunning(state.owner)
}

/** Frees `name` if it still points at `id`. */
export function releaseName(store: Store, name: string, id: string): void {
  const link = store.path('containers', NAMES_DIR, name)
  try {
    if (fs.readlinkSync(link) === id) fs.rmSync(link, {force: true})
  } catch {
    // Already gone.
  }
}

/** Names whose container no longer exists. */
export function staleNames(store: Store): string[] {
  const dir = store.path('containers', NAMES_DIR)
  let names: string[]
  try {
    names = fs.readdirSync(dir)
  } catch {
    return []
  }
  return names.filter(n => {
    try {
      return !fs.existsSync(containerDir(store, fs.readlinkSync(path.join(dir, n))))
    } catch {
      return true
    }
  })
}

export function removeStaleName(store: Store, name: string): void {
  fs.rmSync(store.path('containers', NAMES_DIR, name), {force: true})
}

/**
 * Removes a container's directory and frees its name: `name` when the caller knows it (null: it
 * has none), else the one its record gives. Nothing of it may be mounted on the host.
 */
export function removeContainer(store: Store, id: string, name: string | null = readState(store, id)?.name ?? null): void {
  // What a rootless container wrote as uid 1000 is a subordinate id's on the host: removeStaging
  // removes it inside the user's namespace when it must.
  removeStaging(containerDir(store, id))
  if (name !== null) releaseName(store, name, id)
}
