import {DaemonError} from './daemon-error'
import type {PullProgress} from './docker-daemon'

/**
 * Reads a daemon progress stream (newline-delimited JSON) to its end. The daemon answers a pull
 * with HTTP 200 before it knows whether the pull will work, so a failure arrives as an event
 * `{"error": "...", "errorDetail": {"message": "..."}}` inside the stream: that rejects here
 * (docker-modem's followProgress would report it as success).
 */
export async function followProgress(stream: NodeJS.ReadableStream, onProgress: ((event: PullProgress) => void) | undefined, what: string): Promise<void> {
  let pending = ''
  const handle = (line: string) => {
    if (!line.trim()) return
    let event: {
      status?: string
      id?: string
      progressDetail?: {current?: number; total?: number}
      error?: string
      errorDetail?: {message?: string}
    }
    try {
      event = JSON.parse(line)
    } catch {
      return // not ours to judge: the daemon only ever sends JSON here
    }
    if (event === null || typeof event !== 'object') return
    if (event.error !== undefined || event.errorDetail !== undefined) {
      const message = oneLine(event.errorDetail?.message || event.error || 'unknown error')
      throw new DaemonError(classifyPullError(message), `${what}: ${message}`)
    }
    if (onProgress && typeof event.status === 'string') {
      const p: PullProgress = {status: event.status}
      if (event.id) p.id = event.id
      if (typeof event.progressDetail?.current === 'number') p.current = event.progressDetail.current
      if (typeof event.progressDetail?.total === 'number') p.total = event.progressDetail.total
      onProgress(p)
    }
  }
  for await (const chunk of stream as AsyncIterable<Buffer | string>) {
    pending += typeof chunk === 'string' ? chunk : chunk.toString('utf8')
    let nl: number
    while ((nl = pending.indexOf('\n')) !== -1) {
      const line = pending.slice(0, nl)
      pending = pending.slice(nl + 1)
      handle(line)
    }
  }
  handle(pending)
}

const UNREACHABLE =
  /dial tcp|connection refused|no such host|i\/o timeout|network is unreachable|no route to host|TLS handshake timeout|server misbehaving|connection reset|context deadline exceeded|EOF$/i
const NOT_FOUND = /not found|manifest unknown|does not exist|pull access denied|repository name not known|name unknown/i

/** DAEMON_REGISTRY_UNREACHABLE, DAEMON_IMAGE_NOT_FOUND or DAEMON_PULL_FAILED, from the daemon's words. */
/**
 * A pull's progress stream followed to its end (followProgress), destroyed when `signal` aborts:
 * the client libraries hand the signal to the request only, and the response must stop too.
 * `mapError` turns a failure into what the daemon client reports.
 */
export async function followPull(
  stream: NodeJS.ReadableStream & {destroy(): void},
  ref: string,
  onProgress: ((event: PullProgress) => void) | undefined,
  signal: AbortSignal | undefined,
  mapError: (error: unknown) => unknown,
): Promise<void> {
  const onAbort = () => stream.destroy()
  signal?.addEventListener('abort', onAbort, {once: true})
  try {
    await followProgress(stream, onProgress, `cannot pull ${ref}`)
  } catch (error) {
    throw mapError(error)
  } finally {
    signal?.removeEventListener('abort', onAbort)
  }
}

export function classifyPullError(message: string): string {
  if (NOT_FOUND.test(message)) return 'DAEMON_IMAGE_NOT_FOUND'
  if (UNREACHABLE.test(message)) return 'DAEMON_REGISTRY_UNREACHABLE'
  return 'DAEMON_PULL_FAILED'
}

export function oneLine(s: string): string {
  return s.replace(/\s*[\r\n]+\s*/g, ' ').trim()
}
