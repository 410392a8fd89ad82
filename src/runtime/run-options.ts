import type {ImageRecord, Store} from '../store'
import type {ResourceLimits} from '../store/container-record'

export interface VolumeMount {
  /** Absolute host path; must exist. */
  source: string
  /** Absolute path inside the container. */
  target: string
  readOnly: boolean
}

/** Defined with the container record, which stores them; re-exported for the runtime's callers. */
export type {ResourceLimits}

export interface DeviceMapping {
  /** The host's node (symlinks resolved). */
  source: string
  /** Absolute, under /dev. */
  target: string
  type: 'char' | 'block'
  major: number
  minor: number
  /** docker's cgroup permissions (rwm); pivot has no devices cgroup: recorded, not enforced. */
  permissions: string
}

export interface Ulimit {
  /** docker's name: nofile, nproc, core... */
  name: string
  soft: number
  hard: number
}

/**
 * Everything needed to start one container. `pivot run` fills it from flags and the image config;
 * `pivot build` fills it for each `run:` step. The command is final (entrypoint + cmd resolved).
 */
export interface RunOptions {
  store: Store
  image: ImageRecord
  /** The name the image was asked for by (recorded in the container's state); optional. */
  imageName?: string
  command: string[]
  /** `K=V` strings: the image's Env merged with the user's. */
  env: string[]
  /** Absolute path inside the container. */
  workdir: string
  /** `uid[:gid]` or a name resolved against the container's /etc/passwd; undefined = root. */
  user?: string
  hostname?: string
  name?: string
  /** host, none, bridge, a user network's name, or container:NAME|ID. */
  net: string
  /** -p/-P, --network-alias, --dns, --add-host (checked by run-cli). */
  network?: NetworkOptions
  limits: ResourceLimits
  volumes: VolumeMount[]
  /** -v, --mount, --tmpfs as parsed (mounts/mount-spec.ts); resolved under the GC lock. */
  mounts?: import('./mounts/mount-spec').MountSpec[]
  /** /dev/shm's size in bytes (--shm-size); docker's default 64 MiB. */
  shmSize?: number
  /** setrlimit before exec (--ulimit). */
  ulimits?: Ulimit[]
  /** Supplementary groups added to the user's (--group-add): names or numeric gids. */
  groupAdd?: string[]
  /** --cidfile: the container id is written there once the container exists (the file must not exist). */
  cidFile?: string
  /**
   * --cgroupns: what the container sees under /sys/fs/cgroup and in /proc/self/cgroup. default:
   * docker's, private on cgroup v2 and host on v1. Unset (build steps): nothing is mounted there.
   */
  cgroupns?: 'private' | 'host' | 'default'
  /** --device: host device nodes bound into the container's /dev (everything else stays nodev). */
  devices?: DeviceMapping[]
  /**
   * A user namespace for the container (--userns remap: `mode` 'remap', the maps from
   * src/userns/remap-range.ts). Root's runs bind the image's layers idmapped (host uid N shows as
   * N inside); the container's own dirs belong to its root's host uid.
   */
  userns?: {mode: string; maps: import('../userns/id-maps').IdMaps}
  /** What `inspect` shows of the run's flags (labels, stop timeout...). */
  runFlags?: import('../store/container-record').RecordedRunFlags
  readOnlyRootfs: boolean
  /** Remove the container (its writable layer and record) when it exits. */
  remove: boolean
  /**
   * Keep the writable layer after exit so the caller can commit it (build steps). Nothing of the
   * container is removed then, whatever `remove` says: the caller commits RunResult.upperDir and
   * calls removeContainer(store, containerId).
   */
  keepUpper?: boolean
  noNewPrivileges?: boolean
  /**
   * Run detached (`run -d`): a monitor (pivot-monitor) becomes the container's parent, logs its
   * output and records its exit; runContainer returns once the command runs.
   */
  detach?: boolean
  /** docker's -i: the container's stdin is pivot's (stdio 'inherit'); otherwise /dev/null. */
  interactive?: boolean
  /** docker's -t: the command's stdio is a pty of the container (its controlling terminal). */
  tty?: boolean
  /** --log-opt max-size=/max-file= (with -d). */
  logRotation?: {maxSize: number; maxFile: number}
  /** --restart (with -d). */
  restartPolicy?: import('../store/container-record').RestartPolicy
  /** The image's StopSignal, for `pivot stop`. */
  stopSignal?: string
  /** Where the container's stdout/stderr go: the terminal (run) or a pipe (build, to stream and log). */
  stdio: 'inherit' | 'pipe'
  /** With stdio 'pipe': called with each chunk of the container's output. */
  onOutput?: (chunk: Buffer, stream: 'stdout' | 'stderr') => void
}

export interface NetworkOptions {
  ports: import('../network/network-state').PortBinding[]
  publishAll: boolean
  aliases: string[]
  dns: string[]
  addHosts: Array<{host: string; ip: string}>
}

export interface RunResult {
  containerId: string
  /** The command's exit code, or 128+N when killed by signal N (docker's convention). */
  exitCode: number
  /** The container's writable layer (overlay upper dir); present with keepUpper. */
  upperDir?: string
}
