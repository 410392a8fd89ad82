import {createHash} from 'node:crypto'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {Readable} from 'node:stream'
import {pipeline} from 'node:stream/promises'
import {hashThrough} from '../common/hash'
import {isPivotError} from '../errors'
import {familiarName, normalizeReference, type NormalizedReference} from '../reference'
import type {HttpResponse, RegistryClient} from '../registry'
import {type LayerBlob, type Store, digestHex} from '../store'
import {Lease} from '../store/gc-lock'
import {ImageError} from './image-error'
import {MEDIA, configBlobOf, originalConfigOf} from './image-layout'
import type {ProgressEvent} from './progress-event'

/** Docker's default (`dockerd --max-concurrent-uploads`). */
export const DEFAULT_CONCURRENT_UPLOADS = 5
/**
 * Blobs up to this size go in one PUT; bigger ones in PATCH chunks of this size, each with its
 * Content-Range, so a registry (or proxy) that limits a request's body still takes them.
 * PIVOT_PUSH_CHUNK_SIZE (bytes) changes it.
 */
export const DEFAULT_CHUNK_SIZE = 64 << 20

export type PushFormat = 'docker' | 'oci'

export interface PushOptions {
  /** Manifest and media types: docker (v2 schema 2, docker's default) or oci. */
  format?: PushFormat
  onProgress?: (event: ProgressEvent) => void
  signal?: AbortSignal
  concurrency?: number
  chunkSize?: number
  /** The registry client (tests); default: one for the image's repository, with push access. */
  client?: RegistryClient
}

export interface PushedLayer {
  /** The blob's digest in the registry (compressed). */
  digest: string
  size: number
  /** The digest of the layer's uncompressed tar, as the pushed config lists it. */
  diffId: string
  /** pushed: uploaded; exists: the registry had it (HEAD); mounted: from another repository of the registry. */
  status: 'pushed' | 'exists' | 'mounted'
  from?: string
}

export interface PushResult {
  /** The canonical name pushed, e.g. `localhost:5000/team/app:1.0`. */
  name: string
  /** pivot's image id. */
  id: string
  /** The manifest's digest (what `docker pull NAME@DIGEST` takes) and its size in bytes. */
  digest: string
  size: number
  mediaType: string
  config: string
  layers: PushedLayer[]
  warnings: string[]
}

/** What one layer sends: its kept blob (layers/<hex>/blob) and the media type it goes under. */
interface LayerUpload {
  layer: string
  blob: LayerBlob
  file: string
  mediaType: string
}

/**
 * `pivot push NAME[:TAG]`: the cached image named NAME goes to NAME's registry and repository.
 *
 * Each layer goes as its kept compressed blob (layers/<hex>/blob, see Store.keepLayerBlob): the
 * registry's own blob for a layer pulled from a registry, else a gzip of the layer made once (on
 * the first push) and kept, so every push of an image sends the same bytes and gets the same
 * digests. Per blob: HEAD (present: skipped), else a cross-repository mount when the blob is known
 * in another repository of the same registry, else an upload (POST, then one PUT, or PATCH
 * chunks with Content-Range and a closing PUT, following each Location). The config and then
 * the manifest go last, so the registry never names an image whose blobs it lacks.
 */
