import {createHash} from 'node:crypto'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {Readable, Transform} from 'node:stream'
import {pipeline} from 'node:stream/promises'
import {isPivotError} from '../errors'
import {familiarName} from '../reference'
import {type HistoryEntry, type ImageRecord, type Store, TAR_SPLIT_FILE, removeStaging} from '../store'
import {Lease} from '../store/gc-lock'
import {ImageError} from './image-error'
import {CONTAINERD_NAME, type ConfigBlob, type Descriptor, MEDIA, REF_NAME, configText, hostPlatform} from './image-layout'
import {tryNormaliseName} from './image-name'
import {defaultUnpackLayer, type UnpackLayerFn} from './unpack-layer-fn'
import {openArchiveInput} from './archive-input'
import {commitStaged} from './commit-staged'

export interface LoadOptions {
  signal?: AbortSignal
  /** What no -i (or -i -) reads; process.stdin by default. */
  stdin?: NodeJS.ReadableStream & {isTTY?: boolean}
  unpack?: UnpackLayerFn
}

export interface LoadedImage {
  id: string
  /** Canonical names now pointing at it (none: the archive named none). */
  names: string[]
  layers: string[]
  /** Layers unpacked by this load (the others were in the cache). */
  unpacked: number
  /** Names that pointed at another image before (docker says it "renames the old one"). */
  moved: Array<{name: string; previous: string}>
}

/** Bounds on what an archive may claim (beyond them it is refused before any layer is read). */
export const LOAD_LIMITS = {
  /** Per image. overlayfs stacks at most 500 lower layers (and pivot runs them so). */
  layers: 500,
  images: 1000,
  /** index.json, manifests, configs, manifest.json. */
  jsonBytes: 16 * 1024 * 1024,
  /** Nested indexes. */
  depth: 4,
  /** Archive members. */
  members: 100_000,
}

const DIGEST = /^sha256:[a-f0-9]{64}$/

/** One image as the archive describes it, before anything of it is read. */
interface Planned {
  /** Where its config is, and its digest when the archive states one. */
  config: {member: string; digest?: string; size?: number}
  layers: Array<{member: string; digest?: string; size?: number; mediaType?: string}>
  names: Set<string>
  /** How the archive calls it, for messages. */
  label: string
}

/**
 * `pivot load [-i FILE|DIR]`: the images of an image archive enter the cache. Read: OCI image
 * layouts (skopeo's `oci:`/`oci-archive:`, `ctr image export`, `pivot save`, docker >= 25's
 * `docker save`) as a directory or a tar, nested indexes resolved to the host's platform, layers
 * plain, gzip or zstd; and docker <= 24's `docker save` archives (manifest.json,
 * `<id>/layer.tar`). A tar may itself be gzip- or zstd-compressed, as `docker load` allows.
 *
 * Everything is verified before anything is kept: each blob's sha256 and size against its
 * descriptor (and its file name), each layer's uncompressed digest against the config's
 * rootfs.diff_ids, the config's digest against the manifest. Layers are unpacked into staging
 * dirs; only when every image of the archive is sound are layers, records and names committed.
 * A failure leaves the cache as it was.
 *
 * A tar is first copied member by member (only the members a layout can have, links resolved in
 * memory, never on disk) into a staging dir, read with the same Go-rules tar reader as pull's
 * (unpack/tar-stream.ts): members can then be read in the order the manifests need, whatever
 * order the tar has, and a stream from standard input needs no second pass.
 */
