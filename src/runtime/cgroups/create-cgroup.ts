import * as fs from 'node:fs'
import * as path from 'node:path'
import {isRoot} from '../../common/user-dirs'
import type {ResourceLimits} from '../run-options'
import {CgroupError} from './cgroup-error'
import {CGROUP_PARENT, type CgroupManager, type CgroupOptions, LIMIT_NAMES, type LimitController, REAL_DIR_OPS} from './cgroup-manager'
import {CgroupV1Manager} from './cgroup-v1-manager'
import {CgroupV2Manager} from './cgroup-v2-manager'
import {type CgroupHost, detectCgroups} from './detect-cgroups'
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
  let host = detectCgroups(options.root, options.mountinfo)
  const ops = options.dirOps ?? REAL_DIR_OPS
  const required = requiredControllers(resolved)
  let parent = checkParent(options.parent)
  if (options.parent === undefined && isRootless(options)) {
    const placement = delegatedPlacement(host)
    const missing = [...required].filter(c => placement === undefined || (placement.host.version === 1 && placement.host.mounts[c] === undefined))
    if (missing.length > 0) throw notDelegated(missing, host)
    // No cgroup of one's own and no limit asked for: the container runs in pivot's cgroup, as
    // runc and crun run rootless containers; the PID namespace still ends with its PID 1.
    if (placement === undefined) return CgroupV1Manager.open(id, {version: 1, mounts: {}}, ops)
    ;({host, parent} = placement)
  }
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
  let host = detectCgroups(options.root, options.mountinfo)
  const ops = options.dirOps ?? REAL_DIR_OPS
  let parent = checkParent(options.parent)
  if (options.parent === undefined && isRootless(options)) {
    const placement = delegatedPlacement(host)
    if (placement === undefined) return CgroupV1Manager.open(id, {version: 1, mounts: {}}, ops)
    ;({host, parent} = placement)
  }
  return host.version === 2 ? CgroupV2Manager.open(id, host, ops, !options.withoutKillFile, parent) : CgroupV1Manager.open(id, host, ops, parent)
}

/** Tests point `root` at a fake tree and say whether to act as a user other than root. */
function isRootless(options: CgroupOptions): boolean {
  return options.rootless ?? (options.root === undefined && !isRoot())
}

/** Names the cgroup root delegated to a user who is not root, below each hierarchy (v1) or the v2 root. */
export const DELEGATED_CGROUP_ENV = 'PIVOT_CGROUP_PARENT'

/**
 * A user other than root cannot make cgroups under `pivot/`; the cgroup they may write is the one
 * root handed over (runc's rootless CI: v1, a directory per controller chowned with its
 * cgroup.procs and tasks; v2, systemd's Delegate=yes or a chowned directory), named by
 * $PIVOT_CGROUP_PARENT. On v1, only the hierarchies where it is writable are used.
 */
function delegatedPlacement(host: CgroupHost): {host: CgroupHost; parent: string} | undefined {
  const name = process.env[DELEGATED_CGROUP_ENV]
  if (!name) return undefined
  const parent = checkParent(name)
  const writable = (dir: string) => {
    try {
      fs.accessSync(dir, fs.constants.W_OK)
      fs.accessSync(path.join(dir, 'cgroup.procs'), fs.constants.W_OK)
      return true
    } catch {
      return false
    }
  }
  if (host.version === 2) return writable(path.join(host.root, parent)) ? {host, parent} : undefined
  const mounts = Object.fromEntries(Object.entries(host.mounts).filter(([, mount]) => writable(path.join(mount, parent))))
  return Object.keys(mounts).length === 0 ? undefined : {host: {version: 1, mounts}, parent}
}

/** A limit was asked for and this user has no cgroup to write it in: refused, never ignored (podman#13891). */
function notDelegated(missing: LimitController[], host: CgroupHost): CgroupError {
  const uid = process.geteuid?.() ?? 0
  const name = process.env[DELEGATED_CGROUP_ENV]
  const why = name
    ? `$${DELEGATED_CGROUP_ENV}=${name} is not a cgroup uid ${uid} may write${host.version === 1 ? ` in the ${missing.join(', ')} hierarchy` : ''}`
    : `pivot runs as uid ${uid} (rootless) and has no cgroup of its own`
  const how =
    host.version === 1
      ? `for each of pids, memory, cpu, freezer: mkdir /sys/fs/cgroup/<controller>/NAME && chown ${uid} it, its cgroup.procs and tasks`
      : `systemd's Delegate=yes for the user, or mkdir /sys/fs/cgroup/NAME && chown ${uid} it, its cgroup.procs and cgroup.subtree_control`
  return new CgroupError(
    'CGROUP_NOT_DELEGATED',
    `cannot apply the ${missing.map(c => LIMIT_NAMES[c]).join(' and ')}: ${why}; ask root to delegate one (${how}) and set ${DELEGATED_CGROUP_ENV}=NAME, or run without the limit`,
  )
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
