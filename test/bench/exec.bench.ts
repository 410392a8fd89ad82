// `pivot exec C true` against `docker exec C true`, and `run -d` until the container's first log
// line is readable (`logs` shows it) against docker's, in one run on one machine (medians of N).
// exec's floor is printed with it: `node -e 0` (a node start) and node spawning pivot-exec directly
// with the arguments `pivot exec` gives it (what is left once pivot's own JS costs nothing), and
// the CPU (user+sys) of each pivot exec with all it reaped, which a loaded machine changes less
// than wall time (docker's CPU is its CLI's alone: dockerd, containerd and runc are not ours).
// Not part of the suite: `npx tsc -p . && sh src/runtime/monitor/build.sh &&
// env -u NODE_EXTRA_CA_CERTS node dist/test/bench/exec.bench.js [runs]` (as root, after test/env/setup.sh).
import {spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {configPath} from '../../src/store/container-record'
import {Store} from '../../src/store/store'
import {containerStatus, resolveContainer} from '../../src/runtime/lifecycle/containers'
import {EXEC_BIN} from '../../src/runtime/lifecycle/exec'
import {BUSYBOX_IMAGE, DOCKER_BIN, PIVOT_BIN, tempDir} from '../helpers/fixtures'
import {seedImage} from '../helpers/seed-image'
import {benchEnv} from './bench-env'

const RUNS = Number(process.argv[2] ?? 15)
const NAME = `pivot-lifecycle-bench-exec-${process.pid}`

/** User+sys CPU of the children this process reaped, in ms (/proc/self/stat's cutime and cstime). */
function childrenCpuMs(): number {
  const fields = fs.readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ')
  // After "pid (comm) ": state is field 3; cutime and cstime are fields 16 and 17 (clock ticks of 10 ms).
  return (Number(fields[13]) + Number(fields[14])) * 10
}

function timed(argv: string[], e: NodeJS.ProcessEnv): {ms: number; cpu: number; out: string} {
  const c = childrenCpuMs()
  const t = process.hrtime.bigint()
  const r = spawnSync(argv[0], argv.slice(1), {env: e, encoding: 'utf8'})
  const ms = Number(process.hrtime.bigint() - t) / 1e6
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status ?? r.signal}: ${r.stderr}`)
  return {ms, cpu: childrenCpuMs() - c, out: r.stdout}
}

const sum = (values: number[]) => values.reduce((a, b) => a + b, 0)

/**
 * A node script that spawns pivot-exec as `pivot exec NAME true` does (same arguments, PID 1's
 * environment, config.json on fd 3 with the filter's place in it) and exits with its status:
 * exec's floor with node in front.
 */
function floorScript(cache: string): string {
  const store = Store.open(cache)
  const id = resolveContainer(store, NAME)
  const pid = containerStatus(store, id)?.pid
  if (pid === undefined) throw new Error(`${NAME} is not running`)
  const text = fs.readFileSync(configPath(store, id))
  const config = JSON.parse(text.toString('utf8')) as {seccompFilter: string; cgroup: {dirs: Array<{hostDir: string}>}}
  const procs = config.cgroup.dirs.map(d => path.join(d.hostDir, 'cgroup.procs'))
  const at = `${text.indexOf(`"${config.seccompFilter}"`) + 1}:${config.seccompFilter.length}`
  const args = ['-f', at, String(pid), '/', '1', ...procs, '--', 'true']
  return `const {spawn} = require('node:child_process')
const fs = require('node:fs')
const env = Object.fromEntries(fs.readFileSync('/proc/${pid}/environ', 'utf8').split('\\0').filter(Boolean).map(e => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]))
const c = spawn(${JSON.stringify(EXEC_BIN)}, ${JSON.stringify(args)}, {env, stdio: ['ignore', 'inherit', 'inherit', fs.openSync(${JSON.stringify(configPath(store, id))}, 'r')]})
c.on('close', code => process.exit(code))`
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
    const floor = floorScript(cache)
    const p: number[] = []
    const d: number[] = []
    const pc: number[] = []
    const dc: number[] = []
    const n0: number[] = []
    const nf: number[] = []
    // Interleaved rounds: a change of load meets all four alike.
    for (let i = 0; i < RUNS + 2; i++) {
      const pr = timed([PIVOT_BIN, 'exec', NAME, 'true'], e)
      const dr = timed([DOCKER_BIN, 'exec', NAME, 'true'], e)
      const zero = timed([process.execPath, '-e', '0'], e).ms
      const direct = timed([process.execPath, '-e', floor], e).ms
      if (i >= 2) {
        p.push(pr.ms)
        d.push(dr.ms)
        pc.push(pr.cpu)
        dc.push(dr.cpu)
        n0.push(zero)
        nf.push(direct)
      }
    }
    const pe = median(p)
    const de = median(d)
    console.log(`exec C true      pivot ${pe.toFixed(1)} ms   docker ${de.toFixed(1)} ms   ratio ${(pe / de).toFixed(2)}x  (medians of ${RUNS})`)
    console.log(
      `  floor: node -e 0 ${median(n0).toFixed(1)} ms (${(median(n0) / de).toFixed(2)}x)   node + spawn of pivot-exec ${median(nf).toFixed(1)} ms (${(median(nf) / de).toFixed(2)}x)`,
    )
    console.log(
      `  CPU (user+sys, mean of ${RUNS}): pivot exec ${(sum(pc) / RUNS).toFixed(1)} ms with all it reaped   docker CLI alone ${(sum(dc) / RUNS).toFixed(1)} ms`,
    )
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
