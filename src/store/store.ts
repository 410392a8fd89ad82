import * as fs from 'node:fs'
import * as path from 'node:path'
import {openCacheRoot} from './cache-root'
import {isAlive} from '../common/process-identity'
import {type ImageRecord, type LayerBlob, type LayerRecord, imageRecordProblem, layerBlobProblem, layerRecordProblem} from './image-record'
import {StoreError, describeFsError, fsReason, shellQuote} from './store-error'
import {isErrno, uniqueSuffix, writeFileAtomic, writeJsonAtomic} from '../common/fs-util'
import {sha256Json, sha256Text} from '../common/hash'
import {isRoot} from '../common/user-dirs'

/** An image record that cannot be read: `images` shows it, `rmi`, `prune` and `check` remove it. */
export interface DamagedImage {
  id: string
  file: string
  problem: string
}

const DIGEST = /^sha256:([0-9a-f]{64})$/

export function digestHex(digest: string): string {
  const m = DIGEST.exec(digest)
  if (!m) throw new StoreError('STORE_CORRUPT', `not a sha256 digest: ${digest}`)
  return m[1]
}

/** An image's id: the digest of its layer chain and config, so equal content gets one id. */
export function imageIdOf(layers: string[], config: ImageRecord['config']): string {
  return sha256Json({layers, config})
}

/**
 * The content-addressed cache (layout in docs/DESIGN.md):
 *
 *     layers/<hex>/rootfs, layer.json   one unpacked layer; hex = sha256 of its uncompressed tar
 *     layers/<hex>/tar-split            that tar less its files' contents (push and save rebuild it)
 *     l/<12 hex>  -> ../layers/<hex>/rootfs   short names, so overlay's lowerdir fits in one page
 *     images/<hex>.json                 image records
 *     refs/<encoded name>               name -> image id
 *     containers/<id>/                  owned by the runtime
 *     tmp/<pid>-<random>-<label>        staging; renamed into place when complete
 *     locks/                            flock files
 *
 * Nothing appears under layers/, images/ or refs/ until it is complete: it is built in tmp/ and
 * renamed, so a kill at any point leaves either the old state or the new, plus tmp/ leftovers
 * that `sweepTmp` removes once their owner is dead.
 */
export class Store {
  private constructor(readonly root: string) {}

  /** Opens (making it if needed) the cache at `root`, behind the ownership wall of `openCacheRoot`. */
  static open(root: string): Store {
    return new Store(openCacheRoot(root))
  }

  path(...parts: string[]): string {
    return path.join(this.root, ...parts)
  }

  // ---- layers -------------------------------------------------------------------------------

  layerDir(digest: string): string {
    return this.path('layers', digestHex(digest))
  }

  layerRootfs(digest: string): string {
    return path.join(this.layerDir(digest), 'rootfs')
  }

  /** The layer's short name under `l/`, relative to the store root's `l/` directory. */
  layerShortName(digest: string): string {
    return digestHex(digest).slice(0, 12)
  }

  /**
   * True when the layer is in the cache and sound in structure: its directory, a readable
   * layer.json naming it, a rootfs directory. A damaged layer counts as absent, so a pull, import
   * or build that needs it fetches or makes it again (and `commitLayer` replaces the damaged
   * copy). Cheap: one read and two lstats, no walk; `pivot check` verifies the content.
   */
  hasLayer(digest: string): boolean {
    return this.layerProblem(digest) === undefined
  }

  /** Why the layer is absent or damaged (structure only, as hasLayer), or undefined when it is sound. */
  layerProblem(digest: string): string | undefined {
    const dir = this.layerDir(digest)
    try {
      if (!fs.lstatSync(dir).isDirectory()) return `layers/${digestHex(digest)} is not a directory`
    } catch {
      return 'it is not in the cache'
    }
    let record: unknown
    try {
      record = JSON.parse(fs.readFileSync(path.join(dir, 'layer.json'), 'utf8'))
    } catch (error) {
      return isErrno(error, 'ENOENT') ? 'its layer.json is missing' : `its layer.json is unreadable (${(error as Error).message})`
    }
    const problem = layerRecordProblem(record, digest)
    if (problem) return problem
    try {
      if (!fs.lstatSync(path.join(dir, 'rootfs')).isDirectory()) return 'its rootfs is not a directory'
    } catch {
      return 'its rootfs is missing'
    }
    return undefined
  }

