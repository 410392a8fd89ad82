import * as fs from 'node:fs'
import * as path from 'node:path'
import type {ResourceLimits} from '../run-options'
import {CgroupError} from './cgroup-error'
import {
  type CgroupLocation,
  type CgroupsV1,
  type CgroupsV2,
  V1_CONTROLLERS,
  V2_CONTROLLERS,
  codeOf,
  detectCgroups,
  isCode,
} from './detect-cgroups'
import {CPU_PERIOD_US, type ResolvedLimits, resolveLimits} from './parse-limits'

/** Every pivot cgroup lives in `<hierarchy>/pivot/<id>`. */
export const CGROUP_PARENT = 'pivot'

/** A cgroup id becomes a directory name: keep it a plain name (container ids, `build-...`). */
const CGROUP_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/

/** How long killAll waits for SIGKILLed processes to leave (a task in D state can take a while). */
const KILL_TIMEOUT_MS = 10_000
/** How long killAll waits for the freezer before killing anyway. */
const FREEZE_TIMEOUT_MS = 2_000
/** How long remove() retries an rmdir that fails with EBUSY. */
const RMDIR_TIMEOUT_MS = 2_000

/**
 * The two directory operations whose effect on cgroupfs differs from a plain filesystem: the
 * kernel fills a new cgroup directory with its control files, and removes a cgroup with rmdir
 * although those files are in it. Real runs use mkdir/rmdir as they are; unit tests pass a fake
 * that models the kernel on a temp dir, so every read and write in this module stays real.
 */
export interface CgroupDirOps {
  mkdir(dir: string): void
  rmdir(dir: string): void
}

export const REAL_DIR_OPS: CgroupDirOps = {
  mkdir: (dir) => fs.mkdirSync(dir),
  rmdir: (dir) => fs.rmdirSync(dir),
}

export interface CgroupOptions extends CgroupLocation {
  /** Tests only: a fake kernel for a fake cgroupfs. */
  dirOps?: CgroupDirOps
  /** For validating `cpus`; default: the CPUs this process may run on. */
  hostCpus?: number
}

export interface CgroupStats {
  /** Tasks (processes and threads) in the cgroup now, zombies not yet reaped included. */
  pidsCurrent?: number
  /** Highest memory use seen, in bytes (v1 memory.max_usage_in_bytes, v2 memory.peak). */
  memoryPeak?: number
}

export interface Cgroup {
  readonly id: string
  readonly version: 1 | 2
  /** The cgroup's directories: one per v1 hierarchy used, one on v2. */
  readonly paths: string[]
  /** Moves a process (all its threads) into the cgroup. Synchronous: between spawn and "go". */
  addProcess(pid: number): void
  /** SIGKILLs everything in the cgroup and waits until it is empty, fork bombs included. */
  killAll(): Promise<void>
  /** Kills what is left, then removes the directories. Safe to call again. */
  remove(): Promise<void>
  stats(): CgroupStats
}

/**
 * Creates the cgroup `pivot/<id>` with its limits written, ready for addProcess. Everything is
 * validated before anything is created; when a write fails, what was created is removed again.
 *
 * v1: one directory per hierarchy of pids, memory, cpu and freezer (the freezer only to kill
 * reliably). v2: one directory, with pids, memory and cpu enabled in the subtree_control of the
 * root and of pivot/. A controller that is missing only matters when a limit needs it (the
 * default pids limit is then skipped, an explicit one is an error).
 */
export function createCgroup(id: string, limits: ResourceLimits, options: CgroupOptions = {}): Cgroup {
  checkId(id)
  const resolved = resolveLimits(limits, options.hostCpus)
  const host = detectCgroups(options.root, options.mountinfo)
  const ops = options.dirOps ?? REAL_DIR_OPS
  const required = requiredControllers(resolved)
  return host.version === 2 ? createV2(id, resolved, required, host, ops) : createV1(id, resolved, required, host, ops)
}

/**
 * A handle on an existing cgroup (for prune, or a command other than the one that created it):
 * only the directories that exist are in `paths`, possibly none.
 */
