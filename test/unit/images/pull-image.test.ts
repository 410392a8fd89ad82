import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {after, describe, it} from 'node:test'
import {gzipSync} from 'node:zlib'
import {DaemonError, FakeDaemon} from '../../../src/daemon'
import {EXPORT_LABEL, EXPORT_PLACEHOLDER_CMD, pullImage} from '../../../src/images/pull-image'
import {ImageReferenceError} from '../../../src/reference'
import {Store} from '../../../src/store'
import type {ProgressEvent} from '../../../src/images/progress-event'
import {brokenStream, daemonImage, fakeUnpack, imageId, layer, legacySave, ociSave, sha256, streamOf, type UnpackLog} from './image-archives'

const roots: string[] = []
after(() => {
  for (const r of roots) fs.rmSync(r, {recursive: true, force: true})
})

function freshStore(): Store {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'pivot-pull-unit-'))
  roots.push(root)
  return Store.open(path.join(root, 'cache'))
}

/** What a failed pull must not change: every entry under layers/, l/, images/, refs/ and tmp/. */
function listing(store: Store): string[] {
  const out: string[] = []
  for (const dir of ['layers', 'l', 'images', 'refs', 'tmp']) {
    for (const e of fs.readdirSync(store.path(dir))) out.push(`${dir}/${e}`)
  }
  return out.sort()
}

const BASE = layer('bin/busybox', 'busybox binary')
const APP = layer('app/run', 'application')
const OTHER = layer('etc/other', 'something else')

interface Setup {
  store: Store
  daemon: FakeDaemon
  log: UnpackLog
  events: ProgressEvent[]
  pull: (ref: string, extra?: Parameters<typeof pullImage>[2]) => ReturnType<typeof pullImage>
}

function setup(store = freshStore()): Setup {
  const daemon = new FakeDaemon()
  const log: UnpackLog = {calls: 0, digests: []}
  const events: ProgressEvent[] = []
  return {
    store,
    daemon,
    log,
    events,
    pull: (ref, extra = {}) => pullImage(store, ref, {source: 'daemon', daemon, unpack: fakeUnpack(log), onProgress: e => events.push(e), ...extra}),
  }
}

/** Registers an image in the fake registry (so a pull brings it) with a legacy save stream. */
function inRegistry(
  daemon: FakeDaemon,
  name: string,
  id: string,
  layers: Buffer[],
  save: () => NodeJS.ReadableStream = () => streamOf(legacySave(id, layers)),
) {
  const image = {image: daemonImage(id, layers.map(sha256)), save, export: () => streamOf(layer('flat/file', `flat of ${id}`))}
  daemon.registry.set(name, image)
  return image
}

