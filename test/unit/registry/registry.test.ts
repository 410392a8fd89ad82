// The registry client's pure parts: challenges, platforms and index selection, manifest checks
// and bounds, credentials files (pivot's and docker's, a helper), endpoints.
import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {after, describe, it} from 'node:test'
import {
  MEDIA,
  findCredentials,
  normalizePlatform,
  parseChallenge,
  parseManifest,
  parsePlatform,
  registryBase,
  removeCredentials,
  saveCredentials,
  selectPlatform,
  type Manifest,
} from '../../../src/registry'

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pivot-registry-unit-'))
after(() => fs.rmSync(dir, {recursive: true, force: true}))

const D = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`

describe('parseChallenge', () => {
  it('reads Bearer with quoted, comma-separated parameters', () => {
    assert.deepEqual(parseChallenge('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull"'), {
      scheme: 'bearer',
      params: {realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:a/b:pull'},
    })
  })
  it('reads Basic, unquoted values and escapes', () => {
    assert.deepEqual(parseChallenge('Basic realm=pivot-basic'), {scheme: 'basic', params: {realm: 'pivot-basic'}})
    assert.equal(parseChallenge('Bearer realm="a\\"b", service="s"')?.params.realm, 'a"b')
    assert.equal(parseChallenge(undefined), undefined)
  })
})

describe('platforms', () => {
  it('normalises aliases and variants as containerd does', () => {
    assert.deepEqual(parsePlatform('linux/x86_64'), {os: 'linux', architecture: 'amd64'})
    assert.deepEqual(parsePlatform('linux/aarch64'), {os: 'linux', architecture: 'arm64'})
    assert.deepEqual(parsePlatform('linux/arm64/v8'), {os: 'linux', architecture: 'arm64'})
    assert.deepEqual(parsePlatform('linux/arm'), {os: 'linux', architecture: 'arm', variant: 'v7'})
    assert.deepEqual(parsePlatform('linux/armhf'), {os: 'linux', architecture: 'arm', variant: 'v7'})
    assert.deepEqual(parsePlatform('linux/armel'), {os: 'linux', architecture: 'arm', variant: 'v6'})
    assert.deepEqual(normalizePlatform({os: 'Linux', architecture: 'arm', variant: '6'}), {os: 'linux', architecture: 'arm', variant: 'v6'})
  })
  it('refuses what is not os/arch[/variant]', () => {
    for (const bad of ['linux', 'a/b/c/d', 'linux/', 'linux/amd 64']) assert.throws(() => parsePlatform(bad), {code: 'REGISTRY_BAD_PLATFORM'})
  })

  const index: Extract<Manifest, {kind: 'index'}> = {
    kind: 'index',
    mediaType: MEDIA.ociIndex,
    manifests: [
      {mediaType: MEDIA.ociManifest, digest: D(1), size: 1, platform: {os: 'linux', architecture: 'amd64'}},
      {mediaType: MEDIA.ociManifest, digest: D(2), size: 1, platform: {os: 'linux', architecture: 'arm64', variant: 'v8'}},
      {mediaType: MEDIA.ociManifest, digest: D(3), size: 1, platform: {os: 'linux', architecture: 'arm', variant: 'v6'}},
      {mediaType: MEDIA.ociManifest, digest: D(4), size: 1, platform: {os: 'linux', architecture: 'arm', variant: 'v7'}},
      {
        mediaType: MEDIA.ociManifest,
        digest: D(5),
        size: 1,
        platform: {os: 'unknown', architecture: 'unknown'},
        annotations: {'vnd.docker.reference.type': 'attestation-manifest'},
      },
    ],
  }
  it('selects the exact variant, arm64 with or without v8, skips attestations', () => {
    assert.equal(selectPlatform(index, parsePlatform('linux/amd64'), 'x').digest, D(1))
    assert.equal(selectPlatform(index, parsePlatform('linux/arm64'), 'x').digest, D(2))
    assert.equal(selectPlatform(index, parsePlatform('linux/arm/v6'), 'x').digest, D(3))
    assert.equal(selectPlatform(index, parsePlatform('linux/arm'), 'x').digest, D(4))
    assert.throws(() => selectPlatform(index, parsePlatform('unknown/unknown'), 'img'), {
      code: 'REGISTRY_NO_PLATFORM',
      message: 'img has no manifest for unknown/unknown (it has: linux/amd64, linux/arm64, linux/arm/v6, linux/arm/v7)',
    })
  })
})

describe('parseManifest', () => {
  const image = (layers: unknown[], mediaType: string = MEDIA.dockerManifest) =>
    Buffer.from(JSON.stringify({schemaVersion: 2, mediaType, config: {mediaType: MEDIA.dockerConfig, digest: D(9), size: 10}, layers}))
  const layer = {mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: D(1), size: 100}

  it('reads a Docker v2 manifest, an OCI one without mediaType, an index', () => {
    assert.equal(parseManifest(image([layer]), MEDIA.dockerManifest, 'x').kind, 'image')
    const oci = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        config: {mediaType: MEDIA.ociConfig, digest: D(9), size: 1},
        layers: [{...layer, mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd'}],
      }),
    )
    assert.equal(parseManifest(oci, MEDIA.ociManifest, 'x').kind, 'image')
    assert.equal(parseManifest(Buffer.from(JSON.stringify({mediaType: MEDIA.dockerList, manifests: []})), MEDIA.dockerList, 'x').kind, 'index')
  })
  it('refuses unknown, schema 1, foreign layers, bad digests and sizes, too many layers', () => {
    assert.throws(() => parseManifest(Buffer.from('{"mediaType":"application/x-foo"}'), 'application/x-foo', 'img'), {
      message: 'the manifest of img has the unknown media type application/x-foo',
    })
    assert.throws(() => parseManifest(Buffer.from('{"schemaVersion":1}'), 'application/vnd.docker.distribution.manifest.v1+prettyjws', 'img'), /schema 1/)
    assert.throws(
      () => parseManifest(image([{...layer, mediaType: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip'}]), MEDIA.dockerManifest, 'img'),
      /foreign/,
    )
    assert.throws(() => parseManifest(image([{...layer, digest: 'md5:abc'}]), MEDIA.dockerManifest, 'img'), /not a sha256 digest/)
    assert.throws(() => parseManifest(image([{...layer, size: -1}]), MEDIA.dockerManifest, 'img'), /not a byte count/)
    assert.throws(() => parseManifest(image(Array(129).fill(layer)), MEDIA.dockerManifest, 'img'), {code: 'REGISTRY_TOO_LARGE'})
    assert.throws(() => parseManifest(image([layer]), MEDIA.ociManifest, 'img'), /says it is .* but was served as/)
    assert.throws(() => parseManifest(Buffer.from('not json'), MEDIA.ociManifest, 'img'), /not valid JSON/)
  })
})

describe('credentials', () => {
  const env = {HOME: path.join(dir, 'home'), PATH: process.env.PATH}
  it("login files them 0600 in pivot's config, docker's shape; logout removes them", () => {
    const file = saveCredentials('registry.example:5000', 'me', 'p:ss', env)
    assert.equal(file, path.join(dir, 'home', '.config', 'pivot', 'config.json'))
    assert.equal(fs.statSync(file).mode & 0o777, 0o600)
    assert.deepEqual(findCredentials('registry.example:5000', env), {username: 'me', password: 'p:ss', origin: 'pivot login'})
    saveCredentials('docker.io', 'hub', 'x', env)
    assert.ok(JSON.parse(fs.readFileSync(file, 'utf8')).auths['https://index.docker.io/v1/'])
    assert.equal(removeCredentials('registry.example:5000', env), true)
    assert.equal(removeCredentials('registry.example:5000', env), false)
    assert.equal(findCredentials('registry.example:5000', env), undefined)
  })
  it("reads docker's auths (URL-shaped keys too) and says which file is broken", () => {
    const home = path.join(dir, 'dhome')
    fs.mkdirSync(path.join(home, '.docker'), {recursive: true})
    fs.writeFileSync(
      path.join(home, '.docker', 'config.json'),
      JSON.stringify({auths: {'https://r.example/v2/': {auth: Buffer.from('u:p').toString('base64')}}}),
    )
    assert.deepEqual(findCredentials('r.example', {HOME: home}), {username: 'u', password: 'p', origin: path.join(home, '.docker', 'config.json')})
    fs.writeFileSync(path.join(home, '.docker', 'config.json'), '{')
    assert.throws(() => findCredentials('r.example', {HOME: home}), {code: 'REGISTRY_BAD_CREDENTIALS', message: /config\.json is not valid JSON/})
  })
})

describe('registryBase', () => {
  it('Hub, loopback over http, the rest over https unless listed insecure', () => {
    assert.equal(registryBase('docker.io').href, 'https://registry-1.docker.io/')
    assert.equal(registryBase('localhost:5000').href, 'http://localhost:5000/')
    assert.equal(registryBase('127.0.0.1:5100').href, 'http://127.0.0.1:5100/')
    assert.equal(registryBase('ghcr.io').href, 'https://ghcr.io/')
    assert.equal(registryBase('reg.lan:5000', {PIVOT_INSECURE_REGISTRIES: 'other, reg.lan:5000'}).href, 'http://reg.lan:5000/')
  })
})