  readLayer(digest: string): LayerRecord {
    let text: string
    try {
      text = fs.readFileSync(path.join(this.layerDir(digest), 'layer.json'), 'utf8')
    } catch (error) {
      throw new StoreError('STORE_NOT_FOUND', `layer ${digest} is not in the cache`, {cause: error})
    }
    let record: unknown
    try {
      record = JSON.parse(text)
    } catch (error) {
      record = error
    }
    const problem = record instanceof Error ? 'layer.json is not valid JSON' : layerRecordProblem(record, digest)
    if (problem)
      throw new StoreError('STORE_CORRUPT', `layer ${digest} is damaged in the cache (${problem}): pull the image again, or run pivot check --repair`)
    return record as LayerRecord
  }

  /**
   * What `run` relies on for one layer, checked cheaply on every run: `layers/<hex>` and its rootfs
   * are real directories owned by this user or root, and `l/<short>` points at that rootfs. A
   * wrong or missing link is put right (it is derived data); anything else is a problem, returned.
   */
  layerForRun(digest: string): string | undefined {
    const uid = process.geteuid?.() ?? 0
    const hex = digestHex(digest)
    for (const rel of [path.join('layers', hex), path.join('layers', hex, 'rootfs')]) {
      let st: fs.Stats
      try {
        st = fs.lstatSync(this.path(rel))
      } catch {
        return `${rel} is missing`
      }
      if (!st.isDirectory()) return `${rel} is not a directory`
      if (st.uid !== uid && st.uid !== 0) return `${rel} is owned by uid ${st.uid}, not by you or root`
    }
    const link = this.path('l', this.layerShortName(digest))
    let target: string | undefined
    try {
      target = fs.readlinkSync(link)
    } catch {
      target = undefined
    }
    if (target !== path.join('..', 'layers', hex, 'rootfs')) {
      try {
        removeEntry(link)
        this.linkLayer(digest)
      } catch (error) {
        return `l/${this.layerShortName(digest)} is wrong and cannot be put right (${describeFsError(error)?.message ?? String(error)})`
      }
    }
    return undefined
  }

  listLayers(): string[] {
    return fs
      .readdirSync(this.path('layers'))
      .filter(h => /^[0-9a-f]{64}$/.test(h))
      .map(h => `sha256:${h}`)
  }

  /**
   * Moves a staged layer (`staging/rootfs` filled and verified) into place. When the store has the
   * digest already (or another process commits it first), the staged copy is dropped: content
   * addressing makes them equal.
   */
  commitLayer(staging: string, layer: Omit<LayerRecord, 'diskSize' | 'created' | 'manifest'>): LayerRecord {
    if (this.hasLayer(layer.digest)) {
      // The staged copy's compressed blob is still worth keeping when the cached layer has none.
      const staged = readBlobRecord(staging)
      if (staged && !this.layerBlob(layer.digest)) this.keepLayerBlob(layer.digest, path.join(staging, BLOB_FILE), staged)
      // So is its tar-split: the same tar unpacked the same way references the same files.
      if (!this.hasTarSplit(layer.digest) && isRegularFile(path.join(staging, TAR_SPLIT_FILE))) {
        try {
          fs.renameSync(path.join(staging, TAR_SPLIT_FILE), this.layerTarSplit(layer.digest))
        } catch {
          // a read-only or vanished layer: push and save re-pack it, as before
        }
      }
      removeStaging(staging)
      this.layerForRun(layer.digest) // a reused layer gets its l/ link back if it lost it
      return this.readLayer(layer.digest)
    }
    // What is there under this digest is damaged (hasLayer said no): the fresh copy replaces it.
    if (fs.existsSync(this.layerDir(layer.digest))) this.removeDamagedLayer(layer.digest)
    const {measureTree} = require('./layer-tree') as typeof import('./layer-tree')
    const tree = measureTree(path.join(staging, 'rootfs'))
    writeFileAtomic(path.join(staging, 'manifest'), tree.manifest)
    const record: LayerRecord = {...layer, diskSize: tree.diskSize, created: new Date().toISOString(), manifest: sha256Text(tree.manifest)}
    writeJsonAtomic(path.join(staging, 'layer.json'), record)
    const target = this.layerDir(layer.digest)
    try {
      fs.renameSync(staging, target)
    } catch (error) {
      if (!isErrno(error, 'EEXIST', 'ENOTEMPTY')) throw error
      removeStaging(staging)
      return this.readLayer(layer.digest)
    }
    this.linkLayer(layer.digest)
    return record
  }