export async function loadImages(store: Store, input: string | undefined, options: LoadOptions = {}): Promise<LoadedImage[]> {
  const opened = openArchiveInput(input, options.stdin ?? process.stdin, {
    directories: true,
    command: 'load',
    ttyHint: 'use -i FILE, or pipe an archive into `pivot load`',
    exitCode: 1,
  })
  const shown = opened.shown
  store.sweepTmp()
  const staging = store.stage('load')
  const lease = new Lease(store, 'load')
  try {
    const source =
      opened.kind === 'directory' ? new DirSource(path.resolve(opened.path)) : await spoolTar(opened.stream, path.join(staging, 'archive'), options.signal)
    const plans = planImages(source)
    if (plans.length === 0) throw bad('it holds no image (neither index.json nor manifest.json lists one)')
    const file = opened.file === '-' ? '-' : path.resolve(opened.file)
    const ready: Ready[] = []
    for (const plan of plans) ready.push(await verifyImage(store, source, plan, staging, lease, options))
    return await lease.pin(() => {
      const loaded: LoadedImage[] = []
      for (const r of ready) {
        commitStaged(store, r.diffIds, new Map(r.staged.map(l => [l.digest, l])), lease, options.signal)
        lease.keepLayers(r.diffIds.filter(d => store.hasLayer(d)))
        const lost = r.diffIds.find(d => !store.hasLayer(d))
        if (lost)
          throw new ImageError('IMAGE_IMPORT_FAILED', `cannot load ${r.plan.label}: its layer ${lost} was removed from the cache during the load: load again`)
        const now = new Date().toISOString()
        const record = store.writeImage({
          layers: r.diffIds,
          config: r.imageConfig,
          source: {kind: 'load', file},
          created: r.created ?? now,
          added: now,
          platform: r.platform,
          ...(r.history ? {history: r.history} : {}),
          ...(r.configJson === undefined ? {} : {configJson: r.configJson}),
        })
        const names = [...r.plan.names]
        const moved: LoadedImage['moved'] = []
        for (const name of names) {
          const previous = store.getRef(name)
          if (previous !== undefined && previous !== record.id) moved.push({name, previous})
          store.setRef(name, record.id)
        }
        loaded.push({id: record.id, names, layers: record.layers, unpacked: r.staged.length, moved})
      }
      return loaded
    })
  } catch (error) {
    if (options.signal?.aborted) throw new ImageError('IMAGE_IMPORT_FAILED', 'load interrupted', {exitCode: 130})
    if (isPivotError(error) && !(error instanceof ImageError)) {
      const archive = error.code.startsWith('UNPACK_') && error.code !== 'UNPACK_WRITE_FAILED'
      throw new ImageError(archive ? 'IMAGE_BAD_ARCHIVE' : 'IMAGE_IMPORT_FAILED', `cannot load ${shown}: ${error.message}`, {cause: error, exitCode: 1})
    }
    if (error instanceof ImageError && !error.message.startsWith('cannot load')) {
      throw new ImageError(error.code, `cannot load ${shown}: ${error.message}`, {cause: error, exitCode: error.exitCode === 125 ? 1 : error.exitCode})
    }
    throw error
  } finally {
    lease.release()
    removeStaging(staging)
  }
}

function bad(message: string): ImageError {
  return new ImageError('IMAGE_BAD_ARCHIVE', message, {exitCode: 1})
}

// ---- where the members are ---------------------------------------------------------------------

interface Source {
  /** A regular file member (links followed within the archive only), or undefined. */
  find(member: string): {size: number; open: () => NodeJS.ReadableStream; read: () => Buffer} | undefined
}

/** A member name as a layout may use it: relative, no `..`, no empty part. */
function memberName(raw: string, what: string): string {
  const clean = path.posix.normalize(raw.replace(/^(\.\/)+/, ''))
  if (raw === '' || raw.startsWith('/') || clean === '..' || clean.startsWith('../') || clean.includes('\0')) {
    throw bad(`${what} names ${JSON.stringify(raw.slice(0, 200))}, outside the archive`)
  }
  return clean
}

class DirSource implements Source {
  constructor(private readonly root: string) {}

