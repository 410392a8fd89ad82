import type {Store} from '../store/store'
import type {PortBinding} from '../store/container-record'
import {humanDuration} from '../common/format'
import {allContainers, type ContainerStatus} from './lifecycle/containers'

export interface ContainerSummary {
  id: string
  name?: string
  image: string
  imageName?: string
  command: string[]
  /** running; exited (with exitCode); dead: its `pivot run` or monitor was killed before it could record an end. */
  state: 'created' | 'running' | 'exited' | 'dead' | 'restarting'
  paused?: boolean
  /** STATUS as docker ps shows it: `Up 3 seconds`, `Exited (0) 2 minutes ago`, `Created`. */
  status: string
  exitCode?: number
  pid?: number
  detached: boolean
  /** Published ports (-p, -P) while it runs (their rules go with it): docker ps's PORTS. */
  ports?: PortBinding[]
  /** --label's labels, when it was given. */
  labels?: Record<string, string>
  created: string
  started?: string
  finished?: string
}

/** docker ps's STATUS column. */
export function statusText(c: Pick<ContainerStatus, 'state' | 'exitCode' | 'started' | 'finished' | 'paused'> & {created?: string}, now = Date.now()): string {
  const since = (iso: string | undefined) => humanDuration(Math.max(0, now - Date.parse(iso ?? new Date(now).toISOString())))
  switch (c.state) {
    case 'running':
      return `Up ${since(c.started ?? c.created)}${c.paused ? ' (Paused)' : ''}`
    case 'restarting':
      return `Restarting (${c.exitCode ?? '?'}) ${since(c.finished)} ago`
    case 'exited':
      return `Exited (${c.exitCode ?? '?'}) ${since(c.finished)} ago`
    case 'dead':
      return 'Dead'
    default:
      return 'Created'
  }
}

/** The cache's containers, newest first (what `pivot ps` shows). */
export function listContainers(store: Store): ContainerSummary[] {
  const now = Date.now()
  return allContainers(store).map(c => ({
    id: c.id,
    name: c.record.name,
    image: c.record.image,
    imageName: c.record.imageName,
    command: c.record.command,
    state: c.state,
    ...(c.paused ? {paused: true} : {}),
    status: statusText({...c, created: c.record.created}, now),
    exitCode: c.exitCode,
    pid: c.pid,
    detached: c.record.detached === true,
    ...(c.state === 'running' && c.record.network?.ports.length ? {ports: c.record.network.ports} : {}),
    ...(c.record.runFlags?.Labels ? {labels: c.record.runFlags.Labels} : {}),
    created: c.record.created,
    started: c.started,
    finished: c.finished,
  }))
}
