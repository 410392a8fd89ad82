import {randomBytes} from 'node:crypto'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {DaemonError} from '../daemon/daemon-error'
import type {PivotError} from '../errors'
import type {Platform} from '../registry'
import type {DaemonImage, DockerDaemon} from '../daemon/docker-daemon'
import {familiarName, normalizeReference, type NormalizedReference} from '../reference'
import {type ImageRecord, type Store, TAR_SPLIT_FILE} from '../store'
import {Lease} from '../store/gc-lock'
import {ImageError} from './image-error'
import type {ProgressEvent} from './progress-event'
import {configText} from './image-layout'
import type {PreparedUnpacker} from '../unpack'
import {abortedError, unpackImageArchive} from './unpack-image-archive'
import {defaultUnpackLayer, type UnpackLayerFn} from './unpack-layer-fn'
import {commitStaged} from './commit-staged'
import {isAlive} from '../common/process-identity'

export interface PullOptions {
  /** One flat layer from `docker export` of a throwaway container, instead of the image's layers. */
  flat?: boolean
  onProgress?: (event: ProgressEvent) => void
  signal?: AbortSignal
  /** The daemon to use (tests pass a FakeDaemon); default: connect per DOCKER_HOST. */
  daemon?: DockerDaemon | (() => Promise<DockerDaemon>)
  /** The layer unpacker (tests pass a fake); default: src/unpack's unpackLayer. */
  unpack?: UnpackLayerFn
  /** An unpack worker the caller started early (src/cli/pull.ts), for the first layer a registry pull unpacks; the caller discards it after. */
  preparedUnpacker?: PreparedUnpacker
  /**
   * auto (default): the registry when it answers, else the daemon's copy; registry: only the
   * registry; daemon: `docker pull` + `docker save` as before. --flat always uses the daemon.
   */
  source?: PullSource
  /** `os/arch[/variant]`: the entry of a multi-platform image to pull (default: this host's). */
  platform?: string
  /** Layers downloaded at once from a registry (default 3, as docker). */
  maxConcurrentDownloads?: number
}

export type PullSource = 'auto' | 'registry' | 'daemon'

export interface PullResult {
  /** The canonical name the image is filed under, e.g. `docker.io/library/ubuntu:latest`. */
  name: string
  /** pivot's image id. */
  id: string
  /** Layer digests, bottom first. */
  layers: string[]
  /** Bytes the image's layers take on disk. */
  size: number
  dockerImageId: string
  /** True when nothing was unpacked: the cache already held every layer. */
  reused: boolean
  warnings: string[]
  /** Where the image came from: the registry itself, or the Docker daemon. */
  source: 'registry' | 'daemon'
  /** The digest of the manifest (or index) the reference named, when known: `pivot images --digests`. */
  digest?: string
}

/** Label on pivot's throwaway export containers: `<hostname>:<pid>` of the pull that made it. */
export const EXPORT_LABEL = 'io.pivot.export'
/** Command given to an export container of an image that has none (the container never starts). */
export const EXPORT_PLACEHOLDER_CMD = '/pivot-export-placeholder'

/**
 * `pivot pull`: brings `reference` into the cache, straight from its registry (pullFromRegistry,
 * src/images/pull-registry.ts) or through the Docker daemon. With source auto (the default) the
 * registry is used when it answers and has the image; otherwise the daemon's own copy, with a
 * warning. The daemon path (--source daemon, --flat, or the fallback):
 *
 * 1. The daemon pulls (progress events per layer). When the registry is unreachable, or does not
 *    know the image, but the daemon has a copy, that copy is used with a warning: offline CI works.
 * 2. An image the cache already holds under the same docker image id (and in the same form,
 *    layered or flat) only gets the name pointed at it: no export at all.
 * 3. Otherwise, under a per-image lock (two concurrent pulls do the work once): layered, the
 *    `docker save` stream is unpacked layer by layer (layers already cached are skipped) and each
 *    layer's digest checked against the daemon's diff ids; flat, a container is created (never
 *    started), exported into one layer and removed. Layers are committed, then the image record,
 *    then the name.
 *
 * Any failure or abort leaves the cache as it was (staging dirs are removed; a killed pull's are
 * swept by the next one).
 */
