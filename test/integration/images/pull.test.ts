// `pivot pull` against the real daemon and the local registry, as a user runs it: layered and
// flat, re-pulls, names sharing an image, concurrent pulls, the registry fallback.
import assert from 'node:assert/strict'
import {execFileSync, spawn} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {after, describe, it} from 'node:test'
import {BUSYBOX_IMAGE, DEBIAN_IMAGE, DOCKER_BIN, PIVOT_BIN, REPO_ROOT, docker, pivot, tempDir, type PivotResult} from '../../helpers/fixtures'
import type {PullResult} from '../../../src/images/pull-image'

const BUSYBOX = BUSYBOX_IMAGE

function ok(r: PivotResult): string {
  assert.equal(r.status, 0, `exit ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`)
  return r.stdout
}

function pullJson(cache: string, image: string, ...flags: string[]): PullResult {
  return JSON.parse(ok(pivot(['pull', '--json', '--source', 'daemon', ...flags, image], {cacheDir: cache, timeout: 300_000}))) as PullResult
}

function inspect(image: string): {Id: string; RootFS: {Layers: string[]}} {
  return JSON.parse(docker(['image', 'inspect', image]))[0]
}

function entries(cache: string, dir: string): string[] {
  return fs.readdirSync(path.join(cache, dir)).sort()
}

function rootfs(cache: string, digest: string): string {
  return path.join(cache, 'layers', digest.replace('sha256:', ''), 'rootfs')
}

function exportContainers(): string[] {
  return docker(['ps', '-aq', '--filter', 'label=io.pivot.export']).split('\n').filter(Boolean)
}

const tags: string[] = []
after(() => {
  for (const t of tags) {
    try {
      docker(['rmi', t])
    } catch {
      // already gone
    }
  }
})

