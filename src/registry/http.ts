import type {IncomingHttpHeaders, IncomingMessage} from 'node:http'
import {RegistryError} from './registry-error'

export interface HttpOptions {
  method?: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'
  headers?: Record<string, string>
  /** A request body (uploads): bytes, or a stream made afresh for each attempt. */
  body?: Buffer | (() => NodeJS.ReadableStream)
  signal?: AbortSignal
  /** Milliseconds without a byte (connecting, waiting for headers, or mid-body) before giving up. */
  idleTimeout?: number
}

export interface HttpResponse {
  status: number
  headers: IncomingHttpHeaders
  /** The body; must be read or destroyed. */
  body: IncomingMessage
  /** Where the answer came from (after redirects). */
  url: URL
}

const DEFAULT_IDLE_TIMEOUT = 30_000
const MAX_REDIRECTS = 5

// One keep-alive agent per protocol: a pull makes a dozen requests to one origin, and a new
// connection per blob costs a round trip (and a TLS handshake on https). Each is made on first
// use: node:https costs a loopback registry's quick re-pull a millisecond for nothing.
let httpAgent: import('node:http').Agent | undefined
let httpsAgent: import('node:https').Agent | undefined
function agentFor(secure: boolean): import('node:http').Agent {
  if (secure) return (httpsAgent ??= new (require('node:https') as typeof import('node:https')).Agent({keepAlive: true, maxSockets: 16}))
  return (httpAgent ??= new (require('node:http') as typeof import('node:http')).Agent({keepAlive: true, maxSockets: 16}))
}

/**
 * One request with node:http(s), following redirects (blob GETs may be sent to object storage).
 * The Authorization header is dropped when a redirect leaves the origin: a presigned URL rejects a
 * second credential, and the registry's token must not leak to another host. Network failures are
 * REGISTRY_UNREACHABLE, with the cause in words.
 */
export async function httpRequest(url: URL, options: HttpOptions = {}): Promise<HttpResponse> {
  let current = url
  let headers = {...options.headers}
  for (let hop = 0; ; hop++) {
    const response = await once(current, headers, options)
    const location = response.headers.location
    // Only reads follow redirects: an upload's Location is the client's to use (and a body cannot be replayed here).
    const reading = (options.method ?? 'GET') === 'GET' || options.method === 'HEAD'
    if (!reading || ![301, 302, 303, 307, 308].includes(response.status) || !location) return response
    response.body.resume()
    if (hop >= MAX_REDIRECTS) throw new RegistryError('REGISTRY_SERVER_ERROR', `${url.host} redirected more than ${MAX_REDIRECTS} times`)
    const next = new URL(location, current)
    if (next.origin !== current.origin) {
      headers = Object.fromEntries(Object.entries(headers).filter(([k]) => k.toLowerCase() !== 'authorization'))
    }
    current = next
  }
}

function once(url: URL, headers: Record<string, string>, options: HttpOptions): Promise<HttpResponse> {
  const secure = url.protocol === 'https:'
  const lib = secure ? (require('node:https') as typeof import('node:https')) : (require('node:http') as typeof import('node:http'))
  const idle = options.idleTimeout ?? DEFAULT_IDLE_TIMEOUT
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted) return reject(abortError(options.signal))
    const req = lib.request(url, {
      method: options.method ?? 'GET',
      headers: {'User-Agent': 'pivot', ...headers},
      agent: agentFor(secure),
      signal: options.signal,
      timeout: idle,
    })
    req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer for ${idle / 1000} s`), {code: 'ETIMEDOUT'})))
    req.on('error', error => reject(options.signal?.aborted ? abortError(options.signal) : networkError(url, error)))
    req.on('response', res => {
      // The socket's idle timeout keeps running while the body streams: a stalled body fails
      // instead of hanging the pull.
      res.socket?.setTimeout(idle, () => res.destroy(Object.assign(new Error(`no data for ${idle / 1000} s`), {code: 'ETIMEDOUT'})))
      resolve({status: res.statusCode ?? 0, headers: res.headers, body: res, url})
    })
    const body = options.body
    if (body === undefined) req.end()
    else if (Buffer.isBuffer(body)) req.end(body)
    else {
      const stream = body()
      stream.on('error', error => req.destroy(error))
      stream.pipe(req)
    }
  })
}

function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : Object.assign(new Error('aborted'), {name: 'AbortError'})
}

const CAUSES: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'no such host',
  EAI_AGAIN: 'its name cannot be resolved now',
  ETIMEDOUT: 'timed out',
  ECONNRESET: 'connection reset',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EPROTO: 'TLS handshake failed',
}

export function networkCause(error: unknown): string {
  const code = (error as NodeJS.ErrnoException)?.code ?? ''
  const known = CAUSES[code]
  const message = (error as Error)?.message ?? String(error)
  if (code === 'ETIMEDOUT') return message
  return known ?? message
}

function networkError(url: URL, error: unknown): RegistryError {
  return new RegistryError('REGISTRY_UNREACHABLE', `registry ${url.host} unreachable: ${networkCause(error)}`, {cause: error})
}

/** Reads a whole (small) body, refusing more than `limit` bytes. */
export async function readBody(res: HttpResponse, limit: number, what: string): Promise<Buffer> {
  const declared = Number(res.headers['content-length'])
  if (Number.isFinite(declared) && declared > limit) {
    res.body.destroy()
    throw new RegistryError('REGISTRY_TOO_LARGE', `${what} is ${declared} bytes, more than the ${limit} pivot accepts`)
  }
  const chunks: Buffer[] = []
  let size = 0
  try {
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      size += chunk.length
      if (size > limit) {
        res.body.destroy()
        throw new RegistryError('REGISTRY_TOO_LARGE', `${what} is more than the ${limit} bytes pivot accepts`)
      }
      chunks.push(chunk)
    }
  } catch (error) {
    if (error instanceof RegistryError) throw error
    throw new RegistryError('REGISTRY_UNREACHABLE', `reading ${what} from ${res.url.host} failed: ${networkCause(error)}`, {cause: error})
  }
  return Buffer.concat(chunks)
}
