import type {Store} from '../store'
import {Lease} from '../store/gc-lock'
import {ImageError} from './image-error'
import {normaliseName} from './image-name'
import {resolveImage} from './resolve-image'

export interface TagResult {
  /** The canonical name now pointing at the image. */
  name: string
  id: string
  /** The image the name pointed at before, when it moved. */
  previous?: string
}

/**
 * `pivot tag SRC DST`: DST names SRC's image. As docker: SRC is a name or an id, DST cannot hold a
 * digest, an existing DST moves (no --force). The name moves in one rename (Store.setRef writes
 * a temp file and renames it), so a reader sees the old image or the new, never neither.
 */
export async function tagImage(store: Store, source: string, target: string): Promise<TagResult> {
  const name = targetName(target)
  // Unknown SRC fails before anything is written, with docker's wording and status.
  notFoundAsDocker(source, () => resolveImage(store, source))
  const lease = new Lease(store, 'tag')
  try {
    return await store.withLock(`ref-${name}`, () =>
      lease.pin(() => {
        // Under the GC lock: a prune cannot free the image between the lookup and the new name.
        const image = notFoundAsDocker(source, () => resolveImage(store, source)).image
        const previous = store.getRef(name)
        store.setRef(name, image.id)
        return {name, id: image.id, ...(previous !== undefined && previous !== image.id ? {previous} : {})}
      }),
    )
  } finally {
    lease.release()
  }
}

function targetName(target: string): string {
  if (target.includes('@')) throw new ImageError('IMAGE_BAD_NAME', 'refusing to create a tag with a digest reference', {exitCode: 1})
  try {
    return normaliseName(target)
  } catch (error) {
    if (error instanceof ImageError) throw new ImageError(error.code, error.message, {exitCode: 1})
    throw error
  }
}

function notFoundAsDocker<T>(source: string, find: () => T): T {
  try {
    return find()
  } catch (error) {
    if (error instanceof ImageError && error.code === 'IMAGE_NOT_FOUND') {
      throw new ImageError('IMAGE_NOT_FOUND', `no such image: ${shownSource(source)}`, {exitCode: 1})
    }
    throw error
  }
}

/** docker names the source with its default tag (`No such image: busybox:latest`). */
function shownSource(source: string): string {
  const lastSlash = source.lastIndexOf('/')
  if (/^(sha256:)?[0-9a-f]{4,64}$/.test(source) || source.includes('@') || source.slice(lastSlash + 1).includes(':')) return source
  return `${source}:latest`
}
