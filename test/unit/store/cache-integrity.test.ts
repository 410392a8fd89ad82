import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {after, describe, it} from 'node:test'
import {Store, StoreError, describeFsError, openCacheRoot} from '../../../src/store'
import {compareTrees, measureTree} from '../../../src/store/layer-tree'
import {verifyLayer} from '../../../src/images/verify-layer'
import {checkCache} from '../../../src/images/check-cache'

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pivot-unit-integrity-'))
after(() => fs.rmSync(tmp, {recursive: true, force: true}))
let n = 0
const fresh = () => path.join(tmp, `c${n++}`)

function layerInto(store: Store, digest: string, files: Record<string, string>): void {
  const staging = store.stage('unit')
  fs.mkdirSync(path.join(staging, 'rootfs'))
  for (const [file, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(staging, 'rootfs', file)), {recursive: true})
    fs.writeFileSync(path.join(staging, 'rootfs', file), content)
  }
  store.commitLayer(staging, {digest, tarSize: 1, entries: Object.keys(files).length})
}

const D1 = `sha256:${'1'.repeat(64)}`

describe('describeFsError', () => {
  it('turns a Node file system error into one line with the path and the cause', () => {
    const error = Object.assign(new Error("EROFS: read-only file system, mkdir '/c/tmp/x'"), {code: 'EROFS', syscall: 'mkdir', path: '/c/tmp/x'})
    const described = describeFsError(error)
    assert.ok(described instanceof StoreError)
    assert.equal(described.message, 'cannot create the directory /c/tmp/x: read-only file system')
    assert.equal(described.code, 'STORE_IO')
  })

  it('leaves anything else alone', () => {
    assert.equal(describeFsError(new Error('boom')), undefined)
    assert.equal(describeFsError(Object.assign(new Error('x'), {code: 'ECONNREFUSED', syscall: 'connect'})), undefined)
  })
})

describe('openCacheRoot', () => {
  it('makes the root 0700 with its top-level directories', () => {
    const root = fresh()
    assert.equal(openCacheRoot(root), root)
    assert.equal(fs.statSync(root).mode & 0o777, 0o700)
    for (const dir of ['layers', 'l', 'images', 'refs', 'containers', 'tmp', 'locks']) assert.ok(fs.lstatSync(path.join(root, dir)).isDirectory())
  })

  it('refuses a group- or other-writable root or top-level directory, with the chmod that fixes it', () => {
    const root = fresh()
    openCacheRoot(root)
    fs.chmodSync(path.join(root, 'l'), 0o777)
    assert.throws(
      () => openCacheRoot(root),
      (e: StoreError) => e.code === 'STORE_UNSAFE' && e.message.endsWith(`fix it with: chmod go-w ${path.join(root, 'l')}`),
    )
    fs.chmodSync(path.join(root, 'l'), 0o700)
    fs.chmodSync(root, 0o770)
    assert.throws(() => openCacheRoot(root), /the cache root .* is writable by its group/)
  })

  it('refuses a top-level entry that is a file or a symlink', () => {
    const root = fresh()
    openCacheRoot(root)
    fs.rmdirSync(path.join(root, 'tmp'))
    fs.writeFileSync(path.join(root, 'tmp'), '')
    assert.throws(
      () => openCacheRoot(root),
      (e: StoreError) => e.code === 'STORE_DAMAGED' && /tmp\/ .* is not a directory: move it away/.test(e.message),
    )
    fs.rmSync(path.join(root, 'tmp'))
    fs.symlinkSync(os.tmpdir(), path.join(root, 'tmp'))
    assert.throws(() => openCacheRoot(root), /is a symbolic link, not a directory/)
  })
})

