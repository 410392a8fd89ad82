import {type Platform, formatPlatform, normalizePlatform, platformMatches} from './platform'
import {RegistryError} from './registry-error'

export const MEDIA = {
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
} as const

/**
 * Sent on every manifest GET: Debian's registry 2.8 answers a Docker-pushed image with a schema 1
 * manifest when the Docker v2 type is missing, and a 404 for an OCI-pushed one when the OCI
 * types are.
 */
export const MANIFEST_ACCEPT = [MEDIA.ociIndex, MEDIA.dockerList, MEDIA.ociManifest, MEDIA.dockerManifest].join(', ')

/** Layer media types pivot unpacks (the compression is sniffed from the bytes whatever the type says). */
const LAYER_TYPES = new Set([
  'application/vnd.docker.image.rootfs.diff.tar.gzip',
  'application/vnd.docker.image.rootfs.diff.tar',
  'application/vnd.oci.image.layer.v1.tar',
  'application/vnd.oci.image.layer.v1.tar+gzip',
  'application/vnd.oci.image.layer.v1.tar+zstd',
])
const FOREIGN_LAYER_TYPES = new Set([
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
])

/**
 * Bounds, checked before anything is downloaded. A manifest: 4 MiB (docker's client reads at most
 * that much of one). A config: 8 MiB. Layers: 128, overlay2's depth (docker refuses deeper images
 * with "max depth exceeded"; pivot's overlay lowerdir would not fit many more either).
 */
export const MAX_MANIFEST_BYTES = 4 << 20
export const MAX_CONFIG_BYTES = 8 << 20
export const MAX_LAYERS = 128
/** Index nesting followed (an index of indexes is legal; an endless chain is not). */
export const MAX_INDEX_DEPTH = 4

export interface Descriptor {
  mediaType: string
  digest: string
  size: number
  platform?: Platform & {'os.version'?: string}
  annotations?: Record<string, string>
  urls?: string[]
}

export type Manifest =
  {kind: 'index'; mediaType: string; manifests: Descriptor[]} | {kind: 'image'; mediaType: string; config: Descriptor; layers: Descriptor[]}

const DIGEST = /^sha256:[0-9a-f]{64}$/

/**
 * Reads a manifest's bytes: its media type from the Content-Type, else its `mediaType` field.
 * Anything but the four image manifest and index types is refused (schema 1, artifacts, garbage).
 */
export function parseManifest(bytes: Buffer, contentType: string | undefined, what: string): Manifest {
  let doc: Record<string, unknown>
  try {
    doc = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new Error('not a JSON object')
  } catch (error) {
    throw new RegistryError('REGISTRY_BAD_CONTENT', `the manifest of ${what} is not valid JSON: ${(error as Error).message}`)
  }
  const header = contentType?.split(';')[0].trim()
  const field = typeof doc.mediaType === 'string' ? doc.mediaType : undefined
  // A registry may say application/json (or nothing) for a manifest that names its own type.
  const mediaType =
    header && header !== 'application/json' && header !== 'text/plain' ? header : (field ?? (Array.isArray(doc.manifests) ? MEDIA.ociIndex : MEDIA.ociManifest))
  if (field !== undefined && field !== mediaType) {
    throw new RegistryError('REGISTRY_BAD_CONTENT', `the manifest of ${what} says it is ${field} but was served as ${mediaType}`)
  }
  if (mediaType === MEDIA.dockerList || mediaType === MEDIA.ociIndex) {
    if (!Array.isArray(doc.manifests)) throw new RegistryError('REGISTRY_BAD_CONTENT', `the index of ${what} has no manifests list`)
    return {kind: 'index', mediaType, manifests: doc.manifests.map((d, i) => descriptor(d, `entry ${i + 1} of the index of ${what}`))}
  }
  if (mediaType === MEDIA.dockerManifest || mediaType === MEDIA.ociManifest) {
    if (!Array.isArray(doc.layers)) throw new RegistryError('REGISTRY_BAD_CONTENT', `the manifest of ${what} has no layers list`)
    if (doc.layers.length > MAX_LAYERS) {
      throw new RegistryError(
        'REGISTRY_TOO_LARGE',
        `${what} has ${doc.layers.length} layers, more than the ${MAX_LAYERS} pivot (and docker's overlay2) can stack`,
      )
    }
    const config = descriptor(doc.config, `the config of ${what}`)
    const layers = doc.layers.map((d, i) => descriptor(d, `layer ${i + 1} of ${what}`))
    for (const [i, l] of layers.entries()) {
      if (FOREIGN_LAYER_TYPES.has(l.mediaType)) {
        throw new RegistryError(
          'REGISTRY_BAD_CONTENT',
          `layer ${i + 1} of ${what} is a foreign (non-distributable) layer (${l.mediaType}): a Windows image? pivot runs Linux images only`,
        )
      }
      if (!LAYER_TYPES.has(l.mediaType)) throw new RegistryError('REGISTRY_BAD_CONTENT', `layer ${i + 1} of ${what} has the unknown media type ${l.mediaType}`)
    }
    return {kind: 'image', mediaType, config, layers}
  }
  if (mediaType.startsWith('application/vnd.docker.distribution.manifest.v1')) {
    throw new RegistryError(
      'REGISTRY_BAD_CONTENT',
      `${what} has only a schema 1 manifest (${mediaType}), which pivot does not read: push it again with a current docker`,
    )
  }
  throw new RegistryError('REGISTRY_BAD_CONTENT', `the manifest of ${what} has the unknown media type ${mediaType}`)
}

