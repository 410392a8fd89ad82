import {createHash} from 'node:crypto'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {PassThrough} from 'node:stream'
import {isPivotError} from '../errors'
import type {NormalizedReference} from '../reference'
import type {Descriptor, FetchedManifest, Platform, RegistryClient} from '../registry'
import {type ImageConfig, type ImageRecord, type Store, TAR_SPLIT_FILE, digestHex, fsReason} from '../store'
import {DOWNLOADS_DIR, removeStaging} from '../store/store'
import {Lease} from '../store/gc-lock'
import type {ProgressEvent} from './progress-event'
import {ImageError} from './image-error'
import {configText} from './image-layout'
import {abortedError, type StagedLayer} from './unpack-image-archive'
import type {UnpackLayerFn} from './unpack-layer-fn'
import type {PreparedUnpacker} from '../unpack'
import {imageConfigOf, type ConfigFields} from '../daemon/image-info'

/** Docker's default (`dockerd --max-concurrent-downloads`). */
export const DEFAULT_CONCURRENT_DOWNLOADS = 3
/** Attempts per blob within one pull when the connection breaks or the body stops short. */
const ATTEMPTS = 3

export interface RegistryImage {
  /** Digest of the manifest the tag (or digest) named: an index's for a multi-platform image (docker's RepoDigest). */
  repoDigest: string
  /** Digest of the image manifest itself (the platform's, under an index). */
  manifestDigest: string
  platform?: Platform
  configDigest: string
  /** The config's bytes as text (ImageRecord.configJson), when they are UTF-8 that round-trips. */
  configJson?: string
  config: ImageConfig
  created: string
  diffIds: string[]
  layers: Descriptor[]
}

export interface RegistryPullContext {
  client: RegistryClient
  ref: NormalizedReference
  shown: string
  /** --platform, when given: an image of another platform is then refused. */
  platform?: Platform
  emit: (event: ProgressEvent) => void
  signal?: AbortSignal
}

/**
 * Resolves a reference to one image: the manifest (through indexes, nested too, to the
 * platform's entry) and its config, every byte checked against its digest.
 */
