import type Dockerode from 'dockerode'
import {PassThrough, type Readable} from 'node:stream'
import type {ImageConfig} from '../store'
import {
  type DaemonEndpoint,
  describeEndpoint,
  isConnectError,
  pingDaemon,
  resolveEndpoint,
  unreachable,
} from './daemon-endpoint'
import {DaemonError} from './daemon-error'
import type {
  CreateContainerOptions,
  DaemonContainer,
  DaemonImage,
  DaemonVersion,
  DockerDaemon,
  PullProgress,
  StreamOptions,
} from './docker-daemon'
import {DaemonHttpError, daemonJson, daemonRequest} from './daemon-http'
import {classifyPullError, followProgress, oneLine} from './follow-progress'

/**
 * The real daemon. Pull and inspect (all a re-pull needs) go through node's http client; the
 * container and image-stream calls through dockerode, loaded on first use. Construct with
 * `connectDaemon()`.
 */
export class DockerodeDaemon implements DockerDaemon {
  readonly endpoint: string
  private dockerode?: Promise<Dockerode>

  constructor(
    private readonly ep: DaemonEndpoint,
    readonly apiVersion: string,
  ) {
    this.endpoint = ep.display
  }

  private get prefix(): string {
    return this.apiVersion ? `/v${this.apiVersion}` : ''
  }

  /** dockerode, speaking the API version the daemon announced. */
  private docker(): Promise<Dockerode> {
    this.dockerode ??= (async () => {
      const Docker = (await import('dockerode')).default
      const ep = this.ep
      const connection: Dockerode.DockerOptions =
        ep.kind === 'unix'
          ? {socketPath: ep.socketPath, host: undefined, port: undefined, protocol: undefined}
          : {
              host: ep.host,
              port: ep.port,
              protocol: ep.tls ? 'https' : 'http',
              ca: ep.tls?.ca,
              cert: ep.tls?.cert,
              key: ep.tls?.key,
              socketPath: undefined,
            }
      return new Docker({...connection, version: this.apiVersion ? `v${this.apiVersion}` : undefined})
    })()
    return this.dockerode
  }

  async version(): Promise<DaemonVersion> {
    const v = await this.raw('get the version', () =>
      daemonJson<{Version: string; ApiVersion: string; Os: string; Arch: string}>(this.ep, {method: 'GET', path: `${this.prefix}/version`}),
    )
    return {version: v.Version, apiVersion: v.ApiVersion, os: v.Os, arch: v.Arch}
  }

  async inspectImage(ref: string): Promise<DaemonImage> {
    const info = await this.raw(
      `inspect ${ref}`,
      () => daemonJson<Dockerode.ImageInspectInfo>(this.ep, {method: 'GET', path: `${this.prefix}/images/${ref}/json`}),
      {404: () => new DaemonError('DAEMON_IMAGE_NOT_FOUND', `the Docker daemon has no image ${ref}`)},
    )
    const c = (info.Config ?? {}) as Dockerode.ImageInspectInfo['Config'] & {Labels?: Record<string, string> | null}
    const config: ImageConfig = {}
    if (c.Env?.length) config.Env = c.Env
    if (c.Cmd?.length) config.Cmd = c.Cmd as string[]
    if (c.Entrypoint?.length) config.Entrypoint = (typeof c.Entrypoint === 'string' ? [c.Entrypoint] : c.Entrypoint) as string[]
    if (c.WorkingDir) config.WorkingDir = c.WorkingDir
    if (c.User) config.User = c.User
    if (c.ExposedPorts && Object.keys(c.ExposedPorts).length) config.ExposedPorts = c.ExposedPorts
    if (c.Labels && Object.keys(c.Labels).length) config.Labels = c.Labels
    return {
      id: info.Id,
      repoTags: info.RepoTags ?? [],
      repoDigests: info.RepoDigests ?? [],
      created: info.Created,
      config,
      diffIds: info.RootFS?.Layers ?? [],
      size: info.Size,
      os: info.Os,
      architecture: info.Architecture,
    }
  }