export async function pushImage(store: Store, arg: string, options: PushOptions = {}): Promise<PushResult> {
  const format = options.format ?? 'docker'
  const emit = options.onProgress ?? (() => undefined)
  const warnings: string[] = []
  const warn = (message: string) => {
    warnings.push(message)
    emit({type: 'warning', message})
  }
  const ref = pushReference(arg)
  const shown = familiarName(ref.name)
  const lease = new Lease(store, 'push')
  try {
    // Under the GC lock: prune cannot take the image's layers between the lookup and the pin.
    const image = await lease.pin(() => {
      const id = store.getRef(ref.name)
      const record = id === undefined ? undefined : store.readImage(id)
      if (!record && /^[0-9a-f]{4,64}$/.test(arg) && safeFindById(store, arg)) {
        throw new ImageError(
          'IMAGE_NOT_FOUND',
          `${arg} is an image id, not a name to push to: name the image first (pivot tag ${arg} REGISTRY/REPOSITORY:TAG)`,
          {
            exitCode: 1,
          },
        )
      }
      if (!record) {
        throw new ImageError(
          'IMAGE_NOT_FOUND',
          `no image is named ${shown} in the cache (docker: "An image does not exist locally with the tag"): name one so first, e.g. pivot tag IMAGE ${shown}`,
          {exitCode: 1},
        )
      }
      lease.keepImage(record.id)
      lease.keepLayers(record.layers)
      return record
    })
    const lost = image.layers.find(d => !store.hasLayer(d))
    if (lost) {
      throw new ImageError('IMAGE_NOT_FOUND', `cannot push ${shown}: its layer ${lost} is missing from the cache (pivot check --repair, then pull it again)`, {
        exitCode: 1,
      })
    }

    const {RegistryClient, RegistryError} = await import('../registry')
    const client = options.client ?? new RegistryClient(ref.domain, ref.path, {push: true, signal: options.signal})
    emit({type: 'phase', title: `The push refers to repository [${familiarName(ref.repository).replace(/:latest$/, '')}]`})
    await client.ping()

    const uploads = new Map<string, Promise<LayerUpload>>()
    const layerUpload = (digest: string) => {
      let u = uploads.get(digest)
      if (!u) {
        u = layerBlob(store, digest, format, lease, emit, warn, options.signal).then(blob => ({
          layer: digest,
          blob,
          file: store.layerBlobFile(digest),
          mediaType: layerMediaType(blob, format),
        }))
        uploads.set(digest, u)
      }
      return u
    }

    const unique = [...new Set(image.layers)]
    for (const d of unique) emit({type: 'pull', id: shortId(d), status: 'Preparing'})
    const results = new Map<string, {upload: LayerUpload; pushed: PushedLayer}>()
    const queue = [...unique]
    const chunkSize = options.chunkSize ?? chunkSizeFromEnv()
    let failed: unknown
    const worker = async () => {
      for (let next = queue.shift(); next && failed === undefined; next = queue.shift()) {
        const digest = next
        try {
          const upload = await layerUpload(digest)
          const id = shortId(digest)
          const sent = await sendBlob(client, ref, upload.blob, upload.file, {
            what: `layer ${id} of ${shown}`,
            chunkSize,
            signal: options.signal,
            onStart: () => emit({type: 'pull', id, status: 'Pushing'}),
          })
          store.addBlobSource(digest, `${ref.domain}/${ref.path}`)
          emit({
            type: 'pull',
            id,
            status: sent.status === 'exists' ? 'Layer already exists' : sent.status === 'mounted' ? `Mounted from ${sent.from}` : 'Pushed',
          })
          results.set(digest, {upload, pushed: {digest: upload.blob.digest, size: upload.blob.size, diffId: upload.blob.diffId, ...sent}})
        } catch (error) {
          failed ??= error
        }
      }
    }
    const concurrency = Math.max(1, Math.min(options.concurrency ?? DEFAULT_CONCURRENT_UPLOADS, unique.length))
    await Promise.all(Array.from({length: concurrency}, worker))
    if (failed !== undefined) throw failed

    const layers = image.layers.map(d => results.get(d)!)
    const changed = layers.filter(l => l.upload.blob.diffId !== l.upload.layer)
    if (changed.length > 0) {
      warn(
        `${changed.length} layer${changed.length === 1 ? '' : 's'} of ${shown} (${changed.map(l => shortId(l.upload.layer)).join(', ')}) went re-packed: the cache has no original tar of ${changed.length === 1 ? 'it' : 'them'} (no registry blob, no usable tar-split), so the pushed image has other layer digests (and pivot id) than the cached one`,
      )
    }

    const diffIds = layers.map(l => l.upload.blob.diffId)
    // The source's own config when the layers went as their original tars: docker sees the same image id.
    const config = originalConfigOf(image, diffIds) ?? Buffer.from(JSON.stringify(configBlobOf(image, diffIds)))
    const configDigest = sha256(config)
    await sendBlob(client, ref, {digest: configDigest, size: config.length, compression: 'none', diffId: configDigest, sources: []}, config, {
      what: `the config of ${shown}`,
      chunkSize,
      signal: options.signal,
    })

    const mediaType = format === 'oci' ? MEDIA.manifest : MEDIA.dockerManifest
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType,
        config: {mediaType: format === 'oci' ? MEDIA.config : MEDIA.dockerConfig, size: config.length, digest: configDigest},
        layers: layers.map(l => ({mediaType: l.upload.mediaType, size: l.upload.blob.size, digest: l.upload.blob.digest})),
      }),
    )
    const digest = sha256(manifest)
    const tag = ref.tag ?? 'latest'
    const res = await client.send(`/v2/${ref.path}/manifests/${tag}`, {
      method: 'PUT',
      body: manifest,
      headers: {'Content-Type': mediaType, 'Content-Length': String(manifest.length)},
      what: `the manifest of ${shown}`,
      signal: options.signal,
    })
    res.body.resume()
    const said = headerOf(res, 'docker-content-digest')
    if (said?.startsWith('sha256:') && said !== digest) {
      throw new RegistryError('REGISTRY_BAD_CONTENT', `registry ${ref.domain} filed the manifest of ${shown} as ${said}, but its digest is ${digest}`)
    }
    return {
      name: ref.name,
      id: image.id,
      digest,
      size: manifest.length,
      mediaType,
      config: configDigest,
      layers: layers.map(l => l.pushed),
      warnings,
    }
  } catch (error) {
    if (options.signal?.aborted && !isPivotError(error)) throw new ImageError('IMAGE_PUSH_FAILED', `push of ${shown} cancelled`, {exitCode: 130})
    throw error
  } finally {
    lease.release()
  }
}