export async function resolveRegistryImage(c: RegistryPullContext): Promise<RegistryImage> {
  const {
    MAX_INDEX_DEPTH,
    MAX_CONFIG_BYTES,
    MAX_MANIFEST_BYTES,
    RegistryError,
    formatPlatform,
    hostPlatform,
    normalizePlatform,
    platformMatches,
    readBody,
    selectPlatform,
  } = await import('../registry')
  const wanted = c.platform ?? hostPlatform()
  const top = await c.client.manifest(c.ref.digest ?? c.ref.tag ?? 'latest', c.shown)
  let current: FetchedManifest = top
  let platform: Platform | undefined
  for (let depth = 0; current.manifest.kind === 'index'; depth++) {
    if (depth >= MAX_INDEX_DEPTH) throw new RegistryError('REGISTRY_BAD_CONTENT', `the index of ${c.shown} nests more than ${MAX_INDEX_DEPTH} levels deep`)
    const entry = selectPlatform(current.manifest, wanted, c.shown)
    if (entry.size > MAX_MANIFEST_BYTES) {
      throw new RegistryError('REGISTRY_TOO_LARGE', `the ${formatPlatform(wanted)} manifest of ${c.shown} claims ${entry.size} bytes, more than pivot accepts`)
    }
    if (entry.platform) platform = normalizePlatform(entry.platform)
    current = await c.client.manifest(entry.digest, `${c.shown} (${formatPlatform(wanted)})`)
  }
  const manifest = current.manifest as Extract<typeof current.manifest, {kind: 'image'}>
  if (manifest.config.size > MAX_CONFIG_BYTES) {
    throw new RegistryError(
      'REGISTRY_TOO_LARGE',
      `the config of ${c.shown} claims ${manifest.config.size} bytes, more than the ${MAX_CONFIG_BYTES} pivot accepts`,
    )
  }
  const res = await c.client.blob(manifest.config.digest, {what: `the config of ${c.shown}`})
  const bytes = await readBody(res, MAX_CONFIG_BYTES, `the config of ${c.shown}`)
  const digest = 'sha256:' + createHash('sha256').update(bytes).digest('hex')
  if (digest !== manifest.config.digest) {
    throw new RegistryError('REGISTRY_BAD_CONTENT', `the config of ${c.shown} has digest ${digest}, not the ${manifest.config.digest} its manifest names`)
  }
  let doc: {os?: string; architecture?: string; variant?: string; created?: string; config?: ConfigFields | null; rootfs?: {type?: string; diff_ids?: unknown}}
  try {
    doc = JSON.parse(bytes.toString('utf8')) as typeof doc
  } catch {
    throw new RegistryError('REGISTRY_BAD_CONTENT', `the config of ${c.shown} is not valid JSON`)
  }
  const diffIds = doc.rootfs?.diff_ids
  if (!Array.isArray(diffIds) || !diffIds.every(d => typeof d === 'string' && /^sha256:[0-9a-f]{64}$/.test(d))) {
    throw new RegistryError('REGISTRY_BAD_CONTENT', `the config of ${c.shown} has no list of layer diff ids`)
  }
  if (diffIds.length !== manifest.layers.length) {
    throw new RegistryError(
      'REGISTRY_BAD_CONTENT',
      `the manifest of ${c.shown} lists ${manifest.layers.length} layers but its config ${diffIds.length} diff ids`,
    )
  }
  if (c.platform && doc.os && doc.architecture) {
    const has = normalizePlatform({os: doc.os, architecture: doc.architecture, variant: doc.variant})
    if (!platformMatches(has, c.platform)) {
      throw new RegistryError('REGISTRY_NO_PLATFORM', `${c.shown} is an image for ${formatPlatform(has)}, not ${formatPlatform(c.platform)}`)
    }
  }
  if (!platform && doc.os && doc.architecture) platform = normalizePlatform({os: doc.os, architecture: doc.architecture, variant: doc.variant})
  return {
    repoDigest: top.digest,
    manifestDigest: current.digest,
    platform,
    configDigest: digest,
    configJson: configText(bytes),
    config: imageConfigOf(doc.config ?? {}),
    created: typeof doc.created === 'string' ? doc.created : '',
    diffIds: diffIds as string[],
    layers: manifest.layers,
  }
}

export interface LayerWork {
  store: Store
  client: RegistryClient
  image: RegistryImage
  shown: string
  unpack: UnpackLayerFn
  emit: (event: ProgressEvent) => void
  signal?: AbortSignal
  lease: Lease
  concurrency: number
  /** A worker started early: the first layer to unpack takes it. */
  prepared?: PreparedUnpacker
}

/**
 * Downloads and unpacks the layers the store lacks, `concurrency` at a time, each unpacked as its
 * bytes arrive and verified as they stream (size and digest from the manifest, diff id from the
 * config), then commits them all (only when every one is sound: a failed pull adds no layer).
 * Returns whether anything was unpacked.
 */
