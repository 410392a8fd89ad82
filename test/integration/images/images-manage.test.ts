// pivot images, rmi and prune on a real cache made by `pivot import`.
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {pivot, tempDir} from '../../helpers/fixtures'
import {pivotAsync} from '../../helpers/concurrency'
import {makeTar} from '../../helpers/tar-builder'
import {processStartTime} from '../../../src/store/container-record'
import type {ImageSummary} from '../../../src/images/list-images'
import type {PruneReport} from '../../../src/images/prune-cache'

function ok(r: {status: number | null; stdout: string; stderr: string}): string {
  assert.equal(r.status, 0, r.stderr)
  return r.stdout
}

/** A cache with images from distinct one-file archives; returns {name: image id}. */
function cacheWith(names: Record<string, number>): {cache: string; dir: string; ids: Record<string, string>} {
  const dir = tempDir('pivot-manage')
  const cache = path.join(dir, 'cache')
  const ids: Record<string, string> = {}
  for (const [name, bytes] of Object.entries(names)) {
    const file = path.join(dir, `${name.replace(/\W/g, '_')}.tar`)
    fs.writeFileSync(file, makeTar([{path: 'etc/'}, {path: `etc/${name.replace(/\W/g, '_')}`, data: Buffer.alloc(bytes, 1)}]))
    ids[name] = ok(pivot(['import', file, name], {cacheDir: cache})).trim()
  }
  return {cache, dir, ids}
}

function images(cache: string): ImageSummary[] {
  return JSON.parse(ok(pivot(['images', '--json'], {cacheDir: cache}))) as ImageSummary[]
}

function prune(cache: string): PruneReport {
  return JSON.parse(ok(pivot(['prune', '--json'], {cacheDir: cache}))) as PruneReport
}

test('images --json: names, id, size from the layer record, times, layers, source', () => {
  const before = Date.now()
  const {cache, ids} = cacheWith({alpha: 1000, 'localhost:5000/team/beta:2': 2500})
  const list = images(cache)
  assert.equal(list.length, 2)
  for (const image of list) {
    assert.deepEqual(Object.keys(image).sort(), ['added', 'created', 'id', 'layers', 'names', 'size', 'source'])
    assert.match(image.id, /^sha256:[0-9a-f]{64}$/)
    assert.equal(image.layers.length, 1)
    assert.ok(Date.parse(image.added) >= before - 1000 && Date.parse(image.added) <= Date.now())
    assert.equal(image.source.kind, 'import')
  }
  const alpha = list.find(i => i.id === ids.alpha)!
  assert.deepEqual(alpha.names, ['docker.io/library/alpha:latest'])
  assert.equal(alpha.size, 1000)
  assert.equal(list.find(i => i.id === ids['localhost:5000/team/beta:2'])!.size, 2500)
})

test('images: a table with familiar names, 12-hex ids, docker-style sizes and ages, <none>', () => {
  const {cache, ids} = cacheWith({alpha: 1000, 'localhost:5000/team/beta:2': 2500, gamma: 10})
  ok(pivot(['import', '--force', '-', 'gamma'], {cacheDir: cache, input: makeTar([{path: 'other', data: 'x'}])}))
  const lines = ok(pivot(['images'], {cacheDir: cache}))
    .trimEnd()
    .split('\n')
  assert.match(lines[0], /^NAME +IMAGE ID +SIZE +CREATED +ADDED$/)
  const rows = lines.slice(1).map(l => l.split(/ {3,}/))
  assert.equal(rows.length, 4)
  const row = (name: string) => rows.find(r => r[0] === name)
  const alpha = row('alpha:latest')
  assert.deepEqual(alpha?.slice(0, 3), ['alpha:latest', ids.alpha.slice(7, 19), '1kB'])
  assert.match(alpha[3], /^(Less than a second|\d+ seconds?) ago$/)
  assert.match(alpha[4], /^(Less than a second|\d+ seconds?) ago$/)
  assert.equal(row('localhost:5000/team/beta:2')?.[2], '2.5kB')
  assert.equal(row('<none>')?.[1], ids.gamma.slice(7, 19))
})