export async function pullImage(store: Store, reference: string, options: PullOptions = {}): Promise<PullResult> {
  const ref = normalizeReference(reference)
  const emit = options.onProgress ?? (() => undefined)
  const warnings: string[] = []
  const warn = (message: string) => {
    warnings.push(message)
    emit({type: 'warning', message})
  }
  const signal = options.signal
  const checkAbort = () => {
    if (signal?.aborted) throw abortedError()
  }
  store.sweepTmp()
  const shown = familiarName(ref)
  const flat = options.flat ?? false
  const source = options.source ?? (flat ? 'daemon' : 'auto')
  if (flat && source === 'registry') {
    throw new ImageError(
      'IMAGE_PULL_FAILED',
      `cannot pull ${shown} with --flat from the registry: a flat image is a docker export of a container, which needs the daemon (use --source daemon or auto)`,
    )
  }
  const platform = options.platform === undefined ? undefined : (await import('../registry')).parsePlatform(options.platform)
  if (platform && source === 'daemon') {
    throw new ImageError('IMAGE_PULL_FAILED', `--platform needs the registry source (the daemon path pulls the daemon's own platform): drop --source daemon`)
  }

  // Straight from the registry unless told otherwise or the image wants the daemon (--flat).
  let fallback: PivotError | undefined
  if (source !== 'daemon' && !flat) {
    try {
      return await pullFromRegistry(store, ref, shown, {...options, platform, emit, warnings})
    } catch (error) {
      if (signal?.aborted) throw abortedError()
      if (source === 'registry' || !isFallbackError(error)) throw error
      fallback = error
    }
  }

  let daemon: DockerDaemon
  try {
    daemon = typeof options.daemon === 'function' ? await options.daemon() : (options.daemon ?? (await (await import('../daemon')).connectDaemon()))
  } catch (error) {
    // auto, registry unreachable and no daemon either: the registry's failure is the news.
    if (fallback && error instanceof DaemonError) {
      throw new ImageError('IMAGE_PULL_FAILED', `cannot pull ${shown}: ${fallback.message}; no Docker daemon to fall back on (${error.message})`, {
        cause: fallback,
        exitCode: fallback.exitCode,
      })
    }
    throw error
  }
  checkAbort()

  let image: DaemonImage
  if (fallback) {
    const local = await inspectOrUndefined(daemon, ref.name)
    if (!local) throw fallback
    if (platform && !sameArch(local, platform)) throw fallback
    emit({type: 'phase', title: `Using the Docker daemon's copy of ${shown}`})
    warn(
      fallback.code === 'REGISTRY_UNREACHABLE'
        ? `registry unreachable, using the daemon's copy of ${shown}`
        : `could not pull ${shown} (${fallback.message}), using the daemon's copy`,
    )
    image = local
  } else {
    emit({type: 'phase', title: `Pulling ${shown} through the Docker daemon`})
    image = await pullThroughDaemon(daemon, ref, shown, {emit, warn, signal})
  }
  checkAbort()

  const result = (record: ImageRecord, reused: boolean): PullResult => ({
    name: ref.name,
    id: record.id,
    layers: record.layers,
    size: store.imageDiskSize(record),
    dockerImageId: image.id,
    reused,
    warnings,
    source: 'daemon',
    ...(repoDigestOf(image, ref).repoDigest ? {digest: repoDigestOf(image, ref).repoDigest} : {}),
  })

  // Found cached layers or image records are pinned (GC lock, lease: src/store/gc-lock.ts) from
  // the lookup until the name references them, so a concurrent prune cannot free them meanwhile.
  const lease = new Lease(store, 'pull')
  const nameCached = () => {
    const found = findCached(store, image, flat)
    if (found) store.setRef(ref.name, found.id)
    return found && result(found, true)
  }
  const cached = await lease.pin(nameCached) // pins nothing itself: the name references the image
  if (cached) return cached

  return store
    .withLock(`pull-${image.id.replace(/^sha256:/, '')}`, async () => {
      // Another pull of this image may have finished while we waited for the lock.
      const now = await lease.pin(nameCached)
      if (now) return now
      checkAbort()
      warnDamaged(store, image, warn)
      const unpack = options.unpack ?? defaultUnpackLayer
      const {layers, unpacked, configJson} = flat
        ? await pullFlat(store, daemon, image, {unpack, emit, signal, shown, lease})
        : await pullLayered(store, daemon, image, {unpack, emit, signal, lease})
      return lease.pin(() => {
        const lost = layers.find(d => !store.hasLayer(d))
        if (lost !== undefined)
          throw new ImageError('IMAGE_PULL_FAILED', `cannot pull ${shown}: its layer ${lost} was removed from the cache during the pull: pull again`)
        const record = store.writeImage({
          layers,
          config: image.config,
          source: {kind: 'daemon', reference: ref.name, dockerImageId: image.id, ...repoDigestOf(image, ref)},
          created: image.created || new Date().toISOString(),
          added: new Date().toISOString(),
          ...(image.os && image.architecture ? {platform: {os: image.os, architecture: image.architecture}} : {}),
          ...(configJson === undefined ? {} : {configJson}),
        })
        store.setRef(ref.name, record.id)
        return result(record, !unpacked)
      })
    })
    .finally(() => lease.release())
}

