// `pivot pull` straight from registries, as a user runs it: the anonymous fixture registry
// (:5000), the Basic-auth (:5100) and token-auth (:5101, token server :5102) registries of
// test/env/registries.sh; login/logout, docker's config and credential helpers; indexes resolved
// to a platform; pull by digest; --source. Oracles: the Docker daemon's view of the same image
// (image id, diff ids, repo digest) and skopeo's (the config it picks for a platform).
import assert from 'node:assert/strict'
import {createHash} from 'node:crypto'
import {execFileSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {BUSYBOX_IMAGE, DEBIAN_IMAGE, docker, pivot, tempDir, type PivotResult} from '../../helpers/fixtures'
import {startFaultProxy, type FaultProxy} from '../../helpers/fault-proxy'
import {pivotAsync} from '../../helpers/pivot-async'
import {assertOneLineError} from '../../helpers/security'
import type {PullResult} from '../../../src/images/pull-image'

const MULTIARCH = 'localhost:5000/pivot-test/registry-multiarch:latest'
const ZSTD = 'localhost:5000/pivot-test/registry-zstd:latest'
const BASIC = '127.0.0.1:5100/pivot-test/busybox:latest'
const TOKEN = '127.0.0.1:5101/pivot-test/busybox:latest'
const SKOPEO = ['--policy', path.resolve(__dirname, '..', '..', '..', '..', 'test', 'env', 'skopeo-policy.json')]

function ok(r: PivotResult): string {
  assert.equal(r.status, 0, `exit ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`)
  return r.stdout
}

/** Failed as pull's expected failures do: docker pull's status 1 unless said, one `pivot: ` line, no stack trace. */
const failsInOneLine = (r: PivotResult, pattern: RegExp, status = 1): void => assertOneLineError(r, pattern, status)

function pullJson(cache: string, image: string, ...flags: string[]): PullResult {
  return JSON.parse(ok(pivot(['pull', '--json', ...flags, image], {cacheDir: cache, timeout: 300_000}))) as PullResult
}

function record(cache: string, id: string): {layers: string[]; config: {Cmd?: string[]}; source: Record<string, string>} {
  return JSON.parse(fs.readFileSync(path.join(cache, 'images', `${id.slice(7)}.json`), 'utf8'))
}

function layerFile(cache: string, digest: string, file: string): string {
  return fs.readFileSync(path.join(cache, 'layers', digest.slice(7), 'rootfs', file), 'utf8')
}

function inspect(image: string): {Id: string; RootFS: {Layers: string[]}; RepoDigests: string[]} {
  return JSON.parse(docker(['image', 'inspect', image]))[0]
}

/** A HOME of its own: no credentials but those the test writes. */
function home(): string {
  return tempDir('pivot-reg-home')
}

describe('pivot pull from a registry (anonymous)', () => {
  const cache = path.join(tempDir('pivot-reg'), 'cache')

  it('busybox without a daemon: the same layers, config digest and repo digest as docker has, files intact', () => {
    // DOCKER_HOST names no daemon: the registry path must not need one.
    const r = pivot(['pull', '--json', BUSYBOX_IMAGE], {cacheDir: cache, env: {DOCKER_HOST: 'unix:///nonexistent.sock'}})
    const pulled = JSON.parse(ok(r)) as PullResult
    const daemon = inspect(BUSYBOX_IMAGE)
    assert.equal(pulled.source, 'registry')
    assert.deepEqual(pulled.layers, daemon.RootFS.Layers)
    assert.equal(pulled.dockerImageId, daemon.Id)
    const repoDigest = daemon.RepoDigests.find(d => d.startsWith('localhost:5000/pivot-test/busybox@'))!.split('@')[1]
    assert.equal(pulled.digest, repoDigest)
    const rec = record(cache, pulled.id)
    assert.equal(rec.source.kind, 'registry')
    assert.equal(rec.source.repoDigest, repoDigest)
    assert.equal(rec.source.platform, 'linux/amd64')
    assert.deepEqual(rec.config.Cmd, ['/bin/sh'])
    const root = path.join(cache, 'layers', pulled.layers[0].slice(7), 'rootfs')
    assert.ok(fs.statSync(path.join(root, 'bin/busybox')).isFile())
    assert.equal(fs.readlinkSync(path.join(root, 'bin/sh')), '/bin/busybox')
    assert.equal(fs.statSync(path.join(root, 'tmp')).mode & 0o7777, 0o1777)
    assert.deepEqual(fs.readdirSync(path.join(cache, 'tmp')), [], 'no download kept once committed')
    assert.equal(ok(pivot(['run', '--rm', BUSYBOX_IMAGE, 'echo', 'hi'], {cacheDir: cache})), 'hi\n')
  })

  it('the Debian image pulled from the registry and through the daemon: the same image id and layer', () => {
    const other = path.join(tempDir('pivot-reg-daemon'), 'cache')
    const viaRegistry = pullJson(cache, DEBIAN_IMAGE, '--source', 'registry')
    const viaDaemon = pullJson(other, DEBIAN_IMAGE, '--source', 'daemon')
    assert.equal(viaRegistry.source, 'registry')
    assert.equal(viaDaemon.source, 'daemon')
    assert.equal(viaRegistry.id, viaDaemon.id)
    assert.deepEqual(viaRegistry.layers, viaDaemon.layers)
    assert.equal(viaRegistry.digest, viaDaemon.digest)
    // The trees are the same, file for file (the layer manifests pivot records at commit).
    const manifest = (c: string) => fs.readFileSync(path.join(c, 'layers', viaRegistry.layers[0].slice(7), 'manifest'), 'utf8')
    assert.equal(manifest(cache), manifest(other))
    // And a daemon pull into the registry-pulled cache reuses it.
    const again = pullJson(cache, DEBIAN_IMAGE, '--source', 'daemon')
    assert.equal(again.id, viaRegistry.id)
    assert.equal(again.reused, true)
  })

  it('pivot images --digests shows the repo digest, --json carries it', () => {
    const out = ok(pivot(['images', '--digests'], {cacheDir: cache}))
    const digest = inspect(BUSYBOX_IMAGE)
      .RepoDigests.find(d => d.startsWith('localhost:5000/pivot-test/busybox@'))!
      .split('@')[1]
    assert.match(out, /^NAME\s+DIGEST\s+IMAGE ID\s+SIZE/)
    assert.match(out, new RegExp(`^localhost:5000/pivot-test/busybox:latest\\s+${digest}\\s`, 'm'))
    const list = JSON.parse(ok(pivot(['images', '--json'], {cacheDir: cache}))) as Array<{names: string[]; digest?: string}>
    assert.equal(list.find(i => i.names.includes(BUSYBOX_IMAGE))?.digest, digest)
    assert.doesNotMatch(ok(pivot(['images'], {cacheDir: cache})), /DIGEST/)
  })

  it('by digest: the name is filed under the digest; a digest the registry lacks is an error', () => {
    const digest = inspect(BUSYBOX_IMAGE).RepoDigests.find(d => d.startsWith('localhost:5000/pivot-test/busybox@'))!
    const r = pullJson(cache, digest, '--source', 'registry')
    assert.equal(r.name, digest)
    assert.equal(r.reused, true)
    assert.ok(fs.existsSync(path.join(cache, 'refs', encodeURIComponent(digest))))
    const missing = `localhost:5000/pivot-test/busybox@sha256:${'ab'.repeat(32)}`
    failsInOneLine(pivot(['pull', '--source', 'registry', missing], {cacheDir: cache}), /not found in registry localhost:5000/)
  })

  it('zstd layers (an OCI image skopeo wrote): unpacked to the same diff id as the gzip original', () => {
    const raw = JSON.parse(execFileSync('skopeo', [...SKOPEO, 'inspect', '--raw', '--tls-verify=false', `docker://${ZSTD}`], {encoding: 'utf8'}))
    assert.equal(raw.layers[0].mediaType, 'application/vnd.oci.image.layer.v1.tar+zstd', 'the fixture really is zstd')
    const fresh = path.join(tempDir('pivot-reg-zstd'), 'cache')
    const r = pullJson(fresh, ZSTD)
    assert.equal(r.reused, false)
    assert.deepEqual(r.layers, inspect(BUSYBOX_IMAGE).RootFS.Layers)
    assert.ok(fs.statSync(path.join(fresh, 'layers', r.layers[0].slice(7), 'rootfs', 'bin/busybox')).isFile())
  })

  it('an uncompressed layer (OCI tar): the same diff id again', () => {
    const raw = JSON.parse(
      execFileSync('skopeo', [...SKOPEO, 'inspect', '--raw', '--tls-verify=false', 'docker://localhost:5000/pivot-test/registry-plain:latest'], {
        encoding: 'utf8',
      }),
    )
    assert.equal(raw.layers[0].mediaType, 'application/vnd.oci.image.layer.v1.tar')
    const fresh = path.join(tempDir('pivot-reg-plain'), 'cache')
    const r = pullJson(fresh, 'localhost:5000/pivot-test/registry-plain:latest')
    assert.deepEqual(r.layers, inspect(BUSYBOX_IMAGE).RootFS.Layers)
    assert.equal(ok(pivot(['run', '--rm', 'localhost:5000/pivot-test/registry-plain:latest', 'echo', 'plain'], {cacheDir: fresh})), 'plain\n')
  })

  it("an index: this host's entry by default; --platform picks others (aliases, variants, a nested index), as skopeo does", () => {
    const multi = path.join(tempDir('pivot-reg-multi'), 'cache')
    const skopeoConfig = (arch: string, variant?: string) =>
      'sha256:' +
      createHash('sha256')
        .update(
          execFileSync('skopeo', [
            ...SKOPEO,
            'inspect',
            '--config',
            '--raw',
            '--tls-verify=false',
            '--override-os',
            'linux',
            '--override-arch',
            arch,
            ...(variant ? ['--override-variant', variant] : []),
            `docker://${MULTIARCH}`,
          ]),
        )
        .digest('hex')
    const cases: Array<[string[], string, string, string?]> = [
      [[], 'amd64', 'amd64'],
      [['--platform', 'linux/aarch64'], 'arm64/v8', 'arm64', 'v8'],
      [['--platform', 'linux/arm64/v8'], 'arm64/v8', 'arm64', 'v8'],
      [['--platform', 'linux/arm'], 'arm/v7', 'arm', 'v7'],
      [['--platform', 'linux/s390x'], 's390x', 's390x'],
    ]
    for (const [flags, file, arch, variant] of cases) {
      const r = pullJson(multi, MULTIARCH, ...flags)
      assert.equal(layerFile(multi, r.layers[1], 'etc/pivot-arch'), `${file}\n`, `${flags.join(' ')}`)
      assert.equal(r.dockerImageId, skopeoConfig(arch, variant), `${flags.join(' ')}: skopeo picks the same config`)
      assert.equal(record(multi, r.id).source.repoDigest, r.digest)
    }
    // The amd64 entry runs here.
    pullJson(multi, MULTIARCH)
    assert.equal(ok(pivot(['run', '--rm', MULTIARCH, 'cat', '/etc/pivot-arch'], {cacheDir: multi})), 'amd64\n')
  })

  it('a platform the index lacks: one line naming what it has, exit 1, the name not moved', () => {
    const multi = path.join(tempDir('pivot-reg-noplat'), 'cache')
    const first = pullJson(multi, MULTIARCH)
    const refs = fs.readFileSync(path.join(multi, 'refs', encodeURIComponent(MULTIARCH)), 'utf8')
    failsInOneLine(
      pivot(['pull', '--platform', 'linux/riscv64', MULTIARCH], {cacheDir: multi}),
      /registry-multiarch:latest has no manifest for linux\/riscv64 \(it has: linux\/amd64, linux\/arm64, linux\/arm\/v7, linux\/s390x\)$/,
    )
    failsInOneLine(pivot(['pull', '--platform', 'linux/arm/v5', MULTIARCH], {cacheDir: multi}), /no manifest for linux\/arm\/v5/)
    failsInOneLine(pivot(['pull', '--platform', 'linux', MULTIARCH], {cacheDir: multi}), /invalid platform "linux"/, 125)
    assert.equal(fs.readFileSync(path.join(multi, 'refs', encodeURIComponent(MULTIARCH)), 'utf8'), refs)
    assert.equal(pullJson(multi, MULTIARCH).id, first.id)
  })

  it('an unknown repository or tag: one line, exit 1, as docker pull exits', () => {
    const was = fs.readdirSync(path.join(cache, 'refs')).sort()
    for (const [image, pattern] of [
      ['localhost:5000/pivot-test/no-such-repo-registry:latest', /pivot-test\/no-such-repo-registry:latest not found/],
      ['localhost:5000/pivot-test/busybox:no-such-tag', /busybox:no-such-tag not found in registry localhost:5000/],
    ] as const) {
      failsInOneLine(pivot(['pull', '--source', 'registry', image], {cacheDir: cache}), pattern)
      // auto: the daemon has no copy either, so the registry's answer is the error.
      failsInOneLine(pivot(['pull', image], {cacheDir: cache}), pattern)
      const d = spawnDocker(['pull', image])
      assert.equal(d.status, 1, 'docker pull exits 1 too')
    }
    assert.deepEqual(fs.readdirSync(path.join(cache, 'refs')).sort(), was)
  })

  it('plain progress: one line per layer step, with bytes and rate; -q prints nothing', () => {
    const fresh = path.join(tempDir('pivot-reg-progress'), 'cache')
    const out = ok(pivot(['pull', BUSYBOX_IMAGE], {cacheDir: fresh}))
    assert.match(out, /^Pulling localhost:5000\/pivot-test\/busybox:latest from registry localhost:5000$/m)
    assert.match(out, /^[0-9a-f]{12}: Downloaded 1\.\d MB in \d+\.\d s \([\d.]+ [kMG]?B\/s\)$/m)
    assert.match(out, /^[0-9a-f]{12}: Pull complete$/m)
    const again = ok(pivot(['pull', BUSYBOX_IMAGE], {cacheDir: fresh}))
    assert.match(again, /^[0-9a-f]{12}: Already exists$/m)
    const quiet = pivot(['pull', '-q', BUSYBOX_IMAGE], {cacheDir: path.join(tempDir('pivot-reg-q'), 'cache')})
    assert.equal(ok(quiet), '')
    assert.equal(quiet.stderr, '')
  })
})

function spawnDocker(args: string[]): {status: number | null} {
  const {spawnSync} = require('node:child_process') as typeof import('node:child_process')
  return spawnSync('/usr/bin/docker', args, {encoding: 'utf8', timeout: 120_000})
}

describe('pivot pull --source', () => {
  const tag = `127.0.0.1:5198/pivot-test/registry-offline:registry-${process.pid}`
  before(() => docker(['tag', BUSYBOX_IMAGE, tag]))
  after(() => {
    try {
      docker(['rmi', tag])
    } catch {
      // already gone
    }
  })

  it('auto, registry unreachable, the daemon has the image: its copy, with one line saying so', () => {
    const cache = path.join(tempDir('pivot-reg-offline'), 'cache')
    const r = pivot(['pull', tag], {cacheDir: cache})
    ok(r)
    assert.deepEqual(r.stderr.split('\n').filter(Boolean), [`pivot: warning: registry unreachable, using the daemon's copy of ${tag}`])
    assert.match(r.stdout, /^Using the Docker daemon's copy of /m)
    const json = pullJson(path.join(tempDir('pivot-reg-offline2'), 'cache'), tag)
    assert.equal(json.source, 'daemon')
  })

  it('registry: no fallback; the unreachable registry is the error', () => {
    const cache = path.join(tempDir('pivot-reg-offline3'), 'cache')
    failsInOneLine(pivot(['pull', '--source', 'registry', tag], {cacheDir: cache}), /registry 127\.0\.0\.1:5198 unreachable: connection refused/)
    assert.deepEqual(fs.readdirSync(path.join(cache, 'images')), [])
  })

  it('auto with neither the registry nor a daemon: one line naming both', () => {
    const cache = path.join(tempDir('pivot-reg-offline4'), 'cache')
    const r = pivot(['pull', tag], {cacheDir: cache, env: {DOCKER_HOST: 'unix:///nonexistent.sock'}})
    failsInOneLine(r, /unreachable: connection refused; no Docker daemon to fall back on/)
  })

  it('bad flag values: one line, exit 125', () => {
    const cache = path.join(tempDir('pivot-reg-flags'), 'cache')
    failsInOneLine(pivot(['pull', '--max-concurrent-downloads', '0', BUSYBOX_IMAGE], {cacheDir: cache}), /invalid --max-concurrent-downloads "0"/, 125)
    failsInOneLine(pivot(['pull', '--source', 'registry', '--flat', BUSYBOX_IMAGE], {cacheDir: cache}), /--flat from the registry/, 125)
    failsInOneLine(
      pivot(['pull', '--source', 'daemon', '--platform', 'linux/arm64', BUSYBOX_IMAGE], {cacheDir: cache}),
      /--platform needs the registry source/,
      125,
    )
  })
})

describe('registry authentication', () => {
  it('Basic: anonymous is refused; a wrong password fails login and keeps nothing; login, pull, logout', () => {
    const h = home()
    const env = {HOME: h}
    const cache = path.join(tempDir('pivot-reg-basic'), 'cache')
    failsInOneLine(
      pivot(['pull', '--source', 'registry', BASIC], {cacheDir: cache, env}),
      /registry 127\.0\.0\.1:5100 requires authentication .*run pivot login 127\.0\.0\.1:5100/,
    )
    const bad = pivot(['login', '-u', 'pivot', '--password-stdin', '127.0.0.1:5100'], {env, input: 'wrong\n'})
    failsInOneLine(bad, /registry 127\.0\.0\.1:5100 refused the credentials of pivot/)
    assert.ok(!fs.existsSync(path.join(h, '.config', 'pivot', 'config.json')), 'nothing written')
    const good = pivot(['login', '-u', 'pivot', '--password-stdin', 'http://127.0.0.1:5100/'], {env, input: 'pivot-basic-pw\n'})
    assert.equal(ok(good), 'Login Succeeded\n')
    const file = path.join(h, '.config', 'pivot', 'config.json')
    assert.equal(fs.statSync(file).mode & 0o777, 0o600)
    const saved = JSON.parse(fs.readFileSync(file, 'utf8'))
    assert.equal(Buffer.from(saved.auths['127.0.0.1:5100'].auth, 'base64').toString(), 'pivot:pivot-basic-pw')
    const pulled = pullJsonEnv(cache, BASIC, env)
    assert.equal(pulled.source, 'registry')
    assert.deepEqual(pulled.layers, inspect(BUSYBOX_IMAGE).RootFS.Layers)
    assert.equal(ok(pivot(['logout', '127.0.0.1:5100'], {env})), 'Removing login credentials for 127.0.0.1:5100\n')
    assert.equal(ok(pivot(['logout', '127.0.0.1:5100'], {env})), 'Not logged in to 127.0.0.1:5100\n')
    failsInOneLine(pivot(['pull', '--source', 'registry', BASIC], {cacheDir: cache, env}), /requires authentication/)
  })

  it("docker's config: auths, then a credential helper (credsStore), are used", () => {
    const h = home()
    fs.mkdirSync(path.join(h, '.docker'))
    fs.writeFileSync(
      path.join(h, '.docker', 'config.json'),
      JSON.stringify({auths: {'127.0.0.1:5100': {auth: Buffer.from('pivot:pivot-basic-pw').toString('base64')}}}),
    )
    const cache = path.join(tempDir('pivot-reg-dockercfg'), 'cache')
    assert.equal(pullJsonEnv(cache, BASIC, {HOME: h}).source, 'registry')

    // A helper (what docker-credential-pass or -secretservice do), found on PATH.
    const bin = tempDir('pivot-reg-helper')
    const calls = path.join(bin, 'calls')
    fs.writeFileSync(
      path.join(bin, 'docker-credential-pivottest'),
      `#!/bin/sh\nread server\necho "$1 $server" >> ${calls}\n[ "$server" = 127.0.0.1:5100 ] || { echo "credentials not found in native keychain"; exit 1; }\necho '{"ServerURL":"127.0.0.1:5100","Username":"pivot","Secret":"pivot-basic-pw"}'\n`,
      {mode: 0o755},
    )
    fs.writeFileSync(path.join(h, '.docker', 'config.json'), JSON.stringify({credsStore: 'pivottest'}))
    const cache2 = path.join(tempDir('pivot-reg-helper-cache'), 'cache')
    assert.equal(pullJsonEnv(cache2, BASIC, {HOME: h, PATH: `${bin}:${process.env.PATH}`}).source, 'registry')
    assert.equal(fs.readFileSync(calls, 'utf8'), 'get 127.0.0.1:5100\n')
    // A helper that is not installed: one line naming it.
    fs.writeFileSync(path.join(h, '.docker', 'config.json'), JSON.stringify({credHelpers: {'127.0.0.1:5100': 'pivot-missing'}}))
    failsInOneLine(
      pivot(['pull', '--source', 'registry', BASIC], {cacheDir: cache2, env: {HOME: h}}),
      /cannot run docker-credential-pivot-missing: it is not installed/,
    )
  })

  it('token auth: anonymous pull gets a pull token; login checks the password with the token server', () => {
    const h = home()
    const cache = path.join(tempDir('pivot-reg-token'), 'cache')
    const pulled = pullJsonEnv(cache, TOKEN, {HOME: h})
    assert.equal(pulled.source, 'registry')
    assert.deepEqual(pulled.layers, inspect(BUSYBOX_IMAGE).RootFS.Layers)
    failsInOneLine(
      pivot(['login', '-u', 'pivot', '--password-stdin', '127.0.0.1:5101'], {env: {HOME: h}, input: 'nope\n'}),
      /refused the credentials of pivot .*incorrect username or password/,
    )
    const r = pivot(['login', '-u', 'pivot', '--password-stdin', '127.0.0.1:5101'], {env: {HOME: h}, input: 'pivot-token-pw'})
    assert.equal(ok(r), 'Login Succeeded\n')
    assert.equal(pullJsonEnv(path.join(tempDir('pivot-reg-token2'), 'cache'), TOKEN, {HOME: h}).source, 'registry')
  })

  describe('a token that expires mid-pull', () => {
    let proxy: FaultProxy
    before(async () => {
      proxy = await startFaultProxy('http://127.0.0.1:5101', {token: 'http://127.0.0.1:5102'})
    })
    after(() => proxy.close())

    it('a 401 on a blob GET gets one fresh token and the pull goes on', async () => {
      const cache = path.join(tempDir('pivot-reg-reauth'), 'cache')
      proxy.faults.blob401Once = true
      const r = await pivotAsync(['pull', '--json', `${proxy.host}/pivot-test/busybox:latest`], {cacheDir: cache, env: {HOME: home()}})
      const pulled = JSON.parse(ok(r)) as PullResult
      assert.deepEqual(pulled.layers, inspect(BUSYBOX_IMAGE).RootFS.Layers)
      assert.equal(proxy.tokenRequests, 2, 'one token at the start, one after the 401')
      const blobs = proxy.log.filter(e => /\/blobs\//.test(e.path) && e.status !== 200 && e.status !== 206)
      assert.deepEqual(
        blobs.map(e => e.status),
        [401],
      )
    })
  })
})

function pullJsonEnv(cache: string, image: string, env: NodeJS.ProcessEnv): PullResult {
  return JSON.parse(ok(pivot(['pull', '--json', '--source', 'registry', image], {cacheDir: cache, env, timeout: 300_000}))) as PullResult
}
