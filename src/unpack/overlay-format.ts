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
/**
 * The same marks for an overlay mounted in a user namespace (`userxattr`: trusted.* is out of
 * reach there). A layer unpacked by root carries both marks on every opaque directory, so it
 * serves both kinds of container; one unpacked in a user namespace (rootless) only the user.* one.
 */
export const USER_OVERLAY_XATTR_PREFIX = 'user.overlay.'
export const USER_OPAQUE_XATTR = 'user.overlay.opaque'

/** Whether an xattr name is overlay's mark, in either namespace (anything else of overlay's is not layer data). */
export function isOverlayXattr(name: string): boolean {
  return name.startsWith(OVERLAY_XATTR_PREFIX) || name.startsWith(USER_OVERLAY_XATTR_PREFIX)
}

export function isOpaqueXattr(name: string): boolean {
  return name === OPAQUE_XATTR || name === USER_OPAQUE_XATTR
}

// The conversion both ways, here and nowhere else: unpack (extract-tar.ts) reads the Docker form
// with dockerWhiteout, build (layer-tar.ts) writes it with whiteoutEntryName/opaqueEntryName
// from overlay's form, which isOverlayWhiteout recognises.

/** What a Docker layer entry's base name says: a deletion of `name`, an opaque marker, AUFS metadata, or nothing special. */
export type DockerWhiteout = {kind: 'delete'; name: string} | {kind: 'opaque'} | {kind: 'aufs'} | null

export function dockerWhiteout(base: string): DockerWhiteout {
  if (!base.startsWith(WHITEOUT_PREFIX)) return null
  if (base === OPAQUE_MARKER) return {kind: 'opaque'}
  if (base.startsWith(AUFS_META_PREFIX)) return {kind: 'aufs'}
  return {kind: 'delete', name: base.slice(WHITEOUT_PREFIX.length)}
}

/** The Docker entry that deletes `path` (relative, no trailing '/'): `dir/.wh.<name>`. */
export function whiteoutEntryName(path: string): string {
  const slash = path.lastIndexOf('/')
  return `${path.slice(0, slash + 1)}${WHITEOUT_PREFIX}${path.slice(slash + 1)}`
}

/** The Docker entry that makes directory `dir` opaque: `dir/.wh..wh..opq`. */
export function opaqueEntryName(dir: string): string {
  return `${dir}/${OPAQUE_MARKER}`
}

/** overlayfs's whiteout: a character device 0/0. */
export function isOverlayWhiteout(kind: string | null, devmajor: number | undefined, devminor: number | undefined): boolean {
  return kind === 'char' && devmajor === 0 && devminor === 0
}
