// Rootless pivot (issue 14) against its peers, in one run on one machine:
//   - `pivot run --rm --net none IMG true` as the unprivileged test user (test/env/rootless.sh)
//     against the same as root, and against `runc --rootless` (a `runc spec --rootless` bundle of
//     the same rootfs, pivot's export, unpacked by the user; its spec has no network namespace of
//     its own: --net host is the like-for-like pivot mode for it, measured too)
//   - unpacking the Debian image (`pivot pull` from the local registry into an empty cache) as the
//     user, in its user namespace, against root's.
// Medians over rounds in which the commands take turns, with ratios.
// Not part of the suite: `npx tsc -p . && node dist/test/bench/rootless.bench.js [runs]` (as root,
// after test/env/setup.sh).
import {spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {BUSYBOX_IMAGE, DEBIAN_IMAGE, PIVOT_BIN, pivot, tempDir} from '../helpers/fixtures'
import {median} from '../helpers/median'
import {ROOTLESS_UID, pivotRootless, rootlessArgv, rootlessHome, runAsRootless} from '../helpers/rootless'
import {benchEnv} from './bench-env'

const RUNS = Number(process.argv[2] ?? 20)

interface Cmd {
  name: string
  argv: string[]
  env?: NodeJS.ProcessEnv
  /** Runs before each timed run, untimed (an empty cache for the unpack rounds). */
  before?: () => void
}

function measure(commands: Cmd[], runs: number, warmup: number): Map<string, number> {
  const times = commands.map(() => [] as number[])
  for (let round = 0; round < runs + warmup; round++) {
    commands.forEach((c, i) => {
      c.before?.()
      const t = process.hrtime.bigint()
      const r = spawnSync(c.argv[0], c.argv.slice(1), {env: c.env ?? benchEnv(), stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8'})
      const ms = Number(process.hrtime.bigint() - t) / 1e6
      if (r.status !== 0) throw new Error(`${c.name}: ${c.argv.join(' ')} exited ${r.status ?? r.signal}: ${r.stderr}`)
      if (round >= warmup) times[i].push(ms)
    })
  }
  return new Map(commands.map((c, i) => [c.name, median(times[i])]))
}

function main(): void {
  const home = rootlessHome()
  const rootCache = tempDir('pivot-bench-rootful')
  for (const image of [BUSYBOX_IMAGE]) {
    if (pivot(['pull', image], {cacheDir: rootCache}).status !== 0) throw new Error(`root pull of ${image} failed`)
    const r = pivotRootless(home, ['pull', image])
    if (r.status !== 0) throw new Error(`rootless pull of ${image} failed: ${r.stderr}`)
  }
  // runc --rootless's bundle: the same rootfs, unpacked by the user.
  const bundle = path.join(home.home, 'bundle')
  const tar = path.join(home.home, 'busybox.tar')
  if (pivotRootless(home, ['export', BUSYBOX_IMAGE, '-o', tar]).status !== 0) throw new Error('export failed')
  fs.mkdirSync(path.join(bundle, 'rootfs'), {recursive: true})
  for (const d of [bundle, path.join(bundle, 'rootfs')]) fs.chownSync(d, ROOTLESS_UID, ROOTLESS_UID)
  if (runAsRootless(home, ['tar', '-C', path.join(bundle, 'rootfs'), '-xf', tar]).status !== 0) throw new Error('tar failed')
  if (runAsRootless(home, ['runc', 'spec', '--rootless'], {cwd: bundle}).status !== 0) throw new Error('runc spec failed')
  const configFile = path.join(bundle, 'config.json')
  const config = JSON.parse(fs.readFileSync(configFile, 'utf8')) as {process: {args: string[]; terminal: boolean}}
  config.process.args = ['true']
  config.process.terminal = false
  fs.writeFileSync(configFile, JSON.stringify(config))
  // setpriv ... env -i VARS, without pivot at the end: runc as the user with the same environment.
  const asUserRaw = (argv: string[]) => ['setpriv', ...rootlessArgv(home, []).slice(0, -1), ...argv]
  const asUser = (args: string[]) => ['setpriv', ...rootlessArgv(home, args)]

  const runs = measure(
    [
      {name: 'rootless pivot run --net none', argv: asUser(['run', '--rm', '--net', 'none', BUSYBOX_IMAGE, 'true'])},
      {name: 'rootless pivot run --net host', argv: asUser(['run', '--rm', '--net', 'host', BUSYBOX_IMAGE, 'true'])},
      {
        name: 'root pivot run --net none',
        argv: [PIVOT_BIN, 'run', '--rm', '--net', 'none', BUSYBOX_IMAGE, 'true'],
        env: benchEnv({PIVOT_CACHE_DIR: rootCache}),
      },
      // runc run removes the container when it exits: one id serves every round.
      {name: 'runc --rootless run', argv: asUserRaw(['runc', '--root', path.join(home.runtime, 'runc'), 'run', '--bundle', bundle, 'pivot-bench-rootless'])},
    ],
    RUNS,
    3,
  )

  // Unpack of the Debian image into an empty cache, each round.
  const userCache = path.join(home.home, 'unpack-cache')
  const rootUnpack = tempDir('pivot-bench-unpack')
  const unpack = measure(
    [
      {
        name: 'rootless pull (unpack) debian',
        argv: asUser(['pull', '--cache-dir', userCache, DEBIAN_IMAGE]),
        before: () => {
          if (fs.existsSync(userCache)) runAsRootless(home, ['unshare', '--map-auto', '--map-root-user', 'rm', '-rf', userCache])
        },
      },
      {
        name: 'root pull (unpack) debian',
        argv: [PIVOT_BIN, 'pull', '--cache-dir', rootUnpack, DEBIAN_IMAGE],
        before: () => fs.rmSync(rootUnpack, {recursive: true, force: true}),
      },
    ],
    Math.max(3, Math.floor(RUNS / 4)),
    1,
  )

  const ms = (v: number | undefined) => `${(v ?? NaN).toFixed(1)} ms`
  const ratio = (a: string, b: string, m: Map<string, number>) => `${(m.get(a)! / m.get(b)!).toFixed(2)}x`
  console.log(`runs per command: ${RUNS} (pivot run), ${Math.max(3, Math.floor(RUNS / 4))} (unpack)`)
  for (const [name, v] of [...runs, ...unpack]) console.log(`${name.padEnd(34)} ${ms(v)}`)
  console.log(`rootless/root pivot run --net none:       ${ratio('rootless pivot run --net none', 'root pivot run --net none', runs)}`)
  console.log(`rootless pivot --net host/runc --rootless: ${ratio('rootless pivot run --net host', 'runc --rootless run', runs)}`)
  console.log(`rootless/root unpack of debian:           ${ratio('rootless pull (unpack) debian', 'root pull (unpack) debian', unpack)}`)
}

main()
