import * as fs from 'node:fs'
import * as path from 'node:path'
import {withFileLock} from './file-lock'
import {isAlive} from './process-identity'
import type {ImageRecord, LayerRecord} from './image-record'
import {StoreError} from './store-error'

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

/** `sha256:<hex>` of a value's JSON: content ids for images and build steps. */
export function sha256Json(value: unknown): string {
  // Required here, not at the top: `pivot run` never computes an id, and loading node:crypto
  // costs it ~2 ms.
  const {createHash} = require('node:crypto') as typeof import('node:crypto')
  return 'sha256:' + createHash('sha256').update(JSON.stringify(value)).digest('hex')
}

/**
 * The content-addressed cache (layout in docs/DESIGN.md):
 *
 *     layers/<hex>/rootfs, layer.json   one unpacked layer; hex = sha256 of its uncompressed tar
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

  static open(root: string): Store {
    // 0700: cached rootfs trees hold setuid binaries that host users must not reach.
    fs.mkdirSync(root, {recursive: true, mode: 0o700})
    if ((fs.statSync(root).mode & 0o777) !== 0o700) fs.chmodSync(root, 0o700)
    for (const dir of ['layers', 'l', 'images', 'refs', 'containers', 'tmp', 'locks']) {
      fs.mkdirSync(path.join(root, dir), {recursive: true, mode: 0o700})
    }
    return new Store(root)
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

  hasLayer(digest: string): boolean {
    return fs.existsSync(path.join(this.layerDir(digest), 'layer.json'))
  }

  readLayer(digest: string): LayerRecord {
    try {
      return JSON.parse(fs.readFileSync(path.join(this.layerDir(digest), 'layer.json'), 'utf8')) as LayerRecord
    } catch (error) {
      throw new StoreError('STORE_NOT_FOUND', `layer ${digest} is not in the cache`, {cause: error})
    }
  }

  listLayers(): string[] {
    return fs.readdirSync(this.path('layers')).filter(h => /^[0-9a-f]{64}$/.test(h)).map(h => `sha256:${h}`)
  }

  /**
   * Moves a staged layer (`staging/rootfs` filled and verified) into place. When the store has the
   * digest already (or another process commits it first), the staged copy is dropped: content
   * addressing makes them equal.
   */
  commitLayer(staging: string, layer: Omit<LayerRecord, 'diskSize' | 'created'>): LayerRecord {
    if (this.hasLayer(layer.digest)) {
      fs.rmSync(staging, {recursive: true, force: true})
      return this.readLayer(layer.digest)
    }
    const record: LayerRecord = {...layer, diskSize: diskUsage(path.join(staging, 'rootfs')), created: new Date().toISOString()}
    writeJsonAtomic(path.join(staging, 'layer.json'), record)
    const target = this.layerDir(layer.digest)
    try {
      fs.renameSync(staging, target)
    } catch (error) {
      if (!isErrno(error, 'EEXIST', 'ENOTEMPTY')) throw error
      fs.rmSync(staging, {recursive: true, force: true})
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

  removeLayer(digest: string): void {
    fs.rmSync(this.path('l', this.layerShortName(digest)), {force: true})
    // Rename first so a half-deleted layer is never visible under layers/.
    const doomed = this.stage('rm-layer')
    fs.rmdirSync(doomed)
    fs.renameSync(this.layerDir(digest), doomed)
    fs.rmSync(doomed, {recursive: true, force: true})
  }

  // ---- images and names ---------------------------------------------------------------------

  /** Writes the record under its content id; an identical image already there is kept as it is. */
  writeImage(image: Omit<ImageRecord, 'id'>): ImageRecord {
    const id = imageIdOf(image.layers, image.config)
    const existing = this.readImage(id)
    if (existing) return existing
    const record: ImageRecord = {id, ...image}
    writeJsonAtomic(this.path('images', `${digestHex(id)}.json`), record)
    return record
  }

  readImage(id: string): ImageRecord | undefined {
    try {
      return JSON.parse(fs.readFileSync(this.path('images', `${digestHex(id)}.json`), 'utf8')) as ImageRecord
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return undefined
      throw new StoreError('STORE_CORRUPT', `image record ${id} is unreadable: ${(error as Error).message}`)
    }
  }

  /** Every readable image record. An unreadable one is skipped, not fatal: `images` and `prune` must still work. */
  listImages(): ImageRecord[] {
    const images: ImageRecord[] = []
    for (const f of fs.readdirSync(this.path('images'))) {
      if (!/^[0-9a-f]{64}\.json$/.test(f)) continue
      try {
        const image = this.readImage(`sha256:${f.slice(0, 64)}`)
        if (image) images.push(image)
      } catch (error) {
        if (!(error instanceof StoreError)) throw error
      }
    }
    return images
  }

  removeImage(id: string): void {
    fs.rmSync(this.path('images', `${digestHex(id)}.json`), {force: true})
  }

  setRef(name: string, id: string): void {
    writeFileAtomic(this.refPath(name), id + '\n')
  }

  getRef(name: string): string | undefined {
    try {
      return fs.readFileSync(this.refPath(name), 'utf8').trim()
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return undefined
      throw error
    }
  }

  removeRef(name: string): boolean {
    try {
      fs.unlinkSync(this.refPath(name))
      return true
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return false
      throw error
    }
  }

  refs(): Array<{name: string; id: string}> {
    return fs
      .readdirSync(this.path('refs'))
      .filter(f => !f.endsWith('.tmp'))
      .map(f => ({name: decodeURIComponent(f), id: fs.readFileSync(this.path('refs', f), 'utf8').trim()}))
  }

  namesOf(id: string): string[] {
    return this.refs().filter(r => r.id === id).map(r => r.name).sort()
  }

  /**
   * Finds an image by its id, full (`sha256:...`) or an unambiguous hex prefix of at least 4
   * characters, as docker does. (Names go through getRef, after src/reference normalises them.)
   */
  findImageById(id: string): ImageRecord | undefined {
    const hex = id.replace(/^sha256:/, '')
    if (!/^[0-9a-f]{4,64}$/.test(hex)) return undefined
    const matches = fs.readdirSync(this.path('images')).filter(f => f.startsWith(hex) && f.endsWith('.json'))
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
   * `onRemove` sees each one just before it goes (prune measures what it frees).
   */
  sweepTmp(onRemove?: (dir: string) => void): string[] {
    const removed: string[] = []
    for (const entry of fs.readdirSync(this.path('tmp'))) {
      const owner = stagingOwner(entry)
      if (owner !== undefined && isAlive(owner)) continue
      onRemove?.(this.path('tmp', entry))
      fs.rmSync(this.path('tmp', entry), {recursive: true, force: true})
      removed.push(entry)
    }
    return removed
  }

  /** Serialises work on one thing (e.g. `pull-<image>`) across processes. */
  withLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
    return withFileLock(this.path('locks', `${name.replace(/[^A-Za-z0-9_.-]/g, '_')}.lock`), fn)
  }
}

/** The pid that owns a tmp/ entry (`<pid>-<suffix>-<label>`, see `stage`), if the name has one. */
export function stagingOwner(entry: string): number | undefined {
  const pid = Number(entry.split('-')[0])
  return Number.isInteger(pid) && pid > 0 ? pid : undefined
}

let counter = 0

/** Unique within this process; with the pid in the name, unique on the host. */
function uniqueSuffix(): string {
  return `${Date.now().toString(36)}${(counter++).toString(36)}`
}

export function isErrno(error: unknown, ...codes: string[]): boolean {
  return typeof error === 'object' && error !== null && codes.includes((error as NodeJS.ErrnoException).code ?? '')
}

export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  const temp = `${file}.${process.pid}.${uniqueSuffix()}.tmp`
  fs.writeFileSync(temp, data, {mode: 0o600})
  fs.renameSync(temp, file)
}

export function writeJsonAtomic(file: string, value: unknown): void {
  writeFileAtomic(file, JSON.stringify(value, null, 2) + '\n')
}

/**
 * Sum of regular file sizes under `root` (hardlinked files counted once), without following
 * symlinks. What cannot be read counts as nothing: prune measures damaged trees with it too.
 */
export function diskUsage(root: string): number {
  const seen = new Set<string>()
  let total = 0
  const walk = (file: string) => {
    let st: fs.Stats
    try {
      st = fs.lstatSync(file)
    } catch {
      return
    }
    if (st.isDirectory()) {
      let entries: string[] = []
      try {
        entries = fs.readdirSync(file)
      } catch {
        return
      }
      for (const e of entries) walk(path.join(file, e))
    } else if (st.isFile()) {
      if (st.nlink > 1) {
        const key = `${st.dev}:${st.ino}`
        if (seen.has(key)) return
        seen.add(key)
      }
      total += st.size
    }
  }
  walk(root)
  return total
}
