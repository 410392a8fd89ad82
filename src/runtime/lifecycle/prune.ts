import * as fs from 'node:fs'
import * as path from 'node:path'
import type {Store} from '../../store/store'
import {containerDir} from '../../store/container-record'
import {allContainers} from './containers'
import {removeContainerByRef} from './operations'

/** Bytes of the files under `dir` (not following symlinks). */
function diskUsage(dir: string): number {
  let total = 0
  let entries: fs.Dirent[]
  try {
    entries = fs.readdirSync(dir, {withFileTypes: true})
  } catch {
    return 0
  }
  for (const e of entries) {
    const p = path.join(dir, e.name)
    if (e.isDirectory()) total += diskUsage(p)
    else {
      try {
        total += fs.lstatSync(p).size
      } catch {
        // gone meanwhile
      }
    }
  }
  return total
}

/**
 * `pivot container prune`: removes every container that is not running (exited, or dead: its
 * owner was killed), as `rm` would. Returns their ids and the bytes their writable layers and
 * logs took. The rootfs mount point is skipped: it is only mounted in the container's namespace.
 */
export async function pruneContainers(store: Store): Promise<{ids: string[]; bytes: number}> {
  const ids: string[] = []
  let bytes = 0
  for (const c of allContainers(store)) {
    if (c.state !== 'exited' && c.state !== 'dead') continue
    const dir = containerDir(store, c.id)
    const size = ['upper', 'json.log'].reduce((n, f) => {
      const p = path.join(dir, f)
      try {
        return n + (fs.lstatSync(p).isDirectory() ? diskUsage(p) : fs.lstatSync(p).size)
      } catch {
        return n
      }
    }, 0)
    try {
      await removeContainerByRef(store, c.id, false)
    } catch {
      continue // started again meanwhile
    }
    ids.push(c.id)
    bytes += size
  }
  // Attach sockets of monitors killed by SIGKILL, whatever cache their container was in.
  ;(require('../monitor/start-monitor') as typeof import('../monitor/start-monitor')).sweepAttachSockets()
  return {ids, bytes}
}

/** go-units' HumanSize: 0B, 12.3kB, 4.5MB (docker's "Total reclaimed space"). */
export function humanSize(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB']
  let i = 0
  let v = bytes
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000
    i++
  }
  return `${Number(v.toPrecision(4))}${units[i]}`
}