function descriptor(value: unknown, what: string): Descriptor {
  const d = value as Partial<Descriptor> | null
  if (typeof d !== 'object' || d === null) throw new RegistryError('REGISTRY_BAD_CONTENT', `${what} is not a descriptor`)
  if (typeof d.digest !== 'string' || !DIGEST.test(d.digest)) {
    throw new RegistryError('REGISTRY_BAD_CONTENT', `${what} has the digest ${JSON.stringify(d.digest)}, not a sha256 digest pivot can check`)
  }
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) {
    throw new RegistryError('REGISTRY_BAD_CONTENT', `${what} has the size ${JSON.stringify(d.size)}, not a byte count`)
  }
  if (typeof d.mediaType !== 'string') throw new RegistryError('REGISTRY_BAD_CONTENT', `${what} has no media type`)
  return d as Descriptor
}

/** buildx's attestation manifests sit in indexes as `unknown/unknown` entries; they are no image. */
function isAttestation(d: Descriptor): boolean {
  return d.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest' || (d.platform?.os === 'unknown' && d.platform?.architecture === 'unknown')
}

/**
 * The index entry for `wanted`: an exact variant match first, then an entry that names no
 * variant. Attestations are skipped. REGISTRY_NO_PLATFORM lists what the index does have.
 */
export function selectPlatform(index: Extract<Manifest, {kind: 'index'}>, wanted: Platform, what: string): Descriptor {
  const candidates = index.manifests.filter(
    d => !isAttestation(d) && d.platform && typeof d.platform.os === 'string' && typeof d.platform.architecture === 'string',
  )
  const w = normalizePlatform(wanted)
  const matching = candidates.filter(d => platformMatches(d.platform!, w))
  const exact = matching.find(d => normalizePlatform(d.platform!).variant === w.variant)
  const chosen = exact ?? matching.find(d => !normalizePlatform(d.platform!).variant) ?? matching[0]
  if (chosen) return chosen
  // An index whose entries name no platform at all (some OCI layouts): one entry is the image.
  const plain = index.manifests.filter(d => !d.platform && !isAttestation(d))
  if (candidates.length === 0 && plain.length === 1) return plain[0]
  const has = [...new Set(candidates.map(d => formatPlatform(normalizePlatform(d.platform!))))].join(', ')
  throw new RegistryError('REGISTRY_NO_PLATFORM', `${what} has no manifest for ${formatPlatform(w)} (it has: ${has || 'none'})`)
}
