import * as fs from 'node:fs'
import type {CgroupLocation} from './detect-cgroups'

/** Every pivot cgroup lives in `<hierarchy>/pivot/<id>`. */
export const CGROUP_PARENT = 'pivot'

/**
 * One container's (or build step's) cgroup, whatever the host's cgroup version: made by
 * createCgroup with its limits written, or found again by openCgroup. CgroupV1Manager and
 * CgroupV2Manager implement it; createCgroup picks one from what detectCgroups finds.
 */
export interface CgroupManager {
  readonly id: string
  readonly version: 1 | 2
  /** The cgroup's directories: one per v1 hierarchy used, one on v2. */
  readonly paths: string[]
  /**
   * Moves a process (all its threads) into the cgroup. Synchronous: between spawn and "go".
   * The kernel checks pids.max only at fork, so a move succeeds even into a full cgroup.
   */
  addProcess(pid: number): void
  /** Whether this cgroup has a freezer (v1: the freezer hierarchy; v2: cgroup.freeze, Linux 5.2+). */
  canFreeze(): boolean
  /**
   * Stops every process in the cgroup; resolves once the kernel says so, or after a short
   * timeout (a task in uninterruptible sleep freezes only when it wakes). Throws without a freezer.
   */
  freeze(): Promise<void>
  /** Lets the processes run again. */
  thaw(): void
  /** SIGKILLs everything in the cgroup and waits until it is empty, fork bombs included. */
  killAll(): Promise<void>
  /** Kills what is left, then removes the directories. Safe to call again. */
  remove(): Promise<void>
  stats(): CgroupStats
}

export interface CgroupStats {
  /** Tasks (processes and threads) in the cgroup now, zombies not yet reaped included. */
  pidsCurrent?: number
  /** Highest memory use seen, in bytes (v1 memory.max_usage_in_bytes, v2 memory.peak). */
  memoryPeak?: number
}

/**
 * The two directory operations whose effect on cgroupfs differs from a plain filesystem: the
 * kernel fills a new cgroup directory with its control files, and removes a cgroup with rmdir
 * although those files are in it. Real runs use mkdir/rmdir as they are; unit tests pass a fake
 * that models the kernel on a temp dir, so every read and write of the managers stays real.
 */
export interface CgroupDirOps {
  mkdir(dir: string): void
  rmdir(dir: string): void
}

export const REAL_DIR_OPS: CgroupDirOps = {
  mkdir: dir => fs.mkdirSync(dir),
  rmdir: dir => fs.rmdirSync(dir),
}

export interface CgroupOptions extends CgroupLocation {
  /**
   * The directory under each hierarchy that holds the cgroup, relative (one or more levels);
   * default `pivot`. The OCI runtime mode (src/oci) puts a container where its config.json's
   * cgroupsPath says, as runc does.
   */
  parent?: string
  /**
   * Place the cgroup as for a user other than root (in $PIVOT_CGROUP_PARENT, or nowhere without
   * a limit); default: when not root and `root` is the real one.
   */
  rootless?: boolean
  /** Tests only: a fake kernel for a fake cgroupfs. */
  dirOps?: CgroupDirOps
  /** For validating `cpus`; default: the CPUs this process may run on. */
  hostCpus?: number
  /**
   * Tests only: on v2, kill as on kernels before 5.14 (freeze, signal, thaw) although
   * cgroup.kill is there, so that path runs on a real kernel too.
   */
  withoutKillFile?: boolean
}

/** The controllers a limit needs. */
export type LimitController = 'pids' | 'memory' | 'cpu'

export const LIMIT_NAMES: Record<LimitController, string> = {pids: 'pids limit', memory: 'memory limit', cpu: 'CPU limit'}
