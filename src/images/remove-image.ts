import type {ImageRecord, Store} from '../store'
import {runningContainersUsing} from './container-usage'
import {ImageError} from './image-error'
import {resolveImage} from './resolve-image'
import {tryNormaliseName} from './image-name'
import {shortId} from '../common/format'
import {readableImage} from './damaged-entries'

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
    if (id === undefined && store.hasRefEntry(name)) {
      // A damaged entry under the name (a directory, garbage content): removing it is the repair.
      store.removeRef(name)
      return {image: arg, untagged: [name]}
    }
    const record = id === undefined ? undefined : readableImage(store, id)
    // A name whose image record is gone or damaged can still be removed, and a damaged record
    // with it once no name points at it: it is of no use to anyone, and it pins layers.
    if (id !== undefined && !record) {
      store.removeRef(name)
      const deleted = removeIfDamagedAndUnnamed(store, id)
      return {image: arg, untagged: [name], ...(deleted ? {deleted: id} : {})}
    }
    if (record) byName = {image: record, name}
  }
  const damaged = byName ? undefined : damagedById(store, arg)
  if (damaged) {
    const untagged = store.namesOf(damaged).filter(n => store.removeRef(n))
    store.removeImage(damaged)
    return {image: arg, untagged, deleted: damaged}
  }
  const {image, name: matched} = byName ?? resolveImage(store, arg)
  const names = store.namesOf(image.id)
  const doomedNames = matched === undefined ? names : [matched]
  if (matched === undefined && names.length > 1 && !options.force) {
    throw new ImageError('IMAGE_IN_USE', `image ${shortId(image.id)} has several names (${names.join(', ')}): remove them by name, or use --force`)
  }
  const deletesRecord = names.every(n => doomedNames.includes(n))
  if (deletesRecord && !options.force) {
    const containers = runningContainersUsing(store, image.id)
    if (containers.length > 0) {
      throw new ImageError('IMAGE_IN_USE', `image ${arg} is used by running container ${containers.join(', ')}: stop it first, or use --force`)
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

/** The id of the damaged image record `arg` names (a full id or a unique prefix, as for a sound one). */
function damagedById(store: Store, arg: string): string | undefined {
  const hex = arg.replace(/^sha256:/, '')
  if (!/^[0-9a-f]{4,64}$/.test(hex)) return undefined
  const matches = store.damagedImages().filter(d => d.id.slice(7).startsWith(hex))
  // Ambiguity between records (sound or not) is resolveImage's to report.
  if (matches.length !== 1 || store.listImages().some(i => i.id.slice(7).startsWith(hex))) return undefined
  return matches[0].id
}

function removeIfDamagedAndUnnamed(store: Store, id: string): boolean {
  if (!store.damagedImages().some(d => d.id === id) || store.namesOf(id).length > 0) return false
  store.removeImage(id)
  return true
}