export async function pullRegistryLayers(w: LayerWork): Promise<boolean> {
  const {image, store} = w
  const wanted = new Map<string, {desc: Descriptor; index: number}>()
  await w.lease.pin(() => {
    w.lease.keepLayers(image.diffIds.filter(d => store.hasLayer(d)))
    image.diffIds.forEach((d, i) => {
      if (!store.hasLayer(d) && !wanted.has(d)) wanted.set(d, {desc: image.layers[i], index: i})
    })
  })
  image.diffIds.forEach((d, i) => {
    if (!wanted.has(d)) w.emit({type: 'pull', id: shortId(image.layers[i].digest), status: 'Already exists'})
  })
  if (wanted.size === 0) return false

  // A layer claiming more than the disk has is refused before a byte is fetched (the unpacked
  // tree needs more again, but that is only known while unpacking, which stops at ENOSPC).
  const downloads = store.path('tmp', DOWNLOADS_DIR)
  const need = [...wanted.values()].reduce((sum, {desc}) => sum + desc.size - partialSize(downloads, desc), 0)
  const free = freeBytes(store.path('tmp'))
  if (free !== undefined && need > free) {
    // A full disk is the host's problem, not the registry's: pivot's status (125), the words a
    // write would have failed with.
    throw new ImageError(
      'IMAGE_PULL_FAILED',
      `${w.shown} needs ${formatBytes(need)} of downloads but the cache's file system has ${formatBytes(free)} free (no space left on device)`,
    )
  }

  fs.mkdirSync(downloads, {recursive: true, mode: 0o700})
  const controller = new AbortController()
  const onAbort = () => controller.abort(abortedError())
  w.signal?.addEventListener('abort', onAbort, {once: true})
  const staged = new Map<string, StagedLayer>()
  const stagings: string[] = []
  let firstError: unknown
  const queue = [...wanted.entries()]
  const worker = async () => {
    for (let next = queue.shift(); next && firstError === undefined; next = queue.shift()) {
      const [diffId, {desc, index}] = next
      try {
        const layer = await fetchLayer(w, desc, diffId, index, controller.signal, stagings)
        staged.set(diffId, layer)
      } catch (error) {
        firstError ??= error
        // The others stop too: their partial downloads stay for the next pull.
        controller.abort(error)
      }
    }
  }
  try {
    await Promise.all(Array.from({length: Math.max(1, Math.min(w.concurrency, wanted.size))}, worker))
    if (w.signal?.aborted) throw abortedError()
    if (firstError !== undefined) throw firstError
    await w.lease.pin(() => {
      for (const digest of image.diffIds) {
        const layer = staged.get(digest)
        if (!layer || !fs.existsSync(layer.staging)) continue
        store.commitLayer(layer.staging, {digest, tarSize: layer.size, entries: layer.entries})
        w.lease.keepLayers([digest])
      }
      w.lease.keepLayers(image.diffIds.filter(d => store.hasLayer(d)))
    })
    // Committed: the compressed copies are no longer a resume point.
    for (const {desc} of wanted.values()) fs.rmSync(partPath(downloads, desc), {force: true})
    removeIfEmpty(downloads)
    return true
  } finally {
    w.signal?.removeEventListener('abort', onAbort)
    for (const dir of stagings) removeStaging(dir)
    removeIfEmpty(downloads)
  }
}

/** Opens (appending) a partial download; its directory may have just been removed by another pull that found it empty. */
function openPart(part: string): number {
  try {
    return fs.openSync(part, 'a', 0o600)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
    fs.mkdirSync(path.dirname(part), {recursive: true, mode: 0o700})
    return fs.openSync(part, 'a', 0o600)
  }
}

/** tmp/downloads goes when nothing waits in it: a cache with no interrupted download has a clean tmp/. */
function removeIfEmpty(dir: string): void {
  try {
    fs.rmdirSync(dir)
  } catch {
    // not empty (another download waits in it), or gone already
  }
}

function partPath(downloads: string, desc: Descriptor): string {
  return path.join(downloads, `${digestHex(desc.digest)}.part`)
}

function partialSize(downloads: string, desc: Descriptor): number {
  try {
    const size = fs.statSync(partPath(downloads, desc)).size
    return size <= desc.size ? size : 0
  } catch {
    return 0
  }
}

function freeBytes(dir: string): number | undefined {
  try {
    const s = fs.statfsSync(dir)
    return s.bavail * s.bsize
  } catch {
    return undefined
  }
}

/**
 * One layer: under a per-blob lock (two pulls of images sharing it download it once), its partial
 * download resumed with a Range request, its bytes written to the partial file, hashed and fed
 * to the unpacker as they arrive. Resolves with the staged (not committed) layer.
 */
