// A fault-injecting HTTP proxy in front of a test registry, on loopback (ports 5110-5189): the
// registry tests turn faults on and off between pulls and read the request log afterwards.
// Blob faults apply to blobs larger than 4 KiB (layers; configs are smaller), manifest faults to
// image manifests (JSON with a `layers` list), whose Docker-Content-Digest is then dropped.
import * as http from 'node:http'
import {listenInRange} from './listen'

export interface Faults {
  /** The next layer-blob GET answers 401 with the registry's challenge (a token expired mid-pull). */
  blob401Once?: boolean
  /** One byte of every layer blob is changed: its digest no longer matches. */
  corruptBlob?: boolean
  /** Layer blobs stop (connection cut) at this fraction of their size, whatever range is asked. */
  truncateAt?: number
  /** Range headers are dropped: the registry answers 200 with the whole blob. */
  ignoreRange?: boolean
  /** Layer blob bodies are sent at about this many bytes per second. */
  bytesPerSecond?: number
  /** This status for manifests or for layer blobs. */
  status?: {on: 'manifest' | 'blob'; code: number}
  /** Image manifests get this mediaType (body and Content-Type). */
  manifestMediaType?: string
  /** Image manifests are padded to this many bytes. */
  manifestBytes?: number
  /** Every layer of image manifests claims this size. */
  layerSize?: number
  /** Image manifests list this many copies of their first layer. */
  layerCount?: number
  /** Upload requests (POST/PATCH/PUT under /blobs/uploads/) from the Nth (1-based) to the `to`th (default: all after) answer this status without reaching the registry (a 5xx mid-push). */
  uploadStatus?: {code: number; from: number; to?: number}
  /** The next upload request answers 401 with the registry's challenge (a token expired mid-push). */
  upload401Once?: boolean
}

export interface LoggedRequest {
  method: string
  path: string
  range?: string
  status: number
}

export interface FaultProxy {
  port: number
  /** `127.0.0.1:PORT`, the registry domain to pull from. */
  host: string
  faults: Faults
  log: LoggedRequest[]
  tokenRequests: number
  /** Upload requests seen (POST/PATCH/PUT under /blobs/uploads/). */
  uploads: number
  close(): Promise<void>
}

const BLOB = /^\/v2\/.+\/blobs\/sha256:[0-9a-f]{64}$/
const MANIFEST = /^\/v2\/.+\/manifests\/[^/]+$/
const UPLOAD = /^\/v2\/.+\/blobs\/uploads\//

