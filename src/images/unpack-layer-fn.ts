import type {PreparedUnpacker} from '../unpack'

/**
 * The shape of `unpackLayer` (src/unpack) as the pull code uses it, so tests can hand in a fake:
 * unpacks a layer tar (gzip auto-detected) into `dest`, an existing empty directory, and resolves
 * with the sha256 digest of the uncompressed tar. `prepared`: a worker started early to use.
 */
export type UnpackLayerFn = (
  source: NodeJS.ReadableStream,
  dest: string,
  /** tarSplit: a file to create with the tar's tar-split (src/unpack/tar-split.ts); prepared: a worker started ahead. */
  options?: {signal?: AbortSignal; tarSplit?: string; prepared?: PreparedUnpacker},
) => Promise<{digest: string; size: number; entries: number}>

/** The real unpacker, loaded on first use. */
export const defaultUnpackLayer: UnpackLayerFn = async (source, dest, options) => {
  const {unpackLayer} = await import('../unpack')
  return unpackLayer(source, dest, options)
}
