/** What `run` and `build` need from an image's config (the subset of `docker inspect` .Config). */
export interface ImageConfig {
  Env?: string[]
  Cmd?: string[] | null
  Entrypoint?: string[] | null
  WorkingDir?: string
  User?: string
  ExposedPorts?: Record<string, object>
  Labels?: Record<string, string> | null
}

export type ImageSource =
  | {kind: 'daemon'; reference: string; dockerImageId: string; repoDigest?: string}
  /**
   * Pulled from a registry: dockerImageId is the config digest (what the daemon calls the image),
   * repoDigest the digest of the manifest or index the reference named, manifest the image
   * manifest's own digest, platform the one chosen (`os/arch[/variant]`).
   */
  | {kind: 'registry'; reference: string; dockerImageId: string; repoDigest: string; manifest: string; platform?: string}
  | {kind: 'import'; file: string}
  | {kind: 'build'; recipe: string}
  | {kind: 'load'; file: string}
  /** `pivot commit`: the container's writable layer on top of its image. */
  | {kind: 'commit'; container: string; comment?: string}

/** One entry of an image config's `history` (Docker/OCI), kept as `pivot load` found it. */
export interface HistoryEntry {
  created?: string
  created_by?: string
  author?: string
  comment?: string
  empty_layer?: boolean
}

/**
 * One image in the cache: `images/<hex>.json`. Its id is the digest of its layer chain and config
 * (see `imageIdOf`), so the same content always gets the same id whatever it is called.
 */
export interface ImageRecord {
  id: string
  /** Layer digests, bottom layer first. */
  layers: string[]
  config: ImageConfig
  source: ImageSource
  /** When the image's content was made (from the daemon's `Created`, or now). ISO 8601. */
  created: string
  /** When it entered this cache. ISO 8601. */
  added: string
  /** The platform the image's config names (pull and load record it; absent: the host's). */
  platform?: {os: string; architecture: string; variant?: string}
  /** The config's history, as loaded (absent for pulled, built and imported images: save makes one up). */
  history?: HistoryEntry[]
  /**
   * The image's config exactly as the daemon or registry had it (its digest is the source's
   * dockerImageId): push and save send it back when the layers go as their original tars, so
   * docker sees the same image id. Absent for images made here, and for pulls that read no config.
   */
  configJson?: string
}

/** `layers/<hex>/layer.json`: written when the layer is committed. */
export interface LayerRecord {
  digest: string
  /** Bytes of the uncompressed tar the layer came from. */
  tarSize: number
  /** Bytes the unpacked layer takes on disk (sum of file sizes), computed once at commit. */
  diskSize: number
  entries: number
  created: string
  /** sha256 of `layers/<hex>/manifest` (see layer-tree.ts); absent in layers committed before it existed. */
  manifest?: string
}

/**
 * `layers/<hex>/blob.json`: the layer's compressed form kept beside it in `layers/<hex>/blob`, so a
 * push sends the same bytes every time (and a pulled layer goes back with its registry digest).
 * `diffId` is the digest of the blob's uncompressed content: the layer's own digest for a blob
 * pulled from a registry or made from a layer pivot packed itself; another one when pivot had to
 * re-pack a layer whose original tar it no longer has (a daemon pull). `sources` are the
 * repositories (`domain/path`) known to hold the blob: a push to one of their registries mounts it.
 */
export interface LayerBlob {
  digest: string
  size: number
  compression: 'gzip' | 'zstd' | 'none'
  diffId: string
  sources: string[]
}

/** Why `value` cannot be a blob record, or undefined when it can. */
export function layerBlobProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'blob.json is not a JSON object'
  const r = value as Partial<Record<keyof LayerBlob, unknown>>
  const digest = /^sha256:[0-9a-f]{64}$/
  if (typeof r.digest !== 'string' || !digest.test(r.digest) || typeof r.diffId !== 'string' || !digest.test(r.diffId)) return 'blob.json names no digests'
  if (typeof r.size !== 'number' || !Number.isSafeInteger(r.size) || r.size < 0) return 'blob.json has no size'
  if (r.compression !== 'gzip' && r.compression !== 'zstd' && r.compression !== 'none') return 'blob.json names no compression'
  if (!Array.isArray(r.sources) || !r.sources.every(s => typeof s === 'string')) return 'blob.json has no source list'
  return undefined
}

/** Why `value` cannot be the image record `images/<hex of id>.json`, or undefined when it can. */
export function imageRecordProblem(value: unknown, id: string): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not a JSON object'
  const r = value as Partial<Record<keyof ImageRecord, unknown>>
  if (r.id !== id) return `its id is ${JSON.stringify(r.id)}, not the one its file name says`
  if (!Array.isArray(r.layers) || !r.layers.every(l => typeof l === 'string' && /^sha256:[0-9a-f]{64}$/.test(l)))
    return 'its layer list is not a list of digests'
  if (typeof r.config !== 'object' || r.config === null || Array.isArray(r.config)) return 'it has no config object'
  if (typeof r.source !== 'object' || r.source === null) return 'it has no source'
  return undefined
}

/** Why `value` cannot be the layer record of `digest`, or undefined when it can. */
export function layerRecordProblem(value: unknown, digest: string): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'layer.json is not a JSON object'
  const r = value as Partial<Record<keyof LayerRecord, unknown>>
  if (r.digest !== digest) return `layer.json names digest ${JSON.stringify(r.digest)}`
  if (typeof r.diskSize !== 'number' || typeof r.tarSize !== 'number') return 'layer.json has no sizes'
  return undefined
}
