import type {ResourceLimits} from '../run-options'
import {CgroupError} from './cgroup-error'
import {CGROUP_PARENT, type CgroupManager, type CgroupOptions, type LimitController, REAL_DIR_OPS} from './cgroup-manager'
import {CgroupV1Manager} from './cgroup-v1-manager'
import {CgroupV2Manager} from './cgroup-v2-manager'
import {detectCgroups} from './detect-cgroups'
import {type ResolvedLimits, resolveLimits} from './parse-limits'

/** A cgroup id becomes a directory name: keep it a plain name (container ids, `build-...`). */
const CGROUP_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/

/**
 * Creates the cgroup `pivot/<id>` with its limits written, ready for addProcess, with the
 * manager of the cgroup version this host runs. Everything is validated before anything is
 * created; when a write fails, what was created is removed again. A controller that is missing
 * only matters when a limit needs it (the default pids limit is then skipped, an explicit one is
 * an error).
 */
export function createCgroup(id: string, limits: ResourceLimits, options: CgroupOptions = {}): CgroupManager {
  checkId(id)
  const resolved = resolveLimits(limits, options.hostCpus)
  const host = detectCgroups(options.root, options.mountinfo)
  const ops = options.dirOps ?? REAL_DIR_OPS
  const required = requiredControllers(resolved)
  const parent = checkParent(options.parent)
  return host.version === 2
    ? CgroupV2Manager.create(id, resolved, required, host, ops, !options.withoutKillFile, parent)
    : CgroupV1Manager.create(id, resolved, required, host, ops, parent)
}

/**
 * A manager of an existing cgroup (for prune, or a command other than the one that created it):
 * only the directories that exist are in `paths`, possibly none.
 */
export function openCgroup(id: string, options: CgroupOptions = {}): CgroupManager {
  checkId(id)
  const host = detectCgroups(options.root, options.mountinfo)
  const ops = options.dirOps ?? REAL_DIR_OPS
  const parent = checkParent(options.parent)
  return host.version === 2 ? CgroupV2Manager.open(id, host, ops, !options.withoutKillFile, parent) : CgroupV1Manager.open(id, host, ops, parent)
}

/** A parent is a relative path of plain names (or '' for the hierarchy's root): never `..`, never absolute. */
function checkParent(parent: string | undefined): string {
  if (parent === undefined) return CGROUP_PARENT
  const parts = parent.split('/').filter(Boolean)
  if (parts.some(p => p === '.' || p === '..')) {
    throw new CgroupError('CGROUP_BAD_ID', `invalid cgroup parent ${JSON.stringify(parent)}`)
  }
  return parts.join('/')
}

function checkId(id: string): void {
  if (!CGROUP_ID.test(id)) {
    throw new CgroupError('CGROUP_BAD_ID', `invalid cgroup id ${JSON.stringify(id)}: use letters, digits, '_', '.' and '-'`)
  }
}

function requiredControllers(limits: ResolvedLimits): Set<LimitController> {
  const required = new Set<LimitController>()
  if (limits.pidsRequested) required.add('pids')
  if (limits.memory !== undefined) required.add('memory')
  if (limits.cpuQuotaUs !== undefined) required.add('cpu')
  return required
}