/** Says which cached layers of this image are damaged: they are fetched again (hasLayer counts them absent). */
function warnDamaged(store: Store, image: DaemonImage, warn: (message: string) => void): void {
  const {damagedLayers} = require('./verify-layer') as typeof import('./verify-layer')
  const previous = store.listImages().filter(r => (r.source.kind === 'daemon' || r.source.kind === 'registry') && r.source.dockerImageId === image.id)
  for (const {digest, problem} of damagedLayers(store, [...image.diffIds, ...previous.flatMap(r => r.layers)])) {
    warn(`layer ${digest.slice(7, 19)} is damaged in the cache (${problem}): fetching it again`)
  }
}

interface Reporting {
  emit: (event: ProgressEvent) => void
  warn: (message: string) => void
  signal?: AbortSignal
}

/** Step 1: pull, falling back to the daemon's own copy when the registry fails us. */
async function pullThroughDaemon(daemon: DockerDaemon, ref: NormalizedReference, shown: string, r: Reporting): Promise<DaemonImage> {
  if (ref.digest) {
    // A digest pins the content: a copy the daemon already has is the image, registry or not.
    const local = await inspectOrUndefined(daemon, ref.name)
    if (local) return local
  }
  try {
    await daemon.pullImage(ref.name, p => r.emit({type: 'pull', ...p}), {signal: r.signal})
  } catch (error) {
    if (r.signal?.aborted) throw abortedError()
    if (!(error instanceof DaemonError) || error.code === 'DAEMON_UNREACHABLE' || error.code === 'DAEMON_BAD_HOST') throw error
    const local = await inspectOrUndefined(daemon, ref.name)
    if (!local) {
      if (error.code === 'DAEMON_IMAGE_NOT_FOUND') {
        throw new DaemonError('DAEMON_IMAGE_NOT_FOUND', `image ${shown} not found in its registry or the Docker daemon: ${stripPrefix(error.message)}`, {
          cause: error,
        })
      }
      throw error
    }
    r.warn(
      error.code === 'DAEMON_REGISTRY_UNREACHABLE'
        ? `registry unreachable, using the daemon's copy of ${shown}`
        : `could not pull ${shown} (${stripPrefix(error.message)}), using the daemon's copy`,
    )
    return local
  }
  return daemon.inspectImage(ref.name)
}

function stripPrefix(message: string): string {
  return message.replace(/^cannot pull \S+: /, '')
}

async function inspectOrUndefined(daemon: DockerDaemon, ref: string): Promise<DaemonImage | undefined> {
  try {
    return await daemon.inspectImage(ref)
  } catch (error) {
    if (error instanceof DaemonError && error.code === 'DAEMON_IMAGE_NOT_FOUND') return undefined
    throw error
  }
}

function sameLayers(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i])
}

/**
 * The cached image made from this docker image in this form: layered records carry exactly the
 * diff ids, a flat record one layer of its own. Every layer must still be there.
 */
export function findCached(store: Store, image: DaemonImage, flat: boolean): ImageRecord | undefined {
  for (const record of store.listImages()) {
    // A registry pull of the same image (same config digest) is the same image too.
    if ((record.source.kind !== 'daemon' && record.source.kind !== 'registry') || record.source.dockerImageId !== image.id) continue
    if (sameLayers(record.layers, image.diffIds) === flat) continue
    if (!record.layers.every(d => store.hasLayer(d))) continue
    return record
  }
  return undefined
}

function repoDigestOf(image: DaemonImage, ref: NormalizedReference): {repoDigest?: string} {
  for (const d of image.repoDigests) {
    try {
      const parsed = normalizeReference(d)
      if (parsed.repository === ref.repository && parsed.digest) return {repoDigest: parsed.digest}
    } catch {
      // a repo digest docker wrote that we cannot read: not worth failing a pull over
    }
  }
  return {}
}

interface Work {
  unpack: UnpackLayerFn
  emit: (event: ProgressEvent) => void
  signal?: AbortSignal
  /** Pins the layers found or committed until the image record and name reference them. */
  lease: Lease
}

