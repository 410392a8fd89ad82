import * as fs from 'node:fs'
import * as path from 'node:path'
import {CgroupError} from './cgroup-error'

const DEFAULT_CGROUP_ROOT = '/sys/fs/cgroup'
const DEFAULT_MOUNTINFO = '/proc/self/mountinfo'

/** The v1 controllers pivot uses: limits (pids, memory, cpu) and killing (freezer). */
export const V1_CONTROLLERS = ['pids', 'memory', 'cpu', 'freezer'] as const
/** The v2 controllers pivot enables for its cgroups. */
export const V2_CONTROLLERS = ['pids', 'memory', 'cpu'] as const

export interface CgroupsV1 {
  version: 1
  /**
   * Controller name -> mount point of its hierarchy, for every v1 controller mounted (co-mounted
   * controllers such as `cpu,cpuacct` share one mount point).
   */
  mounts: Record<string, string>
}

export interface CgroupsV2 {
  version: 2
  /** The cgroup2 mount (the root cgroup as this process sees it). */
  root: string
  /** What the root's cgroup.controllers lists: the controllers that can be enabled below it. */
  controllers: string[]
}

export type CgroupHost = CgroupsV1 | CgroupsV2

/** Where to look; tests point both at a fake tree. */
export interface CgroupLocation {
  /** The cgroup root: the v2 mount, or the directory holding v1 mounts. Default /sys/fs/cgroup. */
  root?: string
  /** The mountinfo file that lists v1 hierarchies. Default /proc/self/mountinfo. */
  mountinfo?: string
}

/**
 * Which cgroup version this host runs, found at run time: v2 when the root is a cgroup2 mount
 * (it has cgroup.controllers), v1 otherwise. On a v1 (or hybrid) host the hierarchies are found
 * from mountinfo, not assumed at /sys/fs/cgroup/<name>: distributions mount `cpu,cpuacct`
 * together, and containers or old systems mount them elsewhere. A hybrid host's cgroup2 mount
 * (/sys/fs/cgroup/unified) is ignored: its controllers are all bound to v1.
 */
export function detectCgroups(root = DEFAULT_CGROUP_ROOT, mountinfo = DEFAULT_MOUNTINFO): CgroupHost {
  let controllers: string | undefined
  try {
    controllers = fs.readFileSync(path.join(root, 'cgroup.controllers'), 'utf8')
  } catch (error) {
    if (!isCode(error, 'ENOENT') && !isCode(error, 'ENOTDIR')) {
      throw new CgroupError('CGROUP_UNAVAILABLE', `cannot read ${path.join(root, 'cgroup.controllers')}: ${codeOf(error)}`)
    }
  }
  if (controllers !== undefined) {
    return {version: 2, root, controllers: controllers.split(/\s+/).filter(Boolean)}
  }
  let text: string
  try {
    text = fs.readFileSync(mountinfo, 'utf8')
  } catch (error) {
    throw new CgroupError('CGROUP_UNAVAILABLE', `cannot read ${mountinfo}: ${codeOf(error)}`)
  }
  return {version: 1, mounts: parseV1Mounts(text)}
}

/**
 * Controller -> mount point for every `cgroup` (v1) filesystem in a mountinfo text. When a
 * controller is mounted more than once (bind mounts), the mount of the hierarchy's root ("/")
 * wins, then the first listed.
 */
export function parseV1Mounts(mountinfo: string): Record<string, string> {
  const mounts: Record<string, string> = {}
  const fromRoot: Record<string, boolean> = {}
  for (const line of mountinfo.split('\n')) {
    // id parent major:minor root mountpoint options [optional fields...] - fstype source superoptions
    const sep = line.indexOf(' - ')
    if (sep < 0) continue
    const before = line.slice(0, sep).split(' ')
    const after = line.slice(sep + 3).split(' ')
    if (after[0] !== 'cgroup' || before.length < 5) continue
    const mountRoot = unescapeMountinfo(before[3])
    const mountPoint = unescapeMountinfo(before[4])
    for (const option of (after[2] ?? '').split(',')) {
      // Super options mix controllers with flags (rw, xattr, name=systemd, release_agent=...);
      // callers only look up the controllers they know, so flags in the map do no harm.
      if (option === '' || option.includes('=')) continue
      const isRoot = mountRoot === '/'
      if (mounts[option] === undefined || (isRoot && !fromRoot[option])) {
        mounts[option] = mountPoint
        fromRoot[option] = isRoot
      }
    }
  }
  return mounts
}

/** mountinfo writes space, tab, newline and backslash as \040, \011, \012, \134. */
export function unescapeMountinfo(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)))
}

export function isCode(error: unknown, code: string): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === code
}

export function codeOf(error: unknown): string {
  return (error as NodeJS.ErrnoException | undefined)?.code ?? String(error)
}
