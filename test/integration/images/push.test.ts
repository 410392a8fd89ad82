// `pivot push` as a user runs it, against an empty registry of the test's own (docker-registry on
// 5200-5239), the Basic-auth (:5100) and token-auth (:5101/:5102) registries of
// test/env/registries.sh, and a fault proxy. Oracles: `docker pull` of what was pushed, `skopeo
// inspect`, `pivot pull` into another cache (the same image id), and docker push's exit codes on
// the same bad input.
import assert from 'node:assert/strict'
import {execFileSync, spawnSync} from 'node:child_process'
import {createHash, randomBytes} from 'node:crypto'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {BUSYBOX_IMAGE, DOCKER_BIN, PIVOT_BIN, REPO_ROOT, docker, pivot, tempDir, type PivotResult} from '../../helpers/fixtures'
import {startFaultProxy} from '../../helpers/fault-proxy'
import {startScratchRegistry, type ScratchRegistry} from '../../helpers/scratch-registry'
import {pivotAsync} from '../../helpers/pivot-async'
import {assertOneLineError, cacheSnapshot} from '../../helpers/security'
import type {PushResult} from '../../../src/images/push-image'
import type {PullResult} from '../../../src/images/pull-image'

const SKOPEO = ['--policy', path.resolve(__dirname, '..', '..', '..', '..', 'test', 'env', 'skopeo-policy.json')]
const RUN = `push-${process.pid}-${randomBytes(3).toString('hex')}`

function ok(r: PivotResult): string {
  assert.equal(r.status, 0, `exit ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`)
  return r.stdout
}

function pushJson(cache: string, name: string, opts: {env?: NodeJS.ProcessEnv; flags?: string[]} = {}): PushResult {
  return JSON.parse(ok(pivot(['push', '--json', ...(opts.flags ?? []), name], {cacheDir: cache, env: opts.env, timeout: 300_000}))) as PushResult
}

/** Through a fault proxy of this process: the CLI must run while the event loop serves the proxy. */
async function pushJsonAsync(cache: string, name: string, opts: {env?: NodeJS.ProcessEnv} = {}): Promise<PushResult> {
  return JSON.parse(ok(await pivotAsync(['push', '--json', name], {cacheDir: cache, env: opts.env, timeout: 300_000}))) as PushResult
}

function pullJson(cache: string, name: string, env?: NodeJS.ProcessEnv): PullResult {
  return JSON.parse(ok(pivot(['pull', '--json', '--source', 'registry', name], {cacheDir: cache, env, timeout: 300_000}))) as PullResult
}

function skopeoRaw(ref: string, creds?: string): {mediaType: string; layers: Array<{digest: string; mediaType: string}>; config: {digest: string}} {
  const args = [...SKOPEO, 'inspect', '--raw', '--tls-verify=false', ...(creds ? ['--creds', creds] : []), `docker://${ref}`]
  return JSON.parse(execFileSync('skopeo', args, {encoding: 'utf8'}))
}

function sha256(data: Buffer | string): string {
  return 'sha256:' + createHash('sha256').update(data).digest('hex')
}

/** A rootfs tarball for `pivot import`: a layer with no compressed blob yet (push makes one). */
function rootfsTar(dir: string): string {
  const root = path.join(dir, 'rootfs')
  fs.mkdirSync(path.join(root, 'etc'), {recursive: true})
  fs.writeFileSync(path.join(root, 'etc', 'hello'), `hello from ${RUN}\n`)
  fs.writeFileSync(path.join(root, 'big'), randomBytes(300 * 1024)) // incompressible: the chunked upload needs several chunks
  const tar = path.join(dir, 'rootfs.tar')
  execFileSync('tar', ['-cf', tar, '-C', root, '.'])
  return tar
}