function safeFindById(store: Store, id: string): boolean {
  try {
    return store.findImageById(id) !== undefined
  } catch {
    return false
  }
}

/** NAME[:TAG] as docker push reads it: a digest cannot be pushed to. */
function pushReference(arg: string): NormalizedReference {
  let ref: NormalizedReference
  try {
    ref = normalizeReference(arg)
  } catch (error) {
    if (isPivotError(error)) throw new ImageError('IMAGE_BAD_NAME', error.message, {exitCode: 1})
    throw error
  }
  if (ref.digest !== undefined) throw new ImageError('IMAGE_BAD_NAME', `cannot push a digest reference (${arg}): push a name with a tag`, {exitCode: 1})
  return ref
}

function layerMediaType(blob: LayerBlob, format: PushFormat): string {
  if (format === 'oci') return blob.compression === 'zstd' ? MEDIA.layerZstd : MEDIA.layerGzip
  return MEDIA.dockerLayerGzip
}

/**
 * The layer's kept blob in a form `format` can name: gzip always; zstd only in an OCI manifest
 * (Docker's v2 schema 2 has no zstd type). Anything else (no blob, a plain tar, zstd for
 * docker) is made once under a per-layer lock (two pushes do the work once) and kept: from the
 * kept blob's own content when there is one (the diff id stays), else by re-packing the layer.
 */
async function layerBlob(
  store: Store,
  digest: string,
  format: PushFormat,
  lease: Lease,
  emit: (e: ProgressEvent) => void,
  warn: (message: string) => void,
  signal?: AbortSignal,
): Promise<LayerBlob> {
  const usable = (b: LayerBlob | undefined) => b !== undefined && (b.compression === 'gzip' || (b.compression === 'zstd' && format === 'oci'))
  const kept = store.layerBlob(digest)
  if (usable(kept)) return kept!
  const {withFileLock} = await import('../store/file-lock')
  // The lock file goes with the lock: one per layer ever pushed would pile up in locks/.
  return withFileLock(
    store.path('locks', `blob-${digestHex(digest)}.lock`),
    async () => {
      const now = store.layerBlob(digest)
      if (usable(now)) return now!
      emit({type: 'pull', id: shortId(digest), status: 'Compressing'})
      const staging = store.stage('push')
      try {
        const file = path.join(staging, 'blob')
        const made = await gzipLayer(store, digest, now, file, warn, signal)
        return await lease.pin(() => {
          // A plain or zstd blob gives way to the gzip of the same content (same diff id).
          if (now) store.dropLayerBlob(digest)
          return store.keepLayerBlob(digest, file, made)
        })
      } finally {
        fs.rmSync(staging, {recursive: true, force: true})
      }
    },
    {removeOnRelease: true, what: `the compression of layer ${shortId(digest)} by another push`},
  )
}