export function openCgroup(id: string, options: CgroupOptions = {}): Cgroup {
  checkId(id)
  const host = detectCgroups(options.root, options.mountinfo)
  const ops = options.dirOps ?? REAL_DIR_OPS
  const exists = (dir: string | undefined) => (dir !== undefined && fs.existsSync(dir) ? dir : undefined)
  if (host.version === 2) {
    const dir = exists(path.join(host.root, CGROUP_PARENT, id))
    return new CgroupHandle(id, 2, dir ? [dir] : [], {pids: dir, memory: dir, freezer: dir}, ops)
  }
  const dirs = v1Dirs(id, host)
  const roles = {pids: exists(dirs.roles.pids), memory: exists(dirs.roles.memory), freezer: exists(dirs.roles.freezer)}
  return new CgroupHandle(id, 1, dirs.paths.filter((dir) => exists(dir)), roles, ops)
}

function checkId(id: string): void {
  if (!CGROUP_ID.test(id)) {
    throw new CgroupError('CGROUP_BAD_ID', `invalid cgroup id ${JSON.stringify(id)}: use letters, digits, '_', '.' and '-'`)
  }
}

type Controller = 'pids' | 'memory' | 'cpu'

function requiredControllers(limits: ResolvedLimits): Set<Controller> {
  const required = new Set<Controller>()
  if (limits.pidsRequested) required.add('pids')
  if (limits.memory !== undefined) required.add('memory')
  if (limits.cpuQuotaUs !== undefined) required.add('cpu')
  return required
}

const LIMIT_NAMES: Record<Controller, string> = {pids: 'pids limit', memory: 'memory limit', cpu: 'CPU limit'}

function missingController(controller: Controller, detail: string): CgroupError {
  return new CgroupError(
    'CGROUP_CONTROLLER_MISSING',
    `cannot apply the ${LIMIT_NAMES[controller]}: the ${controller} cgroup controller ${detail}`,
  )
}

// ---- v1 ----------------------------------------------------------------------------------------

interface Roles {
  pids?: string
  memory?: string
  cpu?: string
  freezer?: string
}

function v1Dirs(id: string, host: CgroupsV1): {paths: string[]; roles: Roles} {
  const roles: Roles = {}
  const paths: string[] = []
  for (const controller of V1_CONTROLLERS) {
    const mount = host.mounts[controller]
    if (mount === undefined) continue
    // Co-mounted controllers (cpu,cpuacct; sometimes more) share one directory.
    const dir = path.join(mount, CGROUP_PARENT, id)
    roles[controller] = dir
    if (!paths.includes(dir)) paths.push(dir)
  }
  return {paths, roles}
}

function createV1(id: string, limits: ResolvedLimits, required: Set<Controller>, host: CgroupsV1, ops: CgroupDirOps): Cgroup {
  for (const controller of required) {
    if (host.mounts[controller] === undefined) throw missingController(controller, 'is not mounted on this host')
  }
  const {paths, roles} = v1Dirs(id, host)
  if (paths.length === 0) {
    throw new CgroupError('CGROUP_UNAVAILABLE', 'no cgroup hierarchy for pids, memory, cpu or freezer is mounted on this host')
  }
  const created: string[] = []
  try {
    for (const dir of paths) {
      makeDir(ops, path.dirname(dir), true)
      makeDir(ops, dir, false)
      created.push(dir)
    }
    if (roles.pids !== undefined) writeLimit(roles.pids, 'pids.max', String(limits.pids))
    if (limits.memory !== undefined) {
      writeLimit(roles.memory!, 'memory.limit_in_bytes', String(limits.memory))
      // memsw (memory + swap) exists only with swap accounting on. Without it swap is not
      // charged at all; with it, an equal memsw limit keeps swap from extending the limit.
      // Order matters: memsw may never be below limit_in_bytes.
      if (fs.existsSync(path.join(roles.memory!, 'memory.memsw.limit_in_bytes'))) {
        writeLimit(roles.memory!, 'memory.memsw.limit_in_bytes', String(limits.memory))
      }
    }
    if (limits.cpuQuotaUs !== undefined) {
      writeLimit(roles.cpu!, 'cpu.cfs_period_us', String(CPU_PERIOD_US))
      writeLimit(roles.cpu!, 'cpu.cfs_quota_us', String(limits.cpuQuotaUs))
    }
  } catch (error) {
    rollback(ops, created)
    throw error
  }
  return new CgroupHandle(id, 1, paths, {pids: roles.pids, memory: roles.memory, freezer: roles.freezer}, ops)
}

