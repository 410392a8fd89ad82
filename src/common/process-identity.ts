import * as fs from 'node:fs'

/**
 * The one rule for "is that pivot process still there": a pid plus its start time. A pid alone
 * can be reused by an unrelated process after the owner died (and pid namespaces make reuse
 * frequent), so every record that must outlive a check (a container's owner, a lease) stores
 * both, and a process counts as the owner only when both match. A zombie (killed, not yet
 * reaped) counts as gone: its work is over.
 *
 * In src/common, below every module: the store's records (leases, staging names, lock holders)
 * and the runtime's containers both need it.
 */
export interface ProcessIdentity {
  pid: number
  /** `starttime` (field 22 of /proc/<pid>/stat, clock ticks since boot), as text. */
  startTime: string
}

interface ProcStat {
  state: string
  startTime: string
}

function readStat(pid: number): ProcStat | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined
  let stat: string
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch {
    return undefined
  }
  // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return {state: fields[0], startTime: fields[19]}
}

/** The start time of `pid`, or undefined when there is no such process. */
export function processStartTime(pid: number): string | undefined {
  return readStat(pid)?.startTime
}

let self: ProcessIdentity | undefined

/** This process's identity (computed once). */
export function currentProcess(): ProcessIdentity {
  self ??= {pid: process.pid, startTime: processStartTime(process.pid) ?? ''}
  return self
}

/** True while the process `who` names runs: same pid, same start time, not a zombie. */
export function isRunning(who: {pid: number; startTime: string} | undefined): boolean {
  if (who === undefined) return false
  const stat = readStat(who.pid)
  return stat !== undefined && stat.state !== 'Z' && stat.startTime === who.startTime
}

/**
 * True while some process has this pid (not a zombie). Only for names that carry a pid alone
 * (tmp/ staging entries, temp files, export container labels): a reused pid keeps such a
 * leftover a little longer, which is the safe way to be wrong.
 */
export function isAlive(pid: number): boolean {
  const stat = readStat(pid)
  return stat !== undefined && stat.state !== 'Z'
}

/** The command line of `pid` (arguments joined by spaces, cut to `max` characters), if readable. */
export function processCommand(pid: number, max = 120): string | undefined {
  let raw: string
  try {
    raw = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8')
  } catch {
    return undefined
  }
  const args = raw.split('\0').filter(a => a !== '')
  // `node /path/to/bin/pivot pull x` reads better as `pivot pull x`.
  if (args.length > 1 && /(^|\/)node$/.test(args[0]) && /(^|\/)pivot$/.test(args[1])) args.splice(0, 2, 'pivot')
  else if (args.length > 2 && /(^|\/)node$/.test(args[0]) && args[1] === '--' && /(^|\/)pivot$/.test(args[2])) args.splice(0, 3, 'pivot')
  // eslint-disable-next-line no-control-regex -- control characters are what it replaces
  const line = args.join(' ').replace(/[\x00-\x1f\x7f]/g, '?')
  if (line === '') return undefined
  return line.length > max ? line.slice(0, max - 3) + '...' : line
}