  /** (Re)creates `l/<short>`; a symlink is made under a temp name and renamed, so it is atomic. */
  linkLayer(digest: string): void {
    const link = this.path('l', this.layerShortName(digest))
    const temp = `${link}.${process.pid}.tmp`
    fs.rmSync(temp, {force: true})
    fs.symlinkSync(path.join('..', 'layers', digestHex(digest), 'rootfs'), temp)
    fs.renameSync(temp, link)
  }

  /**
   * Removes a damaged layer (racing others that do the same: the first one wins, quietly). Once it
   * is out of layers/, what cannot be deleted is left to `sweepTmp`: the fresh copy that replaces
   * it must not fail for it.
   */
  removeDamagedLayer(digest: string): void {
    const doomed = this.takeOutLayer(digest)
    if (doomed === undefined) return
    try {
      removeTree(doomed, `layer ${digest}`)
    } catch (error) {
      if (!(error instanceof StoreError)) throw error
    }
  }

  /**
   * Unlinks the layer's short link and renames its directory into a staging entry of ours (a
   * half-deleted layer is never visible under layers/, and a process killed before deleting it
   * leaves a tmp/ leftover that the next sweep removes); undefined when it was already gone.
   */
  takeOutLayer(digest: string): string | undefined {
    removeEntry(this.path('l', this.layerShortName(digest)))
    const doomed = this.stage('rm-layer')
    fs.rmdirSync(doomed)
    try {
      fs.renameSync(this.layerDir(digest), doomed)
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return undefined // another process removed it first
      throw new StoreError('STORE_IO', `cannot remove layer ${digest}: ${describeFsError(error)?.message ?? String(error)}`, {cause: error})
    }
    return doomed
  }

  // ---- kept compressed blobs: layers/<hex>/blob and blob.json (see LayerBlob) ----------------

  layerBlobFile(digest: string): string {
    return path.join(this.layerDir(digest), BLOB_FILE)
  }

  /**
   * The layer's kept blob, when blob.json is sound and the file has the recorded size (cheap: a
   * read and an lstat; `pivot check` hashes it). A damaged one counts as absent: a push makes it again.
   */
  layerBlob(digest: string): LayerBlob | undefined {
    const blob = readBlobRecord(this.layerDir(digest))
    if (!blob) return undefined
    try {
      const st = fs.lstatSync(this.layerBlobFile(digest))
      return st.isFile() && st.size === blob.size ? blob : undefined
    } catch {
      return undefined
    }
  }

  /**
   * Puts `file` (verified by the caller: its digest, size and diff id are `blob`'s) beside a layer
   * being committed: `staging` is what commitLayer moves into place, so the blob arrives with it.
   */
  stageLayerBlob(staging: string, file: string, blob: LayerBlob): void {
    fs.renameSync(file, path.join(staging, BLOB_FILE))
    writeJsonAtomic(path.join(staging, BLOB_RECORD), blob)
  }

  /**
   * Keeps `file` (verified by the caller) as the committed layer's blob: the file is renamed into
   * the layer, then blob.json written (the record is the commit point: a blob without it is a
   * leftover the next keep replaces and `check` removes). A sound blob already there wins, so
   * two pushes that compressed one layer at once agree. The caller pins the layer (shared GC
   * lock) so that prune cannot take it out meanwhile.
   */
  keepLayerBlob(digest: string, file: string, blob: LayerBlob): LayerBlob {
    const existing = this.layerBlob(digest)
    if (existing) {
      fs.rmSync(file, {force: true})
      return existing
    }
    fs.renameSync(file, this.layerBlobFile(digest))
    writeJsonAtomic(path.join(this.layerDir(digest), BLOB_RECORD), blob)
    return blob
  }

