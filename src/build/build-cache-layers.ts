import * as fs from 'node:fs'
import * as path from 'node:path'
import type {Store} from '../store'

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