describe('pivot push to an empty registry', () => {
  let registry: ScratchRegistry
  const cache = path.join(tempDir('pivot-push'), 'cache')
  let pulled: PullResult

  before(async () => {
    registry = await startScratchRegistry()
    pulled = pullJson(cache, BUSYBOX_IMAGE)
  })
  after(async () => {
    await registry?.stop()
  })

  it('busybox: docker push lines, the registry blob sent back as it came; docker pull, skopeo and pivot pull read it (same image id)', () => {
    const name = `${registry.host}/${RUN}/busybox:1`
    ok(pivot(['tag', BUSYBOX_IMAGE, name], {cacheDir: cache}))
    const out = ok(pivot(['push', name], {cacheDir: cache}))
    const short = pulled.layers[0].slice(7, 19)
    const lines = out.trim().split('\n')
    assert.equal(lines[0], `The push refers to repository [${registry.host}/${RUN}/busybox]`)
    assert.ok(lines.includes(`${short}: Pushed`), out)
    assert.match(lines.at(-1)!, /^1: digest: sha256:[0-9a-f]{64} size: \d+$/)
    const digest = /digest: (sha256:[0-9a-f]{64})/.exec(lines.at(-1)!)![1]

    // The layer went as the blob pulled from :5000 (kept in the cache), not a new compression.
    const source = skopeoRaw(BUSYBOX_IMAGE)
    const pushed = skopeoRaw(name)
    assert.equal(pushed.mediaType, 'application/vnd.docker.distribution.manifest.v2+json')
    assert.deepEqual(
      pushed.layers.map(l => l.digest),
      source.layers.map(l => l.digest),
    )
    const inspected = JSON.parse(execFileSync('skopeo', [...SKOPEO, 'inspect', '--tls-verify=false', `docker://${name}`], {encoding: 'utf8'})) as {
      Digest: string
    }
    assert.equal(inspected.Digest, digest)

    const other = path.join(tempDir('pivot-push-other'), 'cache')
    const back = pullJson(other, name)
    assert.equal(back.id, pulled.id)
    assert.equal(back.digest, digest)

    try {
      const dout = docker(['pull', name])
      assert.match(dout, new RegExp(`Digest: ${digest}`))
      const img = JSON.parse(docker(['image', 'inspect', name]))[0] as {Id: string; RootFS: {Layers: string[]}}
      assert.deepEqual(img.RootFS.Layers, pulled.layers)
      assert.equal(img.Id, pushed.config.digest)
      assert.equal(docker(['run', '--rm', '--network', 'none', name, 'echo', 'pushed']).trim(), 'pushed')
    } finally {
      spawnSync(DOCKER_BIN, ['rmi', name], {stdio: 'ignore'})
    }
  })

  it('a second push is byte-identical and uploads nothing: "Layer already exists", the same digest', () => {
    const name = `${registry.host}/${RUN}/busybox:1`
    const first = pushJson(cache, name)
    const again = ok(pivot(['push', name], {cacheDir: cache}))
    assert.match(again, new RegExp(`^${pulled.layers[0].slice(7, 19)}: Layer already exists$`, 'm'))
    assert.match(again, new RegExp(`^1: digest: ${first.digest} size: ${first.size}$`, 'm'))
    assert.deepEqual(
      first.layers.map(l => l.status),
      ['exists'],
    )
    const quiet = pivot(['push', '-q', name], {cacheDir: cache})
    assert.deepEqual([quiet.status, quiet.stdout, quiet.stderr], [0, '', ''])
    // bin/pivot's lean path (no oclif) prints what the oclif command prints.
    const env: NodeJS.ProcessEnv = {...process.env, PIVOT_CACHE_DIR: cache}
    delete env.NODE_EXTRA_CA_CERTS
    const oclifCore = require.resolve('@oclif/core', {paths: [REPO_ROOT]})
    const script = `require(${JSON.stringify(oclifCore)}).execute({dir: ${JSON.stringify(PIVOT_BIN)}, args: process.argv.slice(1)})`
    for (const args of [
      ['push', name],
      ['push', '--json', name],
    ]) {
      const viaOclif = spawnSync(process.execPath, ['-e', script, '--', ...args], {cwd: REPO_ROOT, encoding: 'utf8', env})
      const lean = pivot(args, {cacheDir: cache})
      assert.deepEqual([lean.status, lean.stdout, lean.stderr], [viaOclif.status, viaOclif.stdout, viaOclif.stderr], args.join(' '))
    }
  })

  it('another repository of the same registry: the blob is mounted, not uploaded', () => {
    const name = `${registry.host}/${RUN}/copy:2`
    ok(pivot(['tag', BUSYBOX_IMAGE, name], {cacheDir: cache}))
    const out = ok(pivot(['push', name], {cacheDir: cache}))
    assert.match(out, new RegExp(`^${pulled.layers[0].slice(7, 19)}: Mounted from ${RUN}/busybox$`, 'm'))
    assert.equal(skopeoRaw(name).layers[0].digest, skopeoRaw(BUSYBOX_IMAGE).layers[0].digest)
  })

  it('--format oci: an OCI manifest and config; pivot pull gives the same image id', () => {
    const name = `${registry.host}/${RUN}/oci:1`
    ok(pivot(['tag', BUSYBOX_IMAGE, name], {cacheDir: cache}))
    const r = pushJson(cache, name, {flags: ['--format', 'oci']})
    const raw = skopeoRaw(name)
    assert.equal(r.mediaType, 'application/vnd.oci.image.manifest.v1+json')
    assert.equal(raw.mediaType, 'application/vnd.oci.image.manifest.v1+json')
    assert.equal(raw.layers[0].mediaType, 'application/vnd.oci.image.layer.v1.tar+gzip')
    assert.equal(pullJson(path.join(tempDir('pivot-push-oci'), 'cache'), name).id, pulled.id)
  })

  it('a layer with no blob (imported) is gzipped once, kept, and sent in chunks; pushes after it send the same bytes', async () => {
    const dir = tempDir('pivot-push-import')
    const name = `${registry.host}/${RUN}/imported:1`
    ok(pivot(['import', rootfsTar(dir), name], {cacheDir: cache}))
    const proxy = await startFaultProxy(`http://${registry.host}`, {ports: [5240, 5247]})
    try {
      const viaProxy = `${proxy.host}/${RUN}/imported:1`
      ok(pivot(['tag', name, viaProxy], {cacheDir: cache}))
      const first = await pushJsonAsync(cache, viaProxy, {env: {PIVOT_PUSH_CHUNK_SIZE: '65536'}})
      assert.equal(first.layers[0].status, 'pushed')
      const patches = proxy.log.filter(e => e.method === 'PATCH')
      assert.ok(patches.length >= 4, `chunked: ${patches.length} PATCH requests: ${JSON.stringify(proxy.log)} ${JSON.stringify(first)}`)
      // Kept beside the layer, with its digest and size.
      const layers = fs.readdirSync(path.join(cache, 'layers')).map(h => path.join(cache, 'layers', h))
      const kept = layers.find(dir => {
        const file = path.join(dir, 'blob.json')
        return fs.existsSync(file) && (JSON.parse(fs.readFileSync(file, 'utf8')) as {digest: string}).digest === first.layers[0].digest
      })
      assert.ok(kept, 'the pushed blob is kept beside its layer')
      const blob = JSON.parse(fs.readFileSync(path.join(kept, 'blob.json'), 'utf8')) as {digest: string; size: number}
      assert.equal(blob.size, first.layers[0].size)
      assert.equal(sha256(fs.readFileSync(path.join(kept, 'blob'))), blob.digest)
      // The same bytes to a second, empty registry: the same manifest digest.
      const second = await startScratchRegistry()
      try {
        const elsewhere = `${second.host}/${RUN}/imported:1`
        ok(pivot(['tag', name, elsewhere], {cacheDir: cache}))
        const r = pushJson(cache, elsewhere)
        assert.equal(r.layers[0].status, 'pushed')
        assert.equal(r.digest, first.digest)
        const back = JSON.parse(ok(await pivotAsync(['pull', '--json', viaProxy], {cacheDir: path.join(tempDir('pivot-push-imp3'), 'cache')}))) as PullResult
        assert.equal(pullJson(path.join(tempDir('pivot-push-imp2'), 'cache'), elsewhere).id, back.id)
      } finally {
        await second.stop()
      }
      assert.match(ok(pivot(['check'], {cacheDir: cache})), /no damage found/)
    } finally {
      await proxy.close()
    }
  })

  it('bad input: unknown image, a digest, no registry at the address (as docker push: exit 1, one line)', () => {
    // Nothing listens on 5199 (kept free by the fault proxy's range).
    const down = `127.0.0.1:5199/${RUN}/busybox:1`
    ok(pivot(['tag', BUSYBOX_IMAGE, down], {cacheDir: cache}))
    const before = cacheSnapshot(cache)
    const unknown = `${registry.host}/${RUN}/nothing:1`
    assertOneLineError(pivot(['push', unknown], {cacheDir: cache}), /no image is named .*nothing:1 in the cache.*pivot tag IMAGE/, 1)
    const d = spawnSync(DOCKER_BIN, ['push', unknown], {encoding: 'utf8'})
    assert.equal(d.status, 1, d.stderr)
    assertOneLineError(pivot(['push', `${registry.host}/x@sha256:${'a'.repeat(64)}`], {cacheDir: cache}), /cannot push a digest reference/, 1)
    // An image id is no name to push to (docker: the same refusal).
    assertOneLineError(
      pivot(['push', pulled.id.slice(7, 19)], {cacheDir: cache}),
      /[0-9a-f]{12} is an image id, not a name to push to: name the image first \(pivot tag/,
      1,
    )
    assertOneLineError(pivot(['push', down], {cacheDir: cache}), /registry 127\.0\.0\.1:5199 unreachable: connection refused/, 1)
    assertOneLineError(pivot(['push', '--format', 'v1', unknown], {cacheDir: cache}), /--format/, 125)
    assert.deepEqual(cacheSnapshot(cache), before)
    ok(pivot(['rmi', down], {cacheDir: cache}))
  })

  it('a 5xx mid-upload: retried from a fresh upload; when it persists, exit 1 with the registry named and the cache as before', async () => {
    const proxy = await startFaultProxy(`http://${registry.host}`, {ports: [5240, 5247]})
    try {
      const dir = tempDir('pivot-push-5xx')
      // Pushed once straight to the registry (the blob is made and kept there), then through the
      // proxy, another domain: nothing to mount from, so a real upload in chunks.
      const direct = `${registry.host}/${RUN}/flaky:1`
      ok(pivot(['import', rootfsTar(dir), direct], {cacheDir: cache}))
      pushJson(cache, direct)
      const name = `${proxy.host}/${RUN}/flaky-proxied:1`
      ok(pivot(['tag', direct, name], {cacheDir: cache}))
      const before = cacheSnapshot(cache)
      // The POST and the first PATCH pass; the second PATCH fails.
      proxy.uploads = 0
      proxy.faults.uploadStatus = {code: 503, from: 3}
      assertOneLineError(
        await pivotAsync(['push', name], {cacheDir: cache, env: {PIVOT_PUSH_CHUNK_SIZE: '65536'}}),
        new RegExp(`registry ${proxy.host.replace(/\./g, '\\.')} answered 503 .*injected failure`),
        1,
      )
      assert.ok(proxy.log.some(e => e.method === 'PATCH' && e.status === 503))
      assert.equal(proxy.log.filter(e => e.method === 'POST' && e.path.endsWith('/blobs/uploads/')).length, 3, 'three attempts, each a fresh upload')
      assert.deepEqual(cacheSnapshot(cache), before)
      // Once (the second PATCH only): the retry completes the push.
      proxy.uploads = 0
      proxy.faults.uploadStatus = {code: 502, from: 3, to: 3}
      const retried = await pivotAsync(['push', name], {cacheDir: cache, env: {PIVOT_PUSH_CHUNK_SIZE: '65536'}})
      assert.match(ok(retried), /: Pushed$/m)
      assert.deepEqual(
        cacheSnapshot(cache).filter(l => !l.includes('blob.json')),
        before.filter(l => !l.includes('blob.json')),
      )
      proxy.faults = {}
      assert.equal((await pushJsonAsync(cache, name)).name, name)
    } finally {
      await proxy.close()
    }
  })
})

describe('pivot push with authentication', () => {
  const cache = path.join(tempDir('pivot-push-auth'), 'cache')
  const home = tempDir('pivot-push-home')
  before(() => {
    pullJson(cache, BUSYBOX_IMAGE)
  })

  for (const [kind, host, password] of [
    ['Basic', '127.0.0.1:5100', 'pivot-basic-pw'],
    ['token', '127.0.0.1:5101', 'pivot-token-pw'],
  ] as const) {
    it(`${kind}: anonymous and a wrong password are refused in one line; logged in, the push works and reads back`, () => {
      const name = `${host}/${RUN}/busybox:1`
      ok(pivot(['tag', BUSYBOX_IMAGE, name], {cacheDir: cache}))
      const env = {HOME: home}
      const anonymous = pivot(['push', name], {cacheDir: cache, env})
      assertOneLineError(anonymous, new RegExp(`registry ${host.replace(/\./g, '\\.')} requires authentication.*pivot login`), 1)
      // A wrong password in docker's config (pivot login would refuse to store it).
      const auth = Buffer.from(`pivot:wrong-${RUN}`).toString('base64')
      const bad = tempDir('pivot-push-badhome')
      fs.mkdirSync(path.join(bad, '.docker'))
      fs.writeFileSync(path.join(bad, '.docker', 'config.json'), JSON.stringify({auths: {[host]: {auth}}}))
      assertOneLineError(pivot(['push', name], {cacheDir: cache, env: {HOME: bad}}), /refused the credentials of pivot/, 1)
      ok(pivot(['login', '-u', 'pivot', '--password-stdin', host], {env, input: password}))
      const r = pushJson(cache, name, {env})
      assert.equal(skopeoRaw(name, `pivot:${password}`).layers[0].digest, r.layers[0].digest)
      assert.equal(pullJson(path.join(tempDir('pivot-push-authback'), 'cache'), name, env).id, r.id)
    })
  }

  it('token: a 401 mid-push (token expired) gets a fresh token and the push completes', async () => {
    const proxy = await startFaultProxy('http://127.0.0.1:5101', {token: 'http://127.0.0.1:5102', ports: [5240, 5247]})
    try {
      const name = `${proxy.host}/${RUN}/reauth:1`
      const env = {HOME: home}
      ok(await pivotAsync(['login', '-u', 'pivot', '--password-stdin', proxy.host], {env, input: 'pivot-token-pw'}))
      ok(pivot(['tag', BUSYBOX_IMAGE, name], {cacheDir: cache}))
      proxy.faults.upload401Once = true
      const tokensBefore = proxy.tokenRequests
      const r = await pushJsonAsync(cache, name, {env})
      assert.equal(r.layers[0].status, 'pushed')
      assert.ok(proxy.tokenRequests - tokensBefore >= 2, `tokens fetched: ${proxy.tokenRequests - tokensBefore}`)
      assert.ok(proxy.log.some(e => e.status === 401 && e.path.includes('/blobs/uploads/')))
    } finally {
      await proxy.close()
    }
  })
})
