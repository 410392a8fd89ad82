import type {Store} from '../store'

/** The cache per --cache-dir, else $PIVOT_CACHE_DIR, else the project's cache/ (as PivotCommand.openStore). */
export function openStore(cacheDir: string | undefined): Store {
  const {Store, resolveCacheRoot} = require('../store') as typeof import('../store')
  return Store.open(resolveCacheRoot(cacheDir))
}