async function fetchLayer(w: LayerWork, desc: Descriptor, diffId: string, index: number, signal: AbortSignal, stagings: string[]): Promise<StagedLayer> {
  const {RegistryError, networkCause} = await import('../registry')
  const id = shortId(desc.digest)
  const what = `layer ${index + 1}/${w.image.layers.length} (${id}) of ${w.shown}`
  // The lock file goes with the lock: one per blob ever pulled would pile up in locks/.
  const {withFileLock} = await import('../store/file-lock')
  return withFileLock(
    downloadLockFile(w.store, desc.digest),
    async () => {
      if (signal.aborted) throw abortedError()
      const downloads = w.store.path('tmp', DOWNLOADS_DIR)
      const part = partPath(downloads, desc)
      const staging = w.store.stage('layer')
      stagings.push(staging)
      const rootfs = path.join(staging, 'rootfs')
      fs.mkdirSync(rootfs, {mode: 0o755})
      const feed = new PassThrough({highWaterMark: 1 << 20})
      const prepared = w.prepared
      w.prepared = undefined
      const unpacking = w.unpack(feed, rootfs, {signal, prepared, tarSplit: path.join(staging, TAR_SPLIT_FILE)})
      unpacking.catch(() => undefined)
      let downloadError: unknown
      let verified = false
      const hash = createHash('sha256')
      let fd: number | undefined
      const started = Date.now()
      let lastEmit = 0
      let received = 0
      let resumedFrom = 0

      // Writes to the unpacker; once it has stopped reading (done with the archive, or failed) the
      // rest of the blob is still downloaded and hashed: the digest covers every byte.
      const toUnpacker = async (chunk: Buffer) => {
        if (feed.destroyed || feed.writableEnded) return
        if (!feed.write(chunk)) {
          await new Promise<void>(resolve => {
            const done = () => {
              feed.off('drain', done)
              feed.off('close', done)
              resolve()
            }
            feed.on('drain', done)
            feed.on('close', done)
          })
        }
      }
      const progress = (force = false) => {
        const now = Date.now()
        if (!force && now - lastEmit < 250) return
        lastEmit = now
        const seconds = Math.max((now - started) / 1000, 0.001)
        w.emit({type: 'pull', id, status: 'Downloading', current: received, total: desc.size, rate: (received - resumedFrom) / seconds})
      }

      const download = async () => {
        let offset = partialSize(downloads, desc)
        if (offset === 0) fs.rmSync(part, {force: true})
        const out = openPart(part)
        fd = out
        w.emit({type: 'pull', id, status: offset > 0 ? `Resuming at ${formatBytes(offset)}` : 'Pulling fs layer'})
        let fed = 0 // bytes given to the hash and the unpacker
        for (let attempt = 1; ; attempt++) {
          if (signal.aborted) throw abortedError()
          const from = fed === 0 ? offset : fed
          let res
          try {
            res = await w.client.blob(desc.digest, {offset: from < desc.size ? from : 0, size: desc.size, what, signal})
          } catch (error) {
            if (signal.aborted) throw abortedError()
            if (!isPivotError(error) || error.code !== 'REGISTRY_UNREACHABLE') throw error
            if (attempt < ATTEMPTS) continue
            const got = Math.max(fed, offset)
            throw new RegistryError(
              'REGISTRY_UNREACHABLE',
              `${what}: the download broke after ${formatBytes(got)} of ${formatBytes(desc.size)} (${networkCause(error.cause ?? error)})${got > 0 ? '; the next pull resumes it' : ''}`,
              {cause: error},
            )
          }
          let skip = 0
          if (from > 0 && res.status === 206) {
            const range = /^bytes (\d+)-/.exec(String(res.headers['content-range'] ?? ''))
            if (!range || Number(range[1]) !== from) {
              res.body.destroy()
              throw new RegistryError(
                'REGISTRY_BAD_CONTENT',
                `${what}: the registry answered a range request for byte ${from} with ${res.headers['content-range'] ?? 'no Content-Range'}`,
              )
            }
          } else if (from > 0) {
            // A 200 to a range request: the whole blob again. What was only on disk is dropped and
            // the download restarts from zero; bytes already given to the unpacker are skipped
            // (the digest at the end proves they were the same).
            if (fed === 0) {
              fs.ftruncateSync(out, 0)
              offset = 0
            } else skip = fed
          }
          if (fed === 0 && offset > 0 && res.status === 206) {
            // Resuming across pulls: the hash and the unpacker get the bytes kept on disk first.
            const stream = fs.createReadStream(part, {start: 0, end: offset - 1, highWaterMark: 1 << 20})
            for await (const chunk of stream as AsyncIterable<Buffer>) {
              hash.update(chunk)
              await toUnpacker(chunk)
            }
            fed = offset
            received = offset
            resumedFrom = offset
          }
          if (fed === 0) received = 0
          try {
            for await (const raw of res.body as AsyncIterable<Buffer>) {
              let chunk = raw
              if (skip > 0) {
                const n = Math.min(skip, chunk.length)
                skip -= n
                chunk = chunk.subarray(n)
                if (chunk.length === 0) continue
              }
              if (fed + chunk.length > desc.size) {
                res.body.destroy()
                fs.closeSync(out)
                fd = undefined
                fs.rmSync(part, {force: true})
                throw new RegistryError('REGISTRY_BAD_CONTENT', `${what}: the registry sent more than the ${desc.size} bytes its manifest says`)
              }
              try {
                fs.writeSync(out, chunk)
              } catch (error) {
                // A full disk (or a read-only one): the partial file only takes space, drop it.
                res.body.destroy()
                fs.closeSync(out)
                fd = undefined
                fs.rmSync(part, {force: true})
                throw new ImageError('IMAGE_PULL_FAILED', `${what}: cannot write the download into the cache: ${fsReason(error)}`, {cause: error})
              }
              hash.update(chunk)
              fed += chunk.length
              received = fed
              progress()
              await toUnpacker(chunk)
            }
          } catch (error) {
            if (isPivotError(error)) throw error
            if (signal.aborted) throw abortedError()
            if (attempt < ATTEMPTS) continue
            throw new RegistryError(
              'REGISTRY_UNREACHABLE',
              `${what}: the download broke after ${formatBytes(fed)} of ${formatBytes(desc.size)} (${networkCause(error)}); the next pull resumes it`,
              {cause: error},
            )
          }
          if (fed < desc.size) {
            if (attempt < ATTEMPTS) continue
            throw new RegistryError(
              'REGISTRY_UNREACHABLE',
              `${what}: the registry sent ${formatBytes(fed)} of ${formatBytes(desc.size)} (truncated); the next pull resumes it`,
            )
          }
          break
        }
        fs.closeSync(out)
        fd = undefined
        const got = 'sha256:' + hash.digest('hex')
        if (got !== desc.digest) {
          fs.rmSync(part, {force: true})
          throw new RegistryError('REGISTRY_BAD_CONTENT', `${what}: the registry sent bytes whose digest is ${got}, not ${desc.digest}`)
        }
        verified = true
        progress(true)
        const seconds = Math.max((Date.now() - started) / 1000, 0.001)
        w.emit({
          type: 'pull',
          id,
          status: `Downloaded ${formatBytes(received - resumedFrom)} in ${seconds.toFixed(1)} s (${formatBytes((received - resumedFrom) / seconds)}/s)`,
        })
        feed.end()
      }

      try {
        try {
          await download()
        } catch (error) {
          downloadError = error
          feed.destroy(error instanceof Error ? error : new Error(String(error)))
        } finally {
          if (fd !== undefined) fs.closeSync(fd)
        }
        let result
        try {
          result = await unpacking
        } catch (error) {
          if (signal.aborted && downloadError === undefined) throw abortedError()
          if (downloadError !== undefined) throw downloadError
          // The bytes were the manifest's, but they are not a layer pivot can unpack: not kept.
          if (verified) fs.rmSync(part, {force: true})
          throw new ImageError('IMAGE_PULL_FAILED', `${what} cannot be unpacked: ${(error as Error).message}`, {cause: error})
        }
        if (downloadError !== undefined) throw downloadError
        if (result.digest !== diffId) {
          fs.rmSync(part, {force: true})
          throw new RegistryError(
            'REGISTRY_BAD_CONTENT',
            `${what}: its uncompressed content has digest ${result.digest}, not the diff id ${diffId} its config names`,
          )
        }
        // The verified compressed blob goes into the layer with it (a rename): a push sends it back
        // byte for byte, so the image keeps its digests (docs/DESIGN.md, "Push").
        const compression = blobCompression(part)
        if (compression !== undefined) {
          w.store.stageLayerBlob(staging, part, {
            digest: desc.digest,
            size: desc.size,
            compression,
            diffId,
            sources: [`${w.client.domain}/${w.client.repository}`],
          })
        }
        w.emit({type: 'pull', id, status: 'Pull complete'})
        return {digest: diffId, size: result.size, entries: result.entries, staging}
      } catch (error) {
        removeStaging(staging)
        throw error
      }
    },
    {removeOnRelease: true, what: `the download of ${what} by another pull`},
  )
}

