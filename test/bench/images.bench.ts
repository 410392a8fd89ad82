// `pivot images` on a cache of 50 images (50 names and records over 5 small layers, made
// straight through the Store: the listing is what is measured, not imports). Prints the median
// wall time of `pivot images` and of `pivot images --json` next to the `node -e 0` floor of the
// same run and `pivot --version` (bin/pivot's lean start); goal: at most 2x the floor.
// NODE_EXTRA_CA_CERTS is removed from every command's environment.
// Not part of the suite: `npx tsc -p . && node dist/test/bench/images.bench.js [runs]`.
import {spawnSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {Store} from '../../src/store'
import {benchEnv} from './bench-env'

const RUNS = Number(process.argv[2] ?? 21)
const PIVOT = path.resolve(__dirname, '..', '..', '..', 'bin', 'pivot')

function makeCache(root: string): void {
  const store = Store.open(root)
  const layers: string[] = []
  for (let i = 0; i < 5; i++) {
    const digest = 'sha256:' + createHash('sha256').update(`bench-layer-${i}`).digest('hex')
    const staging = store.stage('bench')
    fs.mkdirSync(path.join(staging, 'rootfs'))
    fs.writeFileSync(path.join(staging, 'rootfs', 'f'), Buffer.alloc(1000 * (i + 1)))
    store.commitLayer(staging, {digest, tarSize: 2048 * (i + 1), entries: 1})
    layers.push(digest)
  }
  for (let i = 0; i < 50; i++) {
    const when = new Date(Date.now() - i * 3_600_000).toISOString()
    const image = store.writeImage({
      layers: layers.slice(0, 1 + (i % 5)),
      config: {Labels: {n: String(i)}},
      source: {kind: 'import', file: `/bench/${i}.tar`},
      created: when,
      added: when,
    })
    store.setRef(`docker.io/library/bench-${i}:latest`, image.id)
  }
}

function median(cmd: string, args: string[], env: NodeJS.ProcessEnv): number {
  const times: number[] = []
  for (let i = 0; i < RUNS + 2; i++) {
    const start = process.hrtime.bigint()
    const r = spawnSync(cmd, args, {env, stdio: ['ignore', 'pipe', 'pipe']})
    const ms = Number(process.hrtime.bigint() - start) / 1e6
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`)
    if (i >= 2) times.push(ms) // two warm-up runs
  }
  times.sort((a, b) => a - b)
  return times[Math.floor(times.length / 2)]
}

function main(): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pivot-bench-images-'))
  try {
    const cache = path.join(dir, 'cache')
    makeCache(cache)
    const env = benchEnv({PIVOT_CACHE_DIR: cache})
    const rows = spawnSync(PIVOT, ['images'], {env, encoding: 'utf8'}).stdout.trim().split('\n').length - 1
    if (rows !== 50) throw new Error(`expected 50 rows, got ${rows}`)
    const floor = median(process.execPath, ['-e', '0'], env)
    // bin/pivot's own start (no store, no listing): what `images` adds is the difference.
    const version = median(PIVOT, ['--version'], env)
    const table = median(PIVOT, ['images'], env)
    const json = median(PIVOT, ['images', '--json'], env)
    const line = (label: string, ms: number) => `${label.padEnd(24)} ${ms.toFixed(1).padStart(7)} ms   ${(ms / floor).toFixed(2)}x floor`
    console.log(`pivot images, 50 images over 5 layers, median of ${RUNS} runs`)
    console.log(line('node -e 0 (floor)', floor))
    console.log(line('pivot --version', version))
    console.log(line('pivot images', table))
    console.log(line('pivot images --json', json))
    console.log(`goal: at most 2x node -e 0 -> ${table <= 2 * floor && json <= 2 * floor ? 'met' : 'MISSED'}`)
  } finally {
    fs.rmSync(dir, {recursive: true, force: true})
  }
}

main()