// ---- v2 ----------------------------------------------------------------------------------------

// pivot/ sits directly under the root cgroup, next to systemd's slices, as docker's cgroupfs
// driver puts docker/ there: we are root, and systemd leaves top-level cgroups it did not create
// alone. Where this stops working: inside a cgroup namespace (systemd mounts cgroup2 with
// nsdelegate) the "root" we see is the namespace's root, a real non-root cgroup; the kernel
// refuses to enable controllers in it while it holds processes (EBUSY, "no internal processes";
// docker-in-docker first moves itself into a child cgroup) and refuses migrations across the
// namespace boundary. A non-root pivot would need a subtree delegated by systemd (Delegate=yes)
// and to create its cgroups there instead; pivot requires root today.
function createV2(id: string, limits: ResolvedLimits, required: Set<Controller>, host: CgroupsV2, ops: CgroupDirOps): Cgroup {
  const available = new Set(host.controllers)
  for (const controller of required) {
    if (!available.has(controller)) throw missingController(controller, 'is not available (not in cgroup.controllers)')
  }
  const wanted = V2_CONTROLLERS.filter((controller) => available.has(controller))
  const parent = path.join(host.root, CGROUP_PARENT)
  const dir = path.join(parent, id)
  const atRoot = enableControllers(host.root, wanted, required)
  makeDir(ops, parent, true)
  const enabled = enableControllers(parent, atRoot, required)
  makeDir(ops, dir, false)
  try {
    if (enabled.includes('pids')) writeLimit(dir, 'pids.max', String(limits.pids))
    if (limits.memory !== undefined) {
      writeLimit(dir, 'memory.max', String(limits.memory))
      // Absent without swap accounting; otherwise 0 keeps swap from extending the limit.
      if (fs.existsSync(path.join(dir, 'memory.swap.max'))) writeLimit(dir, 'memory.swap.max', '0')
    }
    if (limits.cpuQuotaUs !== undefined) writeLimit(dir, 'cpu.max', `${limits.cpuQuotaUs} ${CPU_PERIOD_US}`)
  } catch (error) {
    rollback(ops, [dir])
    throw error
  }
  return new CgroupHandle(id, 2, [dir], {pids: dir, memory: dir, freezer: dir}, ops)
}

/**
 * Enables `wanted` in dir's cgroup.subtree_control so that dir's children get them; returns the
 * ones enabled. A controller that cannot be enabled is an error only when a limit needs it.
 */
function enableControllers(dir: string, wanted: readonly Controller[], required: Set<Controller>): Controller[] {
  const file = path.join(dir, 'cgroup.subtree_control')
  let current: string[]
  try {
    current = fs.readFileSync(file, 'utf8').split(/\s+/).filter(Boolean)
  } catch (error) {
    throw new CgroupError('CGROUP_CREATE_FAILED', `cannot read ${file}: ${codeOf(error)}`)
  }
  const missing = wanted.filter((controller) => !current.includes(controller))
  if (missing.length === 0) return [...wanted]
  try {
    writeFile(file, missing.map((controller) => `+${controller}`).join(' '))
    return [...wanted]
  } catch {
    // The kernel applies a write naming several controllers all or nothing: find the culprit.
  }
  const enabled = wanted.filter((controller) => current.includes(controller))
  for (const controller of missing) {
    try {
      writeFile(file, `+${controller}`)
      enabled.push(controller)
    } catch (error) {
      if (required.has(controller)) {
        throw new CgroupError(
          'CGROUP_CREATE_FAILED',
          `cannot apply the ${LIMIT_NAMES[controller]}: enabling the ${controller} controller in ${file} failed: ${codeOf(error)}`,
        )
      }
    }
  }
  return enabled
}

// ---- files -------------------------------------------------------------------------------------