  async pullImage(ref: string, onProgress?: (event: PullProgress) => void, options: StreamOptions = {}): Promise<void> {
    const {repository, tag} = splitRef(ref)
    const stream = await this.raw(
      `pull ${ref}`,
      () => daemonRequest(this.ep, {method: 'POST', path: `${this.prefix}/images/create`, query: {fromImage: repository, tag}, signal: options.signal}),
      {default: message => new DaemonError(classifyPullError(message), `cannot pull ${ref}: ${message}`)},
    )
    const onAbort = () => stream.destroy()
    options.signal?.addEventListener('abort', onAbort, {once: true})
    try {
      await followProgress(stream, onProgress, `cannot pull ${ref}`)
    } catch (error) {
      throw this.streamError(error, `pulling ${ref}`, options.signal)
    } finally {
      options.signal?.removeEventListener('abort', onAbort)
    }
  }

  async createContainer(options: CreateContainerOptions): Promise<string> {
    const docker = await this.docker()
    const container = await this.call(`create a container from ${options.image}`, () =>
      docker.createContainer({
        Image: options.image,
        Cmd: options.cmd,
        name: options.name,
        Labels: options.labels,
        NetworkDisabled: true,
        HostConfig: {NetworkMode: 'none'},
      }),
    {404: () => new DaemonError('DAEMON_IMAGE_NOT_FOUND', `the Docker daemon has no image ${options.image}`)})
    return container.id
  }

  async exportContainer(id: string, options: StreamOptions = {}): Promise<NodeJS.ReadableStream> {
    const docker = await this.docker()
    const stream = await this.call(`export container ${id.slice(0, 12)}`, () =>
      docker.getContainer(id).export({abortSignal: options.signal}) as Promise<NodeJS.ReadableStream>,
    )
    return this.guardStream(stream, `exporting container ${id.slice(0, 12)}`, options.signal)
  }

  async removeContainer(id: string): Promise<void> {
    const docker = await this.docker()
    await this.call(`remove container ${id.slice(0, 12)}`, () => docker.getContainer(id).remove({force: true, v: true}), {
      404: () => undefined,
    })
  }

