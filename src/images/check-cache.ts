import * as fs from 'node:fs'
import * as path from 'node:path'
import {isPivotError} from '../errors'
import {type ImageRecord, type Store, describeFsError, digestHex, imageIdOf, removeTree, shellQuote, stagingOwner} from '../store'
import {listContainerIds, namesDir, readState} from '../store/container-record'
import {withGcExclusive} from '../store/gc-lock'
import {verifyLayer, verifyLayerBlob, verifyTarSplit} from './verify-layer'
import {isAlive} from '../common/process-identity'
import {DOWNLOADS_DIR} from '../store/store'

export interface CheckFinding {
  /** What kind of entry: layer, blob, tar-split, image, ref, link, build-cache, container, tmp, lock, stray. */
  kind: string
  /** The entry, relative to the cache root (`layers/<hex>`, `refs/<name>`). */
  path: string
  problem: string
  /** none (only reported), removed, relinked, or failed (the repair was tried and failed: see errors). */
  action: 'none' | 'removed' | 'relinked' | 'failed'
  /** A leftover of a dead process (what prune collects): reported and removed, but not damage. */
  leftover?: boolean
}

export interface LostImage {
  id: string
  names: string[]
  /** The image's layers that are missing or were removed as damaged. */
  layers: string[]
  /** The command that brings the image back. */
  restore: string
}

export interface CheckReport {
  root: string
  repair: boolean
  /** Layers whose tree was compared with its manifest, and those too old to have one (structure only). */
  layers: {checked: number; unverified: number}
  images: number
  findings: CheckFinding[]
  /** Images that cannot run until their missing layers are brought back (`restore`). */
  lost: LostImage[]
  errors: string[]
  /** True when the cache is sound now: nothing found, or everything found repaired and no image lost. */
  clean: boolean
}

/**
 * `pivot check`: verifies the whole cache, and with `repair` puts right what it can. It reads
 * every record and walks every layer's tree against the manifest recorded at commit (an lstat per
 * file: about the cost of `du` on the cache), so it is meant to be run by hand or from cron, not
 * on the hot path; pull, import and build only check the structure of what they reuse.
 *
 * Repairs are local: damaged records, names, links, stray entries and layers are removed (or
 * relinked); nothing is fetched. An image that lost a layer keeps its record and names, and the
 * report says what brings it back (`pivot pull NAME` re-fetches exactly the missing layers).
 * A repair runs under prune's lock, so the two never collect or repair the same entries at once,
 * and under the exclusive GC lock, so no run, pull or build starts to use a layer it removes
 * (src/store/gc-lock.ts).
 */
export async function checkCache(store: Store, options: {repair?: boolean} = {}): Promise<CheckReport> {
  const repair = options.repair === true
  const work = async () => runCheck(store, repair)
  return repair ? store.withLock('prune', () => withGcExclusive(store, work)) : work()
}

