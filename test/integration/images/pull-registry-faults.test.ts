// `pivot pull` from a registry that misbehaves (test/helpers/fault-proxy.ts in front of the
// fixture registry) or a disk that is full: one line naming the image and the cause, a non-zero
// exit, and the cache as it was (no layer, no record, no name moved); only an interrupted
// download stays, in tmp/downloads, for the next pull to resume with a Range request.
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {BUSYBOX_IMAGE, docker, tempDir, type PivotResult} from '../../helpers/fixtures'
import {startFaultProxy, type FaultProxy} from '../../helpers/fault-proxy'
import {pivotAsync} from '../../helpers/pivot-async'
import {assertOneLineError} from '../../helpers/security'
import type {PullResult} from '../../../src/images/pull-image'

/** The cache's content (not locks/, whose flock files come and go, nor tmp/downloads): path, type, size, mtime. */
function snapshot(root: string): string[] {
  const out: string[] = []
  const walk = (dir: string, depth: number) => {
    for (const e of fs.readdirSync(dir).sort()) {
      const full = path.join(dir, e)
      const rel = path.relative(root, full)
      if (rel === 'locks' || rel === path.join('tmp', 'downloads')) continue
      const st = fs.lstatSync(full)
      out.push(`${rel} ${st.mode.toString(8)} ${st.isDirectory() ? '' : st.size} ${st.isDirectory() ? '' : st.mtimeMs}`)
      if (st.isDirectory() && depth < 3 && !full.includes(`${path.sep}rootfs`)) walk(full, depth + 1)
    }
  }
  walk(root, 0)
  return out
}

function downloads(cache: string): Array<{name: string; size: number}> {
  const dir = path.join(cache, 'tmp', 'downloads')
  if (!fs.existsSync(dir)) return []
  return fs.readdirSync(dir).map(name => ({name, size: fs.statSync(path.join(dir, name)).size}))
}

function ok(r: PivotResult): string {
  assert.equal(r.status, 0, `exit ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`)
  return r.stdout
}

/** Failed as pull's expected failures do: docker pull's status 1 unless said, one `pivot: ` line, no stack trace. */
const failsInOneLine = (r: PivotResult, pattern: RegExp, status = 1): void => assertOneLineError(r, pattern, status)

function busyboxLayer(): {digest: string; size: number} {
  const m = JSON.parse(
    execFileSync(
      'curl',
      ['-fsS', '-H', 'Accept: application/vnd.docker.distribution.manifest.v2+json', 'http://127.0.0.1:5000/v2/pivot-test/busybox/manifests/latest'],
      {encoding: 'utf8'},
    ),
  )
  return m.layers[0]
}

