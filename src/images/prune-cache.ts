import * as fs from 'node:fs'
import * as path from 'node:path'
import {isPivotError} from '../errors'
import {type Store, digestHex, removeTree} from '../store'
import {liveLeases, withGcExclusive} from '../store/gc-lock'
import {containerUses} from './container-usage'
import {readableImage} from './damaged-entries'
import {removeDamagedEntries, tryRemove} from './check-cache'
import {diskUsage} from '../common/fs-util'
import {isAlive} from '../common/process-identity'

export interface PruneReport {
  /** Container ids removed by the runtime (dead containers, their leftover cgroups). */
  containers: string[]
  /** Docker containers left by flat pulls that were killed (only when a daemon answers). */
  exportContainers: string[]
  /** Names whose image record was missing or damaged, and damaged entries of refs/. */
  names: string[]
  /** Damaged image records (unreadable, truncated), removed: they pin nothing. */
  damaged: string[]
  /** Image ids no name referenced. */
  images: string[]
  /** Layer digests no image, build-cache record or container used. */
  layers: string[]
  /** Layers whose kept compressed blob (push's) went because no image uses the layer any more (only the build cache). */
  blobs: string[]
  /** `l/` entries that pointed at no layer. */
  links: string[]
  /** tmp/ entries of dead processes. */
  tmp: string[]
  /** locks/ files nobody held (left by a holder that was killed, or by an older pivot). */
  locks: string[]
  /** Unreferenced layers and images kept because a lease of a running pivot process pins them. */
  kept: {layers: string[]; images: string[]; pids: number[]}
  /** Bytes freed: layer disk sizes plus tmp/ leftovers. */
  reclaimedBytes: number
  /** What could not be removed (the command exits non-zero when there is any). */
  errors: string[]
}

/**
 * What prune needs from the modules above images (the caller, commands/prune.ts, passes them):
 * the runtime removes dead containers, and the build cache's records pin layers.
 */
export interface PruneParts {
  /** Removes dead containers and their leftovers; the ids removed. */
  pruneContainers(store: Store): Promise<string[]>
  /** Layer digests the build cache's records list (read under the GC lock). */
  buildCacheLayers(store: Store): string[]
}

/**
 * Garbage collection of the cache, in dependency order: containers first (they pin images and
 * layers), then names pointing nowhere, image records no name references, layers nothing
 * references, stale `l/` links, and tmp/ leftovers. A layer is live when an image record, a
 * build-cache record (`build-cache/*.json` with `layers: string[]`), a container or a lease of a
 * running pivot process lists it.
 *
 * Races: the mark and the sweep run under the exclusive GC lock (src/store/gc-lock.ts), which
 * every pull, import, build, run and export holds shared from the moment it looks up or commits
 * layers until a record or a lease references them. So nothing can start using a layer between
 * the moment prune decides it is garbage and the moment it is gone. Unreferenced layers and
 * images a lease pins are kept and reported; a later prune takes them if they are still garbage.
 */
export async function pruneCache(store: Store, parts: PruneParts): Promise<PruneReport> {
  return store.withLock('prune', async () => {
    // A container the runtime could not remove keeps its record, and so its image and layers:
    // the rest of the collection is still safe to do, and is done. (Outside the GC lock: removing
    // dead containers only drops pins, and may take a while.)
    const errors: string[] = []
    let containers: string[] = []
    try {
      containers = await parts.pruneContainers(store)
    } catch (error) {
      if (!isPivotError(error)) throw error
      errors.push(error.message)
    }
    const exportContainers = await removeExportLeftovers()
    const report: PruneReport = {
      containers,
      exportContainers,
      names: [],
      damaged: [],
      images: [],
      layers: [],
      blobs: [],
      links: [],
      tmp: [],
      locks: [],
      kept: {layers: [], images: [], pids: []},
      reclaimedBytes: 0,
      errors,
    }

    // Under the lock, doomed layers only leave layers/ (a rename into tmp/); their trees are
    // deleted after it, so readers wait for the decision, not for the disk.
    const doomed = await withGcExclusive(store, () => sweep(store, report, parts))
    // A file that cannot be deleted (an immutable one) is named in the errors; its detached tree
    // stays a tmp/ leftover of this dead process, which a later prune retries.
    for (const {digest, dir} of doomed) tryRemove(() => removeTree(dir, `layer ${digest} was taken out of the cache, but`), errors)

    report.tmp = store.sweepTmp(
      dir => {
        report.reclaimedBytes += diskUsage(dir)
      },
      message => errors.push(message),
    )
    // Interrupted registry downloads nobody is resuming right now (a pull holds its blob's lock).
    const {removeIdleDownloads} = require('./pull-registry') as typeof import('./pull-registry')
    const downloads = removeIdleDownloads(store)
    report.tmp.push(...downloads.removed)
    report.reclaimedBytes += downloads.bytes
    report.locks = removeIdleLocks(store)
    return report
  })
}

