import {createHash} from 'node:crypto'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {Readable, type Writable} from 'node:stream'
import {pipeline} from 'node:stream/promises'
import {hashThrough} from '../common/hash'
import {isPivotError} from '../errors'
import {familiarName, normalizeReference} from '../reference'
import type {ImageRecord, Store} from '../store'
import {Lease} from '../store/gc-lock'
import {describeErrno, writeOutputFile} from './export-image'
import {ImageError} from './image-error'
import {CONTAINERD_NAME, MEDIA, REF_NAME, configBlobOf, originalConfigOf} from './image-layout'
import {resolveImage} from './resolve-image'

export interface SaveOptions {
  signal?: AbortSignal
  /** What no -o (or -o -) writes to; process.stdout by default. */
  stdout?: NodeJS.WritableStream & {isTTY?: boolean}
}

export interface SaveResult {
  /** The file or directory written (absolute), or '-' for standard output. */
  output: string
  format: 'tar' | 'directory'
  images: Array<{id: string; names: string[]; manifest: string; config: string; layers: string[]}>
  bytes: number
  /** Layers that could not be given back as their original tar (re-packed: another digest), one line each. */
  warnings: string[]
}

/** One blob of the layout: its digest, size and where its bytes are. */
interface Blob {
  digest: string
  size: number
  file?: string
  data?: Buffer
}

/**
 * `pivot save IMAGE... [-o FILE|DIR]`: the images as one OCI image layout that also carries
 * Docker's manifest.json and repositories (see image-layout.ts). FILE is a tar of the layout,
 * DIR (an existing empty directory, or a path ending in '/') the layout itself.
 *
 * Layers are written uncompressed, each as the very tar it came from: rebuilt from its tar-split
 * (unpack/tar-split.ts) and its files, and verified against its diff id. A layer without a usable
 * tar-split is re-packed from the layer store in Docker's layer format (unpack/layer-tar.ts:
 * whiteouts as `.wh.` files), entries sorted and times kept, with a warning: its diff id in the
 * saved config is then that tar's digest (docker load checks it). The outer tar has fixed
 * owners and times: the same images always give the same bytes.
 *
 * A FILE is written as a nameless O_TMPFILE file and named when complete (export's way), a DIR
 * is filled under a temp name beside it and renamed: a failed save leaves nothing behind.
 */
export async function saveImages(store: Store, args: string[], output: string | undefined, options: SaveOptions = {}): Promise<SaveResult> {
  if (args.length === 0) throw new ImageError('IMAGE_BAD_NAME', 'save needs at least one image', {exitCode: 1})
  const stdout = options.stdout ?? process.stdout
  const toStdout = output === undefined || output === '-'
  // Checked before any work, as docker does.
  if (toStdout && stdout.isTTY) {
    throw new ImageError('IMAGE_BAD_OUTPUT', 'cowardly refusing to save to a terminal: use the -o flag or redirect standard output', {exitCode: 1})
  }
  for (const arg of args) findImage(store, arg)
  const lease = new Lease(store, 'save')
  let staging: string | undefined
  try {
    const wanted = await lease.pin(() => {
      const found = args.map(arg => ({arg, ...findImage(store, arg)}))
      for (const f of found) lease.keepLayers(f.image.layers)
      return found
    })
    for (const {arg, image} of wanted) {
      const lost = image.layers.find(d => !store.hasLayer(d))
      if (lost)
        throw new ImageError(
          'IMAGE_EXPORT_FAILED',
          `cannot save ${arg}: its layer ${lost} is missing from the cache (pivot check --repair, then pull it again)`,
        )
    }
    store.sweepTmp()
    staging = store.stage('save')
    const warnings: string[] = []
    const layout = await buildLayout(store, staging, wanted, message => warnings.push(message), options.signal)
    const images = layout.images
    if (toStdout) {
      const bytes = await writeTar(layout.entries, stdout, options.signal)
      return {output: '-', format: 'tar', images, bytes, warnings}
    }
    const dirTarget = output!.endsWith('/') || isDirectory(output!)
    if (dirTarget) {
      const target = await writeDirectory(layout.entries, output!)
      return {output: target, format: 'directory', images, bytes: layout.entries.reduce((n, e) => n + e.size, 0), warnings}
    }
    const written = await writeOutputFile(output!, stream => writeTar(layout.entries, stream, options.signal))
    return {output: written.path, format: 'tar', images, bytes: written.bytes, warnings}
  } finally {
    lease.release()
    if (staging) fs.rmSync(staging, {recursive: true, force: true})
  }
}

function findImage(store: Store, arg: string): {image: ImageRecord; name?: string} {
  try {
    return resolveImage(store, arg)
  } catch (error) {
    if (error instanceof ImageError && error.code === 'IMAGE_NOT_FOUND') throw new ImageError('IMAGE_NOT_FOUND', error.message, {exitCode: 1})
    throw error
  }
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory()
  } catch {
    return false
  }
}

