import * as fs from 'node:fs'
import * as path from 'node:path'
import {createHash} from 'node:crypto'
import {type LayerBlob, type Store} from '../store'
import {layerBlobProblem} from '../store/image-record'
import {BLOB_FILE, BLOB_RECORD} from '../store/store'
import {sha256Text} from '../common/hash'

export interface LayerVerdict {
  digest: string
  /** Problems found, each a short phrase; empty when the layer is sound. */
  problems: string[]
  /** True when the layer has no manifest (committed by a pivot before manifests): only its structure was checked. */
  unverified?: boolean
}

/**
 * Verifies one layer: its structure (as `Store.hasLayer`), then its tree against the manifest
 * recorded at commit (`layers/<hex>/manifest`, whose own digest is in layer.json). The tree walk
 * is an lstat per entry, no file is read: about as costly as `du` on the layer.
 */
export function verifyLayer(store: Store, digest: string): LayerVerdict {
  const structure = store.layerProblem(digest)
  if (structure !== undefined) return {digest, problems: [structure]}
  const record = store.readLayer(digest)
  if (record.manifest === undefined) return {digest, problems: [], unverified: true}
  const {compareTrees, measureTree} = require('../store/layer-tree') as typeof import('../store/layer-tree')
  let recorded: string
  try {
    recorded = fs.readFileSync(path.join(store.layerDir(digest), 'manifest'), 'utf8')
  } catch {
    return {digest, problems: ['its manifest is missing']}
  }
  if (sha256Text(recorded) !== record.manifest) return {digest, problems: ['its manifest does not match the digest in layer.json']}
  let now: string
  try {
    now = measureTree(store.layerRootfs(digest)).manifest
  } catch (error) {
    return {digest, problems: [`its tree cannot be read (${(error as Error).message})`]}
  }
  if (now === recorded) return {digest, problems: []}
  return {digest, problems: compareTrees(recorded, now)}
}

/**
 * The layers among `digests` that are in the cache but damaged in structure (what a pull, import
 * or build treats as absent and makes again), with why: for the warning that says so.
 */
export function damagedLayers(store: Store, digests: Iterable<string>): Array<{digest: string; problem: string}> {
  const found: Array<{digest: string; problem: string}> = []
  for (const digest of new Set(digests)) {
    if (!fs.existsSync(store.layerDir(digest))) continue
    const problem = store.layerProblem(digest)
    if (problem !== undefined) found.push({digest, problem})
  }
  return found
}

/**
 * Why the layer's kept blob (layers/<hex>/blob, see Store.keepLayerBlob) is damaged, or undefined
 * when it is sound or there is none: blob.json readable, the file of its size and digest (read
 * whole: check is the slow, thorough path). A blob file without a record is a leftover.
 */
export async function verifyLayerBlob(store: Store, digest: string): Promise<string | undefined> {
  const dir = store.layerDir(digest)
  const has = (name: string) => fs.existsSync(path.join(dir, name)) || isSymlink(path.join(dir, name))
  if (!has(BLOB_RECORD)) return has(BLOB_FILE) ? 'a compressed blob without its blob.json (a push killed before it finished?)' : undefined
  let record: unknown
  try {
    record = JSON.parse(fs.readFileSync(path.join(dir, BLOB_RECORD), 'utf8'))
  } catch {
    return 'its blob.json is unreadable'
  }
  const problem = layerBlobProblem(record)
  if (problem) return problem
  const blob = record as LayerBlob
  let st: fs.Stats
  try {
    st = fs.lstatSync(path.join(dir, BLOB_FILE))
  } catch {
    return 'blob.json names a compressed blob that is missing'
  }
  if (!st.isFile()) return 'its compressed blob is not a regular file'
  if (st.size !== blob.size) return `its compressed blob has ${st.size} bytes, not the ${blob.size} blob.json says`
  const hash = createHash('sha256')
  for await (const chunk of fs.createReadStream(path.join(dir, BLOB_FILE), {highWaterMark: 1 << 20}) as AsyncIterable<Buffer>) hash.update(chunk)
  const got = `sha256:${hash.digest('hex')}`
  return got === blob.digest ? undefined : `its compressed blob has digest ${got}, not the ${blob.digest} blob.json says`
}

/**
 * Why the layer's tar-split (layers/<hex>/tar-split, see src/unpack/tar-split.ts) is damaged, or
 * undefined when it is sound or there is none: a regular file, valid gzip, well-formed records,
 * as many bytes as the layer's tar. Whether the files it names still hold the layer's content is
 * what a push or save finds out (and then re-packs): the tree walk above reports changed files.
 */
export function verifyTarSplit(store: Store, digest: string): string | undefined {
  const file = store.layerTarSplit(digest)
  let st: fs.Stats
  try {
    st = fs.lstatSync(file)
  } catch {
    return undefined
  }
  if (!st.isFile()) return 'its tar-split is not a regular file'
  const {parseTarSplit} = require('../unpack/tar-split') as typeof import('../unpack/tar-split')
  let parsed: ReturnType<typeof parseTarSplit>
  try {
    parsed = parseTarSplit(fs.readFileSync(file))
  } catch (error) {
    return `its tar-split cannot be read (${(error as Error).message})`
  }
  if ('problem' in parsed) return `its tar-split is damaged: ${parsed.problem}`
  const end = parsed.records.at(-1)
  const tarSize = store.readLayer(digest).tarSize
  if (end?.kind === 'end' && end.total !== tarSize) return `its tar-split describes a tar of ${end.total} bytes, not the layer's ${tarSize}`
  return undefined
}

function isSymlink(file: string): boolean {
  try {
    return fs.lstatSync(file).isSymbolicLink()
  } catch {
    return false
  }
}
