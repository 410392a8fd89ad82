// How layers are written down. In a tar (Docker's format) a deletion is an empty `.wh.<name>`
// file and an opaque directory holds `.wh..wh..opq`; in the store and in an overlay upper dir
// (overlayfs's format) a deletion is a 0/0 character device and an opaque directory has the
// xattr below. Unpacking turns the first into the second, committing a build step the reverse.

export const WHITEOUT_PREFIX = '.wh.'
export const OPAQUE_MARKER = '.wh..wh..opq'
/** AUFS's own metadata (`.wh..wh.plnk`...): skipped, as Docker does. */
export const AUFS_META_PREFIX = '.wh..wh.'
export const OVERLAY_XATTR_PREFIX = 'trusted.overlay.'
export const OPAQUE_XATTR = 'trusted.overlay.opaque'