/** Starts a proxy to `target` (`http://127.0.0.1:5000`); with `token`, token requests go through it too (the realm is rewritten). */
export async function startFaultProxy(target: string, options: {token?: string; ports?: [number, number]} = {}): Promise<FaultProxy> {
  const upstream = new URL(target)
  const proxy: FaultProxy = {port: 0, host: '', faults: {}, log: [], tokenRequests: 0, uploads: 0, close: async () => undefined}
  const server = http.createServer((req, res) => handle(req, res).catch(error => res.destroy(error)))

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x')
    const f = proxy.faults
    const headers = {...req.headers, host: upstream.host}
    let to = new URL(url.pathname + url.search, upstream)
    if (options.token && url.pathname === '/token') {
      proxy.tokenRequests++
      to = new URL(url.pathname + url.search, options.token)
      headers.host = to.host
    }
    if (UPLOAD.test(url.pathname) && req.method !== 'GET') {
      proxy.uploads++
      const fail = f.upload401Once
        ? 401
        : f.uploadStatus && proxy.uploads >= f.uploadStatus.from && proxy.uploads <= (f.uploadStatus.to ?? Infinity)
          ? f.uploadStatus.code
          : undefined
      if (fail !== undefined) {
        if (fail === 401) f.upload401Once = false
        req.resume()
        proxy.log.push({method: req.method ?? 'POST', path: url.pathname, status: fail})
        const realm = options.token ? `http://${proxy.host}/token` : 'http://127.0.0.1:5102/token'
        const repo = /^\/v2\/(.+)\/blobs\/uploads\//.exec(url.pathname)![1]
        res.writeHead(fail, {
          'Content-Type': 'application/json',
          ...(fail === 401 ? {'WWW-Authenticate': `Bearer realm="${realm}",service="pivot-test-registry",scope="repository:${repo}:pull,push"`} : {}),
        })
        res.end(JSON.stringify({errors: [{code: fail === 401 ? 'UNAUTHORIZED' : 'UNAVAILABLE', message: fail === 401 ? 'token expired' : 'injected failure'}]}))
        return
      }
    }
    const isBlob = BLOB.test(url.pathname)
    const isManifest = MANIFEST.test(url.pathname)
    if (f.ignoreRange && isBlob) delete headers.range
    const up = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const r = http.request(to, {method: req.method, headers}, resolve)
      r.on('error', reject)
      req.pipe(r)
    })
    const entry: LoggedRequest = {method: req.method ?? 'GET', path: url.pathname, status: up.statusCode ?? 0}
    if (typeof req.headers.range === 'string') entry.range = req.headers.range
    proxy.log.push(entry)
    const outHeaders = {...up.headers}
    // An upload's Location names the registry's own address: the rest of the upload must come through here too.
    if (typeof outHeaders.location === 'string') outHeaders.location = outHeaders.location.replace(`//${upstream.host}/`, `//${proxy.host}/`)
    const challenge = outHeaders['www-authenticate']
    if (options.token && typeof challenge === 'string')
      outHeaders['www-authenticate'] = challenge.replace(/realm="[^"]*"/, `realm="http://${proxy.host}/token"`)

    const length = Number(up.headers['content-length'] ?? 0)
    const layerBlob = isBlob && req.method === 'GET' && (up.statusCode === 200 || up.statusCode === 206) && (length > 4096 || up.statusCode === 206)
    if (layerBlob && f.blob401Once) {
      f.blob401Once = false
      up.resume()
      entry.status = 401
      const realm = options.token ? `http://${proxy.host}/token` : 'http://127.0.0.1:5102/token'
      res.writeHead(401, {
        'Content-Type': 'application/json',
        'WWW-Authenticate': `Bearer realm="${realm}",service="pivot-test-registry",scope="repository:pivot-test/busybox:pull"`,
      })
      res.end(JSON.stringify({errors: [{code: 'UNAUTHORIZED', message: 'token expired'}]}))
      return
    }
    if (f.status && ((f.status.on === 'blob' && layerBlob) || (f.status.on === 'manifest' && isManifest))) {
      up.resume()
      entry.status = f.status.code
      res.writeHead(f.status.code, {'Content-Type': 'application/json'})
      res.end(JSON.stringify({errors: [{code: 'UNAVAILABLE', message: 'injected failure'}]}))
      return
    }
    if (isManifest && req.method === 'GET' && up.statusCode === 200 && (f.manifestMediaType || f.manifestBytes || f.layerSize !== undefined || f.layerCount)) {
      const body = await readAll(up)
      const doc = JSON.parse(body.toString('utf8')) as {mediaType?: string; layers?: Array<{size: number}>; annotations?: Record<string, string>}
      if (Array.isArray(doc.layers)) {
        if (f.manifestMediaType) doc.mediaType = f.manifestMediaType
        if (f.layerSize !== undefined) for (const l of doc.layers) l.size = f.layerSize
        if (f.layerCount) doc.layers = Array.from({length: f.layerCount}, () => doc.layers![0])
        let text = JSON.stringify(doc)
        if (f.manifestBytes) text = JSON.stringify({...doc, annotations: {padding: 'x'.repeat(Math.max(0, f.manifestBytes - text.length - 40))}})
        delete outHeaders['docker-content-digest']
        delete outHeaders['etag']
        outHeaders['content-length'] = String(Buffer.byteLength(text))
        if (f.manifestMediaType) outHeaders['content-type'] = f.manifestMediaType
        res.writeHead(up.statusCode ?? 200, outHeaders)
        res.end(text)
        return
      }
      res.writeHead(up.statusCode ?? 200, outHeaders)
      res.end(body)
      return
    }
    if (!layerBlob || (!f.corruptBlob && f.truncateAt === undefined && !f.bytesPerSecond)) {
      res.writeHead(up.statusCode ?? 502, outHeaders)
      up.pipe(res)
      return
    }
    // A layer blob with faults: stream it chunk by chunk.
    const start = Number(/^bytes (\d+)-/.exec(String(up.headers['content-range'] ?? ''))?.[1] ?? 0)
    const total = Number(/\/(\d+)$/.exec(String(up.headers['content-range'] ?? ''))?.[1] ?? length)
    const stopAt = f.truncateAt === undefined ? Infinity : Math.floor(total * f.truncateAt)
    res.writeHead(up.statusCode ?? 200, outHeaders)
    let offset = start
    let corrupted = false
    for await (const raw of up as AsyncIterable<Buffer>) {
      let chunk = Buffer.from(raw)
      if (offset + chunk.length > stopAt) chunk = chunk.subarray(0, Math.max(0, stopAt - offset))
      if (f.corruptBlob && !corrupted && chunk.length > 0) {
        chunk[chunk.length >> 1] ^= 0xff
        corrupted = true
      }
      if (chunk.length > 0) {
        res.write(chunk)
        if (f.bytesPerSecond) await new Promise(r => setTimeout(r, (chunk.length / f.bytesPerSecond!) * 1000))
      }
      offset += chunk.length
      if (offset >= stopAt) {
        up.destroy()
        // Flush what was written, then cut the connection mid-body.
        await new Promise(r => setTimeout(r, 50))
        res.socket?.destroy()
        return
      }
    }
    res.end()
  }

  // 5190-5199 stay free: tests use them as addresses where nothing listens.
  const [low, high] = options.ports ?? [5110, 5189]
  proxy.port = await listenInRange(server, low, high)
  proxy.host = `127.0.0.1:${proxy.port}`
  proxy.close = () =>
    new Promise<void>(resolve => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
  return proxy
}

async function readAll(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const c of stream) chunks.push(c)
  return Buffer.concat(chunks)
}
