// Layers that came as tars (docker daemon pulls, imports) go back out as those very tars: push and
// save rebuild them from the layer's tar-split (src/unpack/tar-split.ts) and its files. Oracles:
// docker's own image id for the pushed and the saved image, `pivot pull` into another cache (the
// same pivot image id), the sha256 of the imported file; and the fallbacks a user sees when the
// tar-split is gone or a layer's file was changed (re-packed, with the warnings, the push works).
// Scratch registries on 5320-5339 (this file's range).
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {createHash, randomBytes} from 'node:crypto'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {BUSYBOX_IMAGE, DEBIAN_IMAGE, DOCKER_BIN, docker, pivot, tempDir, type PivotResult} from '../../helpers/fixtures'
import {startScratchRegistry, type ScratchRegistry} from '../../helpers/scratch-registry'
import {TarBuilder} from '../../helpers/tar-builder'
import type {PushResult} from '../../../src/images/push-image'
import type {PullResult} from '../../../src/images/pull-image'

const RUN = `tarsplit-${process.pid}-${randomBytes(3).toString('hex')}`
const PORTS: [number, number] = [5320, 5339]

function ok(r: PivotResult): string {
  assert.equal(r.status, 0, `exit ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`)
  return r.stdout
}

function pullJson(cache: string, name: string, source: 'daemon' | 'registry'): PullResult {
  return JSON.parse(ok(pivot(['pull', '--json', '--source', source, name], {cacheDir: cache, timeout: 300_000}))) as PullResult
}

function pushJson(cache: string, name: string): PushResult {
  return JSON.parse(ok(pivot(['push', '--json', name], {cacheDir: cache, timeout: 300_000}))) as PushResult
}

function dockerId(ref: string): string {
  return docker(['image', 'inspect', '-f', '{{.Id}}', ref]).trim()
}

function sha256File(file: string): string {
  return `sha256:${createHash('sha256').update(fs.readFileSync(file)).digest('hex')}`
}

function layerDir(cache: string, digest: string): string {
  return path.join(cache, 'layers', digest.slice(7))
}

/** A rootfs tarball made by GNU tar (pax headers, a long name, a hard link, a symlink, an empty file). */
function rootfsTar(dir: string): string {
  const root = path.join(dir, 'rootfs')
  fs.mkdirSync(path.join(root, 'etc', 'x'.repeat(120)), {recursive: true})
  fs.writeFileSync(path.join(root, 'etc', 'hello'), `hello from ${RUN}\n`)
  fs.writeFileSync(path.join(root, 'etc', 'x'.repeat(120), 'y'.repeat(120)), 'long\n')
  fs.linkSync(path.join(root, 'etc', 'hello'), path.join(root, 'etc', 'hello-again'))
  fs.symlinkSync('hello', path.join(root, 'etc', 'greeting'))
  fs.writeFileSync(path.join(root, 'empty'), '')
  fs.writeFileSync(path.join(root, 'data'), randomBytes(200 * 1024))
  const tar = path.join(dir, 'rootfs.tar')
  const r = spawnSync('tar', ['--format=pax', '-cf', tar, '-C', root, '.'], {encoding: 'utf8'})
  assert.equal(r.status, 0, r.stderr)
  return tar
}