test('rmi: by name, by id, several at once; unknown ones fail without stopping the rest', () => {
  const {cache, ids} = cacheWith({one: 10, two: 20, three: 30})
  ok(pivot(['import', '-', 'one:alias'], {cacheDir: cache, input: fs.readFileSync(path.join(path.dirname(cache), 'one.tar'))}))

  const a = pivot(['rmi', 'one'], {cacheDir: cache})
  assert.equal(a.stdout, 'Untagged: one:latest\n')
  assert.ok(
    images(cache).some(i => i.id === ids.one),
    'still named one:alias',
  )

  // By id with two names: refused without --force.
  ok(pivot(['import', '-', 'two:alias'], {cacheDir: cache, input: fs.readFileSync(path.join(path.dirname(cache), 'two.tar'))}))
  const refused = pivot(['rmi', ids.two.slice(7, 19)], {cacheDir: cache})
  assert.notEqual(refused.status, 0)
  assert.match(refused.stderr, /^pivot: image [0-9a-f]{12} has several names .*--force\n$/)
  const forced = pivot(['rmi', '-f', ids.two.slice(7, 19)], {cacheDir: cache})
  assert.equal(forced.stdout, `Untagged: two:alias\nUntagged: two:latest\nDeleted: ${ids.two}\n`)

  const mixed = pivot(['rmi', 'nosuch', 'one:alias', 'three', 'also-missing'], {cacheDir: cache})
  assert.notEqual(mixed.status, 0)
  assert.equal(mixed.stderr, 'pivot: no such image: "nosuch"\npivot: no such image: "also-missing"\n')
  assert.equal(mixed.stdout, `Untagged: one:alias\nDeleted: ${ids.one}\nUntagged: three:latest\nDeleted: ${ids.three}\n`)
  assert.deepEqual(images(cache), [])
  // Layers wait for prune.
  assert.equal(fs.readdirSync(path.join(cache, 'layers')).length, 3)
})

test('rmi refuses an image a running container uses, unless --force', t => {
  const {cache, ids} = cacheWith({busy: 10})
  const sleeper = spawn('sleep', ['60'], {stdio: 'ignore'})
  t.after(() => sleeper.kill('SIGKILL'))
  // The record a `pivot run` owned by the sleeper would write (src/store/container-record.ts).
  const id = 'c0ffee'.repeat(10) + 'c0ff'
  const dir = path.join(cache, 'containers', id)
  fs.mkdirSync(dir, {recursive: true})
  const owner = {pid: sleeper.pid!, startTime: processStartTime(sleeper.pid!)!}
  fs.writeFileSync(
    path.join(dir, 'state.json'),
    JSON.stringify({
      id,
      image: ids.busy,
      layers: [],
      command: ['sh'],
      hostname: 'x',
      status: 'running',
      owner,
      limits: {},
      remove: true,
      created: new Date().toISOString(),
    }),
  )
  const r = pivot(['rmi', 'busy'], {cacheDir: cache})
  assert.notEqual(r.status, 0)
  assert.equal(r.stderr, `pivot: image busy is used by running container ${id.slice(0, 12)}: stop it first, or use --force\n`)
  assert.equal(images(cache).length, 1)
  ok(pivot(['rmi', '--force', 'busy'], {cacheDir: cache}))
  assert.equal(images(cache).length, 0)
  fs.rmSync(dir, {recursive: true})
})

