import * as http from 'node:http'
import {type DaemonEndpoint, abortError, describeEndpoint, isConnectError, streamFailure, unreachable} from './daemon-endpoint'
import {DaemonError} from './daemon-error'
import type {CreateContainerOptions, DaemonContainer, DaemonImage, DockerDaemon, PullProgress, StreamOptions} from './docker-daemon'
import {classifyPullError, followPull, oneLine} from './follow-progress'
import {toDaemonImage, type ImageInspectInfo} from './image-info'

type UnixEndpoint = Extract<DaemonEndpoint, {kind: 'unix'}>

/**
 * The daemon over its unix socket with node:http alone, for the calls every pull makes (ping,
 * pull, inspect): loading dockerode costs ~100 ms here, three times the whole of an unchanged
 * pull's work. The rare calls (create, export, save, list, remove containers) go to a
 * DockerodeDaemon made on first use. Errors are the same DaemonErrors, with the same messages,
 * as DockerodeDaemon's.
 */
export class SocketDaemon implements DockerDaemon {
  readonly endpoint: string
  private full?: Promise<DockerDaemon>
  /** A pull sent ahead by startPull(), for pullImage() to read. */
  private early?: {ref: string; request?: http.ClientRequest; response: Promise<http.IncomingMessage>}

  constructor(
    private readonly ep: UnixEndpoint,
    readonly apiVersion: string,
    private readonly env: NodeJS.ProcessEnv,
  ) {
    this.endpoint = ep.display
  }

  /**
   * connectSocketDaemon() with the pull of `ref` sent at the same time as the ping, without a
   * version prefix (the daemon's own API version, as `docker pull` to a daemon newer than
   * itself): `sent` resolves once it is on the socket. The ping's failure is the daemon's, as
   * from connectSocketDaemon().
   */
  static connectSendingPull(ep: UnixEndpoint, env: NodeJS.ProcessEnv, ref: string): {daemon: Promise<SocketDaemon>; sent: Promise<void>} {
    const unversioned = new SocketDaemon(ep, '', env)
    const sent = unversioned.startPull(ref)
    const daemon = pingSocket(ep).then(
      version => {
        const d = new SocketDaemon(ep, version, env)
        d.early = unversioned.early
        return d
      },
      error => {
        unversioned.dropEarlyPull()
        throw error
      },
    )
    return {daemon, sent}
  }

  async inspectImage(ref: string): Promise<DaemonImage> {
    const res = await this.request('GET', `/images/${ref}/json`, `inspect ${ref}`)
    const body = await readBody(res).catch(error => {
      throw streamFailure(this.ep, error, `inspecting ${ref}`)
    })
    if (res.statusCode === 404) throw new DaemonError('DAEMON_IMAGE_NOT_FOUND', `the Docker daemon has no image ${ref}`)
    if (res.statusCode !== 200) {
      throw new DaemonError('DAEMON_REQUEST_FAILED', `the Docker daemon could not inspect ${ref}: ${errorMessage(res.statusCode, body)}`)
    }
    return toDaemonImage(JSON.parse(body) as ImageInspectInfo)
  }

  /**
   * Sends the pull of `ref` now and resolves once the request is on the socket, so the daemon
   * (which takes the registry's round trip, ~25 ms, for an unchanged image) works while the
   * caller loads the rest of its modules; the next pullImage(ref) reads its answer.
   */
  startPull(ref: string): Promise<void> {
    let sent!: () => void
    const written = new Promise<void>(resolve => (sent = resolve))
    const early: NonNullable<SocketDaemon['early']> = {ref, response: Promise.resolve() as never}
    early.response = this.request('POST', pullPath(ref), `pull ${ref}`, undefined, req => {
      early.request = req
      req.on('finish', sent).on('error', sent)
    })
    // Reported by pullImage(), which awaits it; never an unhandled rejection meanwhile.
    early.response.catch(() => undefined)
    this.early = early
    return written
  }

  /**
   * Drops a pull startPull() sent that pullImage() never read (the command failed before it):
   * its open response would keep the process waiting for the daemon's whole pull.
   */
  dropEarlyPull(): void {
    this.early?.request?.destroy()
    this.early?.response.then(
      res => res.destroy(),
      () => undefined,
    )
    this.early = undefined
  }