describe('push and save give back the layers as the tars they came as', () => {
  let registry: ScratchRegistry
  const cache = path.join(tempDir('pivot-tarsplit'), 'cache')
  const dockerTags: string[] = []

  before(async () => {
    registry = await startScratchRegistry({ports: PORTS})
  })
  after(async () => {
    for (const tag of dockerTags) spawnSync(DOCKER_BIN, ['rmi', tag], {stdio: 'ignore'})
    await registry?.stop()
  })

  for (const [label, image] of [
    ['busybox', BUSYBOX_IMAGE],
    ['debian', DEBIAN_IMAGE],
  ] as const) {
    it(`${label} pulled through the daemon, pushed: docker pull gives docker's own image id, pivot pull the same pivot id, no re-pack`, () => {
      const pulled = pullJson(cache, image, 'daemon')
      for (const digest of pulled.layers) assert.ok(fs.statSync(path.join(layerDir(cache, digest), 'tar-split')).isFile(), 'a tar-split beside each layer')
      const name = `${registry.host}/${RUN}/${label}:1`
      ok(pivot(['tag', image, name], {cacheDir: cache}))
      const out = pivot(['push', name], {cacheDir: cache, timeout: 300_000})
      ok(out)
      assert.doesNotMatch(out.stderr, /re-pack|warning/, out.stderr)
      const pushed = pushJson(cache, name)
      assert.deepEqual(pushed.warnings, [])
      assert.deepEqual(
        pushed.layers.map(l => l.diffId),
        pulled.layers,
      )

      const other = path.join(tempDir('pivot-tarsplit-other'), 'cache')
      assert.equal(pullJson(other, name, 'registry').id, pulled.id)

      dockerTags.push(name)
      docker(['pull', '-q', name], {timeout: 300_000})
      assert.equal(dockerId(name), dockerId(image))
    })
  }

  it('pivot save, then docker load: the same docker image id', () => {
    const dir = tempDir('pivot-tarsplit-save')
    const name = `${RUN}/busybox:saved`
    pullJson(cache, BUSYBOX_IMAGE, 'daemon')
    ok(pivot(['tag', BUSYBOX_IMAGE, name], {cacheDir: cache}))
    const file = path.join(dir, 'busybox.tar')
    const saved = pivot(['save', name, '-o', file], {cacheDir: cache})
    ok(saved)
    assert.equal(saved.stderr, '')
    dockerTags.push(`localhost/${name}`, name)
    const loaded = docker(['load', '-i', file])
    assert.match(loaded, new RegExp(`Loaded image: (localhost/)?${name}`))
    assert.equal(dockerId(name), dockerId(BUSYBOX_IMAGE))
  })

  it('pivot import of a tar, pushed and pulled back: the layer is the file itself (its sha256), the same pivot id', () => {
    const dir = tempDir('pivot-tarsplit-import')
    const tar = rootfsTar(dir)
    const name = `${registry.host}/${RUN}/imported:1`
    const imported = JSON.parse(ok(pivot(['import', '--json', tar, name], {cacheDir: cache}))) as {id: string; layers?: string[]; layer?: string}
    const pushed = pushJson(cache, name)
    assert.deepEqual(pushed.warnings, [])
    assert.equal(pushed.layers[0].diffId, sha256File(tar))
    const back = pullJson(path.join(tempDir('pivot-tarsplit-imp2'), 'cache'), name, 'registry')
    assert.equal(back.id, imported.id)
    assert.deepEqual(back.layers, [sha256File(tar)])
  })

  it('pivot load of a docker save archive, and a registry pull whose kept blob is gone: pushed as they came (docker id, layer digests)', () => {
    const own = path.join(tempDir('pivot-tarsplit-load'), 'cache')
    const archive = path.join(tempDir('pivot-tarsplit-load-src'), 'busybox.tar')
    docker(['save', '-o', archive, BUSYBOX_IMAGE], {timeout: 300_000})
    ok(pivot(['load', '-i', archive], {cacheDir: own}))
    const loaded = `${registry.host}/${RUN}/loaded:1`
    ok(pivot(['tag', BUSYBOX_IMAGE, loaded], {cacheDir: own}))
    const pushed = pushJson(own, loaded)
    assert.deepEqual(pushed.warnings, [])
    dockerTags.push(loaded)
    docker(['pull', '-q', loaded], {timeout: 300_000})
    assert.equal(dockerId(loaded), dockerId(BUSYBOX_IMAGE))

    // From the registry: the blob it came as is kept; without it, the tar-split gives the same tar.
    const fromRegistry = path.join(tempDir('pivot-tarsplit-reg'), 'cache')
    const pulled = pullJson(fromRegistry, BUSYBOX_IMAGE, 'registry')
    for (const f of ['blob', 'blob.json']) fs.rmSync(path.join(layerDir(fromRegistry, pulled.layers[0]), f))
    const again = `${registry.host}/${RUN}/no-blob:1`
    ok(pivot(['tag', BUSYBOX_IMAGE, again], {cacheDir: fromRegistry}))
    const r = pushJson(fromRegistry, again)
    assert.deepEqual(r.warnings, [])
    assert.deepEqual(
      r.layers.map(l => l.diffId),
      pulled.layers,
    )
    assert.equal(r.config, pulled.dockerImageId)
  })

  it("a layer that writes through its own symlink to /etc: the rebuild reads the layer's file, not the host's", () => {
    const own = path.join(tempDir('pivot-tarsplit-confined'), 'cache')
    const tar = path.join(tempDir('pivot-tarsplit-confined-src'), 'escape.tar')
    // Unpacked chrooted, link/hostname lands in the layer's own etc/; read outside the chroot it would be the host's.
    fs.writeFileSync(tar, new TarBuilder().dir('etc/').symlink('link', '/etc').file('link/hostname', 'not the host\n').end().toBuffer())
    const name = `${registry.host}/${RUN}/confined:1`
    ok(pivot(['import', tar, name], {cacheDir: own}))
    const pushed = pushJson(own, name)
    assert.deepEqual(pushed.warnings, [])
    assert.equal(pushed.layers[0].diffId, sha256File(tar))
  })

  it('a changed file in the layer, or no tar-split: re-packed with the warnings, and push and save still work', () => {
    const own = path.join(tempDir('pivot-tarsplit-fallback'), 'cache')
    const tar = rootfsTar(tempDir('pivot-tarsplit-fallback-src'))
    const digest = sha256File(tar)
    const short = digest.slice(7, 19)
    const name = `${registry.host}/${RUN}/changed:1`
    ok(pivot(['import', tar, name], {cacheDir: own}))

    // The same size, other bytes: only the digest check can see it.
    const hello = path.join(layerDir(own, digest), 'rootfs', 'etc', 'hello')
    fs.writeFileSync(hello, fs.readFileSync(hello, 'utf8').toUpperCase())
    const changed = pivot(['push', name], {cacheDir: own, timeout: 300_000})
    ok(changed)
    let lines = changed.stderr.trim().split('\n')
    assert.equal(lines.length, 2, changed.stderr)
    assert.match(
      lines[0],
      new RegExp(
        `^pivot: warning: layer ${short}: its original tar cannot be rebuilt \\(the rebuilt tar has digest sha256:[0-9a-f]{64}, not the layer's\\): re-packing its files$`,
      ),
    )
    assert.match(lines[1], new RegExp(`^pivot: warning: 1 layer of .*changed:1 \\(${short}\\) went re-packed`))
    // What the registry has now is the layer as it is on disk.
    const back = pullJson(path.join(tempDir('pivot-tarsplit-fallback2'), 'cache'), name, 'registry')
    assert.notEqual(back.layers[0], digest)

    // Another size: the worker names the file (the name of the two hard-linked ones that holds the
    // content in the tar). Through save (no blob is kept for it).
    fs.appendFileSync(hello, 'more\n')
    const out = path.join(tempDir('pivot-tarsplit-fallback-save'), 'changed.tar')
    const saved = pivot(['save', name, '-o', out], {cacheDir: own})
    ok(saved)
    lines = saved.stderr.trim().split('\n')
    assert.equal(lines.length, 2, saved.stderr)
    assert.match(
      lines[0],
      new RegExp(
        `^pivot: warning: layer ${short}: its original tar cannot be rebuilt \\("etc/hello(-again)?" has \\d+ bytes, not the \\d+ the layer's tar had\\): re-packing its files$`,
      ),
    )
    assert.match(lines[1], new RegExp(`^pivot: warning: layer ${short} went re-packed: .* another layer digest`))

    // No tar-split at all: today's warning only.
    const other = `${registry.host}/${RUN}/no-split:1`
    const second = path.join(tempDir('pivot-tarsplit-nosplit'), 'cache')
    ok(pivot(['import', tar, other], {cacheDir: second}))
    fs.rmSync(path.join(layerDir(second, digest), 'tar-split'))
    const plain = pivot(['push', other], {cacheDir: second, timeout: 300_000})
    ok(plain)
    assert.match(plain.stderr, new RegExp(`^pivot: warning: 1 layer of .*no-split:1 \\(${short}\\) went re-packed: the cache has no original tar of it .*\n$`))
  })

  it('pivot check: a damaged tar-split is found and --repair removes it (the layer stays; a push re-packs it)', () => {
    const own = path.join(tempDir('pivot-tarsplit-check'), 'cache')
    const tar = rootfsTar(tempDir('pivot-tarsplit-check-src'))
    const digest = sha256File(tar)
    ok(pivot(['import', tar, `${RUN}/checked:1`], {cacheDir: own}))
    assert.match(ok(pivot(['check'], {cacheDir: own})), /no damage found/)
    const split = path.join(layerDir(own, digest), 'tar-split')
    fs.writeFileSync(split, fs.readFileSync(split).subarray(0, 40))
    const found = pivot(['check'], {cacheDir: own})
    assert.notEqual(found.status, 0)
    assert.match(found.stdout + found.stderr, new RegExp(`layers/${digest.slice(7)}/tar-split: its tar-split is damaged: it is not valid gzip`))
    ok(pivot(['check', '--repair'], {cacheDir: own}))
    assert.ok(!fs.existsSync(split))
    assert.ok(fs.existsSync(path.join(layerDir(own, digest), 'rootfs', 'etc', 'hello')))
    assert.match(ok(pivot(['check'], {cacheDir: own})), /no damage found/)
  })
})