describe('pullImage: layered (docker save)', () => {
  it('pulls, unpacks each layer, verifies, commits and names the image (legacy save layout)', async () => {
    const s = setup()
    const id = imageId('two-layers')
    inRegistry(s.daemon, 'docker.io/library/busybox:latest', id, [BASE, APP])
    const r = await s.pull('busybox')
    assert.equal(r.name, 'docker.io/library/busybox:latest')
    assert.equal(r.dockerImageId, id)
    assert.deepEqual(r.layers, [sha256(BASE), sha256(APP)])
    assert.equal(r.reused, false)
    assert.equal(s.log.calls, 2)
    assert.equal(fs.readFileSync(path.join(s.store.layerRootfs(sha256(BASE)), 'bin/busybox'), 'utf8'), 'busybox binary')
    assert.equal(fs.readFileSync(path.join(s.store.layerRootfs(sha256(APP)), 'app/run'), 'utf8'), 'application')
    const record = s.store.readImage(r.id)!
    assert.deepEqual(record.source, {kind: 'daemon', reference: r.name, dockerImageId: id})
    assert.deepEqual(record.config, {Cmd: ['/bin/sh']})
    assert.equal(record.created, '2024-01-01T00:00:00Z')
    assert.equal(s.store.getRef('docker.io/library/busybox:latest'), r.id)
    assert.deepEqual(fs.readdirSync(s.store.path('tmp')), [])
    assert.ok(s.daemon.calls.includes(`save ${id}`))
    // Progress: the pull phase with the daemon's lines, then the unpack phase.
    assert.deepEqual(s.events[0], {type: 'phase', title: 'Pulling busybox:latest through the Docker daemon'})
    assert.ok(s.events.some(e => e.type === 'pull' && e.status === 'Pull complete'))
    assert.ok(s.events.some(e => e.type === 'detail' && e.title === 'Unpacking layer 2/2'))
  })

  it('re-pulling an unchanged image only re-points the name: no save, no unpack', async () => {
    const s = setup()
    const id = imageId('repull')
    inRegistry(s.daemon, 'docker.io/library/busybox:latest', id, [BASE])
    const first = await s.pull('busybox')
    const recordFile = s.store.path('images', `${first.id.slice(7)}.json`)
    const mtime = fs.statSync(recordFile).mtimeMs
    s.daemon.calls.length = 0
    const again = await s.pull('busybox:latest')
    assert.equal(again.id, first.id)
    assert.equal(again.reused, true)
    assert.equal(s.log.calls, 1)
    assert.ok(!s.daemon.calls.some(c => c.startsWith('save') || c.startsWith('create')), s.daemon.calls.join(', '))
    assert.equal(fs.statSync(recordFile).mtimeMs, mtime)
  })

  it('two names for one image share one record and its layers', async () => {
    const s = setup()
    const id = imageId('shared')
    inRegistry(s.daemon, 'localhost:5000/a/busybox:latest', id, [BASE])
    inRegistry(s.daemon, 'localhost:5000/b/busybox:v1', id, [BASE])
    const a = await s.pull('localhost:5000/a/busybox')
    const b = await s.pull('localhost:5000/b/busybox:v1')
    assert.equal(a.id, b.id)
    assert.equal(b.reused, true)
    assert.equal(s.store.listImages().length, 1)
    assert.equal(s.store.listLayers().length, 1)
    assert.deepEqual(s.store.namesOf(a.id), ['localhost:5000/a/busybox:latest', 'localhost:5000/b/busybox:v1'])
  })

  it('does not unpack layers the store already has (legacy: hashed only)', async () => {
    const s = setup()
    inRegistry(s.daemon, 'docker.io/library/base:latest', imageId('base'), [BASE])
    await s.pull('base')
    assert.equal(s.log.calls, 1)
    inRegistry(s.daemon, 'docker.io/library/app:latest', imageId('app'), [BASE, APP])
    const r = await s.pull('app')
    assert.equal(s.log.calls, 2, 'only the new layer is unpacked')
    assert.deepEqual(s.log.digests, [sha256(BASE), sha256(APP)])
    assert.deepEqual(r.layers, [sha256(BASE), sha256(APP)])
    assert.equal(s.store.listLayers().length, 2)
  })

  it('skips the save entirely when every layer is cached (a new docker id, same layers)', async () => {
    const s = setup()
    inRegistry(s.daemon, 'docker.io/library/base:latest', imageId('base'), [BASE])
    await s.pull('base')
    inRegistry(s.daemon, 'docker.io/library/retagged:latest', imageId('rebuilt'), [BASE])
    s.daemon.calls.length = 0
    const r = await s.pull('retagged')
    assert.equal(r.reused, true)
    assert.ok(!s.daemon.calls.some(c => c.startsWith('save')))
  })

  it('reads a layer whose size equals a cached one twice rather than missing it', async () => {
    const s = setup()
    const same = layer('etc/other', 'SOMETHING ELSE') // same length as OTHER, other content
    assert.equal(same.length, OTHER.length)
    inRegistry(s.daemon, 'docker.io/library/one:latest', imageId('one'), [OTHER])
    await s.pull('one')
    // `two` holds the cached OTHER and a new layer of the same size: the first read only hashes
    // both (either may be OTHER), the second unpacks the new one.
    inRegistry(s.daemon, 'docker.io/library/two:latest', imageId('two'), [OTHER, same])
    s.daemon.calls.length = 0
    const r = await s.pull('two')
    assert.deepEqual(r.layers, [sha256(OTHER), sha256(same)])
    assert.equal(s.log.calls, 2)
    assert.equal(s.daemon.calls.filter(c => c.startsWith('save')).length, 2)
    assert.equal(fs.readFileSync(path.join(s.store.layerRootfs(sha256(same)), 'etc/other'), 'utf8'), 'SOMETHING ELSE')
    assert.deepEqual(fs.readdirSync(s.store.path('tmp')), [])
  })

  it('follows duplicate layers written as symlinks', async () => {
    const s = setup()
    const id = imageId('dup')
    inRegistry(s.daemon, 'docker.io/library/dup:latest', id, [BASE, APP, BASE], () => streamOf(legacySave(id, [BASE, APP, BASE], {duplicatesAsLinks: true})))
    const r = await s.pull('dup')
    assert.deepEqual(r.layers, [sha256(BASE), sha256(APP), sha256(BASE)])
    assert.equal(s.store.listLayers().length, 2)
  })

  for (const variant of ['with manifest.json', 'index.json only', 'gzip blobs'] as const) {
    it(`reads the OCI layout newer daemons write (${variant})`, async () => {
      const s = setup()
      const id = imageId(`oci-${variant}`)
      const save = () =>
        streamOf(
          ociSave(id, [BASE, APP], {
            withDockerManifest: variant !== 'index.json only',
            compress: variant === 'gzip blobs' ? b => gzipSync(b) : undefined,
          }),
        )
      inRegistry(s.daemon, 'docker.io/library/oci:latest', id, [BASE, APP], save)
      const r = await s.pull('oci')
      assert.deepEqual(r.layers, [sha256(BASE), sha256(APP)])
      assert.equal(s.log.calls, 2)
      assert.equal(fs.readFileSync(path.join(s.store.layerRootfs(sha256(APP)), 'app/run'), 'utf8'), 'application')
      assert.deepEqual(fs.readdirSync(s.store.path('tmp')), [])
    })
  }

  it('skips OCI blobs of cached layers unread', async () => {
    const s = setup()
    inRegistry(s.daemon, 'docker.io/library/base:latest', imageId('base'), [BASE])
    await s.pull('base')
    const id = imageId('oci-app')
    inRegistry(s.daemon, 'docker.io/library/app:latest', id, [BASE, APP], () => streamOf(ociSave(id, [BASE, APP])))
    await s.pull('app')
    assert.equal(s.log.calls, 2)
  })

  it('a layer whose digest differs from the diff id fails the pull and commits nothing', async () => {
    const s = setup()
    const id = imageId('liar')
    const image = inRegistry(s.daemon, 'docker.io/library/liar:latest', id, [BASE, APP], () => streamOf(legacySave(id, [BASE, OTHER])))
    image.image.diffIds = [sha256(BASE), sha256(APP)]
    const before = listing(s.store)
    await assert.rejects(s.pull('liar'), (e: Error & {code?: string}) => e.code === 'IMAGE_LAYER_MISMATCH' && /layer 2/.test(e.message))
    assert.deepEqual(listing(s.store), before)
  })

  it('a daemon that dies mid-stream fails the pull and leaves the cache as it was', async () => {
    const s = setup()
    const id = imageId('dies')
    const archive = legacySave(id, [BASE, APP])
    inRegistry(s.daemon, 'docker.io/library/dies:latest', id, [BASE, APP], () =>
      brokenStream(archive, 3000, new DaemonError('DAEMON_STREAM_FAILED', 'lost the Docker daemon while saving')),
    )
    const before = listing(s.store)
    await assert.rejects(s.pull('dies'), (e: Error & {code?: string}) => e.code === 'DAEMON_STREAM_FAILED')
    assert.deepEqual(listing(s.store), before)
  })

  it('a truncated stream fails the pull and leaves the cache as it was', async () => {
    const s = setup()
    const id = imageId('short')
    const archive = legacySave(id, [BASE, APP])
    inRegistry(s.daemon, 'docker.io/library/short:latest', id, [BASE, APP], () => streamOf(archive.subarray(0, 3000)))
    const before = listing(s.store)
    await assert.rejects(s.pull('short'), (e: Error & {code?: string}) => e.code === 'IMAGE_BAD_ARCHIVE')
    assert.deepEqual(listing(s.store), before)
  })

  it('an abort mid-stream stops everything, removes the staging dirs and commits nothing', async () => {
    const s = setup()
    const id = imageId('abort')
    const archive = legacySave(id, [BASE, APP])
    // Sends the first layer's header and part of its data, then hangs.
    const upTo = archive.indexOf('layer.tar') + 700
    inRegistry(s.daemon, 'docker.io/library/abort:latest', id, [BASE, APP], () => brokenStream(archive, upTo))
    const before = listing(s.store)
    const controller = new AbortController()
    const pulling = s.pull('abort', {signal: controller.signal})
    // Abort once the first layer is being unpacked.
    for (let i = 0; i < 400 && !s.events.some(e => e.type === 'detail'); i++) await new Promise(resolve => setTimeout(resolve, 5))
    assert.ok(fs.readdirSync(s.store.path('tmp')).length > 0, 'a staging dir exists while unpacking')
    controller.abort()
    await assert.rejects(pulling, (e: Error & {code?: string; exitCode?: number}) => e.code === 'IMAGE_PULL_ABORTED' && e.exitCode === 130)
    assert.deepEqual(listing(s.store), before)
  })

  it('two concurrent pulls of one image do the work once', async () => {
    const s = setup()
    const id = imageId('concurrent')
    inRegistry(s.daemon, 'docker.io/library/c:latest', id, [BASE, APP])
    inRegistry(s.daemon, 'docker.io/library/c:other', id, [BASE, APP])
    const [a, b] = await Promise.all([s.pull('c'), s.pull('c:other')])
    assert.equal(a.id, b.id)
    assert.equal(s.daemon.calls.filter(c => c.startsWith('save')).length, 1)
    assert.equal(s.log.calls, 2)
    assert.deepEqual([a.reused, b.reused].sort(), [false, true])
  })

  it('sweeps staging dirs of dead pulls first', async () => {
    const s = setup()
    const stale = s.store.path('tmp', '999999999-deadbeef-layer')
    fs.mkdirSync(path.join(stale, 'rootfs'), {recursive: true})
    inRegistry(s.daemon, 'docker.io/library/busybox:latest', imageId('sweep'), [BASE])
    await s.pull('busybox')
    assert.ok(!fs.existsSync(stale))
  })
})

