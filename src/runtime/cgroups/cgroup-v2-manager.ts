import * as fs from 'node:fs'
import * as path from 'node:path'
import {BaseCgroupManager} from './base-cgroup-manager'
import {CgroupError} from './cgroup-error'
import {makeDir, readNumber, readText, rollback, writeFile, writeLimit} from './cgroup-files'
import {CGROUP_PARENT, type CgroupDirOps, type CgroupStats, LIMIT_NAMES, type LimitController} from './cgroup-manager'
import {type CgroupsV2, V2_CONTROLLERS, codeOf, isCode} from './detect-cgroups'
import {CPU_PERIOD_US, type ResolvedLimits} from './parse-limits'

/**
 * cgroup v2: one directory `<cgroup2 root>/pivot/<id>`, with pids, memory and cpu enabled in the
 * cgroup.subtree_control of the root and of pivot/.
 *
 * pivot/ sits directly under the root cgroup, next to systemd's slices, as docker's cgroupfs
 * driver puts docker/ there: we are root, and systemd leaves top-level cgroups it did not create
 * alone. Where this stops working: inside a cgroup namespace (systemd mounts cgroup2 with
 * nsdelegate) the "root" we see is the namespace's root, a real non-root cgroup; the kernel
 * refuses to enable controllers in it while it holds processes (EBUSY, "no internal processes";
 * docker-in-docker first moves itself into a child cgroup) and refuses migrations across the
 * namespace boundary. A non-root pivot would need a subtree delegated by systemd (Delegate=yes)
 * and to create its cgroups there instead; pivot requires root today.
 */
export class CgroupV2Manager extends BaseCgroupManager {
  readonly version = 2

  private constructor(
    id: string,
    /** The cgroup's directory; undefined when open() found none. */
    private readonly dir: string | undefined,
    ops: CgroupDirOps,
    private readonly useKillFile: boolean,
  ) {
    super(id, dir === undefined ? [] : [dir], ops)
  }

  /**
   * Enables the controllers top-down (a controller can only be enabled in a child's
   * subtree_control when its parent has it enabled), then makes the cgroup and writes the limits.
   * pivot/ itself never holds a process: with controllers enabled in its subtree_control, the
   * kernel would refuse to put one there (no internal processes).
   */
  static create(
    id: string,
    limits: ResolvedLimits,
    required: Set<LimitController>,
    host: CgroupsV2,
    ops: CgroupDirOps,
    useKillFile = true,
    parentPath = CGROUP_PARENT,
  ): CgroupV2Manager {
    const available = new Set(host.controllers)
    for (const controller of required) {
      if (!available.has(controller)) {
        throw new CgroupError(
          'CGROUP_CONTROLLER_MISSING',
          `cannot apply the ${LIMIT_NAMES[controller]}: the ${controller} cgroup controller is not available (not in cgroup.controllers)`,
        )
      }
    }
    const wanted = V2_CONTROLLERS.filter(controller => available.has(controller))
    const parent = path.join(host.root, parentPath)
    const dir = path.join(parent, id)
    let enabled = enableControllers(host.root, wanted, required)
    let level = host.root
    for (const part of parentPath.split('/').filter(Boolean)) {
      makeDir(ops, (level = path.join(level, part)), true)
      enabled = enableControllers(level, enabled, required)
    }
    makeDir(ops, dir, false)
    try {
      if (enabled.includes('pids')) writeLimit(dir, 'pids.max', String(limits.pids))
      if (limits.memory !== undefined) {
        writeLimit(dir, 'memory.max', String(limits.memory))
        // Absent without swap accounting; otherwise 0 keeps swap from extending the limit, and
        // --memory-swap (memory plus swap, docker's meaning) gives the difference as swap.
        if (fs.existsSync(path.join(dir, 'memory.swap.max'))) {
          const swap = limits.memorySwap === undefined ? '0' : limits.memorySwap === 'max' ? 'max' : String(limits.memorySwap - limits.memory)
          writeLimit(dir, 'memory.swap.max', swap)
        }
      }
      if (limits.cpuQuotaUs !== undefined) writeLimit(dir, 'cpu.max', `${limits.cpuQuotaUs} ${CPU_PERIOD_US}`)
    } catch (error) {
      rollback(ops, [dir])
      throw error
    }
    return new CgroupV2Manager(id, dir, ops, useKillFile)
  }

  /** The cgroup of `id` if it exists (for prune, or another command). */
  static open(id: string, host: CgroupsV2, ops: CgroupDirOps, useKillFile = true, parent = CGROUP_PARENT): CgroupV2Manager {
    const dir = path.join(host.root, parent, id)
    return new CgroupV2Manager(id, fs.existsSync(dir) ? dir : undefined, ops, useKillFile)
  }

  /** The `pivot/` directory holding the cgroups. */
  static parents(host: CgroupsV2): string[] {
    return [path.join(host.root, CGROUP_PARENT)]
  }

  canFreeze(): boolean {
    return this.dir !== undefined && fs.existsSync(path.join(this.dir, 'cgroup.freeze'))
  }

  protected freezer() {
    return this.canFreeze() ? {file: path.join(this.dir!, 'cgroup.freeze'), frozen: '1', thawed: '0'} : undefined
  }

  protected isFrozen(): boolean {
    // cgroup.events says "frozen 1" once every task has stopped; a kernel without the file
    // gives no way to tell, so the freeze is taken as done.
    return /^frozen 1$/m.test(readText(path.join(this.dir!, 'cgroup.events')) ?? 'frozen 1')
  }

  /** Linux 5.14+: cgroup.kill SIGKILLs the whole subtree at once; no pid is read, none can race. */
  protected killAtOnce(): boolean {
    if (!this.useKillFile || this.dir === undefined || !fs.existsSync(path.join(this.dir, 'cgroup.kill'))) return false
    try {
      writeFile(path.join(this.dir, 'cgroup.kill'), '1')
    } catch (error) {
      // ENOENT: the cgroup went away meanwhile, and with it every process.
      if (!isCode(error, 'ENOENT')) throw new CgroupError('CGROUP_BUSY', `cannot kill cgroup ${this.dir}: ${codeOf(error)}`)
    }
    return true
  }

  stats(): CgroupStats {
    const stats: CgroupStats = {}
    if (this.dir === undefined) return stats
    const pids = readNumber(path.join(this.dir, 'pids.current'))
    if (pids !== undefined) stats.pidsCurrent = pids
    // memory.peak is Linux 5.19+; older v2 kernels have no peak at all.
    const peak = readNumber(path.join(this.dir, 'memory.peak'))
    if (peak !== undefined) stats.memoryPeak = peak
    return stats
  }
}

/**
 * Enables `wanted` in dir's cgroup.subtree_control so that dir's children get them; returns the
 * ones enabled. A controller that cannot be enabled is an error only when a limit needs it.
 */
function enableControllers(dir: string, wanted: readonly LimitController[], required: Set<LimitController>): LimitController[] {
  const file = path.join(dir, 'cgroup.subtree_control')
  let current: string[]
  try {
    current = fs.readFileSync(file, 'utf8').split(/\s+/).filter(Boolean)
  } catch (error) {
    throw new CgroupError('CGROUP_CREATE_FAILED', `cannot read ${file}: ${codeOf(error)}`)
  }
  const missing = wanted.filter(controller => !current.includes(controller))
  if (missing.length === 0) return [...wanted]
  try {
    writeFile(file, missing.map(controller => `+${controller}`).join(' '))
    return [...wanted]
  } catch {
    // The kernel applies a write naming several controllers all or nothing: find the culprit.
  }
  const enabled = wanted.filter(controller => current.includes(controller))
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
