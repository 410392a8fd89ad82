import {createHash} from 'node:crypto'
import {once} from 'node:events'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {Readable} from 'node:stream'
import {isPivotError} from '../errors'
import {type Store, TAR_SPLIT_FILE} from '../store'
import {ImageError} from './image-error'
import type {UnpackLayerFn} from './unpack-layer-fn'

/** A layer unpacked into a staging dir (`<staging>/rootfs`), verified, not yet committed. */
export interface StagedLayer {
  digest: string
  size: number
  entries: number
  staging: string
}

export interface ArchiveOptions {
  store: Store
  /** RootFS.Layers from inspect: what the archive must hold, bottom first. */
  diffIds: string[]
  /** The daemon's image id, to pick the right manifest entry. */
  imageId: string
  /** Opens a fresh `docker save` stream (called once, or twice in a rare case, see below). */
  open: (signal: AbortSignal) => Promise<NodeJS.ReadableStream>
  unpack: UnpackLayerFn
  signal?: AbortSignal
  /** Called as each layer starts unpacking: `index` counts from 1, `count` is the layers missing. */
  onLayer?: (index: number, count: number) => void
  /** Given the image's config as the archive holds it (its digest checked against imageId). */
  onConfig?: (bytes: Buffer) => void
}

/** What one archive member turned out to be. */
type Member =
  | {kind: 'unpacked'; digest: string}
  | {kind: 'hashed'; digest: string} // read and hashed only: its digest was already in the store
  | {kind: 'known'; digest: string} // skipped unread: an OCI blob named by a digest already in the store

const MAX_JSON = 16 * 1024 * 1024
const LEGACY_LAYER = /^[^/]+\/layer\.tar$/
const OCI_BLOB = /^blobs\/([a-z0-9]+)\/([a-f0-9]{32,})$/

/**
 * Reads a `docker save` stream and unpacks the layers the store lacks, each into its own staging
 * dir, without ever holding the image in memory. Both layouts docker writes are handled:
 *
 *   legacy (docker <= 24, Debian's 20.10):  <v1 id>/layer.tar (+ VERSION, json), <config>.json,
 *                                           manifest.json, repositories
 *   OCI (docker >= 25):                     blobs/sha256/<hex> (layers, config, manifests),
 *                                           index.json, oci-layout, manifest.json, repositories
 *
 * The manifest that says which member is which layer comes after the layers in both (the tar is
 * written in name order), so every layer is unpacked as it streams past and sorted out at the end,
 * where its digest is checked against the daemon's diff ids. Duplicate layers are symlinks in the
 * legacy layout; they are followed.
 *
 * Layers already in the store are not unpacked again. An OCI blob is named by its digest, so it is
 * skipped unread. A legacy `<v1 id>/layer.tar` is named by an id that cannot be mapped to a diff id
 * before the manifest, but a tar's size is fixed by its content: a member whose size matches no
 * stored layer is new and unpacked straight away; one whose size matches a stored layer is only
 * hashed. If such a member turns out to be a new layer after all (two layers of equal size), the
 * archive is read a second time knowing exactly which members to unpack.
 *
 * Resolves with the staged layers by digest (all of `diffIds` the store lacks). On failure or
 * abort, every staging dir this call made is removed and the store is as before.
 */
