// The layer's kept compressed blob (layers/<hex>/blob + blob.json): what push sends, pull keeps,
// check verifies and prune frees with the layer.
import assert from 'node:assert/strict'
import {createHash} from 'node:crypto'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {after, describe, it} from 'node:test'
import {Store, type LayerBlob} from '../../../src/store'
import {verifyLayerBlob} from '../../../src/images/verify-layer'
import {checkCache} from '../../../src/images/check-cache'

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pivot-unit-blob-'))
after(() => fs.rmSync(tmp, {recursive: true, force: true}))
let n = 0
const fresh = () => Store.open(path.join(tmp, `c${n++}`))
const D1 = `sha256:${'1'.repeat(64)}`

function staged(store: Store): string {
  const staging = store.stage('unit')
  fs.mkdirSync(path.join(staging, 'rootfs'))
  fs.writeFileSync(path.join(staging, 'rootfs', 'f'), 'x')
  return staging
}

function blobFile(store: Store, bytes: string): {file: string; blob: LayerBlob} {
  const file = path.join(store.stage('blob'), 'blob')
  fs.writeFileSync(file, bytes)
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`
  return {file, blob: {digest, size: Buffer.byteLength(bytes), compression: 'gzip', diffId: D1, sources: ['localhost:5000/a']}}
}

describe('kept layer blobs', () => {
  it('a blob staged with a layer arrives with its commit; a sound one is found, sources are added once', async () => {
    const store = fresh()
    const staging = staged(store)
    const {file, blob} = blobFile(store, 'compressed bytes')
    store.stageLayerBlob(staging, file, blob)
    store.commitLayer(staging, {digest: D1, tarSize: 1, entries: 1})
    assert.deepEqual(store.layerBlob(D1), blob)
    assert.equal(fs.readFileSync(store.layerBlobFile(D1), 'utf8'), 'compressed bytes')
    store.addBlobSource(D1, 'example:5000/b')
    store.addBlobSource(D1, 'example:5000/b')
    assert.deepEqual(store.layerBlob(D1)?.sources, ['localhost:5000/a', 'example:5000/b'])
    assert.equal(await verifyLayerBlob(store, D1), undefined)
  })

  it('a layer committed again brings its blob to the cached copy that had none; an existing blob wins', () => {
    const store = fresh()
    store.commitLayer(staged(store), {digest: D1, tarSize: 1, entries: 1})
    assert.equal(store.layerBlob(D1), undefined)
    const again = staged(store)
    const first = blobFile(store, 'first')
    store.stageLayerBlob(again, first.file, first.blob)
    store.commitLayer(again, {digest: D1, tarSize: 1, entries: 1})
    assert.equal(store.layerBlob(D1)?.digest, first.blob.digest)
    const second = blobFile(store, 'second')
    assert.equal(store.keepLayerBlob(D1, second.file, second.blob).digest, first.blob.digest)
    assert.equal(fs.existsSync(second.file), false, 'the loser is removed')
  })

  it('a blob whose size or bytes are not its record: absent for push, damage for check, removed by --repair (the layer stays)', async () => {
    const store = fresh()
    store.commitLayer(staged(store), {digest: D1, tarSize: 1, entries: 1})
    const {file, blob} = blobFile(store, 'abc')
    store.keepLayerBlob(D1, file, blob)
    fs.writeFileSync(store.layerBlobFile(D1), 'abd')
    assert.ok(store.layerBlob(D1), 'same size: only check, which hashes, sees it')
    assert.match((await verifyLayerBlob(store, D1))!, /has digest sha256:.*, not the sha256:/)
    fs.writeFileSync(store.layerBlobFile(D1), 'abcd')
    assert.equal(store.layerBlob(D1), undefined)
    const report = await checkCache(store, {repair: true})
    assert.deepEqual(
      report.findings.map(f => [f.kind, f.action]),
      [['blob', 'removed']],
    )
    assert.equal(fs.existsSync(store.layerBlobFile(D1)), false)
    assert.ok(store.hasLayer(D1))
    assert.equal((await checkCache(store)).clean, true)
  })

  it('a blob file without its record is a leftover that check names', async () => {
    const store = fresh()
    store.commitLayer(staged(store), {digest: D1, tarSize: 1, entries: 1})
    fs.writeFileSync(store.layerBlobFile(D1), 'orphan')
    assert.match((await verifyLayerBlob(store, D1))!, /without its blob\.json/)
    store.dropLayerBlob(D1)
    assert.equal(await verifyLayerBlob(store, D1), undefined)
  })
})

describe('prune and kept blobs', () => {
  it('a layer only the build cache lists keeps its tree but not its blob; an image layer keeps both; an unused layer goes with its blob', async () => {
    // No daemon in the unit tier: prune must not look for a flat pull's leftovers in one.
    const saved = process.env.DOCKER_HOST
    process.env.DOCKER_HOST = 'unix:///nonexistent/pivot-unit-docker.sock'
    try {
      const {pruneCache} = await import('../../../src/images/prune-cache')
      const store = fresh()
      const [image, built, unused] = ['2', '3', '4'].map(c => `sha256:${c.repeat(64)}`)
      for (const d of [image, built, unused]) {
        store.commitLayer(staged(store), {digest: d, tarSize: 1, entries: 1})
        const {file, blob} = blobFile(store, `blob of ${d}`)
        store.keepLayerBlob(d, file, {...blob, diffId: d})
      }
      const record = store.writeImage({layers: [image], config: {}, source: {kind: 'import', file: 'x'}, created: '', added: ''})
      store.setRef('docker.io/library/kept:latest', record.id)
      const report = await pruneCache(store, {pruneContainers: async () => [], buildCacheLayers: () => [built]})
      assert.deepEqual(report.layers, [unused])
      assert.deepEqual(report.blobs, [built])
      assert.ok(store.layerBlob(image))
      assert.ok(store.hasLayer(built) && !store.layerBlob(built))
      assert.equal(fs.existsSync(store.layerDir(unused)), false)
      assert.deepEqual(report.errors, [])
    } finally {
      if (saved === undefined) delete process.env.DOCKER_HOST
      else process.env.DOCKER_HOST = saved
    }
  })
})
