// Benchmark (not part of the suite): `pivot pull` straight from the local registry (127.0.0.1:5000)
// against `docker pull` of the same image from the same registry, in one run:
//
//   cold     the Debian fixture into an empty store: pivot --source registry (fresh cache) vs
//            docker pull into a private dockerd of this bench (its own --data-root, removed
//            again; the shared daemon already holds the fixture's layer, so a pull there is never
//            cold) vs today's daemon path (pivot --source daemon: docker pull + docker save).
//            Goal: pivot / docker <= 0.7.
//   re-pull  the unchanged image: pivot vs docker pull of an up-to-date image.
//   overlap  the three-layer fixture (busybox + two 6 MB layers): when each layer's download
//            starts and its unpack ends, with 3 downloads at once and with 1.
//
//     npx tsc -p . && node dist/test/bench/registry-pull.bench.js [rounds]
import {spawn, spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {median} from '../helpers/median'
import {benchEnv} from './bench-env'

const IMAGE = 'localhost:5000/pivot-test/debian:bookworm'
const THREE = 'localhost:5000/pivot-test/registry-three:latest'
const REPO_ROOT = path.resolve(__dirname, '..', '..', '..')
const PIVOT = path.join(REPO_ROOT, 'bin', 'pivot')
const DOCKER = fs.existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker'
const ROUNDS = Number(process.argv[2] ?? 5)
// The private daemon (BRIEF: its own socket, data and exec roots, pidfile; stopped at the end).
const PRIVATE = {
  root: '/var/lib/pivot-test-pullspeed/bench-docker',
  exec: '/run/pivot-test-pullspeed/bench-exec',
  sock: '/run/pivot-test-pullspeed/bench.sock',
  pid: '/run/pivot-test-pullspeed/bench.pid',
}
const PDOCKER = `${DOCKER} -H unix://${PRIVATE.sock}`

const env = benchEnv()

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'pivot-bench-registry-'))
let dockerd: ReturnType<typeof spawn> | undefined
process.on('exit', () => {
  fs.rmSync(work, {recursive: true, force: true})
  if (dockerd?.pid) {
    try {
      process.kill(dockerd.pid, 'SIGTERM')
    } catch {
      // gone
    }
  }
})

