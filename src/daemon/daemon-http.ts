import * as http from 'node:http'
import * as https from 'node:https'
import {type DaemonEndpoint, requestOptions, unreachable} from './daemon-endpoint'
import {oneLine} from './follow-progress'

/** A non-2xx answer from the daemon: its status and the `message` of its JSON body. */
export class DaemonHttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message)
  }
}

/**
 * One request to the Engine API with node's own http client. The calls on the path of every pull
 * (pull, inspect) use this rather than dockerode, whose import alone costs ~100 ms here: a re-pull
 * of an unchanged image never loads it. Resolves with the response (a stream) on 2xx; rejects
 * with DaemonHttpError otherwise, or DAEMON_UNREACHABLE when the connection fails.
 */
export function daemonRequest(
  ep: DaemonEndpoint,
  options: {method: 'GET' | 'POST' | 'DELETE'; path: string; query?: Record<string, string>; signal?: AbortSignal},
): Promise<http.IncomingMessage> {
  const query = options.query ? `?${new URLSearchParams(options.query).toString()}` : ''
  return new Promise((resolve, reject) => {
    const client = ep.kind === 'tcp' && ep.tls ? https : http
    const req = client.request(
      {...requestOptions(ep), method: options.method, path: options.path + query, headers: {Host: 'docker'}, signal: options.signal},
      res => {
        const status = res.statusCode ?? 0
        if (status >= 200 && status < 300) return resolve(res)
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => {
          if (body.length < 65536) body += chunk
        })
        res.on('error', reject)
        res.on('end', () => {
          let message = body.trim()
          try {
            message = (JSON.parse(body) as {message?: string}).message ?? message
          } catch {
            // a proxy's HTML or plain text: keep it as it is
          }
          reject(new DaemonHttpError(status, oneLine(message || `HTTP ${status}`)))
        })
      },
    )
    req.on('error', error => {
      if ((error as Error).name === 'AbortError') reject(error)
      else reject(unreachable(ep, error))
    })
    req.end()
  })
}

/** GET/POST returning the parsed JSON body. */
export async function daemonJson<T>(ep: DaemonEndpoint, options: Parameters<typeof daemonRequest>[1]): Promise<T> {
  const res = await daemonRequest(ep, options)
  let body = ''
  res.setEncoding('utf8')
  for await (const chunk of res) body += chunk
  return JSON.parse(body) as T
}
