// `pivot run --rm IMG /bin/true` against its peers, in one run on one machine, network mode for
// network mode (like for like):
//   - pivot run --net host    against docker run --network host
//   - pivot run --net none    against docker run --network none
//   - runc run of the same rootfs (a bundle made with `runc spec`; its default spec has its own
//     network namespace, as --net none)
//   - unshare --fork --pid --mount-proc ... chroot ROOTFS /bin/true (the floor: no node at all)
//   - node -e 0 (one node start: pivot run's CLI; the container's init is C, pivot-init)
// then the Debian image against the busybox one, and the peak RSS of the `pivot run` process
// while its container runs. Medians, with ratios, and the goals beside them: pivot run at most
// 0.5x docker's default-mode median, at most 3x runc.
//
// docker's default network mode is bridge. The suite's daemon runs with --bridge=none
// (test/env/setup.sh: tests need no container networking), so there its default mode gives the
// container a network namespace of its own with only loopback: the same as pivot's --net none,
// which this run compares it with (`docker run` without --network). The bridge against
// pivot's --net bridge needs a daemon with a bridge: test/bench/network.bench.ts.
// Not part of the suite: `npx tsc -p . && node dist/test/bench/run.bench.js [runs]` (as root,
// after test/env/setup.sh; it runs the build's bundle step first, src/runtime/monitor/build.sh,
// for the one-file bundles of `pivot run`'s processes and their code caches; NODE_EXTRA_CA_CERTS is removed from the environment of every command).
// The commands take turns, round by round (see measure()).
import {execFileSync, spawn, spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {BUSYBOX_IMAGE, DEBIAN_IMAGE, DOCKER_BIN, PIVOT_BIN, REPO_ROOT} from '../helpers/fixtures'
import {seedImage} from '../helpers/seed-image'
import {benchEnv} from './bench-env'

const RUNS = Number(process.argv[2] ?? 30)

interface Result {
  name: string
  median: number
  min: number
}

/**
 * Median wall time of each command, in ms. The commands take turns (one run of each, then the
 * next round) rather than one batch after another, so that a noisy moment on a shared machine
 * (or docker's daemon still busy after its own runs) weighs on all of them alike.
 */
function measure(commands: Array<{name: string; argv: string[]}>, extraEnv: NodeJS.ProcessEnv): Result[] {
  const e = benchEnv(extraEnv)
  const times = commands.map(() => [] as number[])
  const WARMUP = 3
  for (let round = 0; round < RUNS + WARMUP; round++) {
    commands.forEach((c, i) => {
      const t = process.hrtime.bigint()
      const r = spawnSync(c.argv[0], c.argv.slice(1), {env: e, stdio: 'ignore'})
      const ms = Number(process.hrtime.bigint() - t) / 1e6
      if (r.status !== 0) throw new Error(`${c.argv.join(' ')} exited ${r.status ?? r.signal}`)
      if (round >= WARMUP) times[i].push(ms)
    })
  }
  return commands.map((c, i) => {
    const sorted = times[i].sort((a, b) => a - b)
    return {name: c.name, median: sorted[Math.floor(sorted.length / 2)], min: sorted[0]}
  })
}

/** A runc bundle over `rootfs` that runs /bin/true with no terminal. */
function runcBundle(dir: string, rootfs: string): string {
  execFileSync('runc', ['spec', '--bundle', dir])
  const specFile = path.join(dir, 'config.json')
  const spec = JSON.parse(fs.readFileSync(specFile, 'utf8'))
  spec.process.terminal = false
  spec.process.args = ['/bin/true']
  spec.root = {path: rootfs, readonly: true}
  fs.writeFileSync(specFile, JSON.stringify(spec))
  return dir
}

/** VmHWM of the `pivot run` process (the CLI, not the container) while its container sleeps. */
async function peakRss(cache: string): Promise<{hwmKb: number; rssKb: number}> {
  const child = spawn(PIVOT_BIN, ['run', '--rm', BUSYBOX_IMAGE, 'sleep', '1'], {env: benchEnv({PIVOT_CACHE_DIR: cache}), stdio: 'ignore'})
  await new Promise(resolve => setTimeout(resolve, 600))
  const status = fs.readFileSync(`/proc/${child.pid}/status`, 'utf8')
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN)
  await new Promise(resolve => child.on('close', resolve))
  return {hwmKb: kb('VmHWM'), rssKb: kb('VmRSS')}
}