/** Mark and sweep (under the exclusive GC lock); returns the detached layer trees to delete. */
function sweep(store: Store, report: PruneReport, parts: PruneParts): Array<{digest: string; dir: string}> {
  const leases = liveLeases(store)
  report.kept.pids = leases.pids
  const uses = containerUses(store)
  const pinnedImages = new Set(uses.map(c => c.imageId))

  // Names first: a name whose record is gone pins nothing.
  const named = new Set<string>()
  for (const ref of store.refs()) {
    if (readableImage(store, ref.id)) named.add(ref.id)
    else if (store.removeRef(ref.name)) report.names.push(ref.name)
  }
  removeDamagedEntries(store, report)
  const liveLayers = new Set<string>()
  for (const image of store.listImages()) {
    if (named.has(image.id) || pinnedImages.has(image.id)) {
      image.layers.forEach(l => liveLayers.add(l))
    } else if (leases.images.has(image.id)) {
      report.kept.images.push(image.id)
      image.layers.forEach(l => liveLayers.add(l))
    } else {
      store.removeImage(image.id)
      report.images.push(image.id)
    }
  }
  for (const use of uses) use.layers.forEach(l => liveLayers.add(l))
  // A kept blob only serves a push of an image: a layer that only the build cache still lists keeps its tree, not its blob.
  const imageLayers = new Set([...liveLayers, ...leases.layers])
  for (const l of parts.buildCacheLayers(store)) liveLayers.add(l)
  for (const digest of liveLayers) {
    if (imageLayers.has(digest)) continue
    const blob = store.layerBlob(digest)
    if (!blob) continue
    if (!tryRemove(() => store.dropLayerBlob(digest), report.errors)) continue
    report.blobs.push(digest)
    report.reclaimedBytes += blob.size
  }

  const doomed: Array<{digest: string; dir: string}> = []
  for (const digest of store.listLayers()) {
    if (liveLayers.has(digest)) continue
    if (leases.layers.has(digest)) {
      report.kept.layers.push(digest)
      continue
    }
    let record: {diskSize?: number} | undefined
    try {
      record = store.readLayer(digest)
    } catch {
      record = undefined // a layer dir without its record is damaged: garbage, size by walking it
    }
    // A layer's tar-split goes with its tree; a build-cache layer keeps it (it is small, and a
    // rebuilt image that reuses the layer pushes it as its original tar).
    const size = (record?.diskSize ?? diskUsage(store.layerDir(digest))) + (store.layerBlob(digest)?.size ?? 0) + store.tarSplitSize(digest)
    // A layer that cannot be detached (an immutable directory) is named in the errors; the rest goes on.
    let dir: string | undefined
    if (!tryRemove(() => (dir = store.takeOutLayer(digest)), report.errors) || dir === undefined) continue
    doomed.push({digest, dir})
    report.layers.push(digest)
    report.reclaimedBytes += size
  }

  report.links = pruneLinks(store)
  return doomed
}

/**
 * Removes `l/` entries that are not the short link of a committed layer (dangling links, and
 * temp links of a dead linker), and re-creates a missing link for a layer that has none.
 */
function pruneLinks(store: Store): string[] {
  const wanted = new Map(store.listLayers().map(d => [store.layerShortName(d), d]))
  const removed: string[] = []
  for (const entry of fs.readdirSync(store.path('l'))) {
    const tempOwner = /^[0-9a-f]{12}\.(\d+)\.tmp$/.exec(entry)
    if (tempOwner && isAlive(Number(tempOwner[1]))) continue
    const digest = wanted.get(entry)
    if (digest !== undefined && readlinkOrUndefined(store.path('l', entry)) === path.join('..', 'layers', digestHex(digest), 'rootfs')) {
      wanted.delete(entry)
      continue
    }
    fs.rmSync(store.path('l', entry), {recursive: true, force: true})
    removed.push(entry)
  }
  for (const digest of wanted.values()) store.linkLayer(digest)
  return removed
}

function readlinkOrUndefined(file: string): string | undefined {
  try {
    return fs.readlinkSync(file)
  } catch {
    return undefined
  }
}

/**
 * A flat pull killed mid-export leaves its throwaway container in the daemon. Prune removes those
 * when a daemon answers; without one (prune needs no daemon) there is nothing to do.
 */
async function removeExportLeftovers(): Promise<string[]> {
  try {
    const {connectDaemon, resolveEndpoint} = await import('../daemon')
    // No socket, no daemon: don't pay for loading dockerode to find that out.
    const ep = resolveEndpoint()
    if (ep.kind === 'unix' && !fs.existsSync(ep.socketPath)) return []
    const {removeStaleExportContainers} = await import('./pull-image')
    return await removeStaleExportContainers(await connectDaemon())
  } catch {
    return []
  }
}

/**
 * Lock files under locks/ that nobody holds: taken without waiting and released with their file
 * (lockFile's unlink-then-verify makes that safe against a taker waiting on the same file). Every
 * lock goes with its file on release; these are what a holder killed before its release, or an
 * older pivot that kept them, left. Held ones (prune's own among them) are left alone.
 */
function removeIdleLocks(store: Store): string[] {
  const {tryLockFile} = require('../store/file-lock') as typeof import('../store/file-lock')
  const removed: string[] = []
  let entries: string[]
  try {
    entries = fs.readdirSync(store.path('locks'))
  } catch {
    return removed
  }
  for (const entry of entries.filter(e => e.endsWith('.lock'))) {
    const file = store.path('locks', entry)
    try {
      if (!fs.lstatSync(file).isFile()) continue // check --repair's business
    } catch {
      continue
    }
    const lock = tryLockFile(file, {removeOnRelease: true})
    if (!lock) continue
    lock.release()
    removed.push(entry)
  }
  return removed
}
