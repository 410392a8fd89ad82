import * as fs from 'node:fs'
import * as path from 'node:path'
import {isPivotError} from '../errors'
import {type ImageRecord, type LayerRecord, type Store, TAR_SPLIT_FILE, removeStaging} from '../store'
import {Lease} from '../store/gc-lock'
import {ImageError} from './image-error'
import {normaliseName} from './image-name'
import {openArchiveInput} from './archive-input'

export interface ImportOptions {
  /** Replace the name when it already exists. */
  force?: boolean
  signal?: AbortSignal
  /** What `-` reads; process.stdin by default (a parameter so tests can feed a stream). */
  stdin?: NodeJS.ReadableStream & {isTTY?: boolean}
}

export interface ImportResult {
  name: string
  image: ImageRecord
  layer: LayerRecord
  /** The layer was already in the cache (same content imported or pulled before). */
  layerReused: boolean
}

/**
 * `pivot import FILE|- NAME`: a rootfs tarball (`docker export` output, a debootstrap tarball,
 * gzip or not) becomes a one-layer image, the same cache entry a pull of that content makes.
 *
 * Failure leaves the cache as it was: the name is checked before any work, the tar is unpacked
 * into a staging dir under tmp/ (removed on failure; a killed import leaves it to sweepTmp), and
 * nothing appears under layers/, images/ or refs/ until the layer is complete and verified.
 */
export async function importImage(store: Store, file: string, nameArg: string, options: ImportOptions = {}): Promise<ImportResult> {
  const name = normaliseName(nameArg)
  if (!options.force && store.getRef(name) !== undefined) throw exists(nameArg)
  const opened = openArchiveInput(file, options.stdin ?? process.stdin, {
    directories: false,
    command: 'import',
    ttyHint: 'pipe a tar archive into `pivot import -`, or give a FILE',
  })
  // A directory is refused above (import takes a tarball; `pivot load` takes a layout directory).
  const input = (opened as Extract<typeof opened, {kind: 'stream'}>).stream

  store.sweepTmp()
  const staging = store.stage('import')
  // Pins the layer from its commit until the name references it (src/store/gc-lock.ts).
  const lease = new Lease(store, 'import')
  let layer: LayerRecord
  let layerReused = false
  try {
    const rootfs = path.join(staging, 'rootfs')
    fs.mkdirSync(rootfs)
    // What `/` gets when the archive has no './' entry, whatever our umask.
    fs.chmodSync(rootfs, 0o755)
    const {unpackLayer} = await import('../unpack')
    let unpacked: {digest: string; size: number; entries: number}
    try {
      unpacked = await unpackLayer(input, rootfs, {signal: options.signal, tarSplit: path.join(staging, TAR_SPLIT_FILE)})
    } catch (error) {
      if (!isPivotError(error)) throw error
      // The archive's own faults get one code; the file system's (ENOSPC...) another.
      const code = ARCHIVE_FAULTS.has(error.code) ? 'IMAGE_BAD_ARCHIVE' : 'IMAGE_IMPORT_FAILED'
      throw new ImageError(code, `cannot import ${describe(file)}: ${error.message}`, {cause: error})
    }
    layer = await lease.pin(() => {
      layerReused = store.hasLayer(unpacked.digest)
      lease.keepLayers([unpacked.digest])
      return store.commitLayer(staging, {digest: unpacked.digest, tarSize: unpacked.size, entries: unpacked.entries})
    })
  } catch (error) {
    lease.release()
    removeStaging(staging)
    destroy(input)
    throw error
  }

  const named = store.withLock(`ref-${name}`, async () =>
    lease.pin(() => {
      // Checked again under the lock: another import may have taken the name while we unpacked.
      // Losing that race leaves an unreferenced layer, which `prune` frees.
      if (!options.force && store.getRef(name) !== undefined) throw exists(nameArg)
      const now = new Date().toISOString()
      const image = store.writeImage({
        layers: [layer.digest],
        config: {},
        source: {kind: 'import', file: file === '-' ? '-' : path.resolve(file)},
        created: now,
        added: now,
      })
      store.setRef(name, image.id)
      return {name, image, layer, layerReused}
    }),
  )
  return named.finally(() => lease.release())
}

const ARCHIVE_FAULTS = new Set(['UNPACK_CORRUPT', 'UNPACK_TRUNCATED', 'UNPACK_HOSTILE_ENTRY', 'UNPACK_TOO_DEEP', 'UNPACK_UNSUPPORTED'])

function exists(name: string): ImageError {
  return new ImageError('IMAGE_EXISTS', `image ${name} already exists: use --force to replace the name`)
}

function describe(file: string): string {
  return file === '-' ? 'standard input' : file
}

function destroy(stream: NodeJS.ReadableStream): void {
  if (stream !== process.stdin && typeof (stream as {destroy?: () => void}).destroy === 'function') (stream as fs.ReadStream).destroy()
}