/** One file of the layout, in the order the tar holds them. */
interface Entry {
  name: string
  size: number
  file?: string
  data?: Buffer
}

async function buildLayout(
  store: Store,
  staging: string,
  wanted: Array<{arg: string; image: ImageRecord; name?: string}>,
  warn: (message: string) => void,
  signal?: AbortSignal,
): Promise<{entries: Entry[]; images: SaveResult['images']}> {
  const blobs = new Map<string, Blob>()
  const add = (blob: Blob) => blobs.set(blob.digest, blob)
  const layerBlobs = new Map<string, Blob>()
  for (const {image} of wanted) {
    for (const digest of image.layers) {
      if (layerBlobs.has(digest)) continue
      const blob = await packLayerBlob(store, digest, staging, warn, signal)
      layerBlobs.set(digest, blob)
      add(blob)
    }
  }

  const index: Array<Record<string, unknown>> = []
  const dockerManifest: Array<{Config: string; RepoTags: string[] | null; Layers: string[]}> = []
  const repositories: Record<string, Record<string, string>> = {}
  const images: SaveResult['images'] = []
  const byId = new Map<string, {names: string[]; manifest: Blob; config: Blob; layers: Blob[]}>()
  for (const {image, name} of wanted) {
    let entry = byId.get(image.id)
    if (!entry) {
      const layers = image.layers.map(d => layerBlobs.get(d)!)
      const diffIds = layers.map(l => l.digest)
      // The source's own config when the layers are their original tars: docker load gives the same image id.
      const original = originalConfigOf(image, diffIds)
      const config = original ? {digest: sha256Of(original), size: original.length, data: original} : jsonBlob(configBlobOf(image, diffIds))
      const manifest = jsonBlob({
        schemaVersion: 2,
        mediaType: MEDIA.manifest,
        config: {mediaType: MEDIA.config, digest: config.digest, size: config.size},
        layers: layers.map(l => ({mediaType: MEDIA.layer, digest: l.digest, size: l.size})),
      })
      add(config)
      add(manifest)
      entry = {names: [], manifest, config, layers}
      byId.set(image.id, entry)
    }
    if (name !== undefined && !entry.names.includes(name)) entry.names.push(name)
  }
  for (const [id, e] of byId) {
    const descriptor = {mediaType: MEDIA.manifest, digest: e.manifest.digest, size: e.manifest.size}
    if (e.names.length === 0) index.push(descriptor)
    for (const name of e.names) {
      const ref = normalizeReference(name)
      index.push({...descriptor, annotations: {[CONTAINERD_NAME]: name, [REF_NAME]: ref.tag ?? 'latest'}})
      const repo = familiarName(ref.repository).replace(/:latest$/, '')
      repositories[repo] = {...repositories[repo], [ref.tag ?? 'latest']: hexOf(e.layers.at(-1)?.digest ?? e.config.digest)}
    }
    dockerManifest.push({
      Config: blobName(e.config.digest),
      RepoTags: e.names.length ? e.names.map(n => familiarName(n)) : null,
      Layers: e.layers.map(l => blobName(l.digest)),
    })
    images.push({id, names: e.names, manifest: e.manifest.digest, config: e.config.digest, layers: e.layers.map(l => l.digest)})
  }

  const entries: Entry[] = []
  const hexes = [...blobs.keys()].sort()
  for (const digest of hexes) {
    const b = blobs.get(digest)!
    entries.push({name: blobName(digest), size: b.size, file: b.file, data: b.data})
  }
  const text = (name: string, value: unknown) => {
    const data = Buffer.from(JSON.stringify(value) + '\n')
    entries.push({name, size: data.length, data})
  }
  text('index.json', {schemaVersion: 2, mediaType: MEDIA.index, manifests: index})
  text('manifest.json', dockerManifest)
  text('oci-layout', {imageLayoutVersion: '1.0.0'})
  text('repositories', repositories)
  return {entries, images}
}

function jsonBlob(value: unknown): Blob {
  const data = Buffer.from(JSON.stringify(value))
  return {digest: sha256Of(data), size: data.length, data}
}

