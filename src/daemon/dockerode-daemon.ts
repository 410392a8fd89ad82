import type Dockerode from 'dockerode'
import type {IncomingMessage} from 'node:http'
import * as https from 'node:https'
import {PassThrough, type Readable} from 'node:stream'
import {type DaemonEndpoint, abortError, describeEndpoint, isConnectError, streamFailure, resolveEndpoint, unreachable} from './daemon-endpoint'
import {DaemonError} from './daemon-error'
import type {CreateContainerOptions, DaemonContainer, DaemonImage, DockerDaemon, PullProgress, StreamOptions} from './docker-daemon'
import {classifyPullError, followPull, oneLine} from './follow-progress'
import {toDaemonImage, type ImageInspectInfo} from './image-info'

/** The real daemon: every Engine API call goes through dockerode. Construct with `connectDaemon()`. */
export class DockerodeDaemon implements DockerDaemon {
  readonly endpoint: string

  constructor(
    private readonly docker: Dockerode,
    private readonly ep: DaemonEndpoint,
    readonly apiVersion: string,
  ) {
    this.endpoint = ep.display
  }

  async inspectImage(ref: string): Promise<DaemonImage> {
    const info = await this.call(`inspect ${ref}`, () => this.docker.getImage(ref).inspect(), {
      404: () => new DaemonError('DAEMON_IMAGE_NOT_FOUND', `the Docker daemon has no image ${ref}`),
    })
    return toDaemonImage(info as unknown as ImageInspectInfo)
  }

  async pullImage(ref: string, onProgress?: (event: PullProgress) => void, options: StreamOptions = {}): Promise<void> {
    // No `abortSignal: undefined`: dockerode would send it as a query parameter.
    const opts = options.signal ? {abortSignal: options.signal} : {}
    const stream = (await this.call(`pull ${ref}`, () => this.docker.pull(ref, opts), {
      default: message => new DaemonError(classifyPullError(message), `cannot pull ${ref}: ${message}`),
    })) as Readable
    // Our followProgress, not the modem's: the modem's resolves on an error event in the stream.
    await followPull(stream, ref, onProgress, options.signal, error => streamFailure(this.ep, error, `pulling ${ref}`, options.signal))
  }

  async createContainer(options: CreateContainerOptions): Promise<string> {
    const container = await this.call(
      `create a container from ${options.image}`,
      () =>
        this.docker.createContainer({
          Image: options.image,
          Cmd: options.cmd,
          name: options.name,
          Labels: options.labels,
          NetworkDisabled: true,
          HostConfig: {NetworkMode: 'none'},
        }),
      {404: () => new DaemonError('DAEMON_IMAGE_NOT_FOUND', `the Docker daemon has no image ${options.image}`)},
    )
    return container.id
  }

  async exportContainer(id: string, options: StreamOptions = {}): Promise<NodeJS.ReadableStream> {
    const stream = await this.call(
      `export container ${id.slice(0, 12)}`,
      () => this.docker.getContainer(id).export({abortSignal: options.signal}) as Promise<NodeJS.ReadableStream>,
    )
    return this.guardStream(stream, `exporting container ${id.slice(0, 12)}`, options.signal)
  }

  async removeContainer(id: string): Promise<void> {
    await this.call(`remove container ${id.slice(0, 12)}`, () => this.docker.getContainer(id).remove({force: true, v: true}), {
      404: () => undefined,
    })
  }