/** Layered: `docker save`, unpack what the store lacks, verify, commit bottom-up. */
async function pullLayered(
  store: Store,
  daemon: DockerDaemon,
  image: DaemonImage,
  w: Work,
): Promise<{layers: string[]; unpacked: boolean; configJson?: string}> {
  const missing = await w.lease.pin(() => {
    w.lease.keepLayers(image.diffIds.filter(d => store.hasLayer(d)))
    return image.diffIds.filter(d => !store.hasLayer(d))
  })
  if (missing.length === 0) return {layers: image.diffIds, unpacked: false}
  w.emit({type: 'phase', title: `Unpacking ${plural(new Set(missing).size, 'layer')}`})
  let configJson: string | undefined
  const staged = await unpackImageArchive({
    store,
    diffIds: image.diffIds,
    imageId: image.id,
    open: signal => daemon.saveImage(image.id, {signal}),
    unpack: w.unpack,
    signal: w.signal,
    onLayer: (i, n) => w.emit({type: 'detail', title: `Unpacking layer ${i}/${n}`}),
    // Kept so that push and save give docker back the same image (the same id).
    onConfig: bytes => (configJson = configText(bytes)),
  })
  await w.lease.pin(() => {
    commitStaged(store, image.diffIds, staged, w.lease, w.signal)
    // A layer the unpacker skipped because another pull committed it meanwhile is pinned here.
    w.lease.keepLayers(image.diffIds.filter(d => store.hasLayer(d)))
  })
  return {layers: image.diffIds, unpacked: true, configJson}
}

/** Flat: a throwaway container (never started), exported into one layer, removed whatever happens. */
async function pullFlat(
  store: Store,
  daemon: DockerDaemon,
  image: DaemonImage,
  w: Work & {shown: string},
): Promise<{layers: string[]; unpacked: boolean; configJson?: string}> {
  w.emit({type: 'phase', title: `Exporting ${w.shown} (flat)`})
  await removeStaleExportContainers(daemon)
  const needsCmd = !image.config.Cmd?.length && !image.config.Entrypoint?.length
  const container = await daemon.createContainer({
    image: image.id,
    cmd: needsCmd ? [EXPORT_PLACEHOLDER_CMD] : undefined,
    name: `pivot-export-${process.pid}-${randomBytes(4).toString('hex')}`,
    labels: {[EXPORT_LABEL]: `${os.hostname()}:${process.pid}`},
  })
  const staging = store.stage('flat')
  try {
    if (w.signal?.aborted) throw abortedError()
    const rootfs = path.join(staging, 'rootfs')
    fs.mkdirSync(rootfs, {mode: 0o755})
    const stream = await daemon.exportContainer(container, {signal: w.signal})
    // A daemon dying mid-export says more than the truncated tar the unpacker then sees.
    let streamError: unknown
    stream.on('error', (error: unknown) => {
      streamError ??= error
    })
    w.emit({type: 'detail', title: `Unpacking ${w.shown} (flat)`})
    let result: {digest: string; size: number; entries: number}
    try {
      result = await w.unpack(stream, rootfs, {signal: w.signal, tarSplit: path.join(staging, TAR_SPLIT_FILE)})
    } catch (error) {
      ;(stream as NodeJS.ReadableStream & {destroy?: () => void}).destroy?.()
      if (w.signal?.aborted) throw abortedError()
      throw streamError ?? error
    }
    if (w.signal?.aborted) throw abortedError()
    await w.lease.pin(() => {
      store.commitLayer(staging, {digest: result.digest, tarSize: result.size, entries: result.entries})
      w.lease.keepLayers([result.digest])
    })
    return {layers: [result.digest], unpacked: true}
  } finally {
    fs.rmSync(staging, {recursive: true, force: true})
    await daemon.removeContainer(container).catch(() => undefined)
  }
}

/**
 * Export containers left by pulls on this host that were killed before their cleanup ran (their
 * label names a dead pid). Returns the ids removed. Called by the next flat pull and by prune.
 */
