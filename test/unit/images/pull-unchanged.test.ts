// pullUnchanged (the one-request re-pull) against a registry served from this process on loopback
// (ports 5250-5299) and a temp store: it answers only when the registry still serves the exact
// manifest (or index, and the host's entry of it) the name's record was pulled from, and makes no
// request at all when the cache cannot answer for the image.
import assert from 'node:assert/strict'
import {createHash} from 'node:crypto'
import * as fs from 'node:fs'
import * as http from 'node:http'
import * as os from 'node:os'
import * as path from 'node:path'
import {after, before, describe, it} from 'node:test'
import type {ProgressEvent} from '../../../src/images/progress-event'
import {pullUnchanged} from '../../../src/images/pull-unchanged'
import {listenInRange} from '../../helpers/listen'
import {formatPlatform, hostPlatform} from '../../../src/registry'
import {Store, type ImageRecord} from '../../../src/store'

const roots: string[] = []
after(() => {
  for (const r of roots) fs.rmSync(r, {recursive: true, force: true})
})

const sha = (b: Buffer | string) => 'sha256:' + createHash('sha256').update(b).digest('hex')
const HOST = formatPlatform(hostPlatform())

/** A registry of one repository: path -> [content type, body]; every request is logged. */
interface Registry {
  domain: string
  routes: Map<string, {type: string; body: Buffer; status?: number}>
  log: string[]
}

let registry: Registry
let server: http.Server

before(async () => {
  registry = {domain: '', routes: new Map(), log: []}
  server = http.createServer((req, res) => {
    registry.log.push(`${req.method} ${req.url}`)
    const route = registry.routes.get(req.url ?? '')
    if (!route) {
      res.writeHead(404, {'Content-Type': 'application/json'})
      return res.end('{"errors":[{"code":"MANIFEST_UNKNOWN"}]}')
    }
    res.writeHead(route.status ?? 200, {'Content-Type': route.type, 'Docker-Content-Digest': sha(route.body)})
    res.end(route.body)
  })
  registry.domain = `127.0.0.1:${await listenInRange(server, 5250, 5299)}`
})
after(() => new Promise<void>(resolve => server.close(() => resolve())))

const CONFIG = Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}')
const LAYER_BLOB = 'sha256:' + 'ab'.repeat(32)

function imageManifest(config = CONFIG): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      config: {mediaType: 'application/vnd.docker.container.image.v1+json', digest: sha(config), size: config.length},
      layers: [{mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: LAYER_BLOB, size: 100}],
    }),
  )
}

function index(entries: Array<{manifest: Buffer; platform: string}>): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: entries.map(e => {
        const [os, architecture, variant] = e.platform.split('/')
        return {
          mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
          digest: sha(e.manifest),
          size: e.manifest.length,
          platform: {os, architecture, ...(variant ? {variant} : {})},
        }
      }),
    }),
  )
}

/** A store holding one layer and an image record pulled from `name` with these digests. */
function cached(name: string, source: {repoDigest: string; manifest: string; platform?: string; config?: Buffer}): {store: Store; record: ImageRecord} {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'pivot-unchanged-unit-'))
  roots.push(root)
  const store = Store.open(path.join(root, 'cache'))
  const staging = store.stage('layer')
  fs.mkdirSync(path.join(staging, 'rootfs', 'etc'), {recursive: true})
  fs.writeFileSync(path.join(staging, 'rootfs', 'etc', 'hostname'), 'x\n')
  const diffId = sha('a layer tar')
  store.commitLayer(staging, {digest: diffId, tarSize: 2048, entries: 2})
  const record = store.writeImage({
    layers: [diffId],
    config: {Cmd: ['/bin/sh']},
    source: {
      kind: 'registry',
      reference: name,
      dockerImageId: sha(source.config ?? CONFIG),
      repoDigest: source.repoDigest,
      manifest: source.manifest,
      ...(source.platform === undefined ? {platform: HOST} : source.platform === '' ? {} : {platform: source.platform}),
    },
    created: '2024-01-01T00:00:00Z',
    added: '2024-01-01T00:00:00Z',
  })
  store.setRef(name, record.id)
  return {store, record}
}

const MANIFEST_TYPE = 'application/vnd.docker.distribution.manifest.v2+json'

