import * as fs from 'node:fs'
import {stagingOwner, type Store} from '../store'
import {processStartTime} from '../runtime/container-record'

/**
 * Work in progress in the cache by other processes: a pull, import or build owns a staging entry
 * under tmp/ (named `<pid>-...`) and/or holds a flock on a file under locks/. Such a process may
 * have committed a layer or an image record it has not referenced yet (a layered pull commits its
 * layers one by one, then writes the image record, then the name). `prune` must not mistake
 * those for garbage, so it keeps anything created since the oldest in-flight process started.
 */
export interface InFlight {
  pids: number[]
  /** Start time (ms since the epoch) of the oldest in-flight process; undefined when none. */
  since?: number
}

export function inFlight(store: Store): InFlight {
  const pids = new Set<number>()
  for (const entry of safeReaddir(store.path('tmp'))) {
    const pid = stagingOwner(entry)
    if (pid !== undefined) pids.add(pid)
  }
  for (const pid of lockHolders(store.path('locks'))) pids.add(pid)
  pids.delete(process.pid)
  const starts = [...pids].map(pid => ({pid, start: processStart(pid)})).filter((p): p is {pid: number; start: number} => p.start !== undefined)
  return {pids: starts.map(p => p.pid).sort((a, b) => a - b), since: starts.length > 0 ? Math.min(...starts.map(p => p.start)) : undefined}
}

/** Pids holding a flock/POSIX lock on a file in `dir`, from /proc/locks (`... PID MAJ:MIN:INODE ...`). */
function lockHolders(dir: string): number[] {
  const inodes = new Set<string>()
  for (const entry of safeReaddir(dir)) {
    try {
      const st = fs.statSync(`${dir}/${entry}`)
      inodes.add(`${major(st.dev)}:${minor(st.dev)}:${st.ino}`)
    } catch {
      // removed meanwhile
    }
  }
  if (inodes.size === 0) return []
  let table = ''
  try {
    table = fs.readFileSync('/proc/locks', 'utf8')
  } catch {
    return []
  }
  const pids: number[] = []
  for (const line of table.split('\n')) {
    const m = /\s(-?\d+)\s+([0-9a-f]+):([0-9a-f]+):(\d+)\s/.exec(line)
    if (!m || Number(m[1]) <= 0) continue
    if (inodes.has(`${parseInt(m[2], 16)}:${parseInt(m[3], 16)}:${m[4]}`)) pids.push(Number(m[1]))
  }
  return pids
}

function major(dev: number): number {
  return Number((BigInt(dev) >> 8n) & 0xfffn)
}

function minor(dev: number): number {
  const d = BigInt(dev)
  return Number((d & 0xffn) | ((d >> 12n) & 0xfff00n))
}

let bootTime: number | undefined

/** When a process started (ms since the epoch), from /proc; undefined when it is gone. */
function processStart(pid: number): number | undefined {
  const ticks = processStartTime(pid) // in USER_HZ (100 on Linux's user ABI)
  if (ticks === undefined) return undefined
  try {
    bootTime ??= Number(/^btime (\d+)$/m.exec(fs.readFileSync('/proc/stat', 'utf8'))?.[1]) * 1000
  } catch {
    return undefined
  }
  return bootTime + (Number(ticks) * 1000) / 100
}

function safeReaddir(dir: string): string[] {
  try {
    return fs.readdirSync(dir)
  } catch {
    return []
  }
}