/** The flock a download of `digest` holds (prune takes it too before deleting a partial file). */
export function downloadLockFile(store: Store, digest: string): string {
  return store.path('locks', `download-${digestHex(digest)}.lock`)
}

/**
 * Deletes the partial downloads no pull is working on (prune): a pull holds the blob's lock while
 * it writes. Returns what was removed (`downloads/<file>`) and the bytes freed.
 */
export function removeIdleDownloads(store: Store): {removed: string[]; bytes: number} {
  const {tryLockFile} = require('../store/file-lock') as typeof import('../store/file-lock')
  const dir = store.path('tmp', DOWNLOADS_DIR)
  let entries: string[]
  try {
    entries = fs.readdirSync(dir)
  } catch {
    return {removed: [], bytes: 0}
  }
  const removed: string[] = []
  let bytes = 0
  for (const entry of entries) {
    const m = /^([0-9a-f]{64})\.part$/.exec(entry)
    const lock = m ? tryLockFile(downloadLockFile(store, `sha256:${m[1]}`), {removeOnRelease: true}) : undefined
    if (m && !lock) continue
    try {
      bytes += fs.lstatSync(path.join(dir, entry)).size
      fs.rmSync(path.join(dir, entry), {recursive: true, force: true})
      removed.push(`${DOWNLOADS_DIR}/${entry}`)
    } finally {
      lock?.release()
    }
  }
  removeIfEmpty(dir)
  return {removed, bytes}
}

