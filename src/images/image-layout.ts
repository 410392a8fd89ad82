import type {HistoryEntry, ImageRecord} from '../store'

/**
 * What `pivot save` writes and `pivot load` reads: the OCI image layout (image-spec
 * image-layout.md: oci-layout, index.json, blobs/sha256/<hex>) plus Docker's manifest.json and
 * repositories, as `ctr image export` and docker >= 25 write it, so docker 20.10's `docker load`
 * (which reads only manifest.json) and OCI tools (skopeo, ctr, umoci) all take it.
 */
export const MEDIA = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar',
  layerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  layerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const

export const REF_NAME = 'org.opencontainers.image.ref.name'
/** containerd's (and docker >= 25's) annotation with the image's full name. */
export const CONTAINERD_NAME = 'io.containerd.image.name'

export interface Descriptor {
  mediaType?: string
  digest?: string
  size?: number
  annotations?: Record<string, string>
  platform?: {os?: string; architecture?: string; variant?: string}
}

/** The Docker/OCI image config (image-spec config.md) fields pivot writes and reads. */
export interface ConfigBlob {
  architecture?: string
  os?: string
  variant?: string
  created?: string
  config?: Record<string, unknown> | null
  rootfs?: {type?: string; diff_ids?: string[]}
  history?: HistoryEntry[]
}

/** The host's platform in OCI terms (Node's `x64` is `amd64`...). */
export function hostPlatform(): {os: string; architecture: string; variant?: string} {
  const arch: Record<string, string> = {
    x64: 'amd64',
    ia32: '386',
    arm64: 'arm64',
    arm: 'arm',
    ppc64: 'ppc64le',
    s390x: 's390x',
    riscv64: 'riscv64',
    mips64el: 'mips64le',
  }
  const architecture = arch[process.arch] ?? process.arch
  return architecture === 'arm' ? {os: 'linux', architecture, variant: 'v7'} : {os: 'linux', architecture}
}

/**
 * The config blob of a cached image. Its history is the loaded one when it still matches the
 * layers (one non-empty entry per layer), else one entry per layer saying where it came from:
 * docker requires neither, but `docker history` of the loaded image reads better with it.
 */
/**
 * The config the image came with (ImageRecord.configJson), when it still describes these layers:
 * its digest is the source's image id (pulled images) and its diff ids are `diffIds` (the layers
 * went as their original tars). Otherwise undefined, and configBlobOf makes one.
 */
export function originalConfigOf(image: ImageRecord, diffIds: string[]): Buffer | undefined {
  if (image.configJson === undefined) return undefined
  const bytes = Buffer.from(image.configJson, 'utf8')
  const {createHash} = require('node:crypto') as typeof import('node:crypto')
  // A pulled image knows its config's digest (docker's image id); a loaded one was checked against its manifest.
  const known = image.source.kind === 'daemon' || image.source.kind === 'registry' ? image.source.dockerImageId : undefined
  if (known !== undefined && `sha256:${createHash('sha256').update(bytes).digest('hex')}` !== known) return undefined
  try {
    const doc = JSON.parse(image.configJson) as {rootfs?: {diff_ids?: unknown}}
    const ids = doc.rootfs?.diff_ids
    return Array.isArray(ids) && ids.length === diffIds.length && ids.every((d, i) => d === diffIds[i]) ? bytes : undefined
  } catch {
    return undefined
  }
}

/** The bytes of a config read from a source, kept as text only when the text gives them back exactly. */
export function configText(bytes: Buffer): string | undefined {
  const text = bytes.toString('utf8')
  return Buffer.from(text, 'utf8').equals(bytes) ? text : undefined
}

export function configBlobOf(image: ImageRecord, diffIds: string[]): ConfigBlob {
  const platform = image.platform ?? hostPlatform()
  const nonEmpty = image.history?.filter(h => !h.empty_layer).length
  const history = image.history && nonEmpty === diffIds.length ? image.history : madeUpHistory(image, diffIds.length)
  const config = {...image.config}
  return {
    architecture: platform.architecture,
    ...(platform.variant ? {variant: platform.variant} : {}),
    os: platform.os,
    created: image.created,
    config,
    rootfs: {type: 'layers', diff_ids: diffIds},
    history,
  }
}

function madeUpHistory(image: ImageRecord, layers: number): HistoryEntry[] {
  const by =
    image.source.kind === 'daemon' || image.source.kind === 'registry'
      ? `pivot pull ${image.source.reference}`
      : image.source.kind === 'import'
        ? `pivot import ${image.source.file}`
        : image.source.kind === 'build'
          ? `pivot build ${image.source.recipe}`
          : image.source.kind === 'commit'
            ? `pivot commit ${image.source.container}`
            : `pivot load ${image.source.file}`
  return Array.from({length: layers}, (_, i) => ({created: image.created, created_by: layers > 1 ? `${by} (layer ${i + 1})` : by}))
}