function sh(command: string): string {
  const r = spawnSync('bash', ['-c', command], {env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe']})
  if (r.status !== 0) throw new Error(`${command}: exit ${r.status}: ${r.stderr}`)
  return r.stdout
}

function time(command: string): number {
  const start = process.hrtime.bigint()
  sh(command)
  return Number(process.hrtime.bigint() - start) / 1e6
}

let n = 0
const fresh = () => path.join(work, `r${n++}`)

async function startPrivateDockerd(): Promise<void> {
  fs.mkdirSync(PRIVATE.root, {recursive: true})
  fs.mkdirSync(PRIVATE.exec, {recursive: true})
  const log = fs.openSync(path.join(work, 'dockerd.log'), 'a')
  dockerd = spawn(
    '/usr/sbin/dockerd',
    [
      '-H',
      `unix://${PRIVATE.sock}`,
      '--data-root',
      PRIVATE.root,
      '--exec-root',
      PRIVATE.exec,
      '--pidfile',
      PRIVATE.pid,
      '--bridge=none',
      '--iptables=false',
      '--ip6tables=false',
      '--insecure-registry',
      'localhost:5000',
    ],
    {stdio: ['ignore', log, log]},
  )
  for (let i = 0; i < 60; i++) {
    if (spawnSync('bash', ['-c', `${PDOCKER} info >/dev/null 2>&1`]).status === 0) return
    await new Promise(r => setTimeout(r, 500))
  }
  throw new Error(`the bench's dockerd did not start: ${fs.readFileSync(path.join(work, 'dockerd.log'), 'utf8').slice(-2000)}`)
}

async function stopPrivateDockerd(): Promise<void> {
  if (!dockerd?.pid) return
  const exited = new Promise(r => dockerd!.once('exit', r))
  process.kill(dockerd.pid, 'SIGTERM')
  await exited
  dockerd = undefined
  fs.rmSync(PRIVATE.root, {recursive: true, force: true})
  fs.rmSync(PRIVATE.exec, {recursive: true, force: true})
}

/** Per layer: when its download started, when it was downloaded, when its unpack was done (ms from the start). */
async function timeline(
  image: string,
  concurrency: number,
): Promise<{total: number; layers: Map<string, {start?: number; downloaded?: number; done?: number}>}> {
  const cache = fresh()
  const start = Date.now()
  const child = spawn(PIVOT, ['pull', '--source', 'registry', '--max-concurrent-downloads', String(concurrency), '--cache-dir', cache, image], {env})
  const layers = new Map<string, {start?: number; downloaded?: number; done?: number}>()
  let buffer = ''
  child.stdout.on('data', (d: Buffer) => {
    const now = Date.now() - start
    buffer += d.toString()
    const lines = buffer.split('\n')
    buffer = lines.pop()!
    for (const line of lines) {
      const m = /^([0-9a-f]{12}): (Pulling fs layer|Downloaded|Pull complete)/.exec(line)
      if (!m) continue
      const l = layers.get(m[1]) ?? {}
      if (m[2] === 'Pulling fs layer') l.start = now
      else if (m[2] === 'Downloaded') l.downloaded = now
      else l.done = now
      layers.set(m[1], l)
    }
  })
  const code = await new Promise<number | null>(r => child.on('close', r))
  if (code !== 0) throw new Error(`pivot pull ${image}: exit ${code}`)
  return {total: Date.now() - start, layers}
}

const load = () =>
  os
    .loadavg()
    .map(l => l.toFixed(1))
    .join(' ')

async function main(): Promise<void> {
  console.log(`load average at the start: ${load()}`)
  sh(`curl -fsS -o /dev/null http://127.0.0.1:5000/v2/pivot-test/debian/manifests/bookworm -H 'Accept: application/vnd.docker.distribution.manifest.v2+json'`)
  await startPrivateDockerd()
  try {
    const cases = [
      {name: 'docker pull (cold, private dockerd)', run: () => `${PDOCKER} pull -q ${IMAGE} >/dev/null`, after: () => sh(`${PDOCKER} rmi ${IMAGE} >/dev/null`)},
      {name: 'pivot pull --source registry (cold)', run: () => `${PIVOT} pull -q --source registry --cache-dir ${fresh()} ${IMAGE}`},
      {name: 'pivot pull --source daemon (cold cache)', run: () => `${PIVOT} pull -q --source daemon --cache-dir ${fresh()} ${IMAGE}`},
    ]
    const results = new Map<string, number[]>(cases.map(c => [c.name, []]))
    for (const c of cases) {
      sh(c.run())
      c.after?.()
    }
    for (let round = 0; round < ROUNDS; round++) {
      for (const c of cases) {
        results.get(c.name)!.push(time(c.run()))
        c.after?.()
        for (const e of fs.readdirSync(work)) if (e.startsWith('r')) fs.rmSync(path.join(work, e), {recursive: true, force: true})
      }
    }

    const cache = fresh()
    sh(`${PIVOT} pull -q --source registry --cache-dir ${cache} ${IMAGE}`)
    sh(`${PDOCKER} pull -q ${IMAGE}`)
    const repullCases = [
      {name: 'docker pull -q (up to date)', command: `${PDOCKER} pull -q ${IMAGE}`},
      {name: 'pivot pull -q (unchanged, registry)', command: `${PIVOT} pull -q --source registry --cache-dir ${cache} ${IMAGE}`},
      // The floor every pivot command stands on, to read the load of the run by.
      {name: 'node -e 0', command: `${process.execPath} -e 0`},
    ]
    const repull = new Map<string, number[]>(repullCases.map(c => [c.name, []]))
    for (let round = 0; round < Math.max(ROUNDS, 11); round++) for (const c of repullCases) repull.get(c.name)!.push(time(c.command))

    const row = (name: string, xs: number[], against: number, label: string) =>
      `${name.padEnd(44)} ${median(xs).toFixed(0).padStart(6)} ms   (min ${Math.min(...xs).toFixed(0)}, max ${Math.max(...xs).toFixed(0)})   ${(median(xs) / against).toFixed(2)}x ${label}`
    const dockerCold = median(results.get(cases[0].name)!)
    console.log(`cold pull of ${IMAGE} from 127.0.0.1:5000, ${ROUNDS} rounds, medians:`)
    console.log(row(cases[0].name, results.get(cases[0].name)!, dockerCold, 'docker pull'))
    console.log(row(cases[1].name, results.get(cases[1].name)!, dockerCold, 'docker pull   goal <= 0.70'))
    console.log(row(cases[2].name, results.get(cases[2].name)!, dockerCold, 'docker pull'))
    console.log(row(cases[1].name, results.get(cases[1].name)!, median(results.get(cases[2].name)!), 'pivot --source daemon'))
    console.log('')
    const dockerRe = median(repull.get(repullCases[0].name)!)
    console.log(`re-pull of the unchanged image, ${Math.max(ROUNDS, 11)} rounds, medians:`)
    for (const c of repullCases.slice(0, 2)) console.log(row(c.name, repull.get(c.name)!, dockerRe, 'docker pull -q'))
    console.log(row('node -e 0', repull.get('node -e 0')!, dockerRe, 'docker pull -q'))
    console.log('')
    console.log(`layers of ${THREE} over time (ms from the start; download start, downloaded, unpacked):`)
    for (const concurrency of [3, 1]) {
      const t = await timeline(THREE, concurrency)
      const intervals = [...t.layers.values()].filter(l => l.start !== undefined && l.done !== undefined) as Array<{
        start: number
        downloaded: number
        done: number
      }>
      const overlapping = intervals.some((a, i) => intervals.some((b, j) => i !== j && a.start < b.done && b.start < a.done))
      console.log(`  --max-concurrent-downloads ${concurrency}: ${t.total} ms in all, layers ${overlapping ? 'overlap' : 'do not overlap'}`)
      for (const [id, l] of t.layers)
        console.log(`    ${id}  ${String(l.start).padStart(5)} -> ${String(l.downloaded).padStart(5)} -> ${String(l.done).padStart(5)}`)
    }
    console.log(`load average at the end: ${load()}`)
  } finally {
    await stopPrivateDockerd()
  }
}

main().catch(error => {
  console.error(error)
  process.exit(1)
})