/** gzip, zstd or a plain tar (what a push can send), by the first bytes as the unpacker tells them; undefined for anything else. */
export function blobCompression(file: string): 'gzip' | 'zstd' | 'none' | undefined {
  const {sniffCompression} = require('../unpack/compression') as typeof import('../unpack/compression')
  const head = Buffer.alloc(512)
  const fd = fs.openSync(file, 'r')
  let n: number
  try {
    n = fs.readSync(fd, head, 0, head.length, 0)
  } finally {
    fs.closeSync(fd)
  }
  const kind = sniffCompression(head.subarray(0, n))
  return kind === 'gzip' || kind === 'zstd' || kind === 'none' ? kind : undefined
}

function shortId(digest: string): string {
  return digest.replace(/^sha256:/, '').slice(0, 12)
}

export function formatBytes(n: number): string {
  if (n < 1000) return `${Math.round(n)} B`
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB`
  if (n < 1e9) return `${(n / 1e6).toFixed(1)} MB`
  if (n < 1e12) return `${(n / 1e9).toFixed(1)} GB`
  return `${(n / 1e12).toFixed(1)} TB`
}

/** The cached image with this config digest and these layers (from either source), all layers present. */
export function findCachedByConfig(store: Store, configDigest: string, diffIds: string[]): ImageRecord | undefined {
  for (const record of store.listImages()) {
    const s = record.source
    if ((s.kind !== 'daemon' && s.kind !== 'registry') || s.dockerImageId !== configDigest) continue
    if (record.layers.length !== diffIds.length || !record.layers.every((d, i) => d === diffIds[i])) continue
    if (!record.layers.every(d => store.hasLayer(d))) continue
    return record
  }
  return undefined
}
