import * as path from 'node:path'

/** The project's own `cache/` folder: dist/src/store/ is three levels below the project root. */
export const PROJECT_CACHE_DIR = path.resolve(__dirname, '..', '..', '..', 'cache')

/** `--cache-dir`, then `PIVOT_CACHE_DIR`, then the project's `cache/`. */
export function resolveCacheRoot(flag?: string): string {
  return path.resolve(flag || process.env.PIVOT_CACHE_DIR || PROJECT_CACHE_DIR)
}