describe('layer manifests', () => {
  it('are recorded at commit, and name what changed, went missing or was added', () => {
    const store = Store.open(fresh())
    layerInto(store, D1, {'bin/a': 'aaaa', 'etc/b': 'bb'})
    assert.match(store.readLayer(D1).manifest ?? '', /^sha256:[0-9a-f]{64}$/)
    assert.deepEqual(verifyLayer(store, D1).problems, [])
    const rootfs = store.layerRootfs(D1)
    fs.truncateSync(path.join(rootfs, 'bin', 'a'), 1)
    fs.rmSync(path.join(rootfs, 'etc', 'b'))
    fs.writeFileSync(path.join(rootfs, 'new'), '')
    const problems = verifyLayer(store, D1).problems
    assert.equal(problems.length, 3, problems.join('; '))
    assert.match(problems[0], /^bin\/a changed \(size 4 -> 1[,)]/) // and its mtime, unless within the same millisecond
    assert.equal(problems[1], 'etc/b is missing')
    assert.equal(problems[2], 'new was added')
  })

  it('walk names that are not UTF-8 (recorded in hex) and find them removed', () => {
    const store = Store.open(fresh())
    const staging = store.stage('unit')
    fs.mkdirSync(path.join(staging, 'rootfs'))
    fs.writeFileSync(Buffer.concat([Buffer.from(path.join(staging, 'rootfs') + '/'), Buffer.from([0x62, 0xff])]), 'x')
    const D2 = `sha256:${'2'.repeat(64)}`
    store.commitLayer(staging, {digest: D2, tarSize: 1, entries: 1})
    assert.match(fs.readFileSync(path.join(store.layerDir(D2), 'manifest'), 'utf8'), /"<hex:62ff>"/)
    assert.deepEqual(verifyLayer(store, D2).problems, [])
    fs.rmSync(Buffer.concat([Buffer.from(store.layerRootfs(D2) + '/'), Buffer.from([0x62, 0xff])]))
    assert.deepEqual(verifyLayer(store, D2).problems, ['<hex:62ff> is missing'])
  })

  it('compareTrees caps its list', () => {
    const before = measureTree(fs.mkdtempSync(path.join(tmp, 't'))).manifest
    const dir = fs.mkdtempSync(path.join(tmp, 't'))
    for (let i = 0; i < 8; i++) fs.writeFileSync(path.join(dir, `f${i}`), '')
    assert.deepEqual(compareTrees(before, measureTree(dir).manifest, 5).slice(5), ['and 3 more'])
  })

  it('a damaged layer counts as absent, and a new commit of it replaces it', () => {
    const store = Store.open(fresh())
    layerInto(store, D1, {a: '1'})
    fs.writeFileSync(path.join(store.layerDir(D1), 'layer.json'), '{')
    assert.equal(store.hasLayer(D1), false)
    assert.match(store.layerProblem(D1) ?? '', /layer\.json is unreadable/)
    layerInto(store, D1, {a: '1'})
    assert.equal(store.hasLayer(D1), true)
    assert.deepEqual(verifyLayer(store, D1).problems, [])
  })
})

describe('check --repair', () => {
  it('removes a damaged record and its names, and reports the cache sound', async () => {
    const store = Store.open(fresh())
    layerInto(store, D1, {a: '1'})
    const image = store.writeImage({
      layers: [D1],
      config: {},
      source: {kind: 'import', file: '/x.tar'},
      created: '2020-01-01T00:00:00Z',
      added: '2020-01-01T00:00:00Z',
    })
    store.setRef('docker.io/library/x:latest', image.id)
    assert.equal((await checkCache(store)).clean, true)
    fs.writeFileSync(store.path('images', `${image.id.slice(7)}.json`), '{"id":')
    const found = await checkCache(store)
    assert.equal(found.clean, false)
    assert.deepEqual(
      found.findings.map(f => [f.kind, f.action]),
      [['image', 'none']],
    )
    const repaired = await checkCache(store, {repair: true})
    assert.equal(repaired.clean, true)
    assert.deepEqual(store.refs(), [])
    assert.deepEqual((await checkCache(store)).findings, [], "an unused layer is prune's business, not damage")
  })

  it('counts leftovers of dead processes as garbage, not damage, and --repair removes them', async () => {
    const store = Store.open(fresh())
    fs.mkdirSync(store.path('tmp', '999999999-x-pull'))
    fs.writeFileSync(store.path('refs', 'docker.io%2Flibrary%2Fx%3Alatest.999999999.abc.tmp'), '')
    const found = await checkCache(store)
    assert.equal(found.clean, true)
    assert.deepEqual(
      found.findings.map(f => [f.path, f.leftover]),
      [
        ['refs/docker.io%2Flibrary%2Fx%3Alatest.999999999.abc.tmp', true],
        ['tmp/999999999-x-pull', true],
      ],
    )
    await checkCache(store, {repair: true})
    assert.deepEqual(fs.readdirSync(store.path('tmp')), [])
    assert.deepEqual(fs.readdirSync(store.path('refs')), [])
  })
})
