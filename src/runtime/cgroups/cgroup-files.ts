import * as fs from 'node:fs'
import * as path from 'node:path'
import {CgroupError} from './cgroup-error'
import type {CgroupDirOps} from './cgroup-manager'
import {codeOf, isCode} from './detect-cgroups'

// Reading and writing cgroupfs, shared by the v1 and v2 managers.

/** Without O_CREAT, like runc: a control file that is not there is an error, never a new file. */
export function writeFile(file: string, value: string): void {
  const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_TRUNC)
  try {
    // One write(2): cgroupfs takes each write as one whole value.
    fs.writeSync(fd, value)
  } finally {
    fs.closeSync(fd)
  }
}

export function writeLimit(dir: string, name: string, value: string): void {
  try {
    writeFile(path.join(dir, name), value)
  } catch (error) {
    const hint = isCode(error, 'ENOENT') ? ' (the kernel does not provide this file)' : ''
    throw new CgroupError('CGROUP_WRITE_FAILED', `cannot set ${name} to ${value} in ${dir}: ${codeOf(error)}${hint}`)
  }
}

export function makeDir(ops: CgroupDirOps, dir: string, mayExist: boolean): void {
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
export function rollback(ops: CgroupDirOps, created: string[]): void {
  for (const dir of [...created].reverse()) {
    try {
      ops.rmdir(dir)
    } catch {
      // Leaves a stale empty cgroup; `pivot prune` removes it. The original error matters more.
    }
  }
}

export function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
}

export function readNumber(file: string): number | undefined {
  const text = readText(file)?.trim()
  return text !== undefined && /^\d+$/.test(text) ? Number(text) : undefined
}

/** dir and every cgroup below it (the contained root may have made some), parents first. */
export function cgroupTree(dir: string): string[] {
  let entries: fs.Dirent[]
  try {
    entries = fs.readdirSync(dir, {withFileTypes: true})
  } catch {
    return []
  }
  return [dir, ...entries.filter(entry => entry.isDirectory()).flatMap(entry => cgroupTree(path.join(dir, entry.name)))]
}