test('prune: removes unnamed images, orphan layers, stale links and dead staging; keeps the rest', () => {
  const {cache, ids} = cacheWith({keep: 100, drop: 4000, cached: 50})
  const layerOf = (id: string) => images(cache).find(i => i.id === id)!.layers[0]
  const keepLayer = layerOf(ids.keep)
  const dropLayer = layerOf(ids.drop)
  const cachedLayer = layerOf(ids.cached)
  // A build cache record pins `cached`'s layer after its image is gone.
  fs.mkdirSync(path.join(cache, 'build-cache'))
  fs.writeFileSync(path.join(cache, 'build-cache', 'step.json'), JSON.stringify({key: 'x', layers: [cachedLayer]}))
  ok(pivot(['rmi', 'drop', 'cached'], {cacheDir: cache}))
  // An unnamed image record (a replaced name) and a name pointing nowhere.
  ok(pivot(['import', '--force', '-', 'keep'], {cacheDir: cache, input: makeTar([{path: 'new', data: 'n'}])}))
  fs.writeFileSync(path.join(cache, 'refs', encodeURIComponent('docker.io/library/ghost:latest')), 'sha256:' + 'e'.repeat(64) + '\n')
  fs.symlinkSync('../layers/' + 'd'.repeat(64) + '/rootfs', path.join(cache, 'l', 'dddddddddddd'))
  const stale = path.join(cache, 'tmp', `${2 ** 22 + 1}-0123456789ab-pull`)
  fs.mkdirSync(stale)
  fs.writeFileSync(path.join(stale, 'half'), Buffer.alloc(700))

  // A layer's tar-split (what push and save rebuild its tar from) goes with it.
  const splitBytes = [dropLayer, keepLayer].reduce((n, l) => n + fs.statSync(path.join(cache, 'layers', l.slice(7), 'tar-split')).size, 0)
  const report = prune(cache)
  assert.deepEqual(report.errors, [])
  assert.deepEqual(report.names, ['docker.io/library/ghost:latest'])
  assert.deepEqual(report.images, [ids.keep])
  assert.deepEqual(report.layers.sort(), [dropLayer, keepLayer].sort())
  assert.deepEqual(report.links, ['dddddddddddd'])
  assert.deepEqual(report.tmp, [path.basename(stale)])
  assert.equal(report.reclaimedBytes, 4000 + 100 + 700 + splitBytes)
  assert.ok(fs.existsSync(path.join(cache, 'layers', cachedLayer.slice(7), 'rootfs')))
  assert.ok(!fs.existsSync(path.join(cache, 'layers', dropLayer.slice(7))))
  assert.ok(!fs.existsSync(path.join(cache, 'l', dropLayer.slice(7, 19))))
  // What is named stays whole.
  const [kept] = images(cache)
  assert.deepEqual(kept.names, ['docker.io/library/keep:latest'])
  assert.ok(fs.existsSync(path.join(cache, 'l', kept.layers[0].slice(7, 19), 'new')))

  // Nothing left to do: a second prune removes nothing.
  const again = prune(cache)
  assert.deepEqual([again.images, again.layers, again.links, again.tmp, again.reclaimedBytes], [[], [], [], [], 0])
  const human = ok(pivot(['prune'], {cacheDir: cache}))
  assert.equal(human, 'Total reclaimed space: 0B\n')
})

test("prune keeps what a lease of a running pivot process pins, and drops a dead one's lease", t => {
  const {cache, dir} = cacheWith({})
  const file = path.join(dir, 'o.tar')
  fs.writeFileSync(file, makeTar([{path: 'orphan', data: 'o'}]))
  ok(pivot(['import', file, 'orphan'], {cacheDir: cache}))
  const [layer] = images(cache)[0].layers
  ok(pivot(['rmi', 'orphan'], {cacheDir: cache}))
  // The lease a pull, import, build or export in progress writes (src/store/gc-lock.ts).
  const worker = spawn('sleep', ['60'], {stdio: 'ignore'})
  t.after(() => worker.kill('SIGKILL'))
  fs.mkdirSync(path.join(cache, 'leases'), {recursive: true})
  const lease = path.join(cache, 'leases', `${worker.pid}-0.json`)
  const owner = {pid: worker.pid!, startTime: processStartTime(worker.pid!)!}
  fs.writeFileSync(lease, JSON.stringify({owner, purpose: 'pull', layers: [layer], images: []}))
  const report = prune(cache)
  assert.deepEqual(report.layers, [])
  assert.deepEqual(report.kept.layers, [layer])
  assert.deepEqual(report.kept.pids, [worker.pid])
  assert.ok(fs.existsSync(lease))
  worker.kill('SIGKILL')
  return new Promise<void>(resolve => worker.on('exit', () => resolve())).then(() => {
    const after = prune(cache)
    assert.deepEqual(after.layers, [layer])
    assert.deepEqual(after.kept.pids, [])
    assert.equal(fs.existsSync(lease), false, "a dead owner's lease is deleted")
  })
})

test('commands started together on a new cache all make it and work (no "already exists")', async () => {
  for (let round = 0; round < 5; round++) {
    const cache = path.join(tempDir('pivot-manage-new'), 'cache')
    const results = await Promise.all(Array.from({length: 4}, () => pivotAsync(['images', '--json'], {cacheDir: cache})))
    for (const r of results) assert.equal(r.status, 0, `round ${round}: ${r.stderr}`)
    for (const r of results) assert.deepEqual(JSON.parse(r.stdout), [])
  }
})
