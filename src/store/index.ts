export {Store, diskUsage, digestHex, imageIdOf, isAlive, sha256Json, isErrno, stagingOwner, writeFileAtomic, writeJsonAtomic} from './store'
export {StoreError} from './store-error'
export {resolveCacheRoot, PROJECT_CACHE_DIR} from './cache-root'
export type {ImageConfig, ImageRecord, ImageSource, LayerRecord} from './image-record'
