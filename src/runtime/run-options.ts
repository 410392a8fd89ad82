import type {ImageRecord, Store} from '../store'

export interface VolumeMount {
  /** Absolute host path; must exist. */
  source: string
  /** Absolute path inside the container. */
  target: string
  readOnly: boolean
}

export interface ResourceLimits {
  /** pids.max; undefined = pivot's default (see DEFAULT_PIDS_LIMIT). */
  pids?: number
  /** Bytes. */
  memory?: number
  /** CPUs as a decimal (1.5 = one and a half cores). */
  cpus?: number
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
  net: 'host' | 'none'
  limits: ResourceLimits
  volumes: VolumeMount[]
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
  restartPolicy?: import('./container-record').RestartPolicy
  /** The image's StopSignal, for `pivot stop`. */
  stopSignal?: string
  /** Where the container's stdout/stderr go: the terminal (run) or a pipe (build, to stream and log). */
  stdio: 'inherit' | 'pipe'
  /** With stdio 'pipe': called with each chunk of the container's output. */
  onOutput?: (chunk: Buffer, stream: 'stdout' | 'stderr') => void
}

export interface RunResult {
  containerId: string
  /** The command's exit code, or 128+N when killed by signal N (docker's convention). */
  exitCode: number
  /** The container's writable layer (overlay upper dir); present with keepUpper. */
  upperDir?: string
}
