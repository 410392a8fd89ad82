// Benchmark (not part of the suite): `pivot pull` straight from the local registry (127.0.0.1:5000)
// against `docker pull` of the same image from the same registry, in one run:
//
//   cold     the Debian fixture into an empty store: pivot --source registry (fresh cache) vs
//            docker pull into a private dockerd of this bench started on a fresh --data-root
//            for each round (the shared daemon already holds the fixture's layer, so a pull
//            there is never cold) vs today's daemon path (pivot --source daemon: docker pull +
//            docker save). Wall time and CPU (user+sys): pivot's and all it reaped; docker's
//            CLI plus the private dockerd's process tree (its pull runs in dockerd). Goal:
//            pivot / docker <= 0.7.
//            Nothing is deleted between timed runs (no `rmi`, no `rm -rf` of a cache): on this
//            machine's ext4 without a journal, creating an inode skips every inode of its group
//            freed in the last ~35 s (recently_deleted(), one buffer lookup each), which made
//            a pull right after deleting another's 6674 files cost up to 1.5 s more of kernel
//            time, for whichever side came next. The trees go at the end. pivot's caches are
//            made beside the private dockerd's data roots (not in /tmp, where every test's
//            temp trees come and go): both sides create their files in the same quiet place.
//   re-pull  the unchanged image: pivot vs docker pull of an up-to-date image.
//   overlap  the three-layer fixture (busybox + two 6 MB layers): when each layer's download
//            starts and its unpack ends, with 3 downloads at once and with 1.
//
//     npx tsc -p . && env -u NODE_EXTRA_CA_CERTS node dist/test/bench/registry-pull.bench.js [rounds]
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
  caches: '/var/lib/pivot-test-pullspeed/bench-pivot',
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
  fs.rmSync(PRIVATE.caches, {recursive: true, force: true})
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

const TICK_MS = 1000 / Number(spawnSync('getconf', ['CLK_TCK'], {encoding: 'utf8'}).stdout.trim() || 100)

/** CPU ms (user+sys, threads included) of a live process and its live descendants. */
function treeCpu(pid: number): number {
  let ms = 0
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // utime, stime, and what it reaped (cutime, cstime): fields 14-17
    ms += (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) * TICK_MS
    for (const task of fs.readdirSync(`/proc/${pid}/task`)) {
      for (const child of fs.readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim().split(' ').filter(Boolean)) ms += treeCpu(Number(child))
    }
  } catch {
    // gone meanwhile
  }
  return ms
}

/** Wall ms, and CPU ms (user+sys) of the command and all it reaped, plus `extra`'s growth (a daemon doing the work). */
function measure(command: string, extra?: () => number): {wall: number; cpu: number} {
  const file = path.join(work, 'time.out')
  const before = extra?.() ?? 0
  const wall = time(`/usr/bin/time -f '%U %S' -o ${file} bash -c ${JSON.stringify(command)}`)
  const [user, sys] = fs.readFileSync(file, 'utf8').trim().split('\n').pop()!.split(' ').map(Number)
  return {wall, cpu: (user + sys) * 1000 + ((extra?.() ?? 0) - before)}
}

let n = 0
fs.mkdirSync(PRIVATE.caches, {recursive: true})
const fresh = () => path.join(PRIVATE.caches, `r${n++}`)

/** Starts the bench's dockerd on `data` (a fresh data root: an empty image store). */
async function startPrivateDockerd(data: string): Promise<void> {
  fs.mkdirSync(data, {recursive: true})
  fs.mkdirSync(PRIVATE.exec, {recursive: true})
  const log = fs.openSync(path.join(work, 'dockerd.log'), 'a')
  dockerd = spawn(
    '/usr/sbin/dockerd',
    [
      '-H',
      `unix://${PRIVATE.sock}`,
      '--data-root',
      data,
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

/** Stops it; its data roots go only with `removeData` (see the top: nothing is deleted between timed runs). */
async function stopPrivateDockerd(removeData = false): Promise<void> {
  if (dockerd?.pid) {
    const exited = new Promise(r => dockerd!.once('exit', r))
    process.kill(dockerd.pid, 'SIGTERM')
    await exited
    dockerd = undefined
  }
  if (!removeData) return
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
  let roots = 0
  const freshDockerd = async () => {
    await stopPrivateDockerd()
    await startPrivateDockerd(path.join(PRIVATE.root, `d${roots++}`))
  }
  await freshDockerd()
  try {
    const dockerdCpu = () => (dockerd?.pid ? treeCpu(dockerd.pid) : 0)
    const cases = [
      {name: 'docker pull (cold, private dockerd)', run: () => `${PDOCKER} pull -q ${IMAGE} >/dev/null`, extra: dockerdCpu},
      {name: 'pivot pull --source registry (cold)', run: () => `${PIVOT} pull -q --source registry --cache-dir ${fresh()} ${IMAGE}`},
      // (its CPU leaves out the shared dockerd's pull and save)
      {name: 'pivot pull --source daemon (cold cache)', run: () => `${PIVOT} pull -q --source daemon --cache-dir ${fresh()} ${IMAGE}`},
    ]
    const results = new Map<string, Array<{wall: number; cpu: number}>>(cases.map(c => [c.name, []]))
    const loads: string[] = []
    // A warm-up of each (page cache, the registry's), then the rounds; the private dockerd gets a
    // fresh data root before each of its pulls.
    for (const c of cases) {
      sh(c.run())
      if (c.extra) await freshDockerd()
    }
    for (let round = 0; round < ROUNDS; round++) {
      loads.push(os.loadavg()[0].toFixed(1))
      for (const c of cases) {
        results.get(c.name)!.push(measure(c.run(), c.extra))
        if (c.extra) await freshDockerd()
      }
    }

    const coldRow = (name: string, xs: Array<{wall: number; cpu: number}>, against: {wall: number; cpu: number}, label: string) => {
      const wall = median(xs.map(x => x.wall))
      const cpu = median(xs.map(x => x.cpu))
      return `${name.padEnd(42)} wall ${wall.toFixed(0).padStart(5)} ms (${(wall / against.wall).toFixed(2)}x)  cpu ${cpu.toFixed(0).padStart(5)} ms (${(cpu / against.cpu).toFixed(2)}x)  ${label}`
    }
    const medians = (name: string) => ({wall: median(results.get(name)!.map(x => x.wall)), cpu: median(results.get(name)!.map(x => x.cpu))})
    const docker = medians(cases[0].name)
    console.log(`cold pull of ${IMAGE} from 127.0.0.1:5000, ${ROUNDS} interleaved rounds, medians (load at each round's start: ${loads.join(' ')}):`)
    console.log(coldRow(cases[0].name, results.get(cases[0].name)!, docker, 'against docker pull'))
    console.log(coldRow(cases[1].name, results.get(cases[1].name)!, docker, 'against docker pull   goal <= 0.70'))
    console.log(coldRow(cases[2].name, results.get(cases[2].name)!, docker, 'against docker pull (its cpu: pivot only)'))
    console.log(coldRow(cases[1].name, results.get(cases[1].name)!, medians(cases[2].name), 'against pivot --source daemon'))
    for (const c of cases)
      console.log(
        `  ${c.name}: wall ${results
          .get(c.name)!
          .map(x => x.wall.toFixed(0))
          .join(' ')}; cpu ${results
          .get(c.name)!
          .map(x => x.cpu.toFixed(0))
          .join(' ')}`,
      )
    console.log('')

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
    await stopPrivateDockerd(true)
  }
}

main().catch(error => {
  console.error(error)
  process.exit(1)
})