async function runCheck(store: Store, repair: boolean): Promise<CheckReport> {
  const report: CheckReport = {root: store.root, repair, layers: {checked: 0, unverified: 0}, images: 0, findings: [], lost: [], errors: [], clean: false}
  const find = (kind: string, entry: string, problem: string, fix?: () => CheckFinding['action'], leftover = false) => {
    let action: CheckFinding['action'] = 'none'
    if (repair && fix) {
      try {
        action = fix()
      } catch (error) {
        report.errors.push(messageOf(error))
        action = 'failed'
      }
    }
    report.findings.push({kind, path: entry, problem, action, ...(leftover ? {leftover} : {})})
  }
  const remove = (entry: string) => () => {
    removeTree(store.path(entry), entry)
    return 'removed' as const
  }

  // Image records: readable, well-formed, and their content is what their id says.
  const {images, damaged} = store.scanImages()
  for (const d of damaged) find('image', d.file, d.problem, () => removeImageAndNames(store, d.id))
  const sound: ImageRecord[] = []
  for (const image of images) {
    if (imageIdOf(image.layers, image.config) !== image.id) {
      find('image', `images/${digestHex(image.id)}.json`, 'its content does not match its id (edited by hand?)', () => removeImageAndNames(store, image.id))
    } else sound.push(image)
  }
  report.images = sound.length
  for (const entry of listDir(store, 'images')) {
    if (/^[0-9a-f]{64}\.json$/.test(entry) || liveTemp(entry)) continue
    const dead = /\.\d+\.[0-9a-z]+\.tmp$/.test(entry)
    find('stray', `images/${entry}`, dead ? 'a temp file of a process that is gone' : 'not an image record', remove(`images/${entry}`), dead)
  }

  // Names: well-formed entries, pointing at a record that exists.
  const {refs, stray} = store.scanRefs()
  for (const s of stray) find('ref', `refs/${s.entry}`, s.problem, remove(`refs/${s.entry}`), s.leftover === true)
  const ids = new Set(sound.map(i => i.id))
  for (const ref of refs) {
    if (ids.has(ref.id) || damaged.some(d => d.id === ref.id)) continue
    // Written since the records were read (a pull writes its record, then the name): not damage.
    if (readableOrGone(store, ref.id) !== undefined) continue
    // Removed since (rmi takes the name, then the record), or pointed elsewhere: not damage either.
    if (store.getRef(ref.name) !== ref.id) continue
    find('ref', `refs/${encodeURIComponent(ref.name)}`, `the name ${ref.name} points at image ${ref.id}, which is not in the cache`, () => {
      store.removeRef(ref.name)
      return 'removed'
    })
  }

  // Layers: structure, then the tree against its manifest.
  for (const entry of listDir(store, 'layers')) {
    if (!/^[0-9a-f]{64}$/.test(entry)) {
      find('stray', `layers/${entry}`, 'not a layer', remove(`layers/${entry}`))
      continue
    }
    const digest = `sha256:${entry}`
    const verdict = verifyLayer(store, digest)
    if (verdict.unverified) report.layers.unverified++
    else report.layers.checked++
    // A layer prune (or a repairing pull) removed while we walked it is gone, not damaged.
    if (verdict.problems.length === 0 || !fs.existsSync(store.layerDir(digest))) continue
    find('layer', `layers/${entry}`, verdict.problems.join('; '), () => {
      // Another process may have replaced it with a fresh copy since (a pull repairing it).
      if (verifyLayer(store, digest).problems.length === 0) return 'none'
      store.removeDamagedLayer(digest)
      return 'removed'
    })
  }

  // Kept compressed blobs (push's): the file against blob.json's size and digest. A damaged one
  // only costs the next push a compression (or the registry's digest, for a pulled layer): it is
  // removed, the layer stays.
  for (const digest of store.listLayers()) {
    if (!store.hasLayer(digest)) continue
    const problem = await verifyLayerBlob(store, digest)
    if (problem === undefined) continue
    find('blob', `layers/${digestHex(digest)}/blob`, problem, () => {
      store.dropLayerBlob(digest)
      return 'removed'
    })
  }

  // tar-splits (push's and save's way back to a layer's original tar): well-formed and as long as
  // the layer's tar. A damaged one only costs a re-pack (another digest): it is removed, the layer stays.
  for (const digest of store.listLayers()) {
    if (!store.hasLayer(digest)) continue
    const problem = verifyTarSplit(store, digest)
    if (problem === undefined) continue
    find('tar-split', `layers/${digestHex(digest)}/tar-split`, problem, () => {
      store.dropTarSplit(digest)
      return 'removed'
    })
  }

  // Short links: each points at its layer's rootfs; no stray ones; none missing.
  const wanted = new Map(
    store
      .listLayers()
      .filter(d => store.hasLayer(d))
      .map(d => [store.layerShortName(d), d]),
  )
  for (const entry of listDir(store, 'l')) {
    const temp = /^[0-9a-f]{12}\.(\d+)\.tmp$/.exec(entry)
    if (temp && isAlive(Number(temp[1]))) continue
    if (temp) {
      find('link', `l/${entry}`, 'a temp link of a process that is gone', remove(`l/${entry}`), true)
      continue
    }
    const digest = wanted.get(entry) ?? committedSince(store, entry)
    if (digest === undefined) {
      find('link', `l/${entry}`, 'it belongs to no layer', remove(`l/${entry}`))
      continue
    }
    wanted.delete(entry)
    const target = readlinkOrUndefined(store.path('l', entry))
    const expected = path.join('..', 'layers', digestHex(digest), 'rootfs')
    if (target !== expected) {
      find('link', `l/${entry}`, target === undefined ? 'it is not a symbolic link' : `it points at ${target}, not at its layer`, () => relink(store, digest))
    }
  }
  for (const [short, digest] of wanted) find('link', `l/${short}`, 'it is missing', () => relink(store, digest))

  // Build-cache records: readable, and their layers still there (else the step is simply re-run).
  for (const entry of listDir(store, 'build-cache')) {
    if (liveTemp(entry)) continue
    const problem = buildRecordProblem(store, entry)
    if (problem) find('build-cache', `build-cache/${entry}`, problem, remove(`build-cache/${entry}`))
  }

  // Containers: the runtime's records. Only reported: a container without a readable record may
  // still be running, and only its owner knows.
  const namesEntry = path.basename(namesDir(store))
  for (const entry of listDir(store, 'containers')) {
    if (entry === namesEntry) continue // the name links (--name), the store's own
    if (!listContainerIds(store).includes(entry)) {
      if (!entry.startsWith('.')) find('stray', `containers/${entry}`, 'not a container')
      continue
    }
    const state = readState(store, entry)
    const dir = store.path('containers', entry)
    if (!state || typeof state !== 'object' || typeof state.image !== 'string') {
      find('container', `containers/${entry}`, `its state.json is missing or damaged: if no pivot process runs it, remove it with rm -r ${shellQuote(dir)}`)
    }
  }

  // tmp/: leftovers of dead processes (what prune would sweep).
  for (const entry of listDir(store, 'tmp')) {
    // Interrupted registry downloads: the next pull resumes them.
    if (entry === DOWNLOADS_DIR) continue
    const owner = stagingOwner(entry)
    if (owner !== undefined && isAlive(owner)) continue
    find('tmp', `tmp/${entry}`, 'a leftover of a process that is gone', remove(`tmp/${entry}`), true)
  }

  // locks/: flock files only.
  for (const entry of listDir(store, 'locks')) {
    let st: fs.Stats
    try {
      st = fs.lstatSync(store.path('locks', entry))
    } catch {
      continue
    }
    if (!st.isFile()) find('lock', `locks/${entry}`, st.isDirectory() ? 'a directory, not a lock file' : 'not a regular file', remove(`locks/${entry}`))
  }

  // Images whose layers are gone (or were just removed as damaged): the way back, per source.
  const names = new Map<string, string[]>()
  for (const ref of store.refs()) names.set(ref.id, [...(names.get(ref.id) ?? []), ref.name])
  for (const image of sound) {
    if (readableOrGone(store, image.id) === undefined) continue
    const missing = [...new Set(image.layers)].filter(d => !store.hasLayer(d))
    if (missing.length === 0) continue
    const imageNames = (names.get(image.id) ?? []).sort()
    report.lost.push({id: image.id, names: imageNames, layers: missing, restore: restoreCommand(image, imageNames)})
  }

  report.clean =
    report.lost.length === 0 && report.errors.length === 0 && report.findings.every(f => f.leftover || f.action === 'removed' || f.action === 'relinked')
  return report
}

