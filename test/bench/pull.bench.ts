// Benchmark (not part of the suite): `pivot pull` of the Debian fixture, which the daemon already
// holds, against the shell pipeline people use for the same job, in the same run:
//
//     docker export $(docker create IMG) | tar -x -C DIR ; docker rm CONTAINER
//
// Layered (--source daemon: docker save; the default, auto, now takes the registry, which is
// test/bench/registry-pull.bench.ts's) and --flat (docker export) pulls into a fresh cache each round, then
// re-pulls of the unchanged image against `docker pull` of the same image (also a round trip to
// the registry at 127.0.0.1:5000 that changes nothing), form for form: `pivot pull` against
// `docker pull` (both print progress: docker's default), `pivot pull -q` against `docker pull -q`.
// Goal: an unchanged re-pull at most 2x docker's. Medians of interleaved rounds, with ratios.
//
//     npx tsc -p . && node dist/test/bench/pull.bench.js [rounds]
import {spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {median} from '../helpers/median'
import {benchEnv} from './bench-env'

const IMAGE = 'localhost:5000/pivot-test/debian:bookworm'
const REPO_ROOT = path.resolve(__dirname, '..', '..', '..')
const PIVOT = path.join(REPO_ROOT, 'bin', 'pivot')
const DOCKER = fs.existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker'
const ROUNDS = Number(process.argv[2] ?? 5)

// Every child runs as users run it: NODE_EXTRA_CA_CERTS alone adds ~40 ms to a node start here.
const env = benchEnv()

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'pivot-bench-pull-'))
process.on('exit', () => fs.rmSync(work, {recursive: true, force: true}))

function sh(command: string): void {
  const r = spawnSync('bash', ['-c', command], {env, encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe']})
  if (r.status !== 0) throw new Error(`${command}: exit ${r.status}: ${r.stderr}`)
}

function time(command: string): number {
  const start = process.hrtime.bigint()
  sh(command)
  return Number(process.hrtime.bigint() - start) / 1e6
}

let n = 0
const fresh = () => path.join(work, `r${n++}`)

interface Case {
  name: string
  /** Returns the command to time; `prepare` work (mkdir) happens outside the timing. */
  run: () => string
  cleanup?: () => void
}

const shellDir = () => {
  const dir = fresh()
  fs.mkdirSync(dir)
  return dir
}

const cases: Case[] = [
  {
    name: 'shell: docker export $(docker create) | tar -x',
    run: () => {
      const dir = shellDir()
      return `c=$(${DOCKER} create ${IMAGE}) && ${DOCKER} export "$c" | tar -x -C ${dir} && ${DOCKER} rm "$c" >/dev/null`
    },
  },
  {name: 'pivot pull --flat', run: () => `${PIVOT} pull -q --flat --cache-dir ${fresh()} ${IMAGE}`},
  {name: 'pivot pull --source daemon (layered)', run: () => `${PIVOT} pull -q --source daemon --cache-dir ${fresh()} ${IMAGE}`},
]

const load = () =>
  os
    .loadavg()
    .map(l => l.toFixed(1))
    .join(' ')

function main(): void {
  console.log(`load average at the start: ${load()}`)
  sh(`${DOCKER} image inspect ${IMAGE} >/dev/null`) // the daemon must hold it (test/env/setup.sh)
  const results = new Map<string, number[]>(cases.map(c => [c.name, []]))
  // One warm-up round (page cache, daemon), then interleaved rounds so drift hits every case alike.
  for (const c of cases) sh(c.run())
  for (let round = 0; round < ROUNDS; round++) {
    for (const c of cases) {
      results.get(c.name)!.push(time(c.run()))
      // Keep the disk from filling: each round writes ~120 MB.
      for (const e of fs.readdirSync(work)) fs.rmSync(path.join(work, e), {recursive: true, force: true})
    }
  }

  // Re-pull of an unchanged image: the cache holds it, the daemon reports the same id.
  const cache = fresh()
  sh(`${PIVOT} pull -q --cache-dir ${cache} ${IMAGE}`)
  const repullCases = [
    {name: 'docker pull (up to date)', command: `${DOCKER} pull ${IMAGE}`},
    {name: 'pivot pull (unchanged: no export)', command: `${PIVOT} pull --cache-dir ${cache} ${IMAGE}`},
    {name: 'docker pull -q (up to date)', command: `${DOCKER} pull -q ${IMAGE}`},
    {name: 'pivot pull -q (unchanged)', command: `${PIVOT} pull -q --cache-dir ${cache} ${IMAGE}`},
    {name: 'node -e 0', command: `${process.execPath} -e 0`},
  ]
  const repull = new Map<string, number[]>(repullCases.map(c => [c.name, []]))
  for (const c of repullCases) sh(c.command) // warm-up
  for (let round = 0; round < Math.max(ROUNDS, 11); round++) {
    for (const c of repullCases) repull.get(c.name)!.push(time(c.command))
  }

  const base = median(results.get(cases[0].name)!)
  const row = (name: string, xs: number[], against: number, label: string) =>
    `${name.padEnd(48)} ${median(xs).toFixed(0).padStart(6)} ms   (min ${Math.min(...xs).toFixed(0)}, max ${Math.max(...xs).toFixed(0)})   ${(median(xs) / against).toFixed(2)}x ${label}`
  console.log(`pull of ${IMAGE} (daemon already has it), ${ROUNDS} rounds, medians:`)
  for (const c of cases) console.log(row(c.name, results.get(c.name)!, base, 'the shell pipeline'))
  console.log('')
  console.log(`re-pull of the unchanged image, ${Math.max(ROUNDS, 11)} rounds (each command through bash, as the pull rows):`)
  const r = (name: string) => repull.get(name)!
  console.log(row('node -e 0', r('node -e 0'), median(r('node -e 0')), 'node -e 0'))
  console.log(row('docker pull (up to date)', r('docker pull (up to date)'), median(r('docker pull (up to date)')), 'docker pull'))
  console.log(
    row('pivot pull (unchanged: no export)', r('pivot pull (unchanged: no export)'), median(r('docker pull (up to date)')), 'docker pull    goal <= 2.00'),
  )
  console.log(row('docker pull -q (up to date)', r('docker pull -q (up to date)'), median(r('docker pull -q (up to date)')), 'docker pull -q'))
  console.log(row('pivot pull -q (unchanged)', r('pivot pull -q (unchanged)'), median(r('docker pull -q (up to date)')), 'docker pull -q goal <= 2.00'))
  console.log(`load average at the end: ${load()}`)
}

main()