describe('pivot pull from a misbehaving registry', () => {
  let proxy: FaultProxy
  let cache: string
  let image: string
  let debian: string
  const layer = busyboxLayer()
  const diffIds = JSON.parse(docker(['image', 'inspect', BUSYBOX_IMAGE]))[0].RootFS.Layers as string[]

  before(async () => {
    proxy = await startFaultProxy('http://127.0.0.1:5000')
    image = `${proxy.host}/pivot-test/busybox:latest`
    debian = `${proxy.host}/pivot-test/debian:bookworm`
    cache = path.join(tempDir('pivot-reg-faults'), 'cache')
    ok(await pivotAsync(['images', '--json'], {cacheDir: cache})) // makes the empty cache
  })
  after(() => proxy.close())

  const pull = (ref: string, ...flags: string[]) => pivotAsync(['pull', '--source', 'registry', ...flags, ref], {cacheDir: cache, timeout: 300_000})

  it('a blob whose bytes do not match its digest: refused, nothing kept', async () => {
    const was = snapshot(cache)
    proxy.faults = {corruptBlob: true}
    failsInOneLine(
      await pull(image),
      new RegExp(
        `layer 1/1 \\(${layer.digest.slice(7, 19)}\\) of ${proxy.host}/pivot-test/busybox:latest: the registry sent bytes whose digest is sha256:[0-9a-f]{64}, not ${layer.digest}$`,
      ),
    )
    assert.deepEqual(snapshot(cache), was)
    assert.deepEqual(downloads(cache), [], 'no partial download of bad bytes')
  })

  it('a truncated blob: refused with the byte counts; the next pull resumes it with a Range request', async () => {
    const was = snapshot(cache)
    proxy.faults = {truncateAt: 0.5}
    proxy.log = []
    failsInOneLine(
      await pull(image),
      /layer 1\/1 \([0-9a-f]{12}\) of 127\.0\.0\.1:\d+\/pivot-test\/busybox:latest: the (registry sent|download broke after) .* the next pull resumes it/,
    )
    assert.deepEqual(snapshot(cache), was)
    const half = Math.floor(layer.size * 0.5)
    assert.deepEqual(downloads(cache), [{name: `${layer.digest.slice(7)}.part`, size: half}])
    proxy.faults = {}
    proxy.log = []
    const r = JSON.parse(ok(await pull(image, '--json'))) as PullResult
    assert.deepEqual(r.layers, diffIds)
    const blobGets = proxy.log.filter(e => e.path.endsWith(layer.digest))
    assert.deepEqual(blobGets, [{method: 'GET', path: blobGets[0].path, range: `bytes=${half}-${layer.size - 1}`, status: 206}])
    assert.deepEqual(downloads(cache), [])
    removeName(cache, image)
  })

  it('a 200 instead of 206 on resume: the download restarts from zero and the layer is right', async () => {
    const layerDir = path.join(cache, 'layers', diffIds[0].slice(7))
    fs.rmSync(layerDir, {recursive: true, force: true}) // so the pull must really fetch it
    proxy.faults = {truncateAt: 0.3}
    failsInOneLine(await pull(image, '--max-concurrent-downloads', '1'), /the next pull resumes it/)
    assert.equal(downloads(cache)[0]?.size, Math.floor(layer.size * 0.3))
    proxy.faults = {ignoreRange: true}
    proxy.log = []
    const r = JSON.parse(ok(await pull(image, '--json'))) as PullResult
    assert.deepEqual(r.layers, diffIds)
    const blobGets = proxy.log.filter(e => e.path.endsWith(layer.digest))
    assert.equal(blobGets.length, 1)
    assert.equal(blobGets[0].range, `bytes=${Math.floor(layer.size * 0.3)}-${layer.size - 1}`)
    assert.equal(blobGets[0].status, 200)
    assert.ok(fs.statSync(path.join(layerDir, 'rootfs', 'bin', 'busybox')).isFile())
    removeName(cache, image)
  })

  it('prune deletes an interrupted download nobody is resuming', async () => {
    const fresh = path.join(tempDir('pivot-reg-prune'), 'cache')
    proxy.faults = {truncateAt: 0.5}
    failsInOneLine(await pivotAsync(['pull', image], {cacheDir: fresh}), /the next pull resumes it/)
    proxy.faults = {}
    assert.equal(downloads(fresh).length, 1)
    const r = JSON.parse(ok(await pivotAsync(['prune', '--json'], {cacheDir: fresh}))) as {tmp: string[]; reclaimedBytes: number}
    assert.deepEqual(r.tmp, [`downloads/${layer.digest.slice(7)}.part`])
    assert.ok(r.reclaimedBytes >= Math.floor(layer.size / 2))
    assert.deepEqual(fs.readdirSync(path.join(fresh, 'tmp')), [])
  })

  it('a slow registry: the pull waits and reports the rate', async () => {
    const fresh = path.join(tempDir('pivot-reg-slow'), 'cache')
    proxy.faults = {bytesPerSecond: 1_500_000}
    const started = Date.now()
    const r = await pivotAsync(['pull', image], {cacheDir: fresh, timeout: 120_000})
    const out = ok(r)
    assert.ok(Date.now() - started >= 500, 'the throttle really slowed it')
    assert.match(out, /^[0-9a-f]{12}: Downloaded 1\.\d MB in \d+\.\d s \((1|2)\.\d MB\/s\)$/m)
  })

  it('5xx on the manifest or on a blob: one line with the status', async () => {
    for (const on of ['manifest', 'blob'] as const) {
      const was = snapshot(cache)
      proxy.faults = {status: {on, code: on === 'blob' ? 500 : 503}}
      const pattern =
        on === 'manifest'
          ? /registry 127\.0\.0\.1:\d+ answered 503 Service Unavailable for 127\.0\.0\.1:\d+\/pivot-test\/debian:bookworm: injected failure$/
          : /answered 500 Internal Server Error for layer 1\/1 \([0-9a-f]{12}\) of 127\.0\.0\.1:\d+\/pivot-test\/debian:bookworm/
      failsInOneLine(await pull(debian), pattern)
      assert.deepEqual(snapshot(cache), was)
    }
  })

  it('a manifest of an unknown media type, or of absurd size: refused before any layer is fetched', async () => {
    const cases: Array<[object, RegExp]> = [
      [
        {manifestMediaType: 'application/vnd.example.unknown+json'},
        /the manifest of 127\.0\.0\.1:\d+\/pivot-test\/debian:bookworm has the unknown media type application\/vnd\.example\.unknown\+json$/,
      ],
      [{manifestBytes: 5 << 20}, /the manifest of 127\.0\.0\.1:\d+\/pivot-test\/debian:bookworm is \d+ bytes, more than the 4194304 pivot accepts$/],
      [{layerCount: 10_000}, /debian:bookworm has 10000 layers, more than the 128 pivot \(and docker's overlay2\) can stack$/],
      [{layerSize: 1e12}, /debian:bookworm needs 1\.0 TB of downloads but the cache's file system has .* free \(no space left on device\)$/],
    ]
    for (const [faults, pattern] of cases) {
      const was = snapshot(cache)
      proxy.faults = faults
      proxy.log = []
      failsInOneLine(await pull(debian), pattern, 'layerSize' in faults ? 125 : 1)
      assert.deepEqual(snapshot(cache), was)
      assert.deepEqual(
        proxy.log.filter(e => /\/blobs\//.test(e.path) && !e.path.endsWith(configDigestOf(e.path))),
        [],
      )
      assert.equal(proxy.log.filter(e => /\/blobs\//.test(e.path)).length <= 1, true, 'at most the config was fetched')
    }
  })
})

/** The config blob is the only blob a refused pull may fetch: any digest is accepted here, the count check above limits it to one. */
function configDigestOf(p: string): string {
  return p.slice(p.lastIndexOf('/') + 1)
}

function removeName(cache: string, name: string): void {
  fs.rmSync(path.join(cache, 'refs', encodeURIComponent(name)), {force: true})
}

describe('pivot pull onto a full disk', () => {
  const mounts: string[] = []
  after(() => {
    for (const m of mounts) execFileSync('umount', [m])
  })
  const small = (mb: number) => {
    const dir = tempDir('pivot-reg-full')
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${mb}m,mode=0700`, 'pivot-reg-full', dir])
    mounts.push(dir)
    return path.join(dir, 'cache')
  }

  it('layers bigger than the free space: refused before downloading', async () => {
    const cache = small(8)
    ok(await pivotAsync(['pull', '-q', BUSYBOX_IMAGE], {cacheDir: cache}))
    const was = snapshot(cache)
    const r = await pivotAsync(['pull', '--source', 'registry', 'localhost:5000/pivot-test/debian:bookworm'], {cacheDir: cache})
    failsInOneLine(
      r,
      /localhost:5000\/pivot-test\/debian:bookworm needs [\d.]+ MB of downloads but the cache's file system has [\d.]+ MB free \(no space left on device\)$/,
      125,
    )
    assert.deepEqual(snapshot(cache), was)
  })

  it('room to download but not to unpack: ENOSPC named, the cache as before', async () => {
    const cache = small(72)
    ok(await pivotAsync(['pull', '-q', BUSYBOX_IMAGE], {cacheDir: cache}))
    const was = snapshot(cache)
    const r = await pivotAsync(['pull', '--source', 'registry', 'localhost:5000/pivot-test/debian:bookworm'], {cacheDir: cache, timeout: 300_000})
    // The unpacker or the download file hits the wall first, whichever: both say so.
    failsInOneLine(r, /layer 1\/1 \([0-9a-f]{12}\) of localhost:5000\/pivot-test\/debian:bookworm(:| cannot be unpacked:) .*no space left on device/i, 125)
    assert.deepEqual(snapshot(cache), was)
    assert.deepEqual(downloads(cache), [], 'the verified download is dropped too: it only takes the space')
  })
})
