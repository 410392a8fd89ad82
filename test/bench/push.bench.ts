// Benchmark (not part of the suite): `pivot push` of the Debian fixture against `docker push` of
// the same image, each to an EMPTY registry of the same kind (Debian's docker-registry, a fresh
// one per command per round on 5200-5239), in one run, rounds taking turns:
//
//   cold      pivot push (the cache pulled the image from :5000, so its layer goes as the kept
//             registry blob) vs docker push (docker keeps no compressed blob: it gzips the layer).
//   cold, no kept blob  pivot push after the layer's blob was removed: pivot gzips it too (the
//             cost of the first push of a built, imported or daemon-pulled layer).
//   again     the unchanged image pushed a second time to the same registry: pivot vs docker
//             (both HEAD the blobs and put the manifest).
//
//     npx tsc -p . && node dist/test/bench/push.bench.js [rounds]
import {spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {median} from '../helpers/median'
import {startScratchRegistry} from '../helpers/scratch-registry'
import {benchEnv} from './bench-env'

const IMAGE = 'localhost:5000/pivot-test/debian:bookworm'
const REPO_ROOT = path.resolve(__dirname, '..', '..', '..')
const PIVOT = path.join(REPO_ROOT, 'bin', 'pivot')
const DOCKER = fs.existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker'
const ROUNDS = Number(process.argv[2] ?? 3)
const REPO = `bench-push-${process.pid}/debian:bookworm`

const env = benchEnv()
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'pivot-bench-push-'))
env.PIVOT_CACHE_DIR = path.join(work, 'cache')
const dockerTags: string[] = []
process.on('exit', () => {
  for (const tag of dockerTags) spawnSync(DOCKER, ['rmi', tag], {stdio: 'ignore'})
  fs.rmSync(work, {recursive: true, force: true})
})

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, {env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe']})
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status}: ${r.stderr}`)
}

function time(cmd: string, args: string[]): number {
  const start = process.hrtime.bigint()
  run(cmd, args)
  return Number(process.hrtime.bigint() - start) / 1e6
}

/** The Debian layer's kept blob (layers/<hex>/blob): what the "no kept blob" rows remove first. */
function layerDirs(): string[] {
  const layers = path.join(env.PIVOT_CACHE_DIR!, 'layers')
  return fs.readdirSync(layers).map(h => path.join(layers, h))
}

async function main(): Promise<void> {
  run(PIVOT, ['pull', '-q', '--source', 'registry', IMAGE])
  const rows: Record<string, number[]> = {pivotCold: [], pivotCompress: [], dockerCold: [], pivotAgain: [], dockerAgain: []}
  for (let round = 0; round < ROUNDS; round++) {
    for (const who of ['pivot', 'compress', 'docker'] as const) {
      const registry = await startScratchRegistry()
      try {
        const name = `${registry.host}/${REPO}`
        if (who === 'docker') {
          run(DOCKER, ['tag', IMAGE, name])
          dockerTags.push(name)
          rows.dockerCold.push(time(DOCKER, ['push', name]))
          rows.dockerAgain.push(time(DOCKER, ['push', name]))
          run(DOCKER, ['rmi', name])
          dockerTags.pop()
        } else {
          run(PIVOT, ['tag', IMAGE, name])
          if (who === 'compress') {
            // A pull keeps the registry's blob; without it pivot gzips the layer (and keeps the result).
            for (const dir of layerDirs()) for (const f of ['blob.json', 'blob']) fs.rmSync(path.join(dir, f), {force: true})
            rows.pivotCompress.push(time(PIVOT, ['push', name]))
          } else {
            rows.pivotCold.push(time(PIVOT, ['push', name]))
            rows.pivotAgain.push(time(PIVOT, ['push', name]))
          }
          run(PIVOT, ['rmi', name])
        }
      } finally {
        await registry.stop()
      }
    }
    // The next round's plain pivot push needs the registry's blob back: pull it again into a fresh cache.
    fs.rmSync(env.PIVOT_CACHE_DIR!, {recursive: true, force: true})
    run(PIVOT, ['pull', '-q', '--source', 'registry', IMAGE])
    process.stderr.write(`round ${round + 1}/${ROUNDS} done\n`)
  }
  const m = (xs: number[]) => median(xs)
  const fmt = (xs: number[]) => `${m(xs).toFixed(0)} ms [${Math.min(...xs).toFixed(0)}]`
  const load = os.loadavg()[0].toFixed(1)
  console.log(`push of ${IMAGE} to an empty docker-registry, ${ROUNDS} rounds, load ${load} (median [min])`)
  console.log(
    `cold, kept registry blob   pivot ${fmt(rows.pivotCold)}   docker push ${fmt(rows.dockerCold)}   ratio ${(m(rows.pivotCold) / m(rows.dockerCold)).toFixed(2)}`,
  )
  console.log(
    `cold, layer gzipped first  pivot ${fmt(rows.pivotCompress)}   docker push ${fmt(rows.dockerCold)}   ratio ${(m(rows.pivotCompress) / m(rows.dockerCold)).toFixed(2)}`,
  )
  console.log(
    `again (unchanged)          pivot ${fmt(rows.pivotAgain)}   docker push ${fmt(rows.dockerAgain)}   ratio ${(m(rows.pivotAgain) / m(rows.dockerAgain)).toFixed(2)}`,
  )
}

main().catch(error => {
  console.error(error instanceof Error ? error.message : error)
  process.exit(1)
})