  async listContainers(label: string): Promise<DaemonContainer[]> {
    const docker = await this.docker()
    const list = await this.call('list containers', () => docker.listContainers({all: true, filters: {label: [label]}}))
    return list.map(c => ({id: c.Id, names: (c.Names ?? []).map(n => n.replace(/^\//, '')), labels: c.Labels ?? {}}))
  }

  async saveImage(ref: string, options: StreamOptions = {}): Promise<NodeJS.ReadableStream> {
    // dockerode's image.get() takes no abort signal; dial through its modem directly.
    const docker = await this.docker()
    const stream = await this.call(
      `save ${ref}`,
      () =>
        new Promise<NodeJS.ReadableStream>((resolve, reject) => {
          docker.modem.dial(
            {
              path: '/images/get?',
              method: 'GET',
              options: {names: [ref]},
              abortSignal: options.signal,
              isStream: true,
              statusCodes: {200: true, 404: 'no such image', 500: 'server error'},
            } as never,
            (err: unknown, data: unknown) => (err ? reject(err) : resolve(data as NodeJS.ReadableStream)),
          )
        }),
      {404: () => new DaemonError('DAEMON_IMAGE_NOT_FOUND', `the Docker daemon has no image ${ref}`)},
    )
    return this.guardStream(stream, `saving ${ref}`, options.signal)
  }

  /**
   * The response stream behind a PassThrough whose failures are DaemonErrors: a daemon that dies
   * mid-stream makes node emit a bare "aborted"/ECONNRESET, which would tell the user nothing.
   * Destroying the returned stream (a consumer giving up) closes the connection too.
   */
  private guardStream(stream: NodeJS.ReadableStream, what: string, signal?: AbortSignal): NodeJS.ReadableStream {
    const res = stream as Readable
    const out = new PassThrough({highWaterMark: 1 << 20})
    const onAbort = () => out.destroy(abortError(signal))
    res.on('error', error => out.destroy(this.streamError(error, what, signal) as Error))
    res.on('aborted', () => out.destroy(this.streamError(new Error('connection closed before the end'), what, signal) as Error))
    out.on('close', () => {
      signal?.removeEventListener('abort', onAbort)
      if (!res.destroyed) res.destroy()
    })
    if (signal?.aborted) onAbort()
    else signal?.addEventListener('abort', onAbort, {once: true})
    res.pipe(out)
    return out
  }

  private streamError(error: unknown, what: string, signal?: AbortSignal): unknown {
    if (signal?.aborted) return abortError(signal)
    if (error instanceof DaemonError || (error as Error)?.name === 'AbortError') return error
    if (isConnectError(error)) return unreachable(this.ep, error)
    const message = oneLine((error as Error)?.message ?? String(error))
    return new DaemonError('DAEMON_STREAM_FAILED', `lost the Docker daemon at ${describeEndpoint(this.ep)} while ${what}: ${message}`, {cause: error})
  }

  /** Like `call`, for the requests made with node's http client. */
  private async raw<T>(
    what: string,
    fn: () => Promise<T>,
    byStatus: {[status: number]: (message: string) => DaemonError | undefined; default?: (message: string) => DaemonError} = {},
  ): Promise<T> {
    try {
      return await fn()
    } catch (error) {
      if (!(error instanceof DaemonHttpError)) {
        if (error instanceof DaemonError || (error as Error)?.name === 'AbortError') throw error
        throw new DaemonError('DAEMON_REQUEST_FAILED', `the Docker daemon could not ${what}: ${oneLine((error as Error)?.message ?? String(error))}`, {cause: error})
      }
      const mapped = byStatus[error.statusCode] ?? byStatus.default
      if (mapped) {
        const e = mapped(error.message)
        if (e === undefined) return undefined as T
        throw e
      }
      throw new DaemonError('DAEMON_REQUEST_FAILED', `the Docker daemon could not ${what}: ${error.message}`, {cause: error})
    }
  }

  /** Runs one dockerode call, turning its errors into DaemonErrors (per HTTP status when given). */
  private async call<T>(
    what: string,
    fn: () => Promise<T>,
    byStatus: {[status: number]: (message: string) => DaemonError | undefined; default?: (message: string) => DaemonError} = {},
  ): Promise<T> {
    try {
      return await fn()
    } catch (error) {
      if ((error as Error)?.name === 'AbortError') throw error
      if (isConnectError(error)) throw unreachable(this.ep, error)
      const e = error as Error & {statusCode?: number; json?: {message?: string} | null}
      const message = oneLine(e.json?.message ?? e.message.replace(/^\(HTTP code \d+\) [^-]*- /, '') ?? String(error))
      if (e.statusCode !== undefined && e.statusCode in byStatus) {
        const mapped = byStatus[e.statusCode](message)
        if (mapped === undefined) return undefined as T
        throw mapped
      }
      if (e.statusCode !== undefined && byStatus.default) throw byStatus.default(message)
      throw new DaemonError('DAEMON_REQUEST_FAILED', `the Docker daemon could not ${what}: ${message}`, {cause: error})
    }
  }
}

function abortError(signal?: AbortSignal): Error {
  const reason = signal?.reason
  if (reason instanceof Error) return reason
  return Object.assign(new Error('aborted'), {name: 'AbortError'})
}

/** `repo:tag` / `repo@digest` -> the `fromImage` and `tag` query parameters of POST /images/create. */
export function splitRef(ref: string): {repository: string; tag: string} {
  const at = ref.indexOf('@')
  if (at !== -1) {
    const name = ref.slice(0, at)
    const colon = name.lastIndexOf(':')
    return {repository: colon > name.lastIndexOf('/') ? name.slice(0, colon) : name, tag: ref.slice(at + 1)}
  }
  const colon = ref.lastIndexOf(':')
  if (colon > ref.lastIndexOf('/')) return {repository: ref.slice(0, colon), tag: ref.slice(colon + 1)}
  return {repository: ref, tag: 'latest'}
}

/**
 * Connects to the daemon named by DOCKER_HOST (or the default socket): pings it, so an absent
 * daemon fails fast, and speaks the API version the daemon announces from then on. dockerode is
 * loaded here (DockerodeDaemon.docker) and nowhere else, and only when a call needs it.
 */
export async function connectDaemon(env: NodeJS.ProcessEnv = process.env): Promise<DockerDaemon> {
  const ep = resolveEndpoint(env)
  const ping = await pingDaemon(ep)
  return new DockerodeDaemon(ep, ping.apiVersion ?? '')
}
