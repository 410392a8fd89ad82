import * as os from 'node:os'
import {CgroupError} from './cgroup-error'

/**
 * pids.max when the user gives no --pids-limit. Docker sets none; we want a fork bomb contained
 * by default. 4096 is twice podman's default (2048) because build steps run parallel compilers
 * (`make -j` with each job a driver, a compiler and an assembler) and the limit counts threads
 * (a JVM or a node process has tens); it is still an eighth of Linux's common pid_max of 32768,
 * so a runaway container cannot take the host's process table.
 */
export const DEFAULT_PIDS_LIMIT = 4096

/** What parsePidsLimit returns for "no limit" (docker: any value <= 0); written as "max". */
export const PIDS_UNLIMITED = -1

/** The kernel refuses larger pids.max values (PID_MAX_LIMIT on 64-bit). */
export const MAX_PIDS_LIMIT = 4_194_304

/** Docker's floor for --memory: below it a container cannot even start its runtime. */
export const MIN_MEMORY = 6 * 1024 * 1024

/** cpu.cfs_period_us / the period in cpu.max: 100 ms, the kernel's and docker's default. */
export const CPU_PERIOD_US = 100_000

/** The kernel's smallest CFS quota is 1 ms: 0.01 CPUs at a 100 ms period. */
export const MIN_CPUS = 0.01

const UNITS: Record<string, number> = {
  '': 1,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
  p: 1024 ** 5,
}

/**
 * Docker's `--memory` syntax (go-units RAMInBytes): a number, optionally with a fraction, then an
 * optional unit k, m, g, t or p (powers of 1024, case-insensitive, with an optional `i` and `b`:
 * `512m`, `1g`, `1.5GiB`, `1024b`, `2097152`). "0" means no limit, as in docker. Anything else
 * between 0 and 6 MiB is refused, as docker does.
 */
export function parseMemory(text: string): number {
  const match = /^(\d+(?:\.\d+)?) ?(?:([kmgtp])i?)?b?$/i.exec(text.trim())
  if (!match) {
    throw new CgroupError('CGROUP_BAD_MEMORY', `invalid memory size ${JSON.stringify(text)}: use a number with an optional unit b, k, m or g (e.g. 512m)`)
  }
  const bytes = Math.floor(Number(match[1]) * UNITS[(match[2] ?? '').toLowerCase()])
  if (!Number.isSafeInteger(bytes)) {
    throw new CgroupError('CGROUP_BAD_MEMORY', `memory size ${JSON.stringify(text)} is too large`)
  }
  checkMemory(bytes, text)
  return bytes
}

/**
 * Docker's `--cpus`: a decimal number of CPUs (`1.5`, `.5`, `2`), from 0.01 up to the CPUs this
 * process may run on (docker's rule; sched_getaffinity, like Go's NumCPU). "0" means no limit,
 * as in docker.
 */
export function parseCpus(text: string, hostCpus = os.availableParallelism()): number {
  const trimmed = text.trim()
  if (!/^(?:\d+\.?\d*|\.\d+)$/.test(trimmed)) {
    throw new CgroupError('CGROUP_BAD_CPUS', `invalid CPU count ${JSON.stringify(text)}: use a decimal number such as 1.5`)
  }
  const cpus = Number(trimmed)
  checkCpus(cpus, hostCpus)
  return cpus
}

/**
 * Docker's `--pids-limit`: an integer. Like docker, 0 or any negative number means no limit and
 * is returned as PIDS_UNLIMITED (-1); since pivot has a default limit, this is how a user turns it
 * off. Values above the kernel's maximum (4194304) are refused rather than clamped.
 */
export function parsePidsLimit(text: string): number {
  const trimmed = text.trim()
  if (!/^[-+]?\d+$/.test(trimmed)) {
    throw new CgroupError('CGROUP_BAD_PIDS', `invalid pids limit ${JSON.stringify(text)}: use a whole number (-1 for no limit)`)
  }
  const pids = Number(trimmed)
  if (pids <= 0) return PIDS_UNLIMITED
  checkPids(pids)
  return pids
}

