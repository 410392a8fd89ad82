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
  | {kind: 'import'; file: string}
  | {kind: 'build'; recipe: string}

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
}