export async function removeStaleExportContainers(daemon: DockerDaemon): Promise<string[]> {
  let containers
  try {
    containers = await daemon.listContainers(EXPORT_LABEL)
  } catch {
    return [] // housekeeping only
  }
  const host = os.hostname()
  const removed: string[] = []
  for (const c of containers) {
    const label = c.labels[EXPORT_LABEL] ?? ''
    const owner = label.slice(0, label.lastIndexOf(':'))
    const pid = Number(label.slice(label.lastIndexOf(':') + 1))
    if (owner !== host || !Number.isInteger(pid) || pid <= 0 || isAlive(pid)) continue
    if (
      await daemon.removeContainer(c.id).then(
        () => true,
        () => false,
      )
    )
      removed.push(c.id)
  }
  return removed
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`
}

/** Registry failures after which auto looks for the daemon's copy: it was not reached, or had no such image. */
function isFallbackError(error: unknown): error is PivotError {
  const code = (error as PivotError)?.code
  return code === 'REGISTRY_UNREACHABLE' || code === 'REGISTRY_NOT_FOUND' || code === 'REGISTRY_UNAUTHORIZED' || code === 'REGISTRY_DENIED'
}

function sameArch(image: DaemonImage, platform: Platform): boolean {
  const {normalizePlatform, platformMatches} = require('../registry') as typeof import('../registry')
  return platformMatches(normalizePlatform({os: image.os, architecture: image.architecture}), platform)
}

interface RegistryPullOptions extends Omit<PullOptions, 'platform'> {
  platform?: Platform
  emit: (event: ProgressEvent) => void
  warnings: string[]
}

/**
 * Step 1 of the registry path: ping (REGISTRY_UNREACHABLE when it does not answer: auto then
 * falls back), resolve the manifest and config, then as the daemon path: an image the cache holds
 * (same config digest, same layers) only gets the name; otherwise, under the same per-image lock,
 * the missing layers are downloaded, verified and unpacked, then committed, the record written,
 * the name set.
 */
async function pullFromRegistry(store: Store, ref: NormalizedReference, shown: string, o: RegistryPullOptions): Promise<PullResult> {
  const {RegistryClient} = await import('../registry')
  const {resolveRegistryImage, pullRegistryLayers, findCachedByConfig, DEFAULT_CONCURRENT_DOWNLOADS} = await import('./pull-registry')
  const client = new RegistryClient(ref.domain, ref.path, {signal: o.signal})
  await client.ping()
  o.emit({type: 'phase', title: `Pulling ${shown} from registry ${ref.domain}`})
  const image = await resolveRegistryImage({client, ref, shown, platform: o.platform, emit: o.emit, signal: o.signal})
  const result = (record: ImageRecord, reused: boolean): PullResult => ({
    name: ref.name,
    id: record.id,
    layers: record.layers,
    size: store.imageDiskSize(record),
    dockerImageId: image.configDigest,
    reused,
    warnings: o.warnings,
    source: 'registry',
    digest: image.repoDigest,
  })
  const lease = new Lease(store, 'pull')
  const nameCached = () => {
    const found = findCachedByConfig(store, image.configDigest, image.diffIds)
    if (found) store.setRef(ref.name, found.id)
    return found && result(found, true)
  }
  try {
    const cached = await lease.pin(nameCached)
    if (cached) {
      for (const l of image.layers) o.emit({type: 'pull', id: l.digest.slice(7, 19), status: 'Already exists'})
      return cached
    }
    return await store.withLock(`pull-${image.configDigest.replace(/^sha256:/, '')}`, async () => {
      const now = await lease.pin(nameCached)
      if (now) return now
      if (o.signal?.aborted) throw abortedError()
      const {damagedLayers} = require('./verify-layer') as typeof import('./verify-layer')
      for (const {digest, problem} of damagedLayers(store, image.diffIds)) {
        o.warnings.push(`layer ${digest.slice(7, 19)} is damaged in the cache (${problem}): fetching it again`)
        o.emit({type: 'warning', message: o.warnings[o.warnings.length - 1]})
      }
      const unpacked = await pullRegistryLayers({
        store,
        client,
        image,
        shown,
        unpack: o.unpack ?? defaultUnpackLayer,
        emit: o.emit,
        signal: o.signal,
        lease,
        concurrency: o.maxConcurrentDownloads ?? DEFAULT_CONCURRENT_DOWNLOADS,
        prepared: o.preparedUnpacker,
      })
      return lease.pin(() => {
        const lost = image.diffIds.find(d => !store.hasLayer(d))
        if (lost !== undefined)
          throw new ImageError('IMAGE_PULL_FAILED', `cannot pull ${shown}: its layer ${lost} was removed from the cache during the pull: pull again`)
        const {formatPlatform} = require('../registry') as typeof import('../registry')
        const record = store.writeImage({
          layers: image.diffIds,
          config: image.config,
          source: {
            kind: 'registry',
            reference: ref.name,
            dockerImageId: image.configDigest,
            repoDigest: image.repoDigest,
            manifest: image.manifestDigest,
            ...(image.platform ? {platform: formatPlatform(image.platform)} : {}),
          },
          created: image.created || new Date().toISOString(),
          added: new Date().toISOString(),
          ...(image.configJson === undefined ? {} : {configJson: image.configJson}),
        })
        store.setRef(ref.name, record.id)
        return result(record, !unpacked)
      })
    })
  } finally {
    lease.release()
  }
}
