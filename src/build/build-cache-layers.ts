import * as fs from 'node:fs'
import * as path from 'node:path'
import type {Store} from '../store'
import {isAlive} from '../common/process-identity'

/** Layer digests listed by the build cache's records (`build-cache/*.json`, `{layers: string[]}`). */
export function buildCacheLayers(store: Store): string[] {
  const dir = store.path('build-cache')
  let files: string[]
  try {
    files = fs.readdirSync(dir).filter(f => f.endsWith('.json'))
  } catch {
    return []
  }
  const layers: string[] = []
  for (const file of files) {
    try {
      const record = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as {layers?: unknown}
      if (Array.isArray(record.layers)) layers.push(...record.layers.filter((l): l is string => typeof l === 'string'))
    } catch {
      // A record being written (or damaged) pins nothing; the build rewrites it.
    }
  }
  return layers
}

/** What pruneBuildCache removed and what the records it kept still pin. */
export interface BuildCachePrune {
  /** Layer digests the kept records list. */
  layers: string[]
  /** The removed files of build-cache/ (`<hex>.json`, and temp files of dead writers). */
  removed: string[]
}

/**
 * Removes the build-cache records no build can use any more (damaged ones, and those listing a
 * layer the cache no longer has), the temp files of writers that died, and with `all` every record
 * (docker's `builder prune -a`: the next build runs each step again). Returns the layers the kept
 * records list, which prune keeps. Runs under prune's exclusive GC lock: a build holds the shared
 * side from a step's layer commit until its record is written, so a record is never judged
 * between the two; one a build is reading as it goes is read as missing and the step runs again.
 */
export function pruneBuildCache(store: Store, all: boolean): BuildCachePrune {
  const dir = store.path('build-cache')
  let files: string[]
  try {
    files = fs.readdirSync(dir)
  } catch {
    return {layers: [], removed: []}
  }
  const out: BuildCachePrune = {layers: [], removed: []}
  const remove = (file: string) => {
    try {
      fs.unlinkSync(path.join(dir, file))
      out.removed.push(file)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
    }
  }
  for (const file of files) {
    // writeFileAtomic's temp file: <record>.<pid>.<suffix>.tmp; a live writer renames it soon.
    const temp = /\.json\.(\d+)\.[^.]+\.tmp$/.exec(file)
    if (temp) {
      if (!isAlive(Number(temp[1]))) remove(file)
      continue
    }
    if (!file.endsWith('.json')) continue
    let layers: unknown
    try {
      layers = (JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as {layers?: unknown}).layers
    } catch {
      layers = undefined
    }
    const usable = Array.isArray(layers) && layers.every(l => typeof l === 'string' && store.hasLayer(l))
    if (all || !usable) remove(file)
    else out.layers.push(...(layers as string[]))
  }
  return out
}
