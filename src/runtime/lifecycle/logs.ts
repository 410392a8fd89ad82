import * as fs from 'node:fs'
import type {Store} from '../../store/store'
import {logPath} from '../../store/container-record'
import {RuntimeError} from '../runtime-error'
import {containerStatus, resolveContainer} from './containers'

/** One record of docker's json-file format, as the monitor writes it. */
export interface LogRecord {
  log: string
  stream: 'stdout' | 'stderr'
  time: string
}

export interface LogOptions {
  follow: boolean
  /** Only the last N records; undefined: all. */
  tail?: number
  timestamps: boolean
  /** Only records at or after this time (ms since the epoch). */
  since?: number
  /** Only records before this time (docker logs --until). */
  until?: number
  /** Start reading the log at this byte (start -a: only what the new run writes). */
  startOffset?: number
  write(stream: 'stdout' | 'stderr', text: string): void
}

/** docker logs --tail: "all" or a whole number (a negative one is all, as docker reads it). */
export function parseTail(value: string | undefined): number | undefined {
  if (value === undefined || value === 'all') return undefined
  if (!/^-?\d+$/.test(value.trim()))
    throw new RuntimeError('CONTAINER_BAD_FLAG', `invalid --tail ${JSON.stringify(value)}: use a number or "all"`, {exitCode: 125})
  const n = Number(value)
  return n < 0 ? undefined : n
}

const UNITS: Record<string, number> = {ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000}

/**
 * docker logs --since: an RFC 3339 date (`2026-12-04T17:40:03Z`, or a date alone), a Unix
 * timestamp (`1733333333.5`), or a Go duration before now (`10m`, `1h30m`, `1.5s`).
 */
export function parseSince(value: string, now = Date.now(), flag = '--since'): number {
  const v = value.trim()
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000
  if (/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(v)) {
    let ms = 0
    for (const m of v.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) ms += Number(m[1]) * UNITS[m[2]]
    return now - ms
  }
  if (/^\d{4}-\d{2}-\d{2}/.test(v)) {
    const t = Date.parse(v)
    if (!Number.isNaN(t)) return t
  }
  throw new RuntimeError('CONTAINER_BAD_FLAG', `invalid ${flag} ${JSON.stringify(value)}: use a date (RFC 3339), a Unix timestamp or a duration such as 10m`, {
    exitCode: 125,
  })
}

function parseLines(text: string): LogRecord[] {
  const out: LogRecord[] = []
  for (const line of text.split('\n')) {
    if (line === '') continue
    try {
      const r = JSON.parse(line) as LogRecord
      if (typeof r.log === 'string') out.push(r)
    } catch {
      // A torn last line (the monitor is mid-write) is read again on the next round.
    }
  }
  return out
}

/**
 * `pivot logs`: what a detached container wrote, from the json-file its monitor keeps. With
 * `follow`, goes on printing until the container stops (and its last lines are read).
 */
export async function showLogs(store: Store, ref: string, options: LogOptions): Promise<void> {
  const id = resolveContainer(store, ref)
  const status = containerStatus(store, id)
  if (!status?.record.detached) {
    throw new RuntimeError('CONTAINER_NO_LOGS', `container ${ref} ran in the foreground (without -d): its output went to its terminal and was not kept`, {
      exitCode: 1,
    })
  }
  const file = logPath(store, id)
  const print = (records: LogRecord[]) => {
    for (const r of records) {
      if (options.since !== undefined && Date.parse(r.time) < options.since) continue
      if (options.until !== undefined && Date.parse(r.time) >= options.until) continue
      options.write(r.stream === 'stderr' ? 'stderr' : 'stdout', options.timestamps ? `${r.time} ${r.log}` : r.log)
    }
  }
  let offset = options.startOffset ?? 0
  // Reads what was appended since the last call (following a long log must not re-read it all).
  const readNew = (): LogRecord[] => {
    let fd: number
    try {
      fd = fs.openSync(file, 'r')
    } catch {
      return []
    }
    try {
      const size = fs.fstatSync(fd).size
      // Rotated since the last read: the current file is a new one.
      if (size < offset) offset = 0
      if (size <= offset) return []
      const data = Buffer.allocUnsafe(size - offset)
      let got = 0
      while (got < data.length) {
        const n = fs.readSync(fd, data, got, data.length - got, offset + got)
        if (n === 0) break
        got += n
      }
      // Only whole lines: the rest is read when its newline is there.
      const end = data.subarray(0, got).lastIndexOf(10) + 1
      if (end === 0) return []
      offset += end
      return parseLines(data.subarray(0, end).toString('utf8'))
    } finally {
      fs.closeSync(fd)
    }
  }
  // Rotated files (--log-opt max-size), oldest first, before the current one.
  let first: LogRecord[] = []
  if (options.startOffset === undefined) {
    for (let k = status.record.logRotation?.maxFile ?? 1; k >= 1; k--) {
      try {
        first.push(...parseLines(fs.readFileSync(`${file}.${k}`, 'utf8')))
      } catch {
        // not there
      }
    }
  }
  first.push(...readNew())
  if (options.since !== undefined) first = first.filter(r => Date.parse(r.time) >= options.since!)
  if (options.until !== undefined) first = first.filter(r => Date.parse(r.time) < options.until!)
  if (options.tail !== undefined) first = options.tail === 0 ? [] : first.slice(-options.tail)
  print(first)
  if (!options.follow) return
  for (;;) {
    const now = containerStatus(store, id)
    const running = now !== undefined && (now.state === 'running' || now.state === 'created')
    print(readNew())
    if (!running) return
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}
