import type {ImageConfig} from '../store'

/** What pivot needs of `docker image inspect`. */
export interface DaemonImage {
  /** The daemon's image id, `sha256:<hex>` (the config digest). */
  id: string
  repoTags: string[]
  repoDigests: string[]
  /** ISO 8601, from the image's `Created`. */
  created: string
  config: ImageConfig
  /** RootFS.Layers: digests of the uncompressed layer tars, bottom layer first. */
  diffIds: string[]
  /** Bytes, as the daemon reports them. */
  size: number
  os: string
  architecture: string
}

/** One event of the daemon's pull progress stream (`{"status","id","progressDetail"}`). */
export interface PullProgress {
  /** Layer id (short hex) for per-layer events, the tag for the first line, absent for summaries. */
  id?: string
  /** `Pulling fs layer`, `Downloading`, `Extracting`, `Pull complete`, `Digest: ...`, `Status: ...` */
  status: string
  current?: number
  total?: number
}

export interface CreateContainerOptions {
  /** Image id or reference. */
  image: string
  cmd?: string[]
  name?: string
  labels?: Record<string, string>
}

export interface DaemonContainer {
  id: string
  names: string[]
  labels: Record<string, string>
}

export interface StreamOptions {
  signal?: AbortSignal
}

/**
 * The Docker daemon as pivot uses it. `DockerodeDaemon` is the real one (dockerode, loaded only
 * when a daemon is needed); `FakeDaemon` serves unit tests. Every failure is a `DaemonError`.
 */
export interface DockerDaemon {
  /** Where the daemon was reached, e.g. `unix:///var/run/docker.sock`. */
  readonly endpoint: string
  /** The API version in use (from the daemon's `/_ping`). */
  readonly apiVersion: string
  /** Throws DAEMON_IMAGE_NOT_FOUND when the daemon has no such image. */
  inspectImage(ref: string): Promise<DaemonImage>
  /**
   * Pulls `ref` (a normalised name, `repo:tag` or `repo@digest`) and resolves when the daemon is
   * done. Rejects on an error event inside the (HTTP 200) progress stream, not only on HTTP errors.
   */
  pullImage(ref: string, onProgress?: (event: PullProgress) => void, options?: StreamOptions): Promise<void>
  /** Creates (does not start) a container; returns its id. */
  createContainer(options: CreateContainerOptions): Promise<string>
  /** `docker export`: the container's filesystem as one tar stream. */
  exportContainer(id: string, options?: StreamOptions): Promise<NodeJS.ReadableStream>
  /** Removes a container (forcefully); a container that is already gone is not an error. */
  removeContainer(id: string): Promise<void>
  /** Containers (running or not) carrying `label` (`key` or `key=value`). */
  listContainers(label: string): Promise<DaemonContainer[]>
  /** `docker save`: the image (legacy or OCI layout, whatever the daemon writes) as one tar stream. */
  saveImage(ref: string, options?: StreamOptions): Promise<NodeJS.ReadableStream>
}
