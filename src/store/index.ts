export {Store, type DamagedImage, removeTree, removeStaging, digestHex, imageIdOf, stagingOwner, TAR_SPLIT_FILE} from './store'
export {StoreError, describeFsError, fsReason, shellQuote} from './store-error'
export {resolveCacheRoot, openCacheRoot, PROJECT_CACHE_DIR, TOP_LEVEL_DIRS} from './cache-root'
export type {HistoryEntry, ImageConfig, ImageRecord, ImageSource, LayerBlob, LayerRecord} from './image-record'
