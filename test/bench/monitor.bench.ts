// Detached containers, pivot against docker, in one run on one machine:
//   - host memory per detached container: the RSS and PSS of pivot-monitor (pivot's per-container
//     process) against containerd-shim-runc-v2's (docker's), each read from /proc while N
//     containers of each run `sleep`;
//   - the wall time of `run -d` (until the id is printed: the command is running) against
//     `docker run -d`.
// Not part of the suite: `npx tsc -p . && sh src/runtime/monitor/build.sh &&
// node dist/test/bench/monitor.bench.js [containers]` (as root, after test/env/setup.sh).
import {spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import {BUSYBOX_IMAGE, DOCKER_BIN, PIVOT_BIN, tempDir} from '../helpers/fixtures'
import {seedImage} from '../helpers/seed-image'
import {benchEnv} from './bench-env'

const N = Number(process.argv[2] ?? 5)
const PREFIX = `pivot-lifecycle-bench-${process.pid}`

function run(argv: string[], extra: NodeJS.ProcessEnv = {}): {out: string; ms: number} {
  const t = process.hrtime.bigint()
  const r = spawnSync(argv[0], argv.slice(1), {env: benchEnv(extra), encoding: 'utf8'})
  const ms = Number(process.hrtime.bigint() - t) / 1e6
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status ?? r.signal}: ${r.stderr}`)
  return {out: r.stdout.trim(), ms}
}

/** pids whose argv[0] ends with `exe` and whose command line contains `marker`. */
function processes(exe: string, marker: string): number[] {
  const out: number[] = []
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue
    try {
      const argv = fs.readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0')
      if (argv[0].endsWith(exe) && argv.join(' ').includes(marker)) out.push(Number(e))
    } catch {
      // gone
    }
  }
  return out
}

/** RSS and PSS in KiB (smaps_rollup: PSS shares each shared page among its users). */
function memory(pid: number): {rss: number; pss: number} {
  const text = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8')
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)![1])
  return {rss: field('Rss'), pss: field('Pss')}
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

function main(): void {
  const cache = tempDir('pivot-bench-monitor')
  seedImage(cache, BUSYBOX_IMAGE)
  const pivotEnv = {PIVOT_CACHE_DIR: cache}
  const dockerIds: string[] = []
  const pivotIds: string[] = []
  const dockerTimes: number[] = []
  const pivotTimes: number[] = []
  try {
    for (let i = 0; i < N; i++) {
      const d = run([DOCKER_BIN, 'run', '-d', '--network', 'none', '--name', `${PREFIX}-${i}`, BUSYBOX_IMAGE, 'sleep', '600'])
      dockerIds.push(d.out)
      dockerTimes.push(d.ms)
      const p = run([PIVOT_BIN, 'run', '-d', '--net', 'none', BUSYBOX_IMAGE, 'sleep', '600'], pivotEnv)
      pivotIds.push(p.out)
      pivotTimes.push(p.ms)
    }
    const shims = dockerIds.map(id => processes('containerd-shim-runc-v2', id)[0]).filter(pid => pid !== undefined)
    const monitors = pivotIds.map(id => processes('pivot-monitor', id)[0]).filter(pid => pid !== undefined)
    if (shims.length !== N || monitors.length !== N) throw new Error(`found ${shims.length} shims and ${monitors.length} monitors for ${N} containers each`)
    const shimMem = shims.map(memory)
    const monMem = monitors.map(memory)
    const rssShim = median(shimMem.map(m => m.rss))
    const rssMon = median(monMem.map(m => m.rss))
    const pssShim = median(shimMem.map(m => m.pss))
    const pssMon = median(monMem.map(m => m.pss))
    const line = (name: string, a: number, b: number) => `${name.padEnd(44)} ${String(a).padStart(8)} ${String(b).padStart(8)}   ${(a / b).toFixed(2)}x`
    console.log(`${N} detached busybox \`sleep 600\` containers each; medians`)
    console.log(`${''.padEnd(44)} ${'pivot'.padStart(8)} ${'docker'.padStart(8)}   pivot/docker`)
    console.log(line('per-container process RSS, KiB (monitor/shim)', rssMon, rssShim))
    console.log(line('per-container process PSS, KiB (monitor/shim)', pssMon, pssShim))
    console.log(line('run -d, ms (until the id is printed)', Math.round(median(pivotTimes)), Math.round(median(dockerTimes))))
  } finally {
    if (dockerIds.length > 0) spawnSync(DOCKER_BIN, ['rm', '-f', ...dockerIds], {stdio: 'ignore'})
    if (pivotIds.length > 0) spawnSync(PIVOT_BIN, ['rm', '-f', ...pivotIds], {env: benchEnv(pivotEnv), stdio: 'ignore'})
  }
}

main()
