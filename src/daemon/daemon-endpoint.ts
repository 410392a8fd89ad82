import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {DaemonError} from './daemon-error'
import {oneLine} from './follow-progress'

export const DEFAULT_SOCKET = '/var/run/docker.sock'

/** Where the daemon listens, from DOCKER_HOST (unix:// or tcp://) or the default socket. */
export type DaemonEndpoint =
  | {kind: 'unix'; socketPath: string; display: string; fromEnv: boolean}
  | {
      kind: 'tcp'
      host: string
      port: number
      tls?: {ca?: Buffer; cert?: Buffer; key?: Buffer; verify: boolean}
      display: string
      fromEnv: boolean
    }

/** Reads DOCKER_HOST (plus DOCKER_TLS_VERIFY / DOCKER_CERT_PATH for tcp) the way the docker CLI does. */
export function resolveEndpoint(env: NodeJS.ProcessEnv = process.env): DaemonEndpoint {
  const value = env.DOCKER_HOST?.trim()
  if (!value) return {kind: 'unix', socketPath: DEFAULT_SOCKET, display: `unix://${DEFAULT_SOCKET}`, fromEnv: false}
  const bad = (why: string) => new DaemonError('DAEMON_BAD_HOST', `DOCKER_HOST=${JSON.stringify(value).slice(1, -1)} ${why}`, {exitCode: 125})
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(value)?.[1]?.toLowerCase()
  if (scheme === 'unix') {
    const socketPath = value.slice('unix://'.length) || DEFAULT_SOCKET
    return {kind: 'unix', socketPath, display: `unix://${socketPath}`, fromEnv: true}
  }
  if (scheme === undefined || scheme === 'tcp' || scheme === 'http' || scheme === 'https') {
    let url: URL
    try {
      url = new URL(scheme === undefined ? `tcp://${value}` : value)
    } catch {
      throw bad('is not a valid address (want unix:///path or tcp://host:port)')
    }
    if (!url.hostname) throw bad('names no host')
    const tlsVerify = Boolean(env.DOCKER_TLS_VERIFY)
    const useTls = tlsVerify || scheme === 'https'
    const port = url.port ? Number(url.port) : useTls ? 2376 : 2375
    let tls: {ca?: Buffer; cert?: Buffer; key?: Buffer; verify: boolean} | undefined
    if (useTls) {
      const certDir = env.DOCKER_CERT_PATH || path.join(os.homedir(), '.docker')
      const read = (f: string) => (fs.existsSync(path.join(certDir, f)) ? fs.readFileSync(path.join(certDir, f)) : undefined)
      tls = {ca: read('ca.pem'), cert: read('cert.pem'), key: read('key.pem'), verify: tlsVerify}
    }
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1')
    return {kind: 'tcp', host, port, tls, display: `${useTls ? 'https' : 'tcp'}://${url.host.includes(':') ? url.host : `${url.host}:${port}`}`, fromEnv: true}
  }
  throw bad(`uses the ${scheme}:// scheme, which pivot does not support (use unix:// or tcp://)`)
}

/** How the endpoint is named in errors: the address, and whether DOCKER_HOST chose it. */
export function describeEndpoint(ep: DaemonEndpoint): string {
  return ep.fromEnv ? `${ep.display} (DOCKER_HOST)` : ep.display
}

const CONNECT_REASONS: Record<string, string> = {
  ENOENT: 'no such socket',
  ECONNREFUSED: 'connection refused',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  ENOTSOCK: 'not a socket',
  ETIMEDOUT: 'timed out',
  ENOTFOUND: 'unknown host',
  EAI_AGAIN: 'host name lookup failed',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ECONNRESET: 'connection reset',
}

/** The DAEMON_UNREACHABLE error for a failed connection, naming where pivot tried. */
export function unreachable(ep: DaemonEndpoint, cause: unknown): DaemonError {
  const code = (cause as NodeJS.ErrnoException)?.code ?? ''
  const reason = CONNECT_REASONS[code] ?? ((cause as Error)?.message || 'no answer')
  return new DaemonError('DAEMON_UNREACHABLE', `cannot connect to the Docker daemon at ${describeEndpoint(ep)}: ${reason}. Is the docker daemon running?`, {
    cause,
  })
}

export function isConnectError(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException)?.code
  return code !== undefined && code in CONNECT_REASONS && code !== 'ECONNRESET'
}

/** The error for an aborted request: the signal's reason, else an AbortError. */
export function abortError(signal?: AbortSignal): Error {
  const reason = signal?.reason
  if (reason instanceof Error) return reason
  return Object.assign(new Error('aborted'), {name: 'AbortError'})
}

/**
 * What a failure while reading a daemon's answer means to the user: the abort that caused it, a
 * daemon that cannot be reached, or one lost while `what` (the same for every client).
 */
export function streamFailure(ep: DaemonEndpoint, error: unknown, what: string, signal?: AbortSignal): unknown {
  if (signal?.aborted) return abortError(signal)
  if (error instanceof DaemonError || (error as Error)?.name === 'AbortError') return error
  if (isConnectError(error)) return unreachable(ep, error)
  const message = oneLine((error as Error)?.message ?? String(error))
  return new DaemonError('DAEMON_STREAM_FAILED', `lost the Docker daemon at ${describeEndpoint(ep)} while ${what}: ${message}`, {cause: error})
}
