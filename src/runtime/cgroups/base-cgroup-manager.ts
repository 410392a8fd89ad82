import * as path from 'node:path'
import {CgroupError} from './cgroup-error'
import {cgroupTree, readText, writeFile} from './cgroup-files'
import type {CgroupDirOps, CgroupManager, CgroupStats} from './cgroup-manager'
import {codeOf, isCode} from './detect-cgroups'

/** How long killAll waits for SIGKILLed processes to leave (a task in D state can take a while). */
const KILL_TIMEOUT_MS = 10_000
/** How long freeze() waits for the kernel to report the cgroup frozen. */
const FREEZE_TIMEOUT_MS = 2_000
/** How long remove() retries an rmdir that fails with EBUSY. */
const RMDIR_TIMEOUT_MS = 2_000

const sleep = (ms: number) => new Promise<void>(resolve => setTimeout(resolve, ms))

/**
 * What the v1 and v2 managers do the same way: processes are listed from cgroup.procs in every
 * directory, killed with SIGKILL until none is left, and directories removed leaves first. The
 * versions differ in their freezer files, in whether the kernel can kill a whole cgroup at once,
 * and in their statistics files.
 */
export abstract class BaseCgroupManager implements CgroupManager {
  abstract readonly version: 1 | 2
  private removed = false

  constructor(
    readonly id: string,
    readonly paths: string[],
    private readonly ops: CgroupDirOps,
  ) {}

  abstract canFreeze(): boolean
  abstract stats(): CgroupStats
  /** The freezer's control file and its two values. */
  protected abstract freezer(): {file: string; frozen: string; thawed: string} | undefined
  protected abstract isFrozen(): boolean
  /** Kills every process of the cgroup in one kernel operation if the kernel has one; false if not. */
  protected abstract killAtOnce(): boolean

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

  async freeze(): Promise<void> {
    const freezer = this.freezer()
    if (freezer === undefined) throw new CgroupError('CGROUP_UNAVAILABLE', `cgroup ${this.id} has no freezer`)
    try {
      writeFile(freezer.file, freezer.frozen)
    } catch (error) {
      throw new CgroupError('CGROUP_BUSY', `cannot freeze cgroup ${this.id}: ${codeOf(error)}`)
    }
    const deadline = Date.now() + FREEZE_TIMEOUT_MS
    while (!this.isFrozen() && Date.now() < deadline) await sleep(5)
  }

  thaw(): void {
    const freezer = this.freezer()
    if (freezer === undefined) return
    try {
      writeFile(freezer.file, freezer.thawed)
    } catch (error) {
      // ENOENT: the cgroup is gone, so nothing is left frozen.
      if (!isCode(error, 'ENOENT')) throw new CgroupError('CGROUP_BUSY', `cannot thaw cgroup ${this.id}: ${codeOf(error)}`)
    }
  }

  async killAll(): Promise<void> {
    if (!this.killAtOnce()) await this.freezeAndKill()
    // Also after a kernel kill: SIGKILLed tasks leave the cgroup asynchronously.
    await this.killUntilEmpty(KILL_TIMEOUT_MS)
  }

  /**
   * Without a kernel kill, signals go to pids read from cgroup.procs. The freeze comes first:
   * frozen, nothing can fork (a fork bomb cannot outrun the reads) and nothing can exit (no pid
   * can be reused by an unrelated process between read and kill). The SIGKILLs stay pending
   * and are delivered on thaw, which is why the thaw must follow, never be skipped.
   */
  private async freezeAndKill(): Promise<void> {
    if (!this.canFreeze()) return
    try {
      await this.freeze()
    } catch {
      return // killUntilEmpty still does the job, with the races the freeze avoids
    }
    try {
      this.signalAll()
    } finally {
      this.thaw()
    }
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
    if (this.removeEmpty()) {
      this.removed = true
      return
    }
    // Kill before rmdir: the kernel refuses to remove a cgroup that holds a process (EBUSY).
    if (this.processes().length > 0) await this.killAll()
    // Leaves first: a cgroup with child cgroups cannot be removed either.
    for (const dir of this.paths) {
      for (const cgroup of cgroupTree(dir).reverse()) await this.removeDir(cgroup)
    }
    this.removed = true
  }

  /**
   * The usual end of a container (its PID namespace died with its PID 1): nothing is left in the
   * cgroup, and one rmdir per hierarchy removes it, without listing each directory and reading its
   * cgroup.procs first (twice). The kernel refuses the rmdir of a cgroup that holds a process or a
   * child cgroup (EBUSY), so trying is safe; at the first refusal remove() takes its careful path
   * (kill, leaves first), which skips the directories already gone.
   */
  private removeEmpty(): boolean {
    for (const dir of this.paths) {
      try {
        this.ops.rmdir(dir)
      } catch (error) {
        if (!isCode(error, 'ENOENT')) return false
      }
    }
    return true
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
}