/**
 * Prune's share of the repairs: damaged image records (and the names on them) and stray entries
 * of refs/ go; they pin nothing, and one of them must never block the collection of the rest.
 */
export function removeDamagedEntries(store: Store, report: {names: string[]; damaged: string[]; errors: string[]}): void {
  for (const d of store.damagedImages()) {
    if (tryRemove(() => removeImageAndNames(store, d.id, report.names), report.errors)) report.damaged.push(d.id)
  }
  for (const s of store.scanRefs().stray) {
    if (tryRemove(() => removeTree(store.path('refs', s.entry), `refs/${s.entry}`), report.errors)) report.names.push(`refs/${s.entry}`)
  }
}

/** Runs a removal; a pivot or file system error goes to `errors` as one line (false) instead of stopping the caller. */
export function tryRemove(fn: () => unknown, errors: string[]): boolean {
  try {
    fn()
    return true
  } catch (error) {
    if (!isPivotError(error) && describeFsError(error) === undefined) throw error
    errors.push(messageOf(error))
    return false
  }
}

function removeImageAndNames(store: Store, id: string, removedNames?: string[]): 'removed' {
  for (const ref of store.refs()) {
    if (ref.id === id && store.removeRef(ref.name)) removedNames?.push(ref.name)
  }
  store.removeImage(id)
  return 'removed'
}

