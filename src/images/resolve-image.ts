import {type ImageRecord, type Store, StoreError} from '../store'
import {ImageError} from './image-error'
import {tryNormaliseName} from './image-name'

export interface ResolvedImage {
  image: ImageRecord
  /** The normalised name the argument matched; undefined when it matched by id. */
  name?: string
}

/**
 * An IMAGE argument as docker reads it: a name first (`ubuntu` means
 * `docker.io/library/ubuntu:latest`), then an image id, full or an unambiguous prefix.
 */
export function resolveImage(store: Store, arg: string): ResolvedImage {
  const name = tryNormaliseName(arg)
  if (name !== undefined) {
    const id = store.getRef(name)
    // A damaged record says so (with how to repair it), rather than "no such image".
    const image = id === undefined ? undefined : store.readImage(id)
    if (image) return {image, name}
  }
  let image: ImageRecord | undefined
  try {
    image = store.findImageById(arg)
  } catch (error) {
    if (error instanceof StoreError && error.code === 'STORE_AMBIGUOUS') throw new ImageError('IMAGE_AMBIGUOUS', error.message)
    throw error
  }
  if (!image) throw new ImageError('IMAGE_NOT_FOUND', `no such image: ${JSON.stringify(arg)}`)
  return {image}
}
