import * as fs from 'node:fs'

/**
 * Host pids of the processes whose command line contains `text` (a leftover worker, monitor,
 * container process or QEMU named by a marker, a dir or an id), this test process excluded.
 * Scans /proc once; a process gone meanwhile is not one.
 */
export function processesMentioning(text: string): number[] {
  const pids: number[] = []
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue
    try {
      if (fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(text)) pids.push(Number(entry))
    } catch {
      // gone meanwhile
    }
  }
  return pids
}