function checkMemory(bytes: number, shown: string | number): void {
  if (!Number.isSafeInteger(bytes) || bytes < 0) {
    throw new CgroupError('CGROUP_BAD_MEMORY', `invalid memory limit ${shown}: it must be a whole number of bytes`)
  }
  if (bytes > 0 && bytes < MIN_MEMORY) {
    throw new CgroupError('CGROUP_BAD_MEMORY', `memory limit ${shown} is too small: the minimum is 6m (6291456 bytes)`)
  }
}

function checkCpus(cpus: number, hostCpus: number): void {
  if (!Number.isFinite(cpus) || cpus < 0 || (cpus > 0 && cpus < MIN_CPUS) || cpus > hostCpus) {
    throw new CgroupError(
      'CGROUP_BAD_CPUS',
      `invalid CPU count ${cpus}: the range is from ${MIN_CPUS} to ${hostCpus}, as there ${hostCpus === 1 ? 'is only 1 CPU' : `are only ${hostCpus} CPUs`} available`,
    )
  }
}

function checkPids(pids: number): void {
  if (!Number.isSafeInteger(pids)) {
    throw new CgroupError('CGROUP_BAD_PIDS', `invalid pids limit ${pids}: it must be a whole number`)
  }
  if (pids > MAX_PIDS_LIMIT) {
    throw new CgroupError('CGROUP_BAD_PIDS', `pids limit ${pids} is too large: the kernel's maximum is ${MAX_PIDS_LIMIT}`)
  }
}

/** Limits as they get written: every field validated, "no limit" made explicit. */
export interface ResolvedLimits {
  /** pids.max; 'max' = no limit. */
  pids: number | 'max'
  /** True when the user asked for a finite pids limit (a missing controller is then an error). */
  pidsRequested: boolean
  /** Bytes; undefined = no limit. */
  memory?: number
  /** CPU quota in microseconds per CPU_PERIOD_US; undefined = no limit. */
  cpuQuotaUs?: number
  /** Memory plus swap in bytes, or 'max'; undefined = no swap beyond the memory limit. */
  memorySwap?: number | 'max'
}

/**
 * Validates limits that reach createCgroup without going through the parse functions (build
 * steps, API callers), with the same rules, so nothing is created for limits that would fail.
 */
export function resolveLimits(
  limits: {pids?: number; memory?: number; cpus?: number; memorySwap?: number},
  hostCpus = os.availableParallelism(),
): ResolvedLimits {
  let pids: number | 'max' = DEFAULT_PIDS_LIMIT
  let pidsRequested = false
  if (limits.pids !== undefined) {
    if (!Number.isSafeInteger(limits.pids)) {
      throw new CgroupError('CGROUP_BAD_PIDS', `invalid pids limit ${limits.pids}: it must be a whole number`)
    }
    if (limits.pids <= 0) {
      pids = 'max'
    } else {
      checkPids(limits.pids)
      pids = limits.pids
      pidsRequested = true
    }
  }
  const resolved: ResolvedLimits = {pids, pidsRequested}
  if (limits.memory !== undefined) {
    checkMemory(limits.memory, limits.memory)
    if (limits.memory > 0) resolved.memory = limits.memory
  }
  if (limits.memorySwap !== undefined && limits.memorySwap !== 0) {
    // docker's rules and messages.
    if (resolved.memory === undefined) {
      throw new CgroupError('CGROUP_BAD_MEMORY', 'You should always set the Memory limit when using Memoryswap limit, see usage')
    }
    if (limits.memorySwap === -1) resolved.memorySwap = 'max'
    else if (!Number.isSafeInteger(limits.memorySwap) || limits.memorySwap < resolved.memory) {
      throw new CgroupError('CGROUP_BAD_MEMORY', 'Minimum memoryswap limit should be larger than memory limit, see usage')
    } else resolved.memorySwap = limits.memorySwap
  }
  if (limits.cpus !== undefined) {
    checkCpus(limits.cpus, hostCpus)
    if (limits.cpus > 0) resolved.cpuQuotaUs = Math.round(limits.cpus * CPU_PERIOD_US)
  }
  return resolved
}