  async listContainers(label: string): Promise<DaemonContainer[]> {
    const list = await this.call('list containers', () => this.docker.listContainers({all: true, filters: {label: [label]}}))
    return list.map(c => ({id: c.Id, names: (c.Names ?? []).map(n => n.replace(/^\//, '')), labels: c.Labels ?? {}}))
  }

  async saveImage(ref: string, options: StreamOptions = {}): Promise<NodeJS.ReadableStream> {
    // dockerode's image.get() takes no abort signal; dial through its modem directly.
    const stream = await this.call(
      `save ${ref}`,
      () =>
        new Promise<NodeJS.ReadableStream>((resolve, reject) => {
          this.docker.modem.dial(
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
    res.on('error', error => out.destroy(streamFailure(this.ep, error, what, signal) as Error))
    res.on('aborted', () => out.destroy(streamFailure(this.ep, new Error('connection closed before the end'), what, signal) as Error))
    out.on('close', () => {
      signal?.removeEventListener('abort', onAbort)
      if (!res.destroyed) res.destroy()
    })
    if (signal?.aborted) onAbort()
    else signal?.addEventListener('abort', onAbort, {once: true})
    res.pipe(out)
    return out
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

/** dockerode's options for the endpoint. Every connection key is set: docker-modem fills unset ones from process.env. */
function dockerOptions(ep: DaemonEndpoint, version?: string): Dockerode.DockerOptions {
  const v = version ? `v${version}` : undefined
  if (ep.kind === 'unix') {
    return {socketPath: ep.socketPath, host: undefined, port: undefined, protocol: undefined, ca: undefined, cert: undefined, key: undefined, version: v}
  }
  const tls = ep.tls
  return {
    host: ep.host,
    port: ep.port,
    protocol: tls ? 'https' : 'http',
    ca: tls?.ca,
    cert: tls?.cert,
    key: tls?.key,
    socketPath: undefined,
    version: v,
    // docker-modem passes no rejectUnauthorized of its own; the agent carries it.
    ...(tls && !tls.verify ? {agent: new https.Agent({rejectUnauthorized: false})} : {}),
  }
}

/**
 * GET /_ping through dockerode's modem rather than `ping()`, which gives only the body: the API
 * version is the `Api-Version` header. Resolves '' for a daemon too old to send it.
 */
function ping(docker: Dockerode, ep: DaemonEndpoint, timeoutMs = 15_000): Promise<string> {
  const signal = AbortSignal.timeout(timeoutMs)
  return new Promise((resolve, reject) => {
    docker.modem.dial({path: '/_ping', method: 'GET', isStream: true, statusCodes: {200: true}, abortSignal: signal}, (error, res) => {
      if (error) {
        const status = (error as {statusCode?: number}).statusCode
        if (signal.aborted) reject(unreachable(ep, Object.assign(new Error('timed out'), {code: 'ETIMEDOUT'})))
        else if (status === undefined) reject(unreachable(ep, error))
        else reject(new DaemonError('DAEMON_UNREACHABLE', `the Docker daemon at ${describeEndpoint(ep)} is not ready (HTTP ${status} on /_ping)`))
        return
      }
      const message = res as IncomingMessage
      message.resume()
      const v = message.headers['api-version']
      resolve((Array.isArray(v) ? v[0] : v) ?? '')
    })
  })
}

/**
 * Connects to the daemon named by DOCKER_HOST (or the default socket): pings it, so an absent
 * daemon fails fast, and speaks the API version the daemon announces from then on. dockerode is
 * loaded here and nowhere else: only a command that talks to the daemon pays for it.
 */
export async function connectDaemon(env: NodeJS.ProcessEnv = process.env): Promise<DockerDaemon> {
  const ep = resolveEndpoint(env)
  const Docker = (await import('dockerode')).default
  const client = (version?: string) => {
    try {
      return new Docker(dockerOptions(ep, version))
    } catch (error) {
      // docker-modem reads DOCKER_HOST and DOCKER_CERT_PATH's files itself, and throws on what it cannot use.
      throw new DaemonError('DAEMON_BAD_HOST', `cannot use the Docker daemon at ${describeEndpoint(ep)}: ${oneLine((error as Error).message)}`, {
        exitCode: 125,
        cause: error,
      })
    }
  }
  const apiVersion = await ping(client(), ep)
  return new DockerodeDaemon(client(apiVersion), ep, apiVersion)
}