/** Without O_CREAT, like runc: a control file that is not there is an error, never a new file. */
function writeFile(file: string, value: string): void {
  const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_TRUNC)
  try {
    // One write(2): cgroupfs takes each write as one whole value.
    fs.writeSync(fd, value)
  } finally {
    fs.closeSync(fd)
  }
}

function writeLimit(dir: string, name: string, value: string): void {
  try {
    writeFile(path.join(dir, name), value)
  } catch (error) {
    const hint = isCode(error, 'ENOENT') ? ' (the kernel does not provide this file)' : ''
    throw new CgroupError('CGROUP_WRITE_FAILED', `cannot set ${name} to ${value} in ${dir}: ${codeOf(error)}${hint}`)
  }
}

function makeDir(ops: CgroupDirOps, dir: string, mayExist: boolean): void {
  try {
    ops.mkdir(dir)
  } catch (error) {
    if (isCode(error, 'EEXIST')) {
      if (mayExist) return
      throw new CgroupError('CGROUP_EXISTS', `cgroup ${dir} already exists`)
    }
    throw new CgroupError('CGROUP_CREATE_FAILED', `cannot create cgroup ${dir}: ${codeOf(error)}`)
  }
}

/** Undoes a failed create: the directories hold no process yet, so a plain rmdir does it. */
function rollback(ops: CgroupDirOps, created: string[]): void {
  for (const dir of [...created].reverse()) {
    try {
      ops.rmdir(dir)
    } catch {
      // Leaves a stale empty cgroup; `pivot prune` removes it. The original error matters more.
    }
  }
}

function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
}

function readNumber(file: string): number | undefined {
  const text = readText(file)?.trim()
  return text !== undefined && /^\d+$/.test(text) ? Number(text) : undefined
}