function sha256Of(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`
}

function hexOf(digest: string): string {
  return digest.replace(/^sha256:/, '')
}

function blobName(digest: string): string {
  return `blobs/sha256/${hexOf(digest)}`
}

/**
 * The layer as a Docker layer tar in `staging`, hashed as it is written: its original tar, rebuilt
 * from its tar-split; else (none, or it cannot give the layer's bytes back: `warn` says why) a
 * re-pack of its files.
 */
async function packLayerBlob(store: Store, digest: string, staging: string, warn: (message: string) => void, signal?: AbortSignal): Promise<Blob> {
  const file = path.join(staging, `layer-${hexOf(digest)}`)
  const {withOriginalLayerTar} = await import('./original-layer-tar')
  const blob = await withOriginalLayerTar(store, digest, warn, tar => writeLayerTar(tar, digest, file, signal))
  if (blob.digest !== digest) {
    warn(
      `layer ${digest.slice(7, 19)} went re-packed: the cache has no original tar of it (no usable tar-split), so the saved image has another layer digest (${blob.digest.slice(7, 19)}) and image id`,
    )
  }
  return blob
}

async function writeLayerTar(tar: AsyncIterable<Buffer>, digest: string, file: string, signal?: AbortSignal): Promise<Blob> {
  const hash = createHash('sha256')
  const written = {size: 0}
  try {
    await pipeline(Readable.from(tar, {objectMode: false}), hashThrough(hash, written), fs.createWriteStream(file, {mode: 0o600}), {signal})
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ABORT_ERR') throw new ImageError('IMAGE_EXPORT_FAILED', 'save cancelled', {exitCode: 130})
    const message = isPivotError(error) ? error.message : describeErrno(error)
    throw new ImageError('IMAGE_EXPORT_FAILED', `cannot save layer ${digest}: ${message}`, {cause: error})
  }
  return {digest: `sha256:${hash.digest('hex')}`, size: written.size, file}
}

/** The layout as a tar: fixed owner, mode and time, so equal content gives equal bytes. */
async function writeTar(entries: Entry[], sink: NodeJS.WritableStream, signal?: AbortSignal): Promise<number> {
  const {encodeHeaders, padding, TYPE, BLOCK} = await import('../unpack/tar-format')
  let bytes = 0
  async function* tar(): AsyncGenerator<Buffer> {
    const dirs = new Set<string>()
    for (const e of entries) {
      const parts = e.name.split('/').slice(0, -1)
      for (let i = 1; i <= parts.length; i++) {
        const dir = parts.slice(0, i).join('/') + '/'
        if (dirs.has(dir)) continue
        dirs.add(dir)
        yield encodeHeaders({name: dir, type: TYPE.dir, mode: 0o755, uid: 0, gid: 0, size: 0, mtimeNs: 0n})
      }
      yield encodeHeaders({name: e.name, type: TYPE.file, mode: 0o644, uid: 0, gid: 0, size: e.size, mtimeNs: 0n})
      if (e.data) yield e.data
      else yield* fs.createReadStream(e.file!, {highWaterMark: 1 << 20}) as AsyncIterable<Buffer>
      if (padding(e.size)) yield Buffer.alloc(padding(e.size))
    }
    yield Buffer.alloc(2 * BLOCK)
  }
  const counted = async function* (chunks: AsyncIterable<Buffer>) {
    for await (const chunk of chunks) {
      bytes += chunk.length
      yield chunk
    }
  }
  try {
    await pipeline(Readable.from(tar(), {objectMode: false}), counted, sink as Writable, {signal})
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'EPIPE' || code === 'ERR_STREAM_PREMATURE_CLOSE') throw new ImageError('IMAGE_EXPORT_FAILED', 'save cancelled: the output was closed')
    if (code === 'ABORT_ERR') throw new ImageError('IMAGE_EXPORT_FAILED', 'save cancelled', {exitCode: 130})
    throw new ImageError('IMAGE_EXPORT_FAILED', `save failed: ${describeErrno(error)}`, {cause: error})
  }
  return bytes
}

/** The layout as a directory: filled under a temp name beside DIR, then renamed onto it. */
async function writeDirectory(entries: Entry[], output: string): Promise<string> {
  const target = path.resolve(output)
  let existing: string[] | undefined
  try {
    existing = fs.readdirSync(target)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new ImageError('IMAGE_BAD_OUTPUT', `cannot write ${output}: ${describeErrno(error)}`)
  }
  if (existing && existing.length > 0) throw new ImageError('IMAGE_BAD_OUTPUT', `cannot write ${output}: the directory is not empty`)
  const temp = path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.tmp`)
  try {
    fs.rmSync(temp, {recursive: true, force: true})
    fs.mkdirSync(path.join(temp, 'blobs', 'sha256'), {recursive: true, mode: 0o755})
    for (const e of entries) {
      const dest = path.join(temp, e.name)
      if (e.data) fs.writeFileSync(dest, e.data, {mode: 0o644})
      else {
        // The cache's tmp/ and DIR may be on different file systems: copy, not rename.
        fs.copyFileSync(e.file!, dest)
        fs.chmodSync(dest, 0o644)
      }
    }
    if (existing) fs.rmdirSync(target)
    fs.renameSync(temp, target)
  } catch (error) {
    fs.rmSync(temp, {recursive: true, force: true})
    if (error instanceof ImageError) throw error
    throw new ImageError('IMAGE_BAD_OUTPUT', `cannot write ${output}: ${describeErrno(error)}`, {cause: error})
  }
  return target
}