/**
 * gzips the layer's tar into `file`, hashing the tar (the diff id) and the gzip (the blob digest)
 * as they stream. The tar: the kept blob's content; else the original tar rebuilt from the
 * layer's tar-split (same diff id); else, when there is none or it cannot give the layer's bytes
 * back (`warn` says why, in one line), a re-pack of the layer's files.
 */
async function gzipLayer(
  store: Store,
  digest: string,
  kept: LayerBlob | undefined,
  file: string,
  warn: (message: string) => void,
  signal?: AbortSignal,
): Promise<LayerBlob> {
  if (kept) {
    const raw = fs.createReadStream(store.layerBlobFile(digest), {highWaterMark: 1 << 20}) as AsyncIterable<Buffer>
    const {decompress} = await import('../unpack/compression')
    return gzipTar(kept.compression === 'none' ? raw : decompress(raw, kept.compression), digest, file, signal)
  }
  const {withOriginalLayerTar} = await import('./original-layer-tar')
  return withOriginalLayerTar(store, digest, warn, tar => gzipTar(tar, digest, file, signal))
}

async function gzipTar(source: AsyncIterable<Buffer>, digest: string, file: string, signal?: AbortSignal): Promise<LayerBlob> {
  const zlib = await import('node:zlib')
  const tarHash = createHash('sha256')
  const blobHash = createHash('sha256')
  const blob = {size: 0}
  try {
    await pipeline(
      Readable.from(source, {objectMode: false}),
      hashThrough(tarHash),
      // Node's gzip writes mtime 0 and no name in its header: the same tar gives the same bytes.
      zlib.createGzip(),
      hashThrough(blobHash, blob),
      fs.createWriteStream(file, {mode: 0o600}),
      {signal},
    )
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ABORT_ERR') throw new ImageError('IMAGE_PUSH_FAILED', 'push cancelled', {exitCode: 130})
    const {describeFsError} = await import('../store')
    const message = isPivotError(error) ? error.message : (describeFsError(error)?.message ?? (error as Error).message)
    throw new ImageError('IMAGE_PUSH_FAILED', `cannot compress layer ${digest}: ${message}`, {cause: error})
  }
  const diffId = `sha256:${tarHash.digest('hex')}`
  return {digest: `sha256:${blobHash.digest('hex')}`, size: blob.size, compression: 'gzip', diffId, sources: []}
}

/**
 * One blob into the repository: skipped when the registry has it, mounted when another repository
 * of the registry is known to have it, uploaded otherwise. The digest the registry files it under
 * must be ours.
 */
async function sendBlob(
  client: RegistryClient,
  ref: NormalizedReference,
  blob: LayerBlob,
  body: string | Buffer,
  o: {what: string; chunkSize: number; signal?: AbortSignal; onStart?: () => void},
): Promise<{status: PushedLayer['status']; from?: string}> {
  const {RegistryError} = await import('../registry')
  const uploads = `/v2/${ref.path}/blobs/uploads/`
  const head = await client.send(`/v2/${ref.path}/blobs/${blob.digest}`, {method: 'HEAD', allow: [404], what: o.what, signal: o.signal})
  head.body.resume()
  if (head.status === 200) return {status: 'exists'}

  let location: string | undefined
  const prefix = `${ref.domain}/`
  for (const source of blob.sources) {
    if (!source.startsWith(prefix)) continue
    const from = source.slice(prefix.length)
    if (from === ref.path) continue
    client.addPullScope(from)
    const res = await client.send(`${uploads}?mount=${encodeURIComponent(blob.digest)}&from=${encodeURIComponent(from)}`, {
      method: 'POST',
      headers: {'Content-Length': '0'},
      what: o.what,
      signal: o.signal,
    })
    res.body.resume()
    if (res.status === 201) return {status: 'mounted', from}
    // 202: the registry could not mount (no longer there, or not readable) and opened an upload instead.
    location = headerOf(res, 'location')
    break
  }

  o.onStart?.()
  // A 5xx or a broken connection mid-upload is retried from a fresh upload (docker retries a
  // layer 5 times); the registry drops the unfinished one.
  for (let attempt = 1; ; attempt++) {
    try {
      return await upload(client, ref, blob, body, o, location)
    } catch (error) {
      const transient =
        error instanceof RegistryError && (error.code === 'REGISTRY_UNREACHABLE' || (error.code === 'REGISTRY_SERVER_ERROR' && (error.status ?? 0) >= 500))
      if (!transient || attempt >= UPLOAD_ATTEMPTS || o.signal?.aborted) throw error
      location = undefined
      await new Promise(resolve => setTimeout(resolve, 500 * attempt))
    }
  }
}