async function main(): Promise<void> {
  // What the build installs, by the build's own step: `tsc` alone leaves no fresh bundle, and
  // pivot would run its plain modules; bundles written here without their code caches would make
  // the build's caches stale (they name the bundle they were made from) and be measured without.
  execFileSync('sh', [path.join(REPO_ROOT, 'src', 'runtime', 'monitor', 'build.sh')], {stdio: 'ignore'})
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pivot-bench-run-'))
  try {
    const cache = path.join(dir, 'cache')
    const busybox = seedImage(cache, BUSYBOX_IMAGE)
    seedImage(cache, DEBIAN_IMAGE)
    const rootfs = path.join(cache, 'layers', busybox.layers[0].slice('sha256:'.length), 'rootfs')
    const bundle = runcBundle(fs.mkdtempSync(path.join(dir, 'bundle-')), rootfs)
    const runcId = `pivot-bench-${process.pid}`

    const results = measure(
      [
        {name: 'pivot run --net host', argv: [PIVOT_BIN, 'run', '--rm', '--net', 'host', BUSYBOX_IMAGE, '/bin/true']},
        {name: 'docker run --network host', argv: [DOCKER_BIN, 'run', '--rm', '--network', 'host', BUSYBOX_IMAGE, '/bin/true']},
        {name: 'pivot run --net none', argv: [PIVOT_BIN, 'run', '--rm', '--net', 'none', BUSYBOX_IMAGE, '/bin/true']},
        {name: 'docker run --network none', argv: [DOCKER_BIN, 'run', '--rm', '--network', 'none', BUSYBOX_IMAGE, '/bin/true']},
        {name: 'docker run (default)', argv: [DOCKER_BIN, 'run', '--rm', BUSYBOX_IMAGE, '/bin/true']},
        {name: 'runc run', argv: ['runc', 'run', '--bundle', bundle, runcId]},
        {name: 'unshare+chroot', argv: ['unshare', '--fork', '--pid', '--mount', '--uts', '--ipc', '--mount-proc', 'chroot', rootfs, '/bin/true']},
        {name: 'node -e 0', argv: [process.execPath, '-e', '0']},
        {name: 'pivot run debian', argv: [PIVOT_BIN, 'run', '--rm', DEBIAN_IMAGE, '/bin/true']},
      ],
      {PIVOT_CACHE_DIR: cache},
    )
    const by = new Map(results.map(r => [r.name, r]))
    const ms = (name: string) => by.get(name)!.median
    console.log(`\nmedians over ${RUNS} runs (min in brackets), ${os.cpus().length} CPUs, node ${process.version}, load ${os.loadavg()[0].toFixed(1)}:`)
    for (const r of results) console.log(`  ${r.name.padEnd(26)} ${r.median.toFixed(1).padStart(7)} ms  [${r.min.toFixed(1)}]`)
    const goal = (label: string, ratio: number, max: number) =>
      console.log(`  ${label.padEnd(48)} ${ratio.toFixed(2).padStart(5)}   goal <= ${max.toFixed(2)}: ${ratio <= max ? 'met' : 'MISSED'}`)
    console.log('\nsame network mode on both sides:')
    goal('pivot --net host / docker --network host', ms('pivot run --net host') / ms('docker run --network host'), 0.5)
    goal('pivot --net none / docker --network none', ms('pivot run --net none') / ms('docker run --network none'), 0.5)
    // This daemon's default mode (--bridge=none): a namespace of its own with loopback only, as --net none.
    goal('pivot --net none / docker default (own netns, lo)', ms('pivot run --net none') / ms('docker run (default)'), 0.5)
    goal('pivot --net none / runc run (own netns)', ms('pivot run --net none') / ms('runc run'), 3)
    goal('pivot --net host / runc run', ms('pivot run --net host') / ms('runc run'), 3)
    console.log(`\npivot run (host) - node start = ${(ms('pivot run --net host') - ms('node -e 0')).toFixed(1)} ms of pivot's own work`)
    console.log(`debian / busybox (pivot run, host) = ${(ms('pivot run debian') / ms('pivot run --net host')).toFixed(2)}`)
    const rss = await peakRss(cache)
    console.log(`pivot run process while its container runs: peak RSS ${(rss.hwmKb / 1024).toFixed(1)} MiB, RSS ${(rss.rssKb / 1024).toFixed(1)} MiB`)
  } finally {
    fs.rmSync(dir, {recursive: true, force: true})
  }
}

main().catch(error => {
  console.error(error)
  process.exit(1)
})
