import {test} from 'node:test'
import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {createHash} from 'node:crypto'
import {Store} from '../../../src/store'
import {listImages} from '../../../src/images/list-images'
import {removeImage} from '../../../src/images/remove-image'
import {resolveImage} from '../../../src/images/resolve-image'
import {buildCacheLayers} from '../../../src/build/build-cache-layers'
import {ImageError} from '../../../src/images/image-error'
import {currentOwner} from '../../../src/store/container-record'

function tempStore(t: {after: (fn: () => void) => void}): Store {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pivot-images-unit-'))
  t.after(() => fs.rmSync(dir, {recursive: true, force: true}))
  return Store.open(path.join(dir, 'cache'))
}

/** A committed layer holding one file of `bytes` bytes (the digest is made up from `seed`). */
function addLayer(store: Store, seed: string, bytes: number): string {
  const digest = 'sha256:' + createHash('sha256').update(seed).digest('hex')
  const staging = store.stage('test')
  fs.mkdirSync(path.join(staging, 'rootfs'))
  fs.writeFileSync(path.join(staging, 'rootfs', 'file'), Buffer.alloc(bytes))
  store.commitLayer(staging, {digest, tarSize: bytes + 1024, entries: 1})
  return digest
}

function addImage(store: Store, layers: string[], names: string[], created: string, label = created): string {
  const image = store.writeImage({layers, config: {Labels: {label}}, source: {kind: 'import', file: '/x.tar'}, created, added: created})
  for (const n of names) store.setRef(n, image.id)
  return image.id
}

test('listImages: names grouped per image, sizes from layer records counted once, newest first', t => {
  const store = tempStore(t)
  const base = addLayer(store, 'base', 3000)
  const top = addLayer(store, 'top', 500)
  const old = addImage(store, [base], ['docker.io/library/base:latest'], '2024-01-01T00:00:00Z')
  const mid = addImage(store, [base, top, base], ['docker.io/library/app:1', 'docker.io/library/app:latest'], '2024-02-01T00:00:00Z')
  const unnamed = addImage(store, [top], [], '2024-03-01T00:00:00Z')
  const list = listImages(store)
  assert.deepEqual(
    list.map(i => i.id),
    [unnamed, mid, old],
  )
  assert.deepEqual(list[1].names, ['docker.io/library/app:1', 'docker.io/library/app:latest'])
  assert.deepEqual(list[0].names, [])
  assert.equal(list[2].size, 3000)
  assert.equal(list[1].size, 3500)
  assert.deepEqual(Object.keys(list[0]).sort(), ['added', 'created', 'id', 'layers', 'names', 'size', 'source'])
})

test('resolveImage: a name is normalised; an id prefix works; unknown is IMAGE_NOT_FOUND', t => {
  const store = tempStore(t)
  const id = addImage(store, [addLayer(store, 'l', 1)], ['docker.io/library/mybase:latest'], '2024-01-01T00:00:00Z')
  assert.equal(resolveImage(store, 'mybase').image.id, id)
  assert.equal(resolveImage(store, 'docker.io/library/mybase').name, 'docker.io/library/mybase:latest')
  assert.equal(resolveImage(store, id.slice(7, 19)).image.id, id)
  assert.equal(resolveImage(store, id).image.id, id)
  assert.throws(
    () => resolveImage(store, 'other'),
    (e: unknown) => e instanceof ImageError && e.code === 'IMAGE_NOT_FOUND',
  )
})

test('removeImage by name: untags, and deletes the record with the last name; layers stay', t => {
  const store = tempStore(t)
  const layer = addLayer(store, 'l', 10)
  const id = addImage(store, [layer], ['docker.io/library/a:1', 'docker.io/library/a:2'], '2024-01-01T00:00:00Z')
  assert.deepEqual(removeImage(store, 'a:1'), {image: 'a:1', untagged: ['docker.io/library/a:1']})
  assert.ok(store.readImage(id))
  assert.deepEqual(removeImage(store, 'a:2'), {image: 'a:2', untagged: ['docker.io/library/a:2'], deleted: id})
  assert.equal(store.readImage(id), undefined)
  assert.ok(store.hasLayer(layer))
  assert.throws(
    () => removeImage(store, 'a:2'),
    (e: unknown) => e instanceof ImageError && e.code === 'IMAGE_NOT_FOUND',
  )
})

test('removeImage by id: refused for an image with several names unless forced', t => {
  const store = tempStore(t)
  const id = addImage(store, [addLayer(store, 'l', 10)], ['docker.io/library/a:1', 'docker.io/library/b:1'], '2024-01-01T00:00:00Z')
  assert.throws(
    () => removeImage(store, id.slice(7, 19)),
    (e: unknown) => e instanceof ImageError && e.code === 'IMAGE_IN_USE',
  )
  assert.equal(store.refs().length, 2)
  const removed = removeImage(store, id.slice(7, 19), {force: true})
  assert.deepEqual(removed.untagged.sort(), ['docker.io/library/a:1', 'docker.io/library/b:1'])
  assert.equal(removed.deleted, id)
  assert.equal(store.refs().length, 0)
})

test('removeImage: an image a running container uses is refused without force', t => {
  const store = tempStore(t)
  const layer = addLayer(store, 'l', 10)
  const named = () => addImage(store, [layer], ['docker.io/library/a:1'], '2024-01-01T00:00:00Z')
  const id = named()
  const cid = 'c1'.repeat(32)
  const state = {
    id: cid,
    image: id,
    layers: [layer],
    command: ['sh'],
    hostname: 'h',
    status: 'running',
    owner: currentOwner(),
    limits: {},
    remove: true,
    created: '',
  }
  fs.mkdirSync(store.path('containers', cid))
  const record = (s: object) => fs.writeFileSync(store.path('containers', cid, 'state.json'), JSON.stringify(s))
  // An exited container, and one whose owner is gone (a killed run), do not hold the image.
  record({...state, status: 'exited'})
  assert.equal(removeImage(store, 'a:1').deleted, id)
  named()
  record({...state, owner: {pid: process.pid, startTime: '1'}})
  assert.equal(removeImage(store, 'a:1').deleted, id)
  named()
  record(state)
  assert.throws(
    () => removeImage(store, 'a:1'),
    (e: unknown) => e instanceof ImageError && e.code === 'IMAGE_IN_USE' && e.message.includes(cid.slice(0, 12)),
  )
  assert.ok(store.getRef('docker.io/library/a:1'))
  assert.ok(store.readImage(id))
  assert.equal(removeImage(store, 'a:1', {force: true}).deleted, id)
})

test('removeImage: a name left pointing at a missing record can still be removed', t => {
  const store = tempStore(t)
  store.setRef('docker.io/library/ghost:latest', 'sha256:' + 'f'.repeat(64))
  assert.deepEqual(removeImage(store, 'ghost'), {image: 'ghost', untagged: ['docker.io/library/ghost:latest']})
  assert.equal(store.refs().length, 0)
})

test('buildCacheLayers: honours build-cache/*.json with a layers array, ignores the rest', t => {
  const store = tempStore(t)
  fs.mkdirSync(store.path('build-cache'))
  fs.writeFileSync(store.path('build-cache', 'a.json'), JSON.stringify({layers: ['sha256:' + '1'.repeat(64)]}))
  fs.writeFileSync(store.path('build-cache', 'b.json'), '{half')
  fs.writeFileSync(store.path('build-cache', 'c.txt'), JSON.stringify({layers: ['sha256:' + '2'.repeat(64)]}))
  assert.deepEqual(buildCacheLayers(store), ['sha256:' + '1'.repeat(64)])
})
