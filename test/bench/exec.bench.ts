// `pivot exec C true` against `docker exec C true`, and `run -d` until the container's first log
// line is readable (`logs` shows it) against docker's, in one run on one machine (medians of N).
// Not part of the suite: `npx tsc -p . && sh src/runtime/monitor/build.sh &&
// env -u NODE_EXTRA_CA_CERTS node dist/test/bench/exec.bench.js [runs]` (as root, after test/env/setup.sh).
import {spawnSync} from 'node:child_process'
import {BUSYBOX_IMAGE, DOCKER_BIN, PIVOT_BIN, tempDir} from '../helpers/fixtures'
import {seedImage} from '../helpers/seed-image'
import {benchEnv} from './bench-env'

const RUNS = Number(process.argv[2] ?? 15)
const NAME = `pivot-lifecycle-bench-exec-${process.pid}`

function timed(argv: string[], e: NodeJS.ProcessEnv): {ms: number; out: string} {
  const t = process.hrtime.bigint()
  const r = spawnSync(argv[0], argv.slice(1), {env: e, encoding: 'utf8'})
  const ms = Number(process.hrtime.bigint() - t) / 1e6
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status ?? r.signal}: ${r.stderr}`)
  return {ms, out: r.stdout}
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

/** run -d, then `logs` until the first line is there: what a user waits for. */
function firstLine(cli: string, e: NodeJS.ProcessEnv, name: string, net: string[]): number {
  const t = process.hrtime.bigint()
  const r = spawnSync(cli, ['run', '-d', ...net, '--name', name, BUSYBOX_IMAGE, 'sh', '-c', 'echo ready; sleep 600'], {env: e, encoding: 'utf8'})
  if (r.status !== 0) throw new Error(`${cli} run -d: ${r.stderr}`)
  for (;;) {
    const l = spawnSync(cli, ['logs', name], {env: e, encoding: 'utf8'})
    if (l.stdout.includes('ready')) break
  }
  const ms = Number(process.hrtime.bigint() - t) / 1e6
  spawnSync(cli, ['rm', '-f', name], {env: e, stdio: 'ignore'})
  return ms
}

function main(): void {
  const cache = tempDir('pivot-bench-exec')
  seedImage(cache, BUSYBOX_IMAGE)
  const e = benchEnv({PIVOT_CACHE_DIR: cache})
  try {
    timed([DOCKER_BIN, 'run', '-d', '--network', 'none', '--name', NAME, BUSYBOX_IMAGE, 'sleep', '600'], e)
    timed([PIVOT_BIN, 'run', '-d', '--net', 'none', '--name', NAME, BUSYBOX_IMAGE, 'sleep', '600'], e)
    const p: number[] = []
    const d: number[] = []
    for (let i = 0; i < RUNS + 2; i++) {
      const pm = timed([PIVOT_BIN, 'exec', NAME, 'true'], e).ms
      const dm = timed([DOCKER_BIN, 'exec', NAME, 'true'], e).ms
      if (i >= 2) {
        p.push(pm)
        d.push(dm)
      }
    }
    const pe = median(p)
    const de = median(d)
    console.log(`exec C true      pivot ${pe.toFixed(1)} ms   docker ${de.toFixed(1)} ms   ratio ${(pe / de).toFixed(2)}x  (medians of ${RUNS})`)
    const pf: number[] = []
    const df: number[] = []
    const n = Math.max(3, Math.floor(RUNS / 3))
    for (let i = 0; i < n; i++) {
      pf.push(firstLine(PIVOT_BIN, e, `${NAME}-f${i}`, ['--net', 'none']))
      df.push(firstLine(DOCKER_BIN, e, `${NAME}-f${i}`, ['--network', 'none']))
    }
    const pl = median(pf)
    const dl = median(df)
    console.log(`run -d to 1st log pivot ${pl.toFixed(1)} ms   docker ${dl.toFixed(1)} ms   ratio ${(pl / dl).toFixed(2)}x  (medians of ${n})`)
  } finally {
    spawnSync(DOCKER_BIN, ['rm', '-f', NAME], {stdio: 'ignore'})
    spawnSync(PIVOT_BIN, ['rm', '-f', NAME], {env: e, stdio: 'ignore'})
  }
}

main()
