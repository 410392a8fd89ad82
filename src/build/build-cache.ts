import * as fs from 'node:fs'
import {type ImageConfig, type Store, digestHex} from '../store'
import {writeJsonAtomic} from '../common/fs-util'

/**
 * `build-cache/<hex>.json`: what a step with that cache key produced. `pivot prune` keeps every
 * layer listed here (src/images/prune-cache.ts), so a cached step never points at a freed layer.
 */
export interface BuildCacheRecord {
  key: string
  /** The full layer chain after the step, bottom first. */
  layers: string[]
  /** The env and working directory after the step. */
  config: Pick<ImageConfig, 'Env' | 'WorkingDir'>
  created: string
}

function recordPath(store: Store, key: string): string {
  return store.path('build-cache', `${digestHex(key)}.json`)
}

/**
 * The record for `key`, when there is one and every layer it lists is still in the store.
 * `sound`: layers the caller found sound earlier and has pinned since (a build's lease), not
 * checked again: each step's record lists the whole chain, so an unchanged rebuild checked its
 * lower layers once per step (a stat, a read and a parse each).
 */
export function readBuildCache(store: Store, key: string, sound?: ReadonlySet<string>): BuildCacheRecord | undefined {
  let record: BuildCacheRecord
  try {
    record = JSON.parse(fs.readFileSync(recordPath(store, key), 'utf8')) as BuildCacheRecord
  } catch {
    return undefined // missing, or damaged: rebuild the step and rewrite it
  }
  if (record.key !== key || !Array.isArray(record.layers) || !record.layers.every(l => typeof l === 'string' && (sound?.has(l) || store.hasLayer(l))))
    return undefined
  return record
}

export function writeBuildCache(store: Store, record: BuildCacheRecord): void {
  fs.mkdirSync(store.path('build-cache'), {recursive: true, mode: 0o700})
  writeJsonAtomic(recordPath(store, record.key), record)
}
