import type {Readable} from 'node:stream'
import {shortId} from '../common/format'
import {isPivotError} from '../errors'
import type {Store} from '../store'

/**
 * Hands `consume` the layer's tar as it came (rebuilt from its tar-split, verified against the diff
 * id while it streams) and returns what `consume` made of it; when the layer has no tar-split, or
 * the rebuild cannot give the layer's bytes back (`warn` says why, in one line), `consume` gets a
 * re-pack of the layer's files instead, in Docker's layer format: another tar, another digest.
 * Push and save both give layers back this way. The rebuild fails only at its end (the digest
 * check), so `consume` may run twice and must start from scratch each time.
 */
export async function withOriginalLayerTar<T>(
  store: Store,
  digest: string,
  warn: (message: string) => void,
  consume: (tar: AsyncIterable<Buffer>) => Promise<T>,
): Promise<T> {
  if (store.hasTarSplit(digest)) {
    const {reassembleLayer} = await import('../unpack/reassemble-layer')
    try {
      return await consume(reassembleLayer(store.layerRootfs(digest), store.layerTarSplit(digest), digest))
    } catch (error) {
      const cause = (error as {cause?: unknown}).cause
      if (!isPivotError(cause) || cause.code !== 'UNPACK_TAR_SPLIT') throw error
      warn(`layer ${shortId(digest)}: its original tar cannot be rebuilt (${cause.message}): re-packing its files`)
    }
  }
  const {packRootfs} = await import('../unpack')
  const {toLayerTar} = await import('../unpack/layer-tar')
  const packed = packRootfs(store.layerRootfs(digest)) as Readable
  try {
    return await consume(toLayerTar(packed as AsyncIterable<Buffer>))
  } finally {
    packed.destroy()
  }
}
