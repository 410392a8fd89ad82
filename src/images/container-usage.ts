import type {Store} from '../store'
import {isOwnerAlive, listContainerIds, readState} from '../store/container-record'

/** What the image commands need to know about one container (the runtime's containers/<id>/state.json). */
export interface ContainerUse {
  id: string
  imageId: string
  layers: string[]
  /** Running, and its owning pivot process is still there (a SIGKILLed run's record says running too). */
  running: boolean
}

/** The containers in the cache and the images and layers they stand on. */
export function containerUses(store: Store): ContainerUse[] {
  const uses: ContainerUse[] = []
  for (const id of listContainerIds(store)) {
    const state = readState(store, id)
    if (!state) continue
    uses.push({
      id,
      imageId: state.image,
      layers: Array.isArray(state.layers) ? state.layers : [],
      running: state.status === 'running' && isOwnerAlive(state),
    })
  }
  return uses
}

/** Short ids of the running containers made from image `imageId`. */
export function runningContainersUsing(store: Store, imageId: string): string[] {
  return containerUses(store)
    .filter(c => c.running && c.imageId === imageId)
    .map(c => c.id.slice(0, 12))
}
