import type {Store} from '../store/store'
import {isOwnerAlive, listContainerIds, readState, type ContainerState} from './container-record'

export interface ContainerSummary {
  id: string
  name?: string
  image: string
  imageName?: string
  command: string[]
  /** running; exited (with exitCode); dead: its `pivot run` was killed before it could record an end. */
  state: 'created' | 'running' | 'exited' | 'dead'
  exitCode?: number
  pid?: number
  created: string
  finished?: string
}

/** The cache's containers, newest first (what `pivot ps` shows). */
export function listContainers(store: Store): ContainerSummary[] {
  const out: ContainerSummary[] = []
  for (const id of listContainerIds(store)) {
    const s: ContainerState | undefined = readState(store, id)
    if (!s) continue
    const alive = isOwnerAlive(s)
    const state: ContainerSummary['state'] = s.status === 'exited' ? 'exited' : alive ? s.status : 'dead'
    out.push({
      id,
      name: s.name,
      image: s.image,
      imageName: s.imageName,
      command: s.command,
      state,
      exitCode: s.exitCode,
      pid: state === 'running' ? s.pid : undefined,
      created: s.created,
      finished: s.finished,
    })
  }
  return out.sort((a, b) => b.created.localeCompare(a.created))
}