// The daemon path (--source daemon); test/integration/pull-registry*.test.ts has the registry's.
describe('pivot pull (layered, docker save)', () => {
  const cache = path.join(tempDir('pivot-pull'), 'cache')

  it('pulls the busybox fixture: its real layer, verified, files intact', () => {
    const out = ok(pivot(['pull', '--source', 'daemon', BUSYBOX], {cacheDir: cache, timeout: 300_000}))
    assert.match(out, /^Pulled localhost:5000\/pivot-test\/busybox:latest \(sha256:[0-9a-f]{12}…, 1 layer, [\d.]+ [kM]B\)$/m)
    const daemon = inspect(BUSYBOX)
    const record = JSON.parse(fs.readFileSync(path.join(cache, 'images', entries(cache, 'images')[0]), 'utf8'))
    assert.deepEqual(record.layers, daemon.RootFS.Layers, 'layers are the diff ids')
    assert.equal(record.source.kind, 'daemon')
    assert.equal(record.source.dockerImageId, daemon.Id)
    assert.equal(record.source.reference, BUSYBOX)
    assert.deepEqual(record.config.Cmd, ['/bin/sh'])
    assert.deepEqual(entries(cache, 'refs'), [encodeURIComponent(BUSYBOX)])
    const root = rootfs(cache, daemon.RootFS.Layers[0])
    const bb = fs.lstatSync(path.join(root, 'bin/busybox'))
    assert.ok(bb.isFile() && (bb.mode & 0o111) !== 0, 'bin/busybox is an executable file')
    assert.equal(fs.readlinkSync(path.join(root, 'bin/sh')), '/bin/busybox', 'absolute symlinks kept verbatim')
    assert.equal(fs.statSync(path.join(root, 'tmp')).mode & 0o7777, 0o1777)
    assert.equal(fs.statSync(path.join(root, 'root')).mode & 0o777, 0o700)
    assert.deepEqual(entries(cache, 'tmp'), [])
    assert.equal(fs.statSync(cache).mode & 0o777, 0o700)
  })

  it('a re-pull of the unchanged image does no export: same record, same layer, untouched', () => {
    const recordFile = path.join(cache, 'images', entries(cache, 'images')[0])
    const layerDir = path.join(cache, 'layers', entries(cache, 'layers')[0])
    const before = {record: fs.statSync(recordFile).mtimeMs, layer: fs.statSync(layerDir), layerJson: fs.statSync(path.join(layerDir, 'layer.json')).mtimeMs}
    const r = pullJson(cache, 'localhost:5000/pivot-test/busybox')
    assert.equal(r.reused, true)
    assert.deepEqual(r.warnings, [])
    assert.equal(fs.statSync(recordFile).mtimeMs, before.record)
    assert.equal(fs.statSync(layerDir).ino, before.layer.ino)
    assert.equal(fs.statSync(path.join(layerDir, 'layer.json')).mtimeMs, before.layerJson)
    assert.equal(entries(cache, 'layers').length, 1)
  })

  it('`pivot run` of the pulled image never loads dockerode', () => {
    // The puller's client is for pulls: running a cached image must not pay for loading it.
    const hook = path.join(tempDir('pivot-pull-hook'), 'report-dockerode.js')
    fs.writeFileSync(
      hook,
      `process.on('exit', () => require('fs').writeSync(2, 'dockerode loaded: ' + Object.keys(require.cache).some(k => k.includes('/node_modules/dockerode/')) + '\\n'))`,
    )
    const r = pivot(['run', '--rm', BUSYBOX, 'true'], {cacheDir: cache, env: {NODE_OPTIONS: `--require ${hook}`}})
    ok(r)
    assert.match(r.stderr, /^dockerode loaded: false$/m)
    assert.doesNotMatch(r.stderr, /dockerode loaded: true/)
  })

  it('two names for one image share one record and one layer dir', () => {
    // A second name only the daemon knows: its registry has no such repository, so pivot uses
    // the daemon's copy (with a warning) and files the name under the same record.
    const alias = 'localhost:5000/pivot-test/busybox-alias:latest'
    docker(['tag', BUSYBOX, alias])
    tags.push(alias)
    const first = pullJson(cache, BUSYBOX)
    const second = pullJson(cache, alias)
    assert.equal(second.id, first.id)
    assert.equal(second.reused, true)
    assert.match(second.warnings[0], /using the daemon's copy/)
    assert.equal(entries(cache, 'layers').length, 1)
    assert.equal(entries(cache, 'images').length, 1)
    assert.deepEqual(entries(cache, 'refs'), [encodeURIComponent(BUSYBOX), encodeURIComponent(alias)].sort())
  })

  it('an unreachable registry: the daemon copy, with a warning on stderr', () => {
    const offline = 'localhost:5999/pivot-test/busybox:latest' // nothing listens on 5999
    docker(['tag', BUSYBOX, offline])
    tags.push(offline)
    const r = pivot(['pull', '--source', 'daemon', offline], {cacheDir: cache, timeout: 120_000})
    ok(r)
    assert.match(r.stderr, /^pivot: warning: registry unreachable, using the daemon's copy of localhost:5999\/pivot-test\/busybox:latest$/m)
    assert.equal(entries(cache, 'layers').length, 1)
  })

  it('an image built on a cached one: only its new layer is unpacked, the base is shared', () => {
    // A two-layer image only the daemon has (built here, never pushed).
    const derived = 'localhost:5000/pivot-test/pull-derived:latest'
    const context = tempDir('pivot-pull-build')
    fs.writeFileSync(path.join(context, 'Dockerfile'), `FROM ${BUSYBOX}\nRUN echo derived > /hello && chmod 1777 /hello\n`)
    execFileSync(DOCKER_BIN, ['build', '--network', 'none', '-q', '-t', derived, context], {env: {...process.env, DOCKER_BUILDKIT: '0'}, stdio: 'ignore'})
    tags.push(derived)
    const layersBefore = entries(cache, 'layers')
    const r = pivot(['pull', '--source', 'daemon', derived], {cacheDir: cache, timeout: 300_000})
    const out = ok(r)
    assert.match(out, /^Unpacking 1 layer$/m, 'the cached base layer is not unpacked again')
    assert.match(out, /\(sha256:[0-9a-f]{12}…, 2 layers, /)
    const daemon = inspect(derived)
    assert.equal(daemon.RootFS.Layers[0], inspect(BUSYBOX).RootFS.Layers[0])
    const added = entries(cache, 'layers').filter(e => !layersBefore.includes(e))
    assert.deepEqual(added, [daemon.RootFS.Layers[1].replace('sha256:', '')])
    const top = rootfs(cache, daemon.RootFS.Layers[1])
    assert.equal(fs.readFileSync(path.join(top, 'hello'), 'utf8'), 'derived\n')
    assert.equal(fs.statSync(path.join(top, 'hello')).mode & 0o7777, 0o1777)
  })

  it('the Debian fixture: bash, dpkg database, /tmp 1777', () => {
    const r = pullJson(cache, DEBIAN_IMAGE)
    const daemon = inspect(DEBIAN_IMAGE)
    assert.deepEqual(r.layers, daemon.RootFS.Layers)
    assert.equal(r.reused, false)
    const root = rootfs(cache, r.layers[0])
    assert.ok(fs.statSync(path.join(root, 'usr/bin/bash')).isFile())
    assert.match(fs.readFileSync(path.join(root, 'etc/debian_version'), 'utf8'), /^12\./)
    assert.ok(fs.existsSync(path.join(root, 'var/lib/dpkg/status')))
    assert.equal(fs.statSync(path.join(root, 'tmp')).mode & 0o7777, 0o1777)
    assert.ok(r.size > 50_000_000, `size ${r.size}`)
  })
})

describe('pivot pull --flat (docker export)', () => {
  const cache = path.join(tempDir('pivot-pull-flat'), 'cache')

  it('one flat layer from a throwaway container, which is gone afterwards', () => {
    const before = exportContainers()
    const out = ok(pivot(['pull', '--source', 'daemon', '--flat', BUSYBOX], {cacheDir: cache, timeout: 300_000}))
    assert.match(out, /^Pulled localhost:5000\/pivot-test\/busybox:latest \(sha256:[0-9a-f]{12}…, 1 layer, /m)
    assert.deepEqual(exportContainers(), before)
    const record = JSON.parse(fs.readFileSync(path.join(cache, 'images', entries(cache, 'images')[0]), 'utf8'))
    assert.equal(record.layers.length, 1)
    assert.notDeepEqual(record.layers, inspect(BUSYBOX).RootFS.Layers, 'an export is not the saved layer')
    const root = rootfs(cache, record.layers[0])
    assert.ok(fs.lstatSync(path.join(root, 'bin/busybox')).isFile())
    assert.equal(fs.statSync(path.join(root, 'tmp')).mode & 0o7777, 0o1777)
    // What docker export adds: the files a container's init layer holds.
    assert.ok(fs.existsSync(path.join(root, 'etc/hosts')))
  })

  it('re-pulling flat reuses; pulling layered makes the layered form', () => {
    const again = pullJson(cache, BUSYBOX, '--flat')
    assert.equal(again.reused, true)
    const layered = pullJson(cache, BUSYBOX)
    assert.equal(layered.reused, false)
    assert.notEqual(layered.id, again.id)
    assert.equal(entries(cache, 'layers').length, 2)
  })
})

describe('pivot pull: concurrency', () => {
  it('two concurrent pulls of one image both succeed and make one layer', async () => {
    const cache = path.join(tempDir('pivot-pull-conc'), 'cache')
    const env: NodeJS.ProcessEnv = {...process.env, PIVOT_CACHE_DIR: cache}
    delete env.NODE_EXTRA_CA_CERTS
    const run = () =>
      new Promise<{code: number | null; stdout: string; stderr: string}>(resolve => {
        const child = spawn(PIVOT_BIN, ['pull', '--json', '--source', 'daemon', DEBIAN_IMAGE], {cwd: REPO_ROOT, env})
        let stdout = ''
        let stderr = ''
        child.stdout.on('data', d => (stdout += d))
        child.stderr.on('data', d => (stderr += d))
        child.on('close', code => resolve({code, stdout, stderr}))
      })
    const results = await Promise.all([run(), run()])
    for (const r of results) assert.equal(r.code, 0, r.stderr)
    const [a, b] = results.map(r => JSON.parse(r.stdout) as PullResult)
    assert.equal(a.id, b.id)
    assert.deepEqual([a.reused, b.reused].sort(), [false, true], 'one did the work, the other waited and reused it')
    assert.equal(entries(cache, 'layers').length, 1)
    assert.equal(entries(cache, 'images').length, 1)
    assert.deepEqual(entries(cache, 'tmp'), [])
  })
})
