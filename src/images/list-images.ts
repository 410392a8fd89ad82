import type {ImageRecord, ImageSource, LayerRecord, Store} from '../store'

export interface ImageSummary {
  /** Normalised names (`docker.io/library/ubuntu:latest`), sorted; empty for an unnamed image. */
  names: string[]
  id: string
  /** Bytes on disk of the image's layers, each layer counted once. */
  size: number
  created: string
  added: string
  layers: string[]
  source: ImageSource
  /** The registry's digest of the manifest (or index) it was pulled by, when known (docker's RepoDigest). */
  digest?: string
}

/**
 * Every image in the cache, newest first (by creation, then by when it was added, like docker).
 * Damaged image records are left out (see damageWarning, which `images` prints on stderr).
 * Cheap by design: one read per image record, per ref and per distinct layer record — sizes come
 * from the `diskSize` computed once at commit, never from walking a rootfs.
 */
export function listImages(store: Store): ImageSummary[] {
  const namesById = new Map<string, string[]>()
  for (const ref of store.refs()) {
    const names = namesById.get(ref.id)
    if (names) names.push(ref.name)
    else namesById.set(ref.id, [ref.name])
  }
  const layers = new Map<string, LayerRecord | undefined>()
  const layerSize = (digest: string): number => {
    if (!layers.has(digest)) layers.set(digest, readLayerOrUndefined(store, digest))
    return layers.get(digest)?.diskSize ?? 0
  }
  return store
    .listImages()
    .map((image: ImageRecord) => ({
      names: (namesById.get(image.id) ?? []).sort(),
      id: image.id,
      size: [...new Set(image.layers)].reduce((sum, d) => sum + layerSize(d), 0),
      created: image.created,
      added: image.added,
      layers: image.layers,
      source: image.source,
      ...(digestOf(image.source) ? {digest: digestOf(image.source)} : {}),
    }))
    .sort((a, b) => time(b.created) - time(a.created) || time(b.added) - time(a.added) || a.id.localeCompare(b.id))
}

/** A damaged layer record counts as no size: one bad layer must not break the listing of every image. */
function readLayerOrUndefined(store: Store, digest: string): LayerRecord | undefined {
  try {
    return store.readLayer(digest)
  } catch {
    return undefined
  }
}

function time(iso: string): number {
  const t = Date.parse(iso)
  return Number.isNaN(t) ? 0 : t
}

function digestOf(source: ImageSource): string | undefined {
  return source.kind === 'daemon' || source.kind === 'registry' ? source.repoDigest : undefined
}
