// Benchmark (not part of the suite): what keeping a layer's tar-split (src/unpack/tar-split.ts)
// costs and what it saves, on the Debian fixture. CPU seconds (user+sys of the command and every
// process it reaped, from /usr/bin/time), medians of interleaved rounds, so a loaded machine
// moves the figures little; wall times are printed too.
//
//   unpack    the layer's tar (uncompressed, from a file) unpacked by unpackLayer, with the
//             tar-split recorded vs without; and the tar-split's size beside the layer's.
//   push      `pivot push` of the daemon-pulled image to an empty registry, no kept blob (so the
//             layer is compressed): the original tar rebuilt from the tar-split + gzip vs a
//             re-pack of the layer's files + gzip (the tar-split removed), as before.
//   save      `pivot save -o FILE`: rebuilt vs re-packed.
//
//     npx tsc -p . && env -u NODE_EXTRA_CA_CERTS node dist/test/bench/tar-split.bench.js [rounds]
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
const ROUNDS = Number(process.argv[2] ?? 5)
const PORTS: [number, number] = [5320, 5339]

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'pivot-bench-tarsplit-'))
const env = benchEnv({PIVOT_CACHE_DIR: path.join(work, 'cache')})
process.on('exit', () => fs.rmSync(work, {recursive: true, force: true}))

interface Cost {
  cpu: number
  wall: number
}

/** Runs the command under /usr/bin/time: CPU (user+sys, children included) and wall seconds. */
function measure(cmd: string, args: string[]): Cost {
  const report = path.join(work, 'time.txt')
  const start = process.hrtime.bigint()
  const r = spawnSync('/usr/bin/time', ['-o', report, '-f', '%U %S', cmd, ...args], {env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe']})
  const wall = Number(process.hrtime.bigint() - start) / 1e9
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status}: ${r.stderr}`)
  const [user, sys] = fs.readFileSync(report, 'utf8').trim().split('\n').pop()!.split(' ').map(Number)
  return {cpu: user + sys, wall}
}

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, {env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20})
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status}: ${r.stderr}`)
  return r.stdout
}

function du(p: string): number {
  return Number(run('du', ['-sb', p]).split('\t')[0])
}

const show = (xs: Cost[]) => `cpu ${median(xs.map(x => x.cpu)).toFixed(2)} s, wall ${median(xs.map(x => x.wall)).toFixed(2)} s`