  async pullImage(ref: string, onProgress?: (event: PullProgress) => void, options: StreamOptions = {}): Promise<void> {
    const early = this.early?.ref === ref && !options.signal?.aborted ? this.early.response : undefined
    this.early = undefined
    const res = await (early ?? this.request('POST', pullPath(ref), `pull ${ref}`, options.signal))
    if (options.signal?.aborted) {
      res.destroy()
      throw abortError(options.signal)
    }
    if (res.statusCode !== 200) {
      const body = await readBody(res).catch(() => '')
      const message = errorMessage(res.statusCode, body)
      throw new DaemonError(classifyPullError(message), `cannot pull ${ref}: ${message}`)
    }
    await followPull(res, ref, onProgress, options.signal, error => streamFailure(this.ep, error, `pulling ${ref}`, options.signal))
  }

  async createContainer(options: CreateContainerOptions): Promise<string> {
    return (await this.dockerode()).createContainer(options)
  }

  async exportContainer(id: string, options?: StreamOptions): Promise<NodeJS.ReadableStream> {
    return (await this.dockerode()).exportContainer(id, options)
  }

  async removeContainer(id: string): Promise<void> {
    return (await this.dockerode()).removeContainer(id)
  }

  async listContainers(label: string): Promise<DaemonContainer[]> {
    return (await this.dockerode()).listContainers(label)
  }

  async saveImage(ref: string, options?: StreamOptions): Promise<NodeJS.ReadableStream> {
    return (await this.dockerode()).saveImage(ref, options)
  }

  private dockerode(): Promise<DockerDaemon> {
    this.full ??= import('./dockerode-daemon').then(m => m.connectDaemon(this.env))
    return this.full
  }

  /** One API call; resolves with the response (any status), rejects as DockerodeDaemon.call does on connection errors. */
  private request(
    method: string,
    path: string,
    what: string,
    signal?: AbortSignal,
    onRequest?: (req: http.ClientRequest) => void,
  ): Promise<http.IncomingMessage> {
    const versioned = this.apiVersion ? `/v${this.apiVersion}${path}` : path
    return new Promise((resolve, reject) => {
      const req = http.request({socketPath: this.ep.socketPath, method, path: versioned, signal, headers: {'Content-Type': 'application/json'}}, resolve)
      onRequest?.(req)
      req.on('error', error => {
        if ((error as Error)?.name === 'AbortError') reject(error)
        else if (isConnectError(error)) reject(unreachable(this.ep, error))
        else reject(new DaemonError('DAEMON_REQUEST_FAILED', `the Docker daemon could not ${what}: ${oneLine((error as Error).message)}`, {cause: error}))
      })
      req.end()
    })
  }
}

/** POST /images/create's path for `ref`, as dockerode's pull() makes it: the part after the '@'
 * or the last ':' (not a port's) is the tag or digest. */
function pullPath(ref: string): string {
  const at = ref.indexOf('@')
  const colon = ref.lastIndexOf(':')
  const split = at >= 0 ? at : colon > ref.lastIndexOf('/') ? colon : -1
  const query = new URLSearchParams({fromImage: split === -1 ? ref : ref.slice(0, split), tag: split === -1 ? 'latest' : ref.slice(split + 1)})
  return `/images/create?${query}`
}

function readBody(res: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    res.on('data', (c: Buffer) => chunks.push(c))
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    res.on('error', reject)
    res.on('aborted', () => reject(new Error('connection closed before the end')))
  })
}

/** The daemon's `{"message": ...}` error body, on one line. */
function errorMessage(status: number | undefined, body: string): string {
  try {
    const message = (JSON.parse(body) as {message?: unknown}).message
    if (typeof message === 'string' && message) return oneLine(message)
  } catch {
    // not JSON: the text itself
  }
  return oneLine(body) || `HTTP ${status}`
}

/**
 * GET /_ping: an absent daemon fails fast, and the `Api-Version` header is the version spoken from
 * then on ('' for a daemon too old to send it). Same errors as dockerode-daemon's ping.
 */
export function pingSocket(ep: UnixEndpoint, timeoutMs = 15_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.request({socketPath: ep.socketPath, method: 'GET', path: '/_ping', timeout: timeoutMs}, res => {
      res.resume()
      if (res.statusCode !== 200) {
        reject(new DaemonError('DAEMON_UNREACHABLE', `the Docker daemon at ${describeEndpoint(ep)} is not ready (HTTP ${res.statusCode} on /_ping)`))
        return
      }
      const v = res.headers['api-version']
      resolve((Array.isArray(v) ? v[0] : v) ?? '')
    })
    req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), {code: 'ETIMEDOUT'})))
    req.on('error', error => reject(unreachable(ep, error)))
    req.end()
  })
}

/** The daemon at a unix socket endpoint, pinged. */
export async function connectSocketDaemon(ep: UnixEndpoint, env: NodeJS.ProcessEnv): Promise<SocketDaemon> {
  return new SocketDaemon(ep, await pingSocket(ep), env)
}
