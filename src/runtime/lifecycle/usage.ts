import {spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import type {Store} from '../../store/store'
import {cgroupIdOf, readState} from '../../store/container-record'
import {RuntimeError} from '../runtime-error'
import {allContainers, containerStatus, resolveContainer, type ContainerStatus} from './containers'

function runningStatus(store: Store, ref: string): ContainerStatus {
  const id = resolveContainer(store, ref)
  const status = containerStatus(store, id)
  if (!status || status.state !== 'running') throw new RuntimeError('CONTAINER_NOT_RUNNING', `Container ${id} is not running`, {exitCode: 1})
  return status
}

function cgroupPaths(store: Store, id: string): string[] {
  const {openCgroup} = require('../cgroups') as typeof import('../cgroups')
  return openCgroup(cgroupIdOf(store, id)).paths
}

function read(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
}

/** The host pids of every process of the container (its cgroup's cgroup.procs). */
export function containerPids(store: Store, id: string): number[] {
  const paths = cgroupPaths(store, id)
  for (const dir of paths) {
    const text = read(path.join(dir, 'cgroup.procs'))
    if (text !== undefined) return text.split('\n').filter(Boolean).map(Number)
  }
  // A rootless container without a delegated cgroup: PID 1 and its descendants.
  const pid1 = paths.length === 0 ? readState(store, id)?.pid : undefined
  return pid1 === undefined ? [] : descendants(pid1)
}

/** `pid` and every process below it, from /proc's parent pids. */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>()
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    const stat = read(`/proc/${name}/stat`)
    if (!stat) continue
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
    children.set(ppid, [...(children.get(ppid) ?? []), Number(name)])
  }
  if (!fs.existsSync(`/proc/${pid}`)) return []
  const out = [pid]
  for (let i = 0; i < out.length; i++) out.push(...(children.get(out[i]) ?? []))
  return out
}

/** docker's tabwriter: each column as wide as its widest cell plus `padding`, at least `min`; the last not padded. */
export function table(rows: string[][], min: number, padding = 3): string {
  const widths = rows[0].map((_, i) => Math.max(min, ...rows.map(r => (r[i] ?? '').length + padding)))
  return rows
    .map(
      r =>
        r
          .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i])))
          .join('')
          .trimEnd() + '\n',
    )
    .join('')
}

/**
 * `pivot top CONTAINER [ps OPTIONS]`: the host's `ps` (default -ef) limited to the container's
 * processes, as docker top does (its rows are found by their PID column).
 */
export function topContainer(store: Store, ref: string, psArgs: string[]): string {
  const status = runningStatus(store, ref)
  const pids = new Set(containerPids(store, status.id).map(String))
  const r = spawnSync('ps', psArgs.length > 0 ? psArgs : ['-ef'], {encoding: 'utf8'})
  if (r.status !== 0) throw new RuntimeError('CONTAINER_BAD_FLAG', `ps failed: ${(r.stderr || '').trim().split('\n')[0]}`, {exitCode: 1})
  const lines = r.stdout.split('\n').filter(Boolean)
  const header = lines[0].trim().split(/\s+/)
  const pidColumn = header.indexOf('PID')
  if (pidColumn === -1) throw new RuntimeError('CONTAINER_BAD_FLAG', "Couldn't find PID field in ps output", {exitCode: 1})
  const rows = [header]
  for (const line of lines.slice(1)) {
    const fields = line.trim().split(/\s+/)
    if (!pids.has(fields[pidColumn])) continue
    // The last column (the command) keeps its spaces.
    rows.push([...fields.slice(0, header.length - 1), fields.slice(header.length - 1).join(' ')])
  }
  return table(rows, 20)
}

interface Sample {
  cpuNs: number
  memory: number
  limit: number
  pids: number
  readBytes: number
  writeBytes: number
}

function clockTicks(): number {
  return 100
}

function sample(store: Store, status: ContainerStatus): Sample {
  const paths = cgroupPaths(store, status.id)
  const v2 = paths.length === 1 && fs.existsSync(path.join(paths[0], 'cgroup.controllers'))
  // No cgroup (rootless without a delegated one): the processes' own counters, no limit.
  const find = (controller: string): string => paths.find(p => p.includes(`/${controller}/`)) ?? paths[0] ?? '/nonexistent'
  if (paths.length === 0) return processSample(containerPids(store, status.id))
  let cpuNs = 0
  const cpuStat = v2 ? read(path.join(paths[0], 'cpu.stat')) : undefined
  const usage = cpuStat && /^usage_usec (\d+)$/m.exec(cpuStat)
  if (usage) cpuNs = Number(usage[1]) * 1000
  else {
    // cgroup v1 without a cpuacct group: the processes' own and reaped children's CPU time.
    for (const pid of containerPids(store, status.id)) {
      const stat = read(`/proc/${pid}/stat`)
      if (!stat) continue
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      cpuNs += ((Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) * 1e9) / clockTicks()
    }
  }
  const mem = find('memory')
  const memStat = read(path.join(mem, 'memory.stat')) ?? ''
  const inactive = Number((v2 ? /^inactive_file (\d+)$/m : /^total_inactive_file (\d+)$/m).exec(memStat)?.[1] ?? 0)
  const used = Number(read(path.join(mem, v2 ? 'memory.current' : 'memory.usage_in_bytes')) ?? 0)
  const rawLimit = (read(path.join(mem, v2 ? 'memory.max' : 'memory.limit_in_bytes')) ?? 'max').trim()
  const host = os.totalmem()
  const limit = rawLimit === 'max' || Number(rawLimit) > host ? host : Number(rawLimit)
  const pids = Number(read(path.join(find('pids'), 'pids.current')) ?? 0)
  let readBytes = 0
  let writeBytes = 0
  const io = v2 ? read(path.join(paths[0], 'io.stat')) : undefined
  if (io) {
    for (const m of io.matchAll(/rbytes=(\d+) wbytes=(\d+)/g)) {
      readBytes += Number(m[1])
      writeBytes += Number(m[2])
    }
  }
  return {cpuNs, memory: Math.max(0, used - inactive), limit, pids, readBytes, writeBytes}
}

