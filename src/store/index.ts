export {Store, type DamagedImage, removeTree, sha256Text, diskUsage, digestHex, imageIdOf, isAlive, sha256Json, isErrno, stagingOwner, writeFileAtomic, writeJsonAtomic} from './store'
export {StoreError, describeFsError, fsReason, shellQuote} from './store-error'
export {resolveCacheRoot, openCacheRoot, PROJECT_CACHE_DIR, TOP_LEVEL_DIRS} from './cache-root'
export type {ImageConfig, ImageRecord, ImageSource, LayerRecord} from './image-record'
