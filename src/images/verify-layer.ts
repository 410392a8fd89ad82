import * as fs from 'node:fs'
import * as path from 'node:path'
import {type Store} from '../store'
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