  find(member: string): ReturnType<Source['find']> {
    const file = path.join(this.root, member)
    let st: fs.Stats
    try {
      st = fs.lstatSync(file)
    } catch {
      return undefined
    }
    // A layout's files are regular files: a symlink could make the load read anything on the host.
    if (st.isSymbolicLink()) throw bad(`${member} is a symbolic link; a layout's blobs must be regular files`)
    if (!st.isFile()) throw bad(`${member} is not a regular file`)
    // ...and so are the directories on the way (blobs -> /etc would be the same trick).
    const real = fs.realpathSync(file)
    if (real !== path.join(fs.realpathSync(this.root), member)) throw bad(`${member} is reached through a symbolic link`)
    return {
      size: st.size,
      open: () => fs.createReadStream(file, {highWaterMark: 1 << 20}),
      read: () => fs.readFileSync(file),
    }
  }
}

class SpoolSource implements Source {
  constructor(
    private readonly files: Map<string, {file: string; size: number}>,
    private readonly links: Map<string, string>,
  ) {}

  find(member: string): ReturnType<Source['find']> {
    let target = member
    for (let hops = 0; this.links.has(target); hops++) {
      if (hops >= 16) throw bad(`${member} is a chain of more than 16 links`)
      target = this.links.get(target)!
    }
    const f = this.files.get(target)
    if (!f) return undefined
    return {
      size: f.size,
      open: () => fs.createReadStream(f.file, {highWaterMark: 1 << 20}),
      read: () => fs.readFileSync(f.file),
    }
  }
}

/** Members a layout can hold; anything else in the tar is skipped unread. */
const KEPT = [
  /^(oci-layout|index\.json|manifest\.json|repositories)$/,
  /^blobs\/[a-z0-9]+\/[a-f0-9]{32,128}$/,
  /^[^/]+\/(layer\.tar|json|VERSION)$/,
  /^[^/]+\.json$/,
]

async function spoolTar(input: NodeJS.ReadableStream, dir: string, signal?: AbortSignal): Promise<SpoolSource> {
  const {walkTarStream} = await import('../unpack/tar-stream')
  const {decompress, sniffCompression} = await import('../unpack/compression')
  fs.mkdirSync(dir, {mode: 0o700})
  const files = new Map<string, {file: string; size: number}>()
  const links = new Map<string, string>()
  let members = 0
  let n = 0
  const source = await peeled(input as AsyncIterable<Buffer>, sniffCompression, decompress)
  const work: Promise<void>[] = []
  try {
    await walkTarStream(source, entry => {
      const body = entry.body
      if (++members > LOAD_LIMITS.members) {
        body.resume()
        throw bad(`the archive has more than ${LOAD_LIMITS.members} members`)
      }
      if (signal?.aborted) throw new ImageError('IMAGE_IMPORT_FAILED', 'load interrupted', {exitCode: 130})
      if (entry.kind === 'dir') return void body.resume()
      // The name as written (the reader's path is already cleaned): a `..` in it is refused, not mended.
      memberName(entry.raw.replace(/\/$/, '') || '.', 'a member of the archive')
      const member = memberName(entry.path.replace(/\/$/, ''), 'a member of the archive')
      if (!KEPT.some(re => re.test(member))) return void body.resume()
      if (entry.kind === 'symlink' || entry.kind === 'link') {
        body.resume()
        // docker <= 24 links a repeated layer to its first copy; a blob is never a link.
        if (!/\/layer\.tar$/.test(member)) throw bad(`${member} is a link; only a legacy layer.tar may be one`)
        const target = entry.kind === 'symlink' ? path.posix.join(path.posix.dirname(member), entry.linkname) : entry.linkname
        links.set(member, memberName(target, `the link ${member}`))
        return
      }
      if (entry.kind !== 'file') return void body.resume()
      if (files.has(member) || links.has(member)) throw bad(`${member} appears twice in the archive`)
      const file = path.join(dir, String(n++))
      files.set(member, {file, size: entry.size})
      work.push(pipeline(body, fs.createWriteStream(file, {mode: 0o600})))
    })
    await Promise.all(work)
  } catch (error) {
    await Promise.allSettled(work)
    if (isPivotError(error) && error.code.startsWith('UNPACK_')) throw bad(`the archive is damaged: ${error.message}`)
    throw error
  }
  if (files.size === 0) throw bad('it is not an image archive (no layout file in it)')
  return new SpoolSource(files, links)
}