async function main(): Promise<void> {
  const pulled = JSON.parse(run(PIVOT, ['pull', '--json', '--source', 'daemon', IMAGE])) as {layers: string[]}
  const layer = path.join(env.PIVOT_CACHE_DIR!, 'layers', pulled.layers[0].slice(7))
  const split = path.join(layer, 'tar-split')

  // The layer's original tar, from the tar-split (what push and save now send).
  const tar = path.join(work, 'layer.tar')
  const dump = path.join(work, 'dump.js')
  fs.writeFileSync(
    dump,
    `const fs = require('fs'); const {pipeline} = require('stream/promises')
const {reassembleLayer} = require(${JSON.stringify(path.join(REPO_ROOT, 'dist', 'src', 'unpack', 'reassemble-layer'))})
pipeline(reassembleLayer(process.argv[2] + '/rootfs', process.argv[2] + '/tar-split', process.argv[3]), fs.createWriteStream(process.argv[4])).catch(e => { console.error(e.message); process.exit(1) })`,
  )
  run(process.execPath, [dump, layer, pulled.layers[0], tar])

  const unpacker = path.join(work, 'unpack.js')
  fs.writeFileSync(
    unpacker,
    `const fs = require('fs')
const {unpackLayer} = require(${JSON.stringify(path.join(REPO_ROOT, 'dist', 'src', 'unpack'))})
const [tar, dest, split] = process.argv.slice(2)
fs.mkdirSync(dest)
unpackLayer(fs.createReadStream(tar, {highWaterMark: 1 << 20}), dest, split ? {tarSplit: split} : {}).catch(e => { console.error(e.message); process.exit(1) })`,
  )
  const rows = {
    unpackPlain: [] as Cost[],
    unpackSplit: [] as Cost[],
    pushRebuilt: [] as Cost[],
    pushRepacked: [] as Cost[],
    saveRebuilt: [] as Cost[],
    saveRepacked: [] as Cost[],
  }
  let splitBytes = 0
  let treeBytes = 0
  for (let round = 0; round < ROUNDS; round++) {
    for (const recording of round % 2 ? [true, false] : [false, true]) {
      const dest = path.join(work, `unpacked-${round}-${recording}`)
      const file = path.join(work, `split-${round}`)
      rows[recording ? 'unpackSplit' : 'unpackPlain'].push(measure(process.execPath, [unpacker, tar, dest, ...(recording ? [file] : [])]))
      if (recording) splitBytes = fs.statSync(file).size
      else treeBytes = du(dest)
      fs.rmSync(dest, {recursive: true, force: true})
      fs.rmSync(file, {force: true})
    }
    for (const rebuilt of round % 2 ? [true, false] : [false, true]) {
      // No kept blob: the push compresses the layer (and keeps the blob, removed here again).
      for (const f of ['blob.json', 'blob']) fs.rmSync(path.join(layer, f), {force: true})
      const aside = `${split}.aside`
      if (!rebuilt) fs.renameSync(split, aside)
      const registry = await startScratchRegistry({ports: PORTS})
      try {
        const name = `${registry.host}/bench-tarsplit-${process.pid}/debian:${round}`
        run(PIVOT, ['tag', IMAGE, name])
        rows[rebuilt ? 'pushRebuilt' : 'pushRepacked'].push(measure(PIVOT, ['push', '-q', name]))
        run(PIVOT, ['rmi', name])
        const out = path.join(work, `saved-${round}.tar`)
        rows[rebuilt ? 'saveRebuilt' : 'saveRepacked'].push(measure(PIVOT, ['save', IMAGE, '-o', out]))
        fs.rmSync(out, {force: true})
      } finally {
        await registry.stop()
        if (!rebuilt) fs.renameSync(aside, split)
      }
    }
  }
  const tarBytes = fs.statSync(tar).size
  const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`
  console.log(
    `Debian fixture layer: tar ${mb(tarBytes)}, unpacked ${mb(treeBytes)}, tar-split ${(splitBytes / 1e3).toFixed(0)} kB (${((100 * splitBytes) / treeBytes).toFixed(2)}% of the tree); ${ROUNDS} interleaved rounds, medians`,
  )
  console.log(`unpack, no tar-split       ${show(rows.unpackPlain)}`)
  console.log(
    `unpack, tar-split recorded ${show(rows.unpackSplit)}  (cpu ratio ${(median(rows.unpackSplit.map(x => x.cpu)) / median(rows.unpackPlain.map(x => x.cpu))).toFixed(2)})`,
  )
  console.log(`push (no kept blob), re-packed + gzip ${show(rows.pushRepacked)}`)
  console.log(
    `push (no kept blob), rebuilt + gzip   ${show(rows.pushRebuilt)}  (cpu ratio ${(median(rows.pushRebuilt.map(x => x.cpu)) / median(rows.pushRepacked.map(x => x.cpu))).toFixed(2)})`,
  )
  console.log(`save, re-packed                       ${show(rows.saveRepacked)}`)
  console.log(
    `save, rebuilt                         ${show(rows.saveRebuilt)}  (cpu ratio ${(median(rows.saveRebuilt.map(x => x.cpu)) / median(rows.saveRepacked.map(x => x.cpu))).toFixed(2)})`,
  )
  console.log(`load average at the end: ${os.loadavg()[0].toFixed(1)}`)
}

main().catch(error => {
  console.error(error)
  process.exit(1)
})