  /**
   * Notes that `source` (`domain/path`) holds the layer's blob. Best effort: the list only lets a
   * later push mount the blob instead of uploading it, so a lost race or a layer gone is no error.
   */
  addBlobSource(digest: string, source: string): void {
    const blob = this.layerBlob(digest)
    if (!blob || blob.sources.includes(source)) return
    try {
      writeJsonAtomic(path.join(this.layerDir(digest), BLOB_RECORD), {...blob, sources: [...blob.sources, source].slice(-16)})
    } catch {
      // the layer went (prune) or the cache is read-only: nothing lost but a shortcut
    }
  }

  /** Removes the layer's kept blob (record first, so a half-removed blob is never taken for a sound one). */
  dropLayerBlob(digest: string): void {
    removeEntry(path.join(this.layerDir(digest), BLOB_RECORD))
    removeEntry(this.layerBlobFile(digest))
  }

  // ---- tar-split: layers/<hex>/tar-split (see src/unpack/tar-split.ts) --------------------------

  /** The layer's tar-split file: written by the unpack into the staged layer, so it arrives with it. */
  layerTarSplit(digest: string): string {
    return path.join(this.layerDir(digest), TAR_SPLIT_FILE)
  }

  /** True when the layer has a tar-split file (its soundness is checked when it is used, and by `pivot check`). */
  hasTarSplit(digest: string): boolean {
    return isRegularFile(this.layerTarSplit(digest))
  }

  /** Bytes of the layer's tar-split file (0 when it has none). */
  tarSplitSize(digest: string): number {
    try {
      const st = fs.lstatSync(this.layerTarSplit(digest))
      return st.isFile() ? st.size : 0
    } catch {
      return 0
    }
  }

  /** Removes a damaged tar-split: push and save then re-pack the layer. */
  dropTarSplit(digest: string): void {
    removeEntry(this.layerTarSplit(digest))
  }

  // ---- images and names ---------------------------------------------------------------------

  /**
   * Writes the record under its content id; an identical image already there is kept as it is,
   * and a damaged record under that id is replaced (a re-pull repairs it).
   */
  writeImage(image: Omit<ImageRecord, 'id'>): ImageRecord {
    const id = imageIdOf(image.layers, image.config)
    let existing: ImageRecord | undefined
    try {
      existing = this.readImage(id)
    } catch (error) {
      if (!(error instanceof StoreError)) throw error
    }
    if (existing) return existing
    const record: ImageRecord = {id, ...image}
    writeJsonAtomic(this.path('images', `${digestHex(id)}.json`), record)
    return record
  }

  /** The record, undefined when there is none, STORE_CORRUPT when it is there but damaged. */
  readImage(id: string): ImageRecord | undefined {
    const file = this.path('images', `${digestHex(id)}.json`)
    let value: unknown
    try {
      value = JSON.parse(fs.readFileSync(file, 'utf8'))
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return undefined
      throw damagedImage(id, error instanceof SyntaxError ? 'it is not valid JSON (truncated?)' : (describeFsError(error)?.message ?? (error as Error).message))
    }
    const problem = imageRecordProblem(value, id)
    if (problem) throw damagedImage(id, problem)
    return value as ImageRecord
  }

  /** Every readable image record. A damaged one is left out (see damagedImages): one bad record never blocks the others. */
  listImages(): ImageRecord[] {
    return this.scanImages().images
  }

  /** The image records that cannot be read, with why. */
  damagedImages(): DamagedImage[] {
    return this.scanImages().damaged
  }

  scanImages(): {images: ImageRecord[]; damaged: DamagedImage[]} {
    const images: ImageRecord[] = []
    const damaged: DamagedImage[] = []
    for (const f of fs.readdirSync(this.path('images'))) {
      if (!/^[0-9a-f]{64}\.json$/.test(f)) continue
      const id = `sha256:${f.slice(0, 64)}`
      try {
        const image = this.readImage(id)
        if (image) images.push(image)
      } catch (error) {
        if (!(error instanceof StoreError)) throw error
        damaged.push({id, file: path.join('images', f), problem: (error.cause as string | undefined) ?? error.message})
      }
    }
    return {images, damaged}
  }