/** The archive's bytes, gzip or zstd undone (docker load takes a compressed tar too). */
async function peeled(
  input: AsyncIterable<Buffer>,
  sniff: typeof import('../unpack/compression').sniffCompression,
  decompress: typeof import('../unpack/compression').decompress,
): Promise<AsyncIterable<Buffer>> {
  const it = input[Symbol.asyncIterator]()
  const head: Buffer[] = []
  let size = 0
  let done = false
  while (size < 512 && !done) {
    const next = await it.next()
    if (next.done) done = true
    else {
      const chunk = typeof next.value === 'string' ? Buffer.from(next.value) : next.value
      head.push(chunk)
      size += chunk.length
    }
  }
  if (size === 0) throw bad('the input is empty')
  const first = Buffer.concat(head)
  const all = (async function* () {
    yield first
    if (done) return
    for (;;) {
      const next = await it.next()
      if (next.done) return
      yield next.value as Buffer
    }
  })()
  const kind = sniff(first)
  if (kind === 'none') return all
  if (kind !== 'gzip' && kind !== 'zstd') throw bad(`the archive is ${kind}-compressed; pivot load reads plain, gzip and zstd archives`)
  return decompress(all, kind)
}

// ---- what the archive says -------------------------------------------------------------------

function readJson(source: Source, member: string, digest?: string, size?: number): unknown {
  return readJsonBytes(source, member, digest, size).value
}

/** The member's JSON, and its bytes. */
function readJsonBytes(source: Source, member: string, digest?: string, size?: number): {value: unknown; data: Buffer} {
  const found = source.find(member)
  if (!found) throw bad(`it lacks ${member}`)
  if (found.size > LOAD_LIMITS.jsonBytes) throw bad(`${member} is ${found.size} bytes (limit ${LOAD_LIMITS.jsonBytes})`)
  if (size !== undefined && found.size !== size) throw bad(`${member} is ${found.size} bytes; its descriptor says ${size}`)
  const data = found.read()
  if (digest !== undefined) {
    const actual = `sha256:${createHash('sha256').update(data).digest('hex')}`
    if (actual !== digest) throw bad(`${member} has digest ${actual}, not ${digest}`)
  }
  try {
    return {value: JSON.parse(data.toString('utf8')), data}
  } catch {
    throw bad(`${member} is not valid JSON`)
  }
}

function blobMember(digest: unknown, what: string): string {
  if (typeof digest !== 'string') throw bad(`${what} has no digest`)
  if (!DIGEST.test(digest)) {
    if (/^sha(384|512):/.test(digest)) throw bad(`${what} uses ${digest.split(':')[0]}; pivot load reads sha256 blobs only`)
    throw bad(`${what} has an invalid digest ${JSON.stringify(digest.slice(0, 100))}`)
  }
  return `blobs/sha256/${digest.slice(7)}`
}

const INDEXES: string[] = [MEDIA.index, MEDIA.dockerList]
const MANIFESTS: string[] = [MEDIA.manifest, MEDIA.dockerManifest]