describe('pullImage: the daemon and the registry', () => {
  it('rejects a malformed reference before talking to the daemon', async () => {
    const s = setup()
    await assert.rejects(s.pull('Not/A:Valid@ref'), (e: unknown) => e instanceof ImageReferenceError && e.code === 'REFERENCE_INVALID')
    assert.deepEqual(s.daemon.calls, [])
  })

  it('an error event inside the pull stream fails the pull when the daemon has no copy', async () => {
    const s = setup()
    s.daemon.pullErrorInStream = {after: [{id: 'aaaaaaaaaaaa', status: 'Downloading', current: 1, total: 2}], message: 'unexpected EOF in blob'}
    const before = listing(s.store)
    await assert.rejects(s.pull('busybox'), (e: Error & {code?: string}) => e.code === 'DAEMON_PULL_FAILED' && /unexpected EOF/.test(e.message))
    assert.deepEqual(listing(s.store), before)
  })

  it('an unreachable registry falls back to the daemon copy, with a warning', async () => {
    const s = setup()
    const id = imageId('offline')
    s.daemon.addLocal(['docker.io/library/busybox:latest'], {image: daemonImage(id, [sha256(BASE)]), save: () => streamOf(legacySave(id, [BASE]))})
    s.daemon.registryDown = true
    const r = await s.pull('busybox')
    assert.equal(r.dockerImageId, id)
    assert.deepEqual(r.warnings, ["registry unreachable, using the daemon's copy of busybox:latest"])
    assert.ok(s.events.some(e => e.type === 'warning'))
  })

  it('an unreachable registry and no daemon copy is a clear error', async () => {
    const s = setup()
    s.daemon.registryDown = true
    await assert.rejects(s.pull('busybox'), (e: Error & {code?: string}) => e.code === 'DAEMON_REGISTRY_UNREACHABLE' && /busybox/.test(e.message))
  })

  it('an image neither the registry nor the daemon has is DAEMON_IMAGE_NOT_FOUND', async () => {
    const s = setup()
    await assert.rejects(
      s.pull('nosuchimage'),
      (e: Error & {code?: string}) => e.code === 'DAEMON_IMAGE_NOT_FOUND' && /nosuchimage:latest not found/.test(e.message),
    )
  })

  it('a locally built image the registry does not know is used with a warning', async () => {
    const s = setup()
    const id = imageId('local-only')
    s.daemon.addLocal(['docker.io/library/mine:latest'], {image: daemonImage(id, [sha256(APP)]), save: () => streamOf(legacySave(id, [APP]))})
    const r = await s.pull('mine')
    assert.equal(r.dockerImageId, id)
    assert.match(r.warnings[0], /could not pull mine:latest .*using the daemon's copy/)
  })

  it('a daemon that is not running is not "fallen back" from', async () => {
    const s = setup()
    s.daemon.unreachable = true
    await assert.rejects(s.pull('busybox'), (e: Error & {code?: string}) => e.code === 'DAEMON_UNREACHABLE')
  })

  it('a digest reference the daemon already has is not pulled again', async () => {
    const s = setup()
    const id = imageId('pinned')
    const digest = `sha256:${'a'.repeat(64)}`
    s.daemon.addLocal([`docker.io/library/busybox@${digest}`], {image: daemonImage(id, [sha256(BASE)]), save: () => streamOf(legacySave(id, [BASE]))})
    const r = await s.pull(`busybox:1.36@${digest}`)
    assert.equal(r.name, `docker.io/library/busybox@${digest}`)
    assert.ok(!s.daemon.calls.some(c => c.startsWith('pull')))
  })
})

describe('pullImage: --flat (docker export)', () => {
  it('exports a throwaway container into one layer and removes the container', async () => {
    const s = setup()
    const id = imageId('flat')
    inRegistry(s.daemon, 'docker.io/library/busybox:latest', id, [BASE, APP])
    const r = await s.pull('busybox', {flat: true})
    assert.equal(r.layers.length, 1)
    assert.equal(fs.readFileSync(path.join(s.store.layerRootfs(r.layers[0]), 'flat/file'), 'utf8'), `flat of ${id}`)
    assert.equal(s.daemon.containers.size, 0)
    assert.ok(!s.daemon.calls.some(c => c.startsWith('save')))
    // The layered form of the same image is a different record: --flat does not reuse it and vice versa.
    const layered = await s.pull('busybox')
    assert.equal(layered.reused, false)
    assert.notEqual(layered.id, r.id)
    const flatAgain = await s.pull('busybox', {flat: true})
    assert.equal(flatAgain.reused, true)
    assert.equal(flatAgain.id, r.id)
  })

  it('gives an image without Cmd or Entrypoint a placeholder command', async () => {
    const s = setup()
    const id = imageId('nocmd')
    const image = inRegistry(s.daemon, 'docker.io/library/nocmd:latest', id, [BASE])
    image.image.config = {}
    let created: string[] | undefined
    const create = s.daemon.createContainer.bind(s.daemon)
    s.daemon.createContainer = async options => {
      created = options.cmd
      return create(options)
    }
    await s.pull('nocmd', {flat: true})
    assert.deepEqual(created, [EXPORT_PLACEHOLDER_CMD])
  })

  it('removes the container even when the export fails, and commits nothing', async () => {
    const s = setup()
    const id = imageId('flatfail')
    const image = inRegistry(s.daemon, 'docker.io/library/ff:latest', id, [BASE])
    image.export = () => brokenStream(layer('x', 'y'), 600, new Error('export broke'))
    const before = listing(s.store)
    await assert.rejects(s.pull('ff', {flat: true}))
    assert.equal(s.daemon.containers.size, 0)
    assert.deepEqual(listing(s.store), before)
  })

  it('removes export containers left by dead pulls on this host', async () => {
    const s = setup()
    const id = imageId('stale')
    inRegistry(s.daemon, 'docker.io/library/busybox:latest', id, [BASE])
    await s.daemon.pullImage('docker.io/library/busybox:latest')
    const staleId = await s.daemon.createContainer({image: id, labels: {[EXPORT_LABEL]: `${os.hostname()}:999999999`}})
    const otherHost = await s.daemon.createContainer({image: id, labels: {[EXPORT_LABEL]: 'elsewhere:999999999'}})
    await s.pull('busybox', {flat: true})
    assert.ok(!s.daemon.containers.has(staleId))
    assert.ok(s.daemon.containers.has(otherHost))
  })
})