  removeImage(id: string): void {
    const file = this.path('images', `${digestHex(id)}.json`)
    removeTree(file, `the image record ${id}`)
  }

  setRef(name: string, id: string): void {
    // Whatever damaged thing holds the name (a directory, a symlink) gives way to the real ref.
    if (!isRegularFile(this.refPath(name))) fs.rmSync(this.refPath(name), {recursive: true, force: true})
    writeFileAtomic(this.refPath(name), id + '\n')
  }

  /** The image id a name points at; undefined when there is no such name, or its ref is damaged (see refs). */
  getRef(name: string): string | undefined {
    return readRefFile(this.refPath(name))
  }

  /** True when something (a ref, or a damaged entry in its place) is filed under the name. */
  hasRefEntry(name: string): boolean {
    try {
      fs.lstatSync(this.refPath(name))
      return true
    } catch {
      return false
    }
  }

  removeRef(name: string): boolean {
    try {
      fs.unlinkSync(this.refPath(name))
      return true
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return false
      if (!isErrno(error, 'EISDIR', 'EPERM')) throw describeFsError(error) ?? error
    }
    removeTree(this.refPath(name), `the name ${name}`)
    return true
  }

  /** Every readable name -> id. Damaged entries (see scanRefs) are left out, never fatal. */
  refs(): Array<{name: string; id: string}> {
    return this.scanRefs().refs
  }

  /**
   * The refs, and the entries of refs/ that are not one: a name that does not decode, a
   * directory or symlink, content that is not an image id. Temp files of live writers are neither.
   */
  scanRefs(): {refs: Array<{name: string; id: string}>; stray: Array<{entry: string; problem: string; leftover?: boolean}>} {
    const refs: Array<{name: string; id: string}> = []
    const stray: Array<{entry: string; problem: string; leftover?: boolean}> = []
    for (const f of fs.readdirSync(this.path('refs'))) {
      const temp = /\.(\d+)\.[0-9a-z]+\.tmp$/.exec(f)
      if (temp && isAlive(Number(temp[1]))) continue
      let name: string
      try {
        name = decodeURIComponent(f)
      } catch {
        stray.push({entry: f, problem: 'its file name is not an encoded image name'})
        continue
      }
      if (temp) {
        stray.push({entry: f, problem: 'a temp file of a dead process', leftover: true})
        continue
      }
      if (encodeURIComponent(name) !== f) {
        stray.push({entry: f, problem: 'its file name is not an encoded image name'})
        continue
      }
      const file = this.path('refs', f)
      const id = readRefFile(file)
      if (id !== undefined) refs.push({name, id})
      // Gone since readdir (an rmi or a tag move running beside this): not damage, just no longer a name.
      else if (!fs.existsSync(file) && !isSymlink(file)) continue
      else stray.push({entry: f, problem: isRegularFile(file) ? 'it holds no image id' : 'it is not a regular file'})
    }
    return {refs, stray}
  }

  namesOf(id: string): string[] {
    return this.refs()
      .filter(r => r.id === id)
      .map(r => r.name)
      .sort()
  }

  /**
   * Finds an image by its id, full (`sha256:...`) or an unambiguous hex prefix of at least 4
   * characters, as docker does. (Names go through getRef, after src/reference normalises them.)
   */
  findImageById(id: string): ImageRecord | undefined {
    const hex = id.replace(/^sha256:/, '')
    if (!/^[0-9a-f]{4,64}$/.test(hex)) return undefined
    const matches = fs.readdirSync(this.path('images')).filter(f => f.startsWith(hex) && /^[0-9a-f]{64}\.json$/.test(f))
    if (matches.length > 1) throw new StoreError('STORE_AMBIGUOUS', `image id prefix ${hex} matches ${matches.length} images`)
    return matches.length === 1 ? this.readImage(`sha256:${matches[0].slice(0, 64)}`) : undefined
  }

  /** Bytes on disk of the image's layers (counting each layer once). */
  imageDiskSize(image: ImageRecord): number {
    return [...new Set(image.layers)].reduce((sum, d) => sum + (this.hasLayer(d) ? this.readLayer(d).diskSize : 0), 0)
  }

  private refPath(name: string): string {
    return this.path('refs', encodeURIComponent(name))
  }

  // ---- staging, locks -----------------------------------------------------------------------