/** The images the archive holds: from index.json when it has one (verifiable), else manifest.json. */
function planImages(source: Source): Planned[] {
  const plans: Planned[] = []
  const dockerNames = new Map<string, string[]>()
  let docker: unknown
  if (source.find('manifest.json')) {
    docker = readJson(source, 'manifest.json')
    if (!Array.isArray(docker)) throw bad('manifest.json is not a list')
    if (docker.length > LOAD_LIMITS.images) throw bad(`manifest.json lists ${docker.length} images (limit ${LOAD_LIMITS.images})`)
    for (const e of docker as Array<{Config?: unknown; RepoTags?: unknown}>) {
      if (typeof e?.Config !== 'string') throw bad('an entry of manifest.json has no Config')
      const tags = Array.isArray(e.RepoTags) ? e.RepoTags.filter((t): t is string => typeof t === 'string') : []
      dockerNames.set(memberName(e.Config, 'manifest.json'), tags)
    }
  }
  if (source.find('index.json')) {
    const index = readJson(source, 'index.json') as {manifests?: Descriptor[]}
    if (!Array.isArray(index?.manifests)) throw bad('index.json has no manifests list')
    if (index.manifests.length > LOAD_LIMITS.images) throw bad(`index.json lists ${index.manifests.length} images (limit ${LOAD_LIMITS.images})`)
    const byManifest = new Map<string, Planned>()
    for (const top of index.manifests) {
      const manifestDigest = resolveToManifest(source, top, 0)
      if (manifestDigest === undefined) continue
      let plan = byManifest.get(manifestDigest.digest)
      if (!plan) {
        plan = planManifest(source, manifestDigest)
        byManifest.set(manifestDigest.digest, plan)
        plans.push(plan)
      }
      for (const name of namesOf(top.annotations)) plan.names.add(name)
    }
    for (const plan of plans) for (const tag of dockerNames.get(plan.config.member) ?? []) addName(plan.names, tag)
    return plans
  }
  if (docker === undefined) return []
  for (const e of docker as Array<{Config: string; RepoTags?: unknown; Layers?: unknown}>) {
    if (!Array.isArray(e.Layers)) throw bad(`the manifest.json entry of ${e.Config} has no Layers list`)
    if (e.Layers.length > LOAD_LIMITS.layers) throw bad(`image ${e.Config} has ${e.Layers.length} layers (limit ${LOAD_LIMITS.layers})`)
    const config = memberName(e.Config, 'manifest.json')
    // docker <= 24 names the config after its digest: check it when the name says it.
    const hex = /^(?:blobs\/sha256\/)?([a-f0-9]{64})(?:\.json)?$/.exec(config)?.[1]
    const names = new Set<string>()
    for (const tag of dockerNames.get(config) ?? []) addName(names, tag)
    plans.push({
      config: {member: config, digest: hex ? `sha256:${hex}` : undefined},
      layers: e.Layers.map((l: unknown) => {
        if (typeof l !== 'string') throw bad('a layer of manifest.json is not a path')
        const member = memberName(l, 'manifest.json')
        const blob = /^blobs\/sha256\/([a-f0-9]{64})$/.exec(member)
        return {member, digest: blob ? `sha256:${blob[1]}` : undefined}
      }),
      names,
      label: [...names][0] ? familiarName([...names][0]!) : config,
    })
  }
  return plans
}

function addName(names: Set<string>, tag: string): void {
  const name = tryNormaliseName(tag)
  if (name === undefined) throw bad(`it names an image ${JSON.stringify(tag.slice(0, 200))}, which is not a valid name`)
  names.add(name)
}

/**
 * The names a top-level descriptor gives: containerd's full name, else an OCI ref name that is a
 * whole reference (skopeo writes a bare tag such as `latest`, which names no repository: such an
 * image loads without a name, as docker loads it).
 */
function namesOf(annotations: Record<string, string> | undefined): string[] {
  const full = annotations?.[CONTAINERD_NAME]
  if (typeof full === 'string') return [tryNormaliseName(full) ?? ''].filter(Boolean)
  const ref = annotations?.[REF_NAME]
  if (typeof ref === 'string' && (ref.includes('/') || ref.includes(':'))) return [tryNormaliseName(ref) ?? ''].filter(Boolean)
  return []
}

function isAttestation(d: Descriptor): boolean {
  return d.platform?.os === 'unknown' || d.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest'
}

function matchesHost(d: Descriptor): boolean {
  const host = hostPlatform()
  if (!d.platform) return true
  if (d.platform.os !== host.os || d.platform.architecture !== host.architecture) return false
  if (host.variant && d.platform.variant && d.platform.variant !== host.variant) return false
  return true
}

