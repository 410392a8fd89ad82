import type {ImageRecord, Store} from '../store'
import {runningContainersUsing} from './container-usage'
import {ImageError} from './image-error'
import {resolveImage} from './resolve-image'
import {tryNormaliseName} from './image-name'
import {shortId} from '../ui/format'

export interface RemovedImage {
  /** The argument as the user gave it. */
  image: string
  /** Names removed. */
  untagged: string[]
  /** The image id, when its record was removed (no name pointed at it any more). */
  deleted?: string
}

/**
 * `pivot rmi` for one argument. A name removes that name, and the image record with it when it was
 * the last one; an id removes the record and all its names (refused without `force` when the image
 * has several names, as docker does). Removing the record of an image a running container uses is
 * refused without `force`.
 *
 * Layers are never deleted here: `pivot prune` frees them. Deleting them at once would race with
 * a pull or build that has just found a layer in the cache and is about to write a record using
 * it, and rmi stays a cheap metadata operation.
 */
export function removeImage(store: Store, arg: string, options: {force?: boolean} = {}): RemovedImage {
  const name = tryNormaliseName(arg)
  let byName: {image: ImageRecord; name: string} | undefined
  if (name !== undefined) {
    const id = store.getRef(name)
    const record = id === undefined ? undefined : store.readImage(id)
    // A name whose image record is gone (a damaged cache) can still be removed.
    if (id !== undefined && !record) {
      store.removeRef(name)
      return {image: arg, untagged: [name]}
    }
    if (record) byName = {image: record, name}
  }
  const {image, name: matched} = byName ?? resolveImage(store, arg)
  const names = store.namesOf(image.id)
  const doomedNames = matched === undefined ? names : [matched]
  if (matched === undefined && names.length > 1 && !options.force) {
    throw new ImageError(
      'IMAGE_IN_USE',
      `image ${shortId(image.id)} has several names (${names.join(', ')}): remove them by name, or use --force`,
    )
  }
  const deletesRecord = names.every(n => doomedNames.includes(n))
  if (deletesRecord && !options.force) {
    const containers = runningContainersUsing(store, image.id)
    if (containers.length > 0) {
      throw new ImageError(
        'IMAGE_IN_USE',
        `image ${arg} is used by running container ${containers.join(', ')}: stop it first, or use --force`,
      )
    }
  }
  const untagged = doomedNames.filter(n => store.removeRef(n))
  // Another process may have named the image meanwhile: keep the record while any name points at it.
  if (store.namesOf(image.id).length === 0) {
    store.removeImage(image.id)
    return {image: arg, untagged, deleted: image.id}
  }
  return {image: arg, untagged}
}