export async function unpackImageArchive(options: ArchiveOptions): Promise<Map<string, StagedLayer>> {
  const staged = new Map<string, StagedLayer>()
  const stagings: string[] = []
  try {
    const missing = new Set(options.diffIds.filter(d => !options.store.hasLayer(d)))
    const counter = {index: 0, count: missing.size}
    let pass = await readArchive(options, {missing, staged, stagings, counter})
    let plan = resolveLayers(options, pass)
    const needed = plan.filter(p => missing.has(p.digest) && !staged.has(p.digest))
    if (needed.length > 0) {
      // Rare: a member only hashed (its size matched a stored layer) is a missing layer.
      pass = await readArchive(options, {missing, staged, stagings, counter, only: new Set(needed.map(p => p.path)), previous: pass})
      plan = resolveLayers(options, pass)
      const still = plan.find(p => missing.has(p.digest) && !staged.has(p.digest))
      if (still) throw new ImageError('IMAGE_BAD_ARCHIVE', `the daemon's image archive did not yield layer ${still.digest}`)
    }
    const hex = options.imageId.replace(/^sha256:/, '')
    const config = pass.json.get(`${hex}.json`) ?? pass.json.get(`blobs/sha256/${hex}`)
    if (config && `sha256:${createHash('sha256').update(config).digest('hex')}` === options.imageId) options.onConfig?.(config)
    const result = new Map<string, StagedLayer>()
    for (const digest of missing) result.set(digest, staged.get(digest)!)
    // Unpacked members nobody needs (a compressed duplicate of a stored layer): drop them.
    for (const [digest, layer] of staged) if (!missing.has(digest)) fs.rmSync(layer.staging, {recursive: true, force: true})
    return result
  } catch (error) {
    for (const dir of stagings) fs.rmSync(dir, {recursive: true, force: true})
    throw error
  }
}

interface PassState {
  missing: Set<string>
  staged: Map<string, StagedLayer>
  stagings: string[]
  counter: {index: number; count: number}
  /** Second pass: unpack exactly these members, skip everything else... */
  only?: Set<string>
  /** ...knowing the rest from the first pass. */
  previous?: PassResult
}

interface PassResult {
  members: Map<string, Member>
  links: Map<string, string>
  json: Map<string, Buffer>
}