  /** A fresh staging directory under tmp/, named for its owner pid so `sweepTmp` knows when it is stale. */
  stage(label: string): string {
    const dir = this.path('tmp', `${process.pid}-${uniqueSuffix()}-${label}`)
    fs.mkdirSync(dir, {mode: 0o700})
    return dir
  }

  /**
   * Removes staging leftovers whose owner process is gone (a killed pull, import or build).
   * `onRemove` sees each one just before it goes (prune measures what it frees). `tmp/downloads`
   * (interrupted registry downloads, which the next pull resumes) is kept unless `downloads`.
   */
  sweepTmp(onRemove?: (dir: string) => void, onError?: (message: string) => void, options: {downloads?: boolean} = {}): string[] {
    const removed: string[] = []
    for (const entry of fs.readdirSync(this.path('tmp'))) {
      if (entry === DOWNLOADS_DIR && !options.downloads) continue
      const owner = stagingOwner(entry)
      if (owner !== undefined && isAlive(owner)) continue
      onRemove?.(this.path('tmp', entry))
      // What cannot be removed (an immutable file) is left and named: it must not stop the pull,
      // import or build that sweeps on its way.
      try {
        removeTree(this.path('tmp', entry), `the leftover tmp/${entry}`)
      } catch (error) {
        if (!(error instanceof StoreError)) throw error
        onError?.(error.message)
        continue
      }
      removed.push(entry)
    }
    return removed
  }

  /** Serialises work on one thing (e.g. `pull-<image>`) across processes. */
  withLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
    // Loaded here: file-lock brings the koffi binding (~4 ms), which commands that only read the
    // cache (images, an unchanged re-pull) never need.
    const {withFileLock} = require('./file-lock') as typeof import('./file-lock')
    // The file goes with the lock (lockFile's unlink-then-verify makes that safe): the per-image
    // pull-<id> and per-name ref-<name> locks would otherwise pile up in locks/, one per image
    // ever pulled and name ever tagged.
    return withFileLock(this.path('locks', `${name.replace(/[^A-Za-z0-9_.-]/g, '_')}.lock`), fn, {removeOnRelease: true})
  }
}

/** The pid that owns a tmp/ entry (`<pid>-<suffix>-<label>`, see `stage`), if the name has one. */
export function stagingOwner(entry: string): number | undefined {
  const pid = Number(entry.split('-')[0])
  return Number.isInteger(pid) && pid > 0 ? pid : undefined
}

/** A layer's kept compressed blob and its record, inside `layers/<hex>/`. */
export const BLOB_FILE = 'blob'
export const BLOB_RECORD = 'blob.json'

function readBlobRecord(dir: string): LayerBlob | undefined {
  let value: unknown
  try {
    value = JSON.parse(fs.readFileSync(path.join(dir, BLOB_RECORD), 'utf8'))
  } catch {
    return undefined
  }
  return layerBlobProblem(value) === undefined ? (value as LayerBlob) : undefined
}

/**
 * A layer's tar-split (src/unpack/tar-split.ts): its tar less its regular files' contents, which
 * push and save put back together with the layer's files to give the original tar.
 */
export const TAR_SPLIT_FILE = 'tar-split'

/** tmp/downloads: partial registry downloads (`<blob hex>.part`), resumed by the next pull. */
export const DOWNLOADS_DIR = 'downloads'

function damagedImage(id: string, problem: string): StoreError {
  return new StoreError(
    'STORE_CORRUPT',
    `the image record ${id} is damaged (${problem}): remove it with pivot rmi ${id.slice(7, 19)} (or pivot check --repair), then pull or build the image again`,
    {cause: problem},
  )
}

function isRegularFile(file: string): boolean {
  try {
    return fs.lstatSync(file).isFile()
  } catch {
    return false
  }
}

function isSymlink(file: string): boolean {
  try {
    return fs.lstatSync(file).isSymbolicLink()
  } catch {
    return false
  }
}

/** A ref file's image id; undefined when it is missing, not a regular file, or holds no id. */
function readRefFile(file: string): string | undefined {
  if (!isRegularFile(file)) return undefined
  let id: string
  try {
    id = fs.readFileSync(file, 'utf8').trim()
  } catch {
    return undefined
  }
  return DIGEST.test(id) ? id : undefined
}