/** A descriptor followed through nested indexes to the image manifest for this host. */
function resolveToManifest(source: Source, d: Descriptor, depth: number): {digest: string; size?: number} | undefined {
  const member = blobMember(d.digest, 'a descriptor of index.json')
  const mediaType = d.mediaType ?? ''
  if (MANIFESTS.includes(mediaType)) return {digest: d.digest!, size: d.size}
  if (!INDEXES.includes(mediaType)) {
    if (isAttestation(d)) return undefined
    throw bad(`index.json lists a ${JSON.stringify(mediaType)}, which is neither an image index nor a manifest`)
  }
  if (depth >= LOAD_LIMITS.depth) throw bad(`its indexes are nested more than ${LOAD_LIMITS.depth} deep`)
  const index = readJson(source, member, d.digest, d.size) as {manifests?: Descriptor[]}
  if (!Array.isArray(index?.manifests)) throw bad(`the index ${d.digest} has no manifests list`)
  if (index.manifests.length > LOAD_LIMITS.images) throw bad(`the index ${d.digest} lists ${index.manifests.length} entries (limit ${LOAD_LIMITS.images})`)
  const candidates = index.manifests.filter(m => !isAttestation(m) && matchesHost(m))
  // The manifests the layout really holds (skopeo copies only one platform of a list).
  const present = candidates.find(
    m => typeof m.digest === 'string' && DIGEST.test(m.digest) && source.find(blobMember(m.digest, 'an index entry')) !== undefined,
  )
  if (!present) {
    const host = hostPlatform()
    const have = index.manifests
      .filter(m => !isAttestation(m))
      .map(m => [m.platform?.os, m.platform?.architecture, m.platform?.variant].filter(Boolean).join('/'))
    throw bad(`it has no image for ${host.os}/${host.architecture} (it has ${have.join(', ') || 'none'})`)
  }
  return resolveToManifest(source, present, depth + 1)
}

function planManifest(source: Source, d: {digest: string; size?: number}): Planned {
  const member = blobMember(d.digest, 'a manifest descriptor')
  const manifest = readJson(source, member, d.digest, d.size) as {config?: Descriptor; layers?: Descriptor[]}
  if (!manifest?.config || !Array.isArray(manifest.layers)) throw bad(`the manifest ${d.digest} has no config or no layers list`)
  if (manifest.layers.length > LOAD_LIMITS.layers) throw bad(`the manifest ${d.digest} lists ${manifest.layers.length} layers (limit ${LOAD_LIMITS.layers})`)
  const configMember = blobMember(manifest.config.digest, `the config of ${d.digest}`)
  return {
    config: {member: configMember, digest: manifest.config.digest, size: manifest.config.size},
    layers: manifest.layers.map((l, i) => {
      const mt = l.mediaType ?? ''
      if (/nondistributable|foreign/.test(mt)) throw bad(`layer ${i + 1} of ${d.digest} is a foreign layer (${mt}), which is not in the archive`)
      if (typeof l.size !== 'number' || !Number.isSafeInteger(l.size) || l.size < 0) throw bad(`layer ${i + 1} of ${d.digest} has no valid size`)
      return {member: blobMember(l.digest, `layer ${i + 1} of ${d.digest}`), digest: l.digest, size: l.size, mediaType: mt}
    }),
    names: new Set(),
    label: d.digest,
  }
}

// ---- verifying and unpacking ------------------------------------------------------------------

interface Ready {
  plan: Planned
  diffIds: string[]
  imageConfig: ImageRecord['config']
  created?: string
  platform?: ImageRecord['platform']
  history?: HistoryEntry[]
  staged: Array<{digest: string; size: number; entries: number; staging: string}>
  /** The config's bytes, kept so that save gives them back (ImageRecord.configJson). */
  configJson?: string
}

