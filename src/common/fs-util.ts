import * as fs from 'node:fs'
import * as path from 'node:path'

let counter = 0

/** Unique within this process; with the pid in the name, unique on the host. */
export function uniqueSuffix(): string {
  return `${Date.now().toString(36)}${(counter++).toString(36)}`
}

export function isErrno(error: unknown, ...codes: string[]): boolean {
  return typeof error === 'object' && error !== null && codes.includes((error as NodeJS.ErrnoException).code ?? '')
}

export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  const temp = `${file}.${process.pid}.${uniqueSuffix()}.tmp`
  fs.writeFileSync(temp, data, {mode: 0o600})
  fs.renameSync(temp, file)
}

export function writeJsonAtomic(file: string, value: unknown): void {
  writeFileAtomic(file, JSON.stringify(value, null, 2) + '\n')
}

/**
 * Sum of regular file sizes under `root` (hardlinked files counted once), without following
 * symlinks. What cannot be read counts as nothing: prune measures damaged trees with it too.
 */
export function diskUsage(root: string): number {
  const seen = new Set<string>()
  let total = 0
  const walk = (file: string) => {
    let st: fs.Stats
    try {
      st = fs.lstatSync(file)
    } catch {
      return
    }
    if (st.isDirectory()) {
      let entries: string[] = []
      try {
        entries = fs.readdirSync(file)
      } catch {
        return
      }
      for (const e of entries) walk(path.join(file, e))
    } else if (st.isFile()) {
      if (st.nlink > 1) {
        const key = `${st.dev}:${st.ino}`
        if (seen.has(key)) return
        seen.add(key)
      }
      total += st.size
    }
  }
  walk(root)
  return total
}

/**
 * `fs.rmSync(file, {force: true})` for one file: node 20's rmSync loads its rimraf module first
 * (~0.5 ms of a process that removes nothing else), even for a single file.
 */
export function unlinkIfPresent(file: string): void {
  try {
    fs.unlinkSync(file)
  } catch (error) {
    if (!isErrno(error, 'ENOENT')) throw error
  }
}
