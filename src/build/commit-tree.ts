import * as fs from 'node:fs'
import * as path from 'node:path'
import {Readable} from 'node:stream'
import {type Store, TAR_SPLIT_FILE} from '../store'
import type {Lease} from '../store/gc-lock'
import {type LayerView, type OpaqueTest, defaultOpaqueTest} from '../unpack/layer-view'

/**
 * Commits a directory in overlay layer format (a run step's upper dir, or a copy step's tree) as
 * a content-addressed layer and returns its digest. The tree is packed into a deterministic tar
 * (packRootfs), turned into a Docker layer tar (toLayerTar: `.wh.` whiteouts and opaque markers,
 * overlay's private trusted.overlay.* attributes left out), and that tar unpacked into a staging
 * dir by the same safe unpacker a pull uses: the layer's digest is the tar's (a Docker diff id),
 * and the committed layer is exactly what a pull of that tar would have made. `ids` rewrites the
 * owners (a --userns remap container's host ids back to its own). `tmpParent` is a staging directory of the build (under the store's tmp/).
 */
export async function commitTree(
  store: Store,
  tree: string,
  tmpParent: string,
  signal?: AbortSignal,
  lease?: Lease,
  ids?: import('../unpack/layer-tar').IdTranslation,
): Promise<string> {
  const {packRootfs, unpackLayer} = await import('../unpack')
  const {toLayerTar} = await import('../unpack/layer-tar')
  const work = fs.mkdtempSync(path.join(tmpParent, 'layer-'))
  try {
    const rootfs = path.join(work, 'rootfs')
    fs.mkdirSync(rootfs, {mode: 0o755})
    // The unpacker reports a source that fails as a short archive; keep the real reason.
    let packError: unknown
    const layerTar = async function* () {
      try {
        yield* toLayerTar(packRootfs(tree) as Readable, ids)
      } catch (error) {
        packError = error
        throw error
      }
    }
    let unpacked
    try {
      unpacked = await unpackLayer(Readable.from(layerTar(), {objectMode: false}), rootfs, {signal, tarSplit: path.join(work, TAR_SPLIT_FILE)})
    } catch (error) {
      throw packError ?? error
    }
    // Committed under the build's lease: the layer is referenced only by the build's memory until
    // its build-cache record is written.
    const commit = () => {
      store.commitLayer(work, {digest: unpacked.digest, tarSize: unpacked.size, entries: unpacked.entries})
      lease?.keepLayers([unpacked.digest])
    }
    if (lease) await lease.pin(commit)
    else commit()
    return unpacked.digest
  } finally {
    fs.rmSync(work, {recursive: true, force: true})
  }
}

/**
 * True when a layer tree would change nothing over `view`: it holds only directories that exist
 * below with the same mode and owner (overlay copies a directory up when something is created in
 * it, even if that is deleted again). A file, symlink, whiteout or opaque directory is a change.
 */
export function treeIsUnchanged(tree: string, view: LayerView, isOpaque: OpaqueTest = defaultOpaqueTest()): boolean {
  const walk = (dir: string, imageDir: string): boolean => {
    for (const entry of fs.readdirSync(dir, {withFileTypes: true})) {
      if (!entry.isDirectory()) return false
      const host = path.join(dir, entry.name)
      const imagePath = `${imageDir}/${entry.name}`
      if (isOpaque(host)) return false
      const lower = view.resolve(imagePath, false).entry
      if (!lower?.stat.isDirectory()) return false
      const st = fs.lstatSync(host)
      if ((st.mode & 0o7777) !== (lower.stat.mode & 0o7777) || st.uid !== lower.stat.uid || st.gid !== lower.stat.gid) return false
      if (!walk(host, imagePath)) return false
    }
    return true
  }
  return walk(tree, '')
}