describe('pullUnchanged', () => {
  it('an unchanged manifest: one GET, the cached image as pullImage reports it, the same events', async () => {
    const manifest = imageManifest()
    registry.routes = new Map([['/v2/team/app/manifests/v1', {type: MANIFEST_TYPE, body: manifest}]])
    const name = `${registry.domain}/team/app:v1`
    const {store, record} = cached(name, {repoDigest: sha(manifest), manifest: sha(manifest)})
    const refs = fs.readdirSync(store.path('refs'))
    registry.log = []
    const events: ProgressEvent[] = []
    const r = await pullUnchanged(store, name, e => events.push(e))
    assert.deepEqual(registry.log, ['GET /v2/team/app/manifests/v1'])
    assert.deepEqual(r, {
      name,
      id: record.id,
      layers: record.layers,
      size: store.imageDiskSize(record),
      dockerImageId: sha(CONFIG),
      reused: true,
      warnings: [],
      source: 'registry',
      digest: sha(manifest),
    })
    assert.deepEqual(Object.keys(r!), ['name', 'id', 'layers', 'size', 'dockerImageId', 'reused', 'warnings', 'source', 'digest'])
    assert.deepEqual(events, [
      {type: 'phase', title: `Pulling ${name} from registry ${registry.domain}`},
      {type: 'pull', id: 'abababababab', status: 'Already exists'},
    ])
    assert.deepEqual(fs.readdirSync(store.path('refs')), refs)
  })

  it('a moved tag, a refusal or a failure: undefined, nothing emitted', async () => {
    const manifest = imageManifest()
    const name = `${registry.domain}/team/app:v1`
    const {store} = cached(name, {repoDigest: sha(manifest), manifest: sha(manifest)})
    const events: ProgressEvent[] = []
    const moved = imageManifest(Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["x"]}}'))
    for (const route of [
      {type: MANIFEST_TYPE, body: moved},
      {type: MANIFEST_TYPE, body: manifest, status: 401},
      {type: MANIFEST_TYPE, body: manifest, status: 500},
      {type: 'text/html', body: Buffer.from('<html>not a manifest</html>')},
    ]) {
      registry.routes = new Map([['/v2/team/app/manifests/v1', route]])
      assert.equal(await pullUnchanged(store, name, e => events.push(e)), undefined)
    }
    registry.routes = new Map()
    assert.equal(await pullUnchanged(store, name, e => events.push(e)), undefined, 'a 404')
    const nowhere = '127.0.0.1:5199/team/app:v1' // 5190-5199: where nothing listens (test/helpers/fault-proxy.ts)
    const offline = cached(nowhere, {repoDigest: sha(manifest), manifest: sha(manifest)})
    assert.equal(await pullUnchanged(offline.store, nowhere, e => events.push(e)), undefined, 'nothing listens')
    assert.deepEqual(events, [])
  })

  it("an index: its host entry must be the record's manifest", async () => {
    const mine = imageManifest()
    const other = imageManifest(Buffer.from('{"architecture":"s390x","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'))
    const idx = index([
      {manifest: other, platform: 'linux/s390x'},
      {manifest: mine, platform: HOST},
    ])
    registry.routes = new Map([
      ['/v2/team/multi/manifests/latest', {type: 'application/vnd.oci.image.index.v1+json', body: idx}],
      [`/v2/team/multi/manifests/${sha(mine)}`, {type: MANIFEST_TYPE, body: mine}],
    ])
    const name = `${registry.domain}/team/multi:latest`
    const {store, record} = cached(name, {repoDigest: sha(idx), manifest: sha(mine)})
    registry.log = []
    const r = await pullUnchanged(store, name, () => undefined)
    assert.equal(r?.id, record.id)
    assert.equal(r?.digest, sha(idx))
    assert.deepEqual(registry.log, ['GET /v2/team/multi/manifests/latest', `GET /v2/team/multi/manifests/${sha(mine)}`])

    // Pulled with --platform linux/s390x: a plain pull here wants the host's entry.
    const foreign = cached(name, {repoDigest: sha(idx), manifest: sha(other), platform: 'linux/s390x', config: Buffer.from('{}')})
    registry.log = []
    assert.equal(await pullUnchanged(foreign.store, name, () => undefined), undefined)
    assert.deepEqual(registry.log, [], 'decided from the record alone')
  })

  it('a cache that cannot answer for the image makes no request', async () => {
    const manifest = imageManifest()
    registry.routes = new Map([['/v2/team/app/manifests/v1', {type: MANIFEST_TYPE, body: manifest}]])
    const name = `${registry.domain}/team/app:v1`
    registry.log = []

    const noLayer = cached(name, {repoDigest: sha(manifest), manifest: sha(manifest)})
    fs.rmSync(path.join(noLayer.store.layerDir(noLayer.record.layers[0]), 'layer.json'))
    assert.equal(await pullUnchanged(noLayer.store, name, () => undefined), undefined)

    const noPlatform = cached(name, {repoDigest: sha(manifest), manifest: sha(manifest), platform: ''})
    assert.equal(await pullUnchanged(noPlatform.store, name, () => undefined), undefined)

    const noName = cached(name, {repoDigest: sha(manifest), manifest: sha(manifest)})
    assert.equal(await pullUnchanged(noName.store, `${registry.domain}/team/app:v2`, () => undefined), undefined)
    assert.equal(await pullUnchanged(noName.store, 'NOT A REFERENCE', () => undefined), undefined)

    const damaged = cached(name, {repoDigest: sha(manifest), manifest: sha(manifest)})
    fs.writeFileSync(damaged.store.path('images', `${damaged.record.id.slice(7)}.json`), '{not json')
    assert.equal(await pullUnchanged(damaged.store, name, () => undefined), undefined)

    assert.deepEqual(registry.log, [])
  })
})
