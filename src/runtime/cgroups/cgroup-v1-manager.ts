import * as fs from 'node:fs'
import * as path from 'node:path'
import {BaseCgroupManager} from './base-cgroup-manager'
import {CgroupError} from './cgroup-error'
import {makeDir, readNumber, readText, rollback, writeLimit} from './cgroup-files'
import {CGROUP_PARENT, type CgroupDirOps, type CgroupStats, LIMIT_NAMES, type LimitController} from './cgroup-manager'
import {type CgroupsV1, V1_CONTROLLERS} from './detect-cgroups'
import {CPU_PERIOD_US, type ResolvedLimits} from './parse-limits'

/** The directory holding each controller's files (co-mounted controllers share one). */
interface Roles {
  pids?: string
  memory?: string
  cpu?: string
  freezer?: string
}

/**
 * cgroup v1: one directory `<mount>/pivot/<id>` per hierarchy of pids, memory, cpu and freezer
 * (the freezer only to kill reliably), each hierarchy found from mountinfo.
 */
export class CgroupV1Manager extends BaseCgroupManager {
  readonly version = 1

  private constructor(
    id: string,
    paths: string[],
    private readonly roles: Roles,
    ops: CgroupDirOps,
  ) {
    super(id, paths, ops)
  }

  /** Creates the directories and writes the limits; on a failed write, removes them again. */
  static create(
    id: string,
    limits: ResolvedLimits,
    required: Set<LimitController>,
    host: CgroupsV1,
    ops: CgroupDirOps,
    parent = CGROUP_PARENT,
  ): CgroupV1Manager {
    for (const controller of required) {
      if (host.mounts[controller] === undefined) {
        throw new CgroupError(
          'CGROUP_CONTROLLER_MISSING',
          `cannot apply the ${LIMIT_NAMES[controller]}: the ${controller} cgroup controller is not mounted on this host`,
        )
      }
    }
    const {paths, roles} = dirsOf(id, host, parent)
    if (paths.length === 0) {
      throw new CgroupError('CGROUP_UNAVAILABLE', 'no cgroup hierarchy for pids, memory, cpu or freezer is mounted on this host')
    }
    const created: string[] = []
    try {
      for (const dir of paths) {
        const levels = parent.split('/').filter(Boolean)
        let level = path.dirname(dir)
        for (let i = 0; i < levels.length; i++) level = path.dirname(level)
        for (const part of levels) makeDir(ops, (level = path.join(level, part)), true)
        makeDir(ops, dir, false)
        created.push(dir)
      }
      if (roles.pids !== undefined) writeLimit(roles.pids, 'pids.max', String(limits.pids))
      if (limits.memory !== undefined) {
        writeLimit(roles.memory!, 'memory.limit_in_bytes', String(limits.memory))
        // memsw (memory + swap) exists only with swap accounting on. Without it swap is not
        // charged at all; with it, an equal memsw limit keeps swap from extending the limit.
        // Order matters: the kernel refuses a memsw limit below limit_in_bytes (EINVAL).
        if (fs.existsSync(path.join(roles.memory!, 'memory.memsw.limit_in_bytes'))) {
          const memsw = limits.memorySwap === undefined ? String(limits.memory) : limits.memorySwap === 'max' ? '-1' : String(limits.memorySwap)
          writeLimit(roles.memory!, 'memory.memsw.limit_in_bytes', memsw)
        }
      }
      if (limits.cpuQuotaUs !== undefined) {
        // The period first: the kernel checks a quota against the period in force when it is
        // written (runc writes them in this order too).
        writeLimit(roles.cpu!, 'cpu.cfs_period_us', String(CPU_PERIOD_US))
        writeLimit(roles.cpu!, 'cpu.cfs_quota_us', String(limits.cpuQuotaUs))
      }
    } catch (error) {
      rollback(ops, created)
      throw error
    }
    return new CgroupV1Manager(id, paths, roles, ops)
  }

  /** The directories of `id` that exist, possibly none (for prune, or another command). */
  static open(id: string, host: CgroupsV1, ops: CgroupDirOps, parent = CGROUP_PARENT): CgroupV1Manager {
    const {paths, roles} = dirsOf(id, host, parent)
    const exists = (dir: string | undefined) => (dir !== undefined && fs.existsSync(dir) ? dir : undefined)
    const found: Roles = {pids: exists(roles.pids), memory: exists(roles.memory), cpu: exists(roles.cpu), freezer: exists(roles.freezer)}
    return new CgroupV1Manager(
      id,
      paths.filter(dir => exists(dir)),
      found,
      ops,
    )
  }

  /** The `pivot/` directories holding the cgroups, one per hierarchy pivot uses. */
  static parents(host: CgroupsV1): string[] {
    return [...new Set(V1_CONTROLLERS.flatMap(c => (host.mounts[c] ? [path.join(host.mounts[c], CGROUP_PARENT)] : [])))]
  }

  canFreeze(): boolean {
    return this.roles.freezer !== undefined && fs.existsSync(path.join(this.roles.freezer, 'freezer.state'))
  }

  protected freezer() {
    return this.canFreeze() ? {file: path.join(this.roles.freezer!, 'freezer.state'), frozen: 'FROZEN', thawed: 'THAWED'} : undefined
  }

  protected isFrozen(): boolean {
    // FREEZING until every task has stopped.
    return readText(path.join(this.roles.freezer!, 'freezer.state'))?.trim() === 'FROZEN'
  }

  /** v1 has no kill-all file: killAll freezes and signals. */
  protected killAtOnce(): boolean {
    return false
  }

  stats(): CgroupStats {
    const stats: CgroupStats = {}
    const pids = this.roles.pids === undefined ? undefined : readNumber(path.join(this.roles.pids, 'pids.current'))
    if (pids !== undefined) stats.pidsCurrent = pids
    const peak = this.roles.memory === undefined ? undefined : readNumber(path.join(this.roles.memory, 'memory.max_usage_in_bytes'))
    if (peak !== undefined) stats.memoryPeak = peak
    return stats
  }
}

function dirsOf(id: string, host: CgroupsV1, parent: string): {paths: string[]; roles: Roles} {
  const roles: Roles = {}
  const paths: string[] = []
  for (const controller of V1_CONTROLLERS) {
    const mount = host.mounts[controller]
    if (mount === undefined) continue
    // Co-mounted controllers (cpu,cpuacct; sometimes more) share one directory.
    const dir = path.join(mount, parent, id)
    roles[controller] = dir
    if (!paths.includes(dir)) paths.push(dir)
  }
  return {paths, roles}
}