function relink(store: Store, digest: string): 'relinked' {
  fs.rmSync(store.path('l', store.layerShortName(digest)), {recursive: true, force: true})
  store.linkLayer(digest)
  return 'relinked'
}

/** The sound layer a short link name belongs to, if one was committed since the check listed layers/. */
function committedSince(store: Store, short: string): string | undefined {
  return store.listLayers().find(d => store.layerShortName(d) === short && store.hasLayer(d))
}

function readableOrGone(store: Store, id: string): ImageRecord | undefined {
  try {
    return store.readImage(id)
  } catch {
    return undefined
  }
}

function buildRecordProblem(store: Store, entry: string): string | undefined {
  if (!entry.endsWith('.json')) return 'not a build-cache record'
  let record: {layers?: unknown}
  try {
    record = JSON.parse(fs.readFileSync(store.path('build-cache', entry), 'utf8')) as {layers?: unknown}
  } catch (error) {
    return error instanceof SyntaxError ? 'it is not valid JSON (truncated?)' : (describeFsError(error)?.message ?? String(error))
  }
  if (
    typeof record !== 'object' ||
    record === null ||
    !Array.isArray(record.layers) ||
    !record.layers.every(l => typeof l === 'string' && /^sha256:[0-9a-f]{64}$/.test(l))
  ) {
    return 'it has no layer list'
  }
  const missing = (record.layers as string[]).find(l => !store.hasLayer(l))
  return missing === undefined ? undefined : `its layer ${missing} is missing or damaged (the step will run again)`
}

function restoreCommand(image: ImageRecord, names: string[]): string {
  const name = names[0] ?? (image.source.kind === 'daemon' || image.source.kind === 'registry' ? image.source.reference : undefined)
  switch (image.source.kind) {
    case 'daemon':
    case 'registry':
      return `pivot pull ${shellQuote(name ?? image.source.reference)}`
    case 'import':
      return `pivot import --force ${shellQuote(image.source.file)} ${shellQuote(name ?? 'NAME')}`
    case 'build':
      return `pivot build ${shellQuote(image.source.recipe)}${names[0] ? ` -t ${shellQuote(names[0])}` : ''}`
    case 'load':
      return `pivot load -i ${shellQuote(image.source.file)}`
    default:
      return 'pull, import or build the image again'
  }
}

function listDir(store: Store, dir: string): string[] {
  try {
    return fs.readdirSync(store.path(dir)).sort()
  } catch {
    return []
  }
}

/** A temp file of a live writer (`<file>.<pid>.<suffix>.tmp`, see writeFileAtomic). */
function liveTemp(entry: string): boolean {
  const m = /\.(\d+)\.[0-9a-z]+\.tmp$/.exec(entry)
  return m !== null && isAlive(Number(m[1]))
}

function readlinkOrUndefined(file: string): string | undefined {
  try {
    return fs.readlinkSync(file)
  } catch {
    return undefined
  }
}

function messageOf(error: unknown): string {
  if (isPivotError(error)) return error.message
  return describeFsError(error)?.message ?? String((error as Error)?.message ?? error)
}