/** Removes a file or symlink (or, if it is one, a directory tree); absent is fine. */
function removeEntry(file: string): void {
  try {
    fs.unlinkSync(file)
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return
    if (!isErrno(error, 'EISDIR')) throw error
    removeTree(file, file)
  }
}

/**
 * rm -rf of a staging tree (a layer unpacked for a pull that did not finish): as fs.rmSync, and
 * for a user other than root again inside the user namespace when a subordinate-owned directory
 * was in the way (removeInUserns).
 */
export function removeStaging(dir: string): void {
  try {
    if (fs.lstatSync(dir, {throwIfNoEntry: false})?.isDirectory()) {
      removeWalk(dir, true, error => {
        throw error
      })
      return
    }
  } catch {
    // Whatever stopped it (a permission, an entry that changed meanwhile), rmSync meets it again
    // below, and says it, or hands it to the user namespace, as it always did.
  }
  try {
    fs.rmSync(dir, {recursive: true, force: true})
  } catch (error) {
    if (!isErrno(error, 'EACCES', 'EPERM') || isRoot() || !removeInUserns(dir)) throw error
  }
}

/**
 * rm -r, children first, by the type readdir reports for each entry: a symlink is unlinked, never
 * followed, and no entry is lstat()ed (node's rmSync lstat()s every entry and tries rmdir on each
 * directory before it reads it: twice the syscalls on `pivot run --rm`'s way out, 1.9 -> 1.5 ms,
 * src/runtime/README.md). `failed` gets each error but ENOENT; the walk goes on when it returns.
 */
function removeWalk(file: string, isDirectory: boolean, failed: (error: unknown) => void): void {
  try {
    if (isDirectory) {
      for (const entry of fs.readdirSync(file, {withFileTypes: true})) removeWalk(path.join(file, entry.name), entry.isDirectory(), failed)
      fs.rmdirSync(file)
    } else fs.unlinkSync(file)
  } catch (error) {
    if (!isErrno(error, 'ENOENT')) failed(error)
  }
}

/**
 * `rm -rf DIR` as root of a user namespace with the user's subordinate ranges, the map the unpack
 * ran with (util-linux's --map-auto: own id as 0, the first subuid/subgid range from 1 on, through
 * newuidmap/newgidmap). True when DIR is gone.
 */
function removeInUserns(dir: string): boolean {
  const {spawnSync} = require('node:child_process') as typeof import('node:child_process')
  spawnSync('unshare', ['--map-auto', '--map-root-user', '--', 'rm', '-rf', '--one-file-system', '--', dir], {
    stdio: 'ignore',
    env: {PATH: '/usr/bin:/bin:/usr/sbin:/sbin'},
    timeout: 600_000,
  })
  return !fs.existsSync(dir)
}

/**
 * rm -r that names the first file it could not remove, and why, in one line. Node's rmSync turns
 * an EPERM from unlink (an immutable file) into a misleading ENOTDIR from its retry as a
 * directory, so this walks itself; it removes all it can before reporting.
 */
export function removeTree(dir: string, what: string): void {
  let first: unknown
  let st: fs.Stats | undefined
  try {
    st = fs.lstatSync(dir, {throwIfNoEntry: false})
  } catch (error) {
    first = error
  }
  if (st) removeWalk(dir, st.isDirectory(), error => (first ??= error))
  if (first === undefined) return
  // A user other than root unpacks images in a user namespace: files of uid 1000 inside belong to
  // a subordinate id on the host, and a directory of theirs (0755) cannot be emptied from out here.
  // Inside a namespace with the same map (root there is this user) it can.
  if (isErrno(first, 'EACCES', 'EPERM') && !isRoot() && removeInUserns(dir)) return
  const e = first as NodeJS.ErrnoException
  const where = typeof e.path === 'string' ? e.path : dir
  const why = isErrno(first, 'EPERM')
    ? `operation not permitted (is it or its directory immutable? see lsattr -d ${shellQuote(where)} ${shellQuote(path.dirname(where))})`
    : fsReason(first)
  throw new StoreError('STORE_IO', `${what} cannot be removed: ${where}: ${why}`, {cause: first})
}