async function verifyImage(store: Store, source: Source, plan: Planned, staging: string, lease: Lease, options: LoadOptions): Promise<Ready> {
  const read = readJsonBytes(source, plan.config.member, plan.config.digest, plan.config.size)
  const config = read.value as ConfigBlob
  const diffIds = config?.rootfs?.diff_ids
  if (!Array.isArray(diffIds) || !diffIds.every(d => typeof d === 'string' && DIGEST.test(d)))
    throw bad(`the config of ${plan.label} has no valid rootfs.diff_ids`)
  if (diffIds.length !== plan.layers.length) throw bad(`${plan.label} lists ${plan.layers.length} layers but its config ${diffIds.length} diff ids`)
  if (config.os !== undefined && config.os !== 'linux') throw bad(`${plan.label} is a ${config.os} image; pivot runs linux images only`)
  const {imageConfigOf} = await import('../daemon/image-info')
  // Layers in the cache are pinned from here to the commit: a prune meanwhile must keep them.
  const cached = await lease.pin(() => {
    const have = diffIds.filter(d => store.hasLayer(d))
    lease.keepLayers(have)
    return new Set(have)
  })
  const staged: Ready['staged'] = []
  const done = new Set<string>()
  const unpack = options.unpack ?? defaultUnpackLayer
  for (let i = 0; i < plan.layers.length; i++) {
    const layer = plan.layers[i]!
    const diffId = diffIds[i]!
    if (cached.has(diffId) || done.has(diffId)) continue
    const found = source.find(layer.member)
    if (!found) throw bad(`it lacks layer ${i + 1} of ${plan.label} (${layer.member})`)
    if (layer.size !== undefined && found.size !== layer.size) throw bad(`layer ${layer.member} is ${found.size} bytes; its descriptor says ${layer.size}`)
    const dir = path.join(staging, `layer-${i}-${diffId.slice(7, 19)}`)
    fs.mkdirSync(path.join(dir, 'rootfs'), {recursive: true, mode: 0o755})
    fs.chmodSync(path.join(dir, 'rootfs'), 0o755)
    const hash = createHash('sha256')
    const hashing = new Transform({
      transform(chunk: Buffer, _e, cb) {
        hash.update(chunk)
        cb(null, chunk)
      },
    })
    const stream = found.open()
    const feeding = pipeline(stream as Readable, hashing).catch(() => undefined)
    const result = await unpack(hashing, path.join(dir, 'rootfs'), {signal: options.signal, tarSplit: path.join(dir, TAR_SPLIT_FILE)})
    await feeding
    const blobDigest = `sha256:${hash.digest('hex')}`
    if (layer.digest !== undefined && blobDigest !== layer.digest) throw bad(`layer ${layer.member} has digest ${blobDigest}, not ${layer.digest}`)
    if (result.digest !== diffId) throw bad(`layer ${i + 1} of ${plan.label} has diff id ${result.digest}; its config says ${diffId}`)
    staged.push({digest: diffId, size: result.size, entries: result.entries, staging: dir})
    done.add(diffId)
  }
  const platform =
    typeof config.architecture === 'string'
      ? {os: config.os ?? 'linux', architecture: config.architecture, ...(config.variant ? {variant: config.variant} : {})}
      : undefined
  const history = Array.isArray(config.history) ? config.history.filter(h => typeof h === 'object' && h !== null).slice(0, 10_000) : undefined
  return {
    plan,
    diffIds,
    imageConfig: imageConfigOf(config.config as Parameters<typeof imageConfigOf>[0]),
    created: typeof config.created === 'string' && !Number.isNaN(Date.parse(config.created)) ? config.created : undefined,
    platform,
    history,
    staged,
    configJson: configText(read.data),
  }
}

/** What docker load prints for one image. */
export function describeLoaded(image: LoadedImage): string[] {
  const moved = image.moved.map(m => `The image ${familiarName(m.name)} already exists, renaming the old one with ID ${m.previous} to empty string`)
  if (image.names.length === 0) return [...moved, `Loaded image ID: ${image.id}`]
  return [...moved, ...image.names.map(n => `Loaded image: ${familiarName(n)}`)]
}