/** dir and every cgroup below it (the contained root may have made some), parents first. */
function cgroupTree(dir: string): string[] {
  let entries: fs.Dirent[]
  try {
    entries = fs.readdirSync(dir, {withFileTypes: true})
  } catch {
    return []
  }
  return [dir, ...entries.filter((entry) => entry.isDirectory()).flatMap((entry) => cgroupTree(path.join(dir, entry.name)))]
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

// ---- the handle --------------------------------------------------------------------------------

class CgroupHandle implements Cgroup {
  private removed = false

  constructor(
    readonly id: string,
    readonly version: 1 | 2,
    readonly paths: string[],
    /** Where pids.*, memory.* and the freezer live (the one directory on v2). */
    private readonly roles: {pids?: string; memory?: string; freezer?: string},
    private readonly ops: CgroupDirOps,
  ) {}

  addProcess(pid: number): void {
    if (!Number.isSafeInteger(pid) || pid <= 0) {
      throw new CgroupError('CGROUP_ADD_FAILED', `cannot move process ${pid} into cgroup ${this.id}: not a process id`)
    }
    for (const dir of this.paths) {
      try {
        writeFile(path.join(dir, 'cgroup.procs'), String(pid))
      } catch (error) {
        throw new CgroupError('CGROUP_ADD_FAILED', `cannot move process ${pid} into cgroup ${dir}: ${codeOf(error)}`)
      }
    }
  }

  async killAll(): Promise<void> {
    const dir = this.roles.freezer
    if (this.version === 2 && dir !== undefined && fs.existsSync(path.join(dir, 'cgroup.kill'))) {
      // Linux 5.14+: the kernel kills the whole subtree at once; no pid is read, none can race.
      try {
        writeFile(path.join(dir, 'cgroup.kill'), '1')
      } catch (error) {
        if (!isCode(error, 'ENOENT')) throw new CgroupError('CGROUP_BUSY', `cannot kill cgroup ${dir}: ${codeOf(error)}`)
      }
    } else {
      await this.freezeAndKill()
    }
    await this.killUntilEmpty(KILL_TIMEOUT_MS)
  }

  /**
   * Without cgroup.kill, signals go to pids read from cgroup.procs. Frozen, nothing can fork
   * (a fork bomb cannot outrun the reads) and nothing can exit (no pid can be reused by an
   * unrelated process between read and kill). SIGKILL is delivered once thawed.
   */
  private async freezeAndKill(): Promise<void> {
    const dir = this.roles.freezer
    if (dir === undefined) return
    const v1 = this.version === 1
    const control = path.join(dir, v1 ? 'freezer.state' : 'cgroup.freeze')
    if (!fs.existsSync(control)) return
    try {
      writeFile(control, v1 ? 'FROZEN' : '1')
    } catch {
      return // killUntilEmpty still does the job, with the races this tried to avoid
    }
    try {
      const deadline = Date.now() + FREEZE_TIMEOUT_MS
      while (!this.isFrozen(dir) && Date.now() < deadline) await sleep(5)
      this.signalAll()
    } finally {
      try {
        writeFile(control, v1 ? 'THAWED' : '0')
      } catch (error) {
        if (!isCode(error, 'ENOENT')) {
          throw new CgroupError('CGROUP_BUSY', `cannot thaw cgroup ${dir}: ${codeOf(error)}`)
        }
      }
    }
  }

  private isFrozen(dir: string): boolean {
    if (this.version === 1) return readText(path.join(dir, 'freezer.state'))?.trim() === 'FROZEN'
    return /^frozen 1$/m.test(readText(path.join(dir, 'cgroup.events')) ?? 'frozen 1')
  }

  private async killUntilEmpty(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const pids = this.signalAll()
      if (pids.length === 0) return
      if (Date.now() > deadline) {
        throw new CgroupError(
          'CGROUP_BUSY',
          `processes ${pids.slice(0, 10).join(', ')}${pids.length > 10 ? ', ...' : ''} in cgroup ${this.id} did not die after SIGKILL`,
        )
      }
      await sleep(5)
    }
  }

  /** SIGKILLs every process listed in the cgroup (and cgroups below it); returns their pids. */
  private signalAll(): number[] {
    const pids = this.processes()
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch (error) {
        if (!isCode(error, 'ESRCH')) throw new CgroupError('CGROUP_BUSY', `cannot kill process ${pid}: ${codeOf(error)}`)
      }
    }
    return pids
  }

  /** Processes in the cgroup. Zombies are not listed (and do not keep rmdir from working). */
  private processes(): number[] {
    const pids = new Set<number>()
    for (const dir of this.paths) {
      for (const cgroup of cgroupTree(dir)) {
        for (const line of (readText(path.join(cgroup, 'cgroup.procs')) ?? '').split('\n')) {
          if (/^\d+$/.test(line)) pids.add(Number(line))
        }
      }
    }
    return [...pids]
  }

  async remove(): Promise<void> {
    if (this.removed) return
    if (this.processes().length > 0) await this.killAll()
    for (const dir of this.paths) {
      for (const cgroup of cgroupTree(dir).reverse()) await this.removeDir(cgroup)
    }
    this.removed = true
  }

  private async removeDir(dir: string): Promise<void> {
    const deadline = Date.now() + RMDIR_TIMEOUT_MS
    for (;;) {
      try {
        this.ops.rmdir(dir)
        return
      } catch (error) {
        if (isCode(error, 'ENOENT')) return
        // EBUSY: a process still leaving (or one that slipped in); kill again and retry.
        if (!isCode(error, 'EBUSY') || Date.now() > deadline) {
          throw new CgroupError('CGROUP_BUSY', `cannot remove cgroup ${dir}: ${codeOf(error)}`)
        }
      }
      this.signalAll()
      await sleep(10)
    }
  }

  stats(): CgroupStats {
    const stats: CgroupStats = {}
    const pids = this.roles.pids === undefined ? undefined : readNumber(path.join(this.roles.pids, 'pids.current'))
    if (pids !== undefined) stats.pidsCurrent = pids
    // memory.peak is Linux 5.19+; older v2 kernels have no peak at all.
    const peakFile = this.version === 1 ? 'memory.max_usage_in_bytes' : 'memory.peak'
    const peak = this.roles.memory === undefined ? undefined : readNumber(path.join(this.roles.memory, peakFile))
    if (peak !== undefined) stats.memoryPeak = peak
    return stats
  }
}