function processSample(pids: number[]): Sample {
  let cpuNs = 0
  let memory = 0
  for (const pid of pids) {
    const stat = read(`/proc/${pid}/stat`)
    if (stat) {
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      cpuNs += ((Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) * 1e9) / clockTicks()
    }
    memory += Number(/^VmRSS:\s+(\d+) kB$/m.exec(read(`/proc/${pid}/status`) ?? '')?.[1] ?? 0) * 1024
  }
  return {cpuNs, memory, limit: os.totalmem(), pids: pids.length, readBytes: 0, writeBytes: 0}
}

/** go-units' CustomSize("%.4g%s"): 316KiB, 23.54GiB, 1.2MB. */
function size(bytes: number, base: 1000 | 1024): string {
  const units = base === 1024 ? ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'] : ['B', 'kB', 'MB', 'GB', 'TB', 'PB']
  let i = 0
  let v = bytes
  while (v >= base && i < units.length - 1) {
    v /= base
    i++
  }
  return `${Number(v.toPrecision(4))}${units[i]}`
}

export interface StatsRow {
  BlockIO: string
  CPUPerc: string
  Container: string
  ID: string
  MemPerc: string
  MemUsage: string
  Name: string
  NetIO: string
  PIDs: string
}

function row(ref: string, status: ContainerStatus, now: Sample, cpu: number): StatsRow {
  return {
    BlockIO: `${size(now.readBytes, 1000)} / ${size(now.writeBytes, 1000)}`,
    CPUPerc: `${Math.max(0, cpu).toFixed(2)}%`,
    Container: ref,
    ID: status.id.slice(0, 12),
    MemPerc: now.limit > 0 ? `${((now.memory / now.limit) * 100).toFixed(2)}%` : '0.00%',
    MemUsage: `${size(now.memory, 1024)} / ${size(now.limit, 1024)}`,
    Name: status.record.name ?? '',
    NetIO: '--',
    PIDs: String(now.pids),
  }
}

/** docker's row of a named container that stopped while streamed: zeros. */
const STOPPED: Sample = {cpuNs: 0, memory: 0, limit: 0, pids: 0, readBytes: 0, writeBytes: 0}

/**
 * `pivot stats --no-stream`: one sample of each container's cgroup, CPU over one second as docker
 * takes it. NET I/O is `--` with the host's network (the counters are the host's, not the
 * container's).
 */
export async function statsOnce(store: Store, refs: string[]): Promise<StatsRow[]> {
  let rows: StatsRow[] = []
  await statsStream(store, refs, frame => {
    rows = frame
    return false
  })
  return rows
}

/**
 * `pivot stats` without --no-stream: a frame each second until `draw` returns false. Named
 * containers must run when it starts (as for --no-stream); one that stops later stays, with zeros,
 * as docker shows it. Without names, every running container, looked up again each frame (docker
 * adds started ones and drops stopped ones). CPU % is over the last second; a container seen for
 * the first time shows its CPU from the next frame on.
 */
export async function statsStream(store: Store, refs: string[] | undefined, draw: (rows: StatsRow[]) => boolean): Promise<void> {
  const named = refs?.map(ref => ({ref, id: runningStatus(store, ref).id}))
  const running = () =>
    allContainers(store)
      .filter(c => c.state === 'running')
      .map(c => ({ref: c.record.name ?? c.id.slice(0, 12), id: c.id}))
  const previous = new Map<string, {at: bigint; s: Sample}>()
  const take = (list: Array<{ref: string; id: string}>) =>
    list.map(({ref, id}) => {
      const status = containerStatus(store, id)
      const s = status?.state === 'running' ? sample(store, status) : undefined
      return {ref, id, status, at: process.hrtime.bigint(), s}
    })
  for (const t of take(named ?? running())) if (t.s) previous.set(t.id, {at: t.at, s: t.s})
  for (;;) {
    await new Promise(resolve => setTimeout(resolve, 1000))
    const rows: StatsRow[] = []
    for (const t of take(named ?? running())) {
      // Removed meanwhile (rm -f): no record left to show.
      if (!t.status) continue
      const before = previous.get(t.id)
      if (!t.s) {
        previous.delete(t.id)
        rows.push(row(t.ref, t.status, STOPPED, 0))
        continue
      }
      const elapsed = before ? Number(t.at - before.at) : 0
      rows.push(row(t.ref, t.status, t.s, before && elapsed > 0 ? ((t.s.cpuNs - before.s.cpuNs) / elapsed) * 100 : 0))
      previous.set(t.id, {at: t.at, s: t.s})
    }
    if (!draw(rows)) return
  }
}

export function statsTable(rows: StatsRow[]): string {
  return table(
    [
      ['CONTAINER ID', 'NAME', 'CPU %', 'MEM USAGE / LIMIT', 'MEM %', 'NET I/O', 'BLOCK I/O', 'PIDS'],
      ...rows.map(r => [r.ID, r.Name, r.CPUPerc, r.MemUsage, r.MemPerc, r.NetIO, r.BlockIO, r.PIDs]),
    ],
    10,
  )
}
