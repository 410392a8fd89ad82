export {prepareUnpacker, unpackLayer, type PreparedUnpacker, type UnpackResult} from './unpack-layer'
export {packRootfs} from './pack-rootfs'
export {UnpackError, type UnpackErrorCode} from './unpack-error'