/** Attempts per blob upload within one push. */
const UPLOAD_ATTEMPTS = 3

/** POST (unless a failed mount opened the upload at `location`), then one PUT or PATCH chunks and a PUT. */
async function upload(
  client: RegistryClient,
  ref: NormalizedReference,
  blob: LayerBlob,
  body: string | Buffer,
  o: {what: string; chunkSize: number; signal?: AbortSignal},
  location: string | undefined,
): Promise<{status: PushedLayer['status']}> {
  const {RegistryError} = await import('../registry')
  const uploads = `/v2/${ref.path}/blobs/uploads/`
  if (location === undefined) {
    const res = await client.send(uploads, {method: 'POST', headers: {'Content-Length': '0'}, what: o.what, signal: o.signal})
    res.body.resume()
    location = headerOf(res, 'location')
  }
  if (!location) throw new RegistryError('REGISTRY_SERVER_ERROR', `registry ${ref.domain} opened an upload for ${o.what} but named no Location`)
  const bytes = (start: number, end: number) => () =>
    typeof body === 'string' ? fs.createReadStream(body, {start, end, highWaterMark: 1 << 20}) : Readable.from([body.subarray(start, end + 1)])

  // Monolithic: one PUT with the whole blob. Chunked: PATCHes with Content-Range, each to the
  // Location the previous answer named, then a PUT with no body.
  let done: HttpResponse
  if (blob.size <= o.chunkSize) {
    done = await client.send(withDigest(location, blob.digest, client), {
      method: 'PUT',
      body: bytes(0, blob.size - 1),
      headers: {'Content-Type': 'application/octet-stream', 'Content-Length': String(blob.size)},
      what: o.what,
      signal: o.signal,
    })
  } else {
    for (let offset = 0; offset < blob.size;) {
      const end = Math.min(offset + o.chunkSize, blob.size) - 1
      const res = await client.send(new URL(location, client.base).toString(), {
        method: 'PATCH',
        body: bytes(offset, end),
        headers: {'Content-Type': 'application/octet-stream', 'Content-Length': String(end - offset + 1), 'Content-Range': `${offset}-${end}`},
        what: o.what,
        signal: o.signal,
      })
      res.body.resume()
      const range = /^(?:bytes=)?0-(\d+)$/.exec(headerOf(res, 'range') ?? '')
      if (range && Number(range[1]) !== end) {
        throw new RegistryError('REGISTRY_SERVER_ERROR', `registry ${ref.domain} took ${o.what} up to byte ${range[1]}, not ${end}`)
      }
      location = headerOf(res, 'location') ?? location
      offset = end + 1
    }
    done = await client.send(withDigest(location, blob.digest, client), {method: 'PUT', headers: {'Content-Length': '0'}, what: o.what, signal: o.signal})
  }
  done.body.resume()
  const said = headerOf(done, 'docker-content-digest')
  if (said?.startsWith('sha256:') && said !== blob.digest) {
    throw new RegistryError('REGISTRY_BAD_CONTENT', `registry ${ref.domain} filed ${o.what} as ${said}, not ${blob.digest}`)
  }
  return {status: 'pushed'}
}

function withDigest(location: string, digest: string, client: RegistryClient): string {
  const url = new URL(location, client.base)
  url.searchParams.set('digest', digest)
  return url.toString()
}

function chunkSizeFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.PIVOT_PUSH_CHUNK_SIZE)
  return Number.isSafeInteger(n) && n >= 1024 ? n : DEFAULT_CHUNK_SIZE
}

function headerOf(res: HttpResponse, name: string): string | undefined {
  const v = res.headers[name]
  return Array.isArray(v) ? v[0] : v
}

function sha256(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`
}

function shortId(digest: string): string {
  return digest.replace(/^sha256:/, '').slice(0, 12)
}