async function readArchive(options: ArchiveOptions, state: PassState): Promise<PassResult> {
  const {looksLikeArchive} = await import('../unpack/compression')
  const {walkTarStream} = await import('../unpack/tar-stream')
  const {store, unpack} = options
  const members = new Map<string, Member>(state.previous?.members)
  const links = new Map<string, string>(state.previous?.links)
  const json = new Map<string, Buffer>(state.previous?.json)
  const storedSizes = new Set(options.diffIds.filter(d => store.hasLayer(d)).map(d => store.readLayer(d).tarSize))

  // One controller stops everything: the daemon stream, the parser loop and every unpacker.
  const controller = new AbortController()
  if (options.signal?.aborted) throw abortedError()

  let failure: unknown
  let failed!: (error: unknown) => void
  const failedPromise = new Promise<never>((_, reject) => {
    failed = (error: unknown) => {
      if (failure !== undefined) return
      failure = error
      controller.abort(error)
      reject(error)
    }
  })
  failedPromise.catch(() => undefined)
  const onOuterAbort = () => failed(abortedError())
  options.signal?.addEventListener('abort', onOuterAbort, {once: true})
  const work: Promise<unknown>[] = []

  const stageLayer = (source: NodeJS.ReadableStream, member: string, expected?: string) => {
    const staging = store.stage('layer')
    state.stagings.push(staging)
    const rootfs = path.join(staging, 'rootfs')
    fs.mkdirSync(rootfs, {mode: 0o755})
    state.counter.index++
    // More members than missing layers (a compressed blob of a cached layer) must not show "3/2".
    options.onLayer?.(state.counter.index, Math.max(state.counter.count, state.counter.index))
    const job = unpack(source, rootfs, {signal: controller.signal, tarSplit: path.join(staging, TAR_SPLIT_FILE)}).then(result => {
      if (expected !== undefined && result.digest !== expected) {
        throw new ImageError('IMAGE_LAYER_MISMATCH', `layer ${member} of the daemon's image archive has digest ${result.digest}, not ${expected}`)
      }
      members.set(member, {kind: 'unpacked', digest: result.digest})
      if (state.staged.has(result.digest)) fs.rmSync(staging, {recursive: true, force: true})
      else state.staged.set(result.digest, {digest: result.digest, size: result.size, entries: result.entries, staging})
    })
    work.push(job.catch(failed))
  }

  const hashMember = (entry: NodeJS.ReadableStream, member: string) => {
    const hash = createHash('sha256')
    entry.on('data', (chunk: Buffer) => hash.update(chunk))
    work.push(
      once(entry as unknown as NodeJS.EventEmitter, 'end')
        .then(() => {
          members.set(member, {kind: 'hashed', digest: `sha256:${hash.digest('hex')}`})
        })
        .catch(failed),
    )
  }

  const collectJson = (entry: NodeJS.ReadableStream, member: string, head: Buffer[] = []) => {
    const chunks = head
    let size = chunks.reduce((n, c) => n + c.length, 0)
    entry.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > MAX_JSON) failed(new ImageError('IMAGE_BAD_ARCHIVE', `${member} in the daemon's image archive is too large`))
      else chunks.push(chunk)
    })
    work.push(
      once(entry as unknown as NodeJS.EventEmitter, 'end')
        .then(() => json.set(member, Buffer.concat(chunks)))
        .catch(failed),
    )
  }

  // Read by Go's rules (tar-stream.ts), as the daemon that wrote it reads it.
  const onEntry = (streamEntry: import('../unpack/tar-stream').StreamEntry) => {
    const entry = streamEntry.body
    try {
      if (failure !== undefined) return entry.resume()
      const member = path.posix
        .normalize(streamEntry.path === '' ? '.' : streamEntry.path)
        .replace(/^(\.\/)+/, '')
        .replace(/\/$/, '')
      const linkpath = streamEntry.linkname
      if (streamEntry.kind === 'symlink') {
        links.set(member, path.posix.normalize(path.posix.join(path.posix.dirname(member), linkpath)))
        return entry.resume()
      }
      if (streamEntry.kind === 'link') {
        links.set(member, path.posix.normalize(linkpath).replace(/^(\.\/)+/, ''))
        return entry.resume()
      }
      if (streamEntry.kind !== 'file') return entry.resume()
      if (state.only) {
        if (state.only.has(member)) stageLayer(entry, member, members.get(member)?.digest)
        else entry.resume()
        return
      }
      if (member === 'manifest.json' || member === 'index.json' || member === `${options.imageId.replace(/^sha256:/, '')}.json`)
        return collectJson(entry, member)
      if (LEGACY_LAYER.test(member)) {
        if (storedSizes.has(streamEntry.size)) return hashMember(entry, member)
        return stageLayer(entry, member)
      }
      const blob = OCI_BLOB.exec(member)
      if (blob) {
        const digest = `${blob[1]}:${blob[2]}`
        if (options.diffIds.includes(digest)) {
          if (!state.missing.has(digest) || state.staged.has(digest)) {
            members.set(member, {kind: 'known', digest})
            return entry.resume()
          }
          return stageLayer(entry, member, digest)
        }
        return sniffBlob(entry, member)
      }
      entry.resume()
    } catch (error) {
      entry.resume()
      failed(error)
    }
  }

  /**
   * An OCI blob whose name is no diff id: a config or manifest (JSON, kept for the index), or a
   * compressed layer (unpacked; the unpacker tells its uncompressed digest).
   */
  const sniffBlob = (entry: NodeJS.ReadableStream, member: string) => {
    const iterator = (entry as unknown as AsyncIterable<Buffer>)[Symbol.asyncIterator]()
    const head: Buffer[] = []
    let headSize = 0
    const sniff = (async () => {
      let done = false
      while (headSize < 512 && !done) {
        const next = await iterator.next()
        if (next.done) done = true
        else {
          head.push(next.value)
          headSize += next.value.length
        }
      }
      const first = Buffer.concat(head)
      const replay = Readable.from(
        (async function* () {
          if (first.length) yield first
          if (done) return
          for (;;) {
            const next = await iterator.next()
            if (next.done) return
            yield next.value
          }
        })(),
        {objectMode: false},
      )
      if (looksLikeArchive(first)) stageLayer(replay, member)
      else if (/^\s*[[{]/.test(first.subarray(0, 64).toString('latin1'))) collectJson(replay, member)
      else replay.resume()
    })()
    work.push(sniff.catch(failed))
  }

  try {
    const stream = await options.open(controller.signal)
    const destroy = () => (stream as Readable).destroy?.()
    controller.signal.addEventListener('abort', destroy, {once: true})
    try {
      await Promise.race([walkTarStream(stream as AsyncIterable<Buffer>, onEntry), failedPromise])
    } catch (error) {
      if (failure === undefined) {
        const damaged = isPivotError(error) && error.code.startsWith('UNPACK_')
        failed(
          options.signal?.aborted
            ? abortedError()
            : damaged
              ? new ImageError('IMAGE_BAD_ARCHIVE', `the daemon's image archive is damaged: ${(error as Error).message}`)
              : error,
        )
      }
    }
    // What follows the end-of-archive marker is not read.
    destroy()
    await Promise.allSettled(work)
    // Wait for the unpackers of a failed pass too: their staging dirs are removed afterwards.
    if (failure !== undefined) throw failure
    if (options.signal?.aborted) throw abortedError()
    return {members, links, json}
  } catch (error) {
    controller.abort(error)
    await Promise.allSettled(work)
    if (options.signal?.aborted) throw abortedError()
    throw error
  } finally {
    options.signal?.removeEventListener('abort', onOuterAbort)
  }
}

export function abortedError(): ImageError {
  return new ImageError('IMAGE_PULL_ABORTED', 'pull interrupted', {exitCode: 130})
}

interface PlannedLayer {
  path: string
  digest: string
}

/** Which member is which layer, from manifest.json (or index.json), checked against the diff ids. */
function resolveLayers(options: ArchiveOptions, pass: PassResult): PlannedLayer[] {
  const paths = layerPaths(options, pass)
  if (paths.length !== options.diffIds.length) {
    throw new ImageError('IMAGE_LAYER_MISMATCH', `the daemon's image archive lists ${paths.length} layers; inspect reported ${options.diffIds.length}`)
  }
  return paths.map((p, i) => {
    let target = p.replace(/^(\.\/)+/, '')
    for (let hops = 0; pass.links.has(target) && hops < 16; hops++) target = pass.links.get(target)!
    const member = pass.members.get(target)
    if (!member) throw new ImageError('IMAGE_BAD_ARCHIVE', `the daemon's image archive lacks layer ${p}`)
    if (member.digest !== options.diffIds[i]) {
      throw new ImageError(
        'IMAGE_LAYER_MISMATCH',
        `layer ${i + 1} of the daemon's image archive has digest ${member.digest}; inspect reported ${options.diffIds[i]}`,
      )
    }
    return {path: target, digest: member.digest}
  })
}

function parseJson(pass: PassResult, member: string): unknown {
  const data = pass.json.get(member)
  if (!data) return undefined
  try {
    return JSON.parse(data.toString('utf8'))
  } catch {
    throw new ImageError('IMAGE_BAD_ARCHIVE', `${member} in the daemon's image archive is not valid JSON`)
  }
}

function layerPaths(options: ArchiveOptions, pass: PassResult): string[] {
  const hex = options.imageId.replace(/^sha256:/, '')
  const manifest = parseJson(pass, 'manifest.json') as Array<{Config?: string; Layers?: string[]}> | undefined
  if (Array.isArray(manifest) && manifest.length > 0) {
    const entry = manifest.find(m => typeof m.Config === 'string' && m.Config.includes(hex)) ?? (manifest.length === 1 ? manifest[0] : undefined)
    if (!entry || !Array.isArray(entry.Layers))
      throw new ImageError('IMAGE_BAD_ARCHIVE', `manifest.json in the daemon's image archive does not describe ${options.imageId}`)
    return entry.Layers
  }
  // No docker manifest: follow the OCI index to the image manifest.
  type Descriptor = {mediaType?: string; digest?: string}
  let doc = parseJson(pass, 'index.json') as {manifests?: Descriptor[]; layers?: Descriptor[]; mediaType?: string} | undefined
  for (let depth = 0; doc && Array.isArray(doc.manifests) && depth < 4; depth++) {
    const d = doc.manifests.find(m => m.digest && pass.json.has(blobPath(m.digest))) ?? doc.manifests[0]
    if (!d?.digest) break
    doc = parseJson(pass, blobPath(d.digest)) as typeof doc
  }
  if (!doc || !Array.isArray(doc.layers))
    throw new ImageError('IMAGE_BAD_ARCHIVE', "the daemon's image archive has neither manifest.json nor a usable index.json")
  return doc.layers.map(l => blobPath(l.digest ?? ''))
}

function blobPath(digest: string): string {
  const [alg, hex] = digest.split(':')
  return `blobs/${alg}/${hex}`
}
