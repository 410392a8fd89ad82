#!/usr/bin/env node
// Pushes the registry tests' hand-made fixtures to an anonymous registry (plain JavaScript, run by
// test/env/registries.sh): BASE REPO TAG makes
//   REPO:TAG      an OCI index: linux/amd64, linux/arm64 (variant v8), linux/arm/v7, a buildx-style
//                 attestation entry (unknown/unknown), and a nested OCI index holding linux/s390x.
//                 Each image is the busybox fixture's layer plus a small layer with /etc/pivot-arch
//                 naming its platform (the amd64 one runs here).
//   pivot-test/registry-three:latest   busybox + two 6 MB incompressible layers (Docker v2
//                 manifest): the benchmark's three-layer image.
//   pivot-test/registry-plain:latest   the busybox fixture with its layer uncompressed (OCI tar).
'use strict'
const crypto = require('node:crypto')
const zlib = require('node:zlib')

const [base, repo, tag] = process.argv.slice(2)
const sha = b => 'sha256:' + crypto.createHash('sha256').update(b).digest('hex')
const OCI = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar+gzip',
}
const DOCKER = {
  manifest: 'application/vnd.docker.distribution.manifest.v2+json',
  config: 'application/vnd.docker.container.image.v1+json',
  layer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
}

/** A ustar archive of regular files and directories (name -> Buffer, or null for a directory). */
function tar(entries) {
  const blocks = []
  for (const [name, data] of entries) {
    const h = Buffer.alloc(512)
    h.write(name, 0, 100)
    h.write(data ? '0000644\0' : '0000755\0', 100)
    h.write('0000000\0', 108)
    h.write('0000000\0', 116)
    h.write((data ? data.length : 0).toString(8).padStart(11, '0') + '\0', 124)
    h.write('14000000000\0', 136)
    h.write('        ', 148)
    h.write(data ? '0' : '5', 156)
    h.write('ustar\0', 257)
    h.write('00', 263)
    let sum = 0
    for (const b of h) sum += b
    h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148)
    blocks.push(h)
    if (data) {
      blocks.push(data)
      if (data.length % 512) blocks.push(Buffer.alloc(512 - (data.length % 512)))
    }
  }
  blocks.push(Buffer.alloc(1024))
  return Buffer.concat(blocks)
}

async function request(method, url, {body, headers} = {}) {
  const res = await fetch(url, {method, body, headers, redirect: 'manual'})
  return res
}

async function pushBlob(repository, data) {
  const digest = sha(data)
  const head = await request('HEAD', `${base}/v2/${repository}/blobs/${digest}`)
  if (head.status === 200) return digest
  const start = await request('POST', `${base}/v2/${repository}/blobs/uploads/`)
  if (start.status !== 202) throw new Error(`upload start: ${start.status}`)
  const location = new URL(start.headers.get('location'), base)
  location.searchParams.set('digest', digest)
  const put = await request('PUT', location, {body: data, headers: {'Content-Type': 'application/octet-stream'}})
  if (put.status !== 201) throw new Error(`blob PUT ${digest}: ${put.status} ${await put.text()}`)
  return digest
}

async function mountBlob(repository, digest, from) {
  const head = await request('HEAD', `${base}/v2/${repository}/blobs/${digest}`)
  if (head.status === 200) return
  const res = await request('POST', `${base}/v2/${repository}/blobs/uploads/?mount=${digest}&from=${from}`)
  if (res.status !== 201) throw new Error(`mount ${digest} from ${from}: ${res.status}`)
}

async function pushManifest(repository, reference, doc) {
  const body = Buffer.from(JSON.stringify(doc))
  const res = await request('PUT', `${base}/v2/${repository}/manifests/${reference}`, {body, headers: {'Content-Type': doc.mediaType}})
  if (res.status !== 201) throw new Error(`manifest PUT ${repository}:${reference}: ${res.status} ${await res.text()}`)
  return {mediaType: doc.mediaType, digest: sha(body), size: body.length}
}

async function main() {
  const bbRes = await request('GET', `${base}/v2/pivot-test/busybox/manifests/latest`, {headers: {Accept: DOCKER.manifest}})
  const bb = await bbRes.json()
  const bbLayer = bb.layers[0]
  const bbConfig = await (await request('GET', `${base}/v2/pivot-test/busybox/blobs/${bb.config.digest}`)).json()
  const bbDiff = bbConfig.rootfs.diff_ids[0]
  const env = bbConfig.config.Env

  async function image(repository, platform, types, extra) {
    await mountBlob(repository, bbLayer.digest, 'pivot-test/busybox')
    const layers = [{mediaType: types.layer, digest: bbLayer.digest, size: bbLayer.size}]
    const diffIds = [bbDiff]
    for (const t of extra) {
      const gz = zlib.gzipSync(t, {level: 1})
      layers.push({mediaType: types.layer, digest: await pushBlob(repository, gz), size: gz.length})
      diffIds.push(sha(t))
    }
    const config = Buffer.from(
      JSON.stringify({
        created: '2026-01-01T00:00:00Z',
        ...platform,
        config: {Env: env, Cmd: ['/bin/sh']},
        rootfs: {type: 'layers', diff_ids: diffIds},
      }),
    )
    const configDesc = {mediaType: types.config, digest: await pushBlob(repository, config), size: config.length}
    return {schemaVersion: 2, mediaType: types.manifest, config: configDesc, layers}
  }
  const archLayer = name =>
    tar([
      ['etc/', null],
      ['etc/pivot-arch', Buffer.from(name + '\n')],
    ])

  const entries = []
  for (const p of [
    {os: 'linux', architecture: 'amd64'},
    {os: 'linux', architecture: 'arm64', variant: 'v8'},
    {os: 'linux', architecture: 'arm', variant: 'v7'},
  ]) {
    const name = [p.architecture, p.variant].filter(Boolean).join('/')
    const doc = await image(repo, p, OCI, [archLayer(name)])
    const desc = await pushManifest(repo, sha(Buffer.from(JSON.stringify(doc))), doc)
    entries.push({...desc, platform: p})
  }
  // buildx writes one attestation manifest per image: platform unknown/unknown.
  const att = await image(repo, {os: 'unknown', architecture: 'unknown'}, OCI, [archLayer('attestation')])
  const attDesc = await pushManifest(repo, sha(Buffer.from(JSON.stringify(att))), att)
  entries.push({
    ...attDesc,
    platform: {os: 'unknown', architecture: 'unknown'},
    annotations: {'vnd.docker.reference.type': 'attestation-manifest', 'vnd.docker.reference.digest': entries[0].digest},
  })
  // A nested index (as skopeo --multi-arch all and some mirrors write) for s390x.
  const s390 = await image(repo, {os: 'linux', architecture: 's390x'}, OCI, [archLayer('s390x')])
  const s390Desc = await pushManifest(repo, sha(Buffer.from(JSON.stringify(s390))), s390)
  const nested = {schemaVersion: 2, mediaType: OCI.index, manifests: [{...s390Desc, platform: {os: 'linux', architecture: 's390x'}}]}
  const nestedDesc = await pushManifest(repo, sha(Buffer.from(JSON.stringify(nested))), nested)
  entries.push({...nestedDesc, platform: {os: 'linux', architecture: 's390x'}})
  const index = {schemaVersion: 2, mediaType: OCI.index, manifests: entries}
  const top = await pushManifest(repo, tag, index)
  process.stderr.write(`registry-fixtures: ${repo}:${tag} ${top.digest}\n`)

  // The busybox layer uncompressed (OCI `tar` media type): the same diff id, a third encoding.
  const bbTar = zlib.gunzipSync(Buffer.from(await (await request('GET', `${base}/v2/pivot-test/busybox/blobs/${bbLayer.digest}`)).arrayBuffer()))
  const plainConfig = Buffer.from(JSON.stringify({...bbConfig, rootfs: {type: 'layers', diff_ids: [sha(bbTar)]}}))
  const plain = {
    schemaVersion: 2,
    mediaType: OCI.manifest,
    config: {mediaType: OCI.config, digest: await pushBlob('pivot-test/registry-plain', plainConfig), size: plainConfig.length},
    layers: [{mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: await pushBlob('pivot-test/registry-plain', bbTar), size: bbTar.length}],
  }
  const plainDesc = await pushManifest('pivot-test/registry-plain', 'latest', plain)
  process.stderr.write(`registry-fixtures: pivot-test/registry-plain:latest ${plainDesc.digest}\n`)

  // Incompressible content so the download takes measurable time.
  const random = seed => {
    const out = Buffer.alloc(6 << 20)
    let block = crypto.createHash('sha256').update(seed).digest()
    for (let i = 0; i < out.length; i += 32) {
      block = crypto.createHash('sha256').update(block).digest()
      block.copy(out, i)
    }
    return out
  }
  const three = await image('pivot-test/registry-three', {os: 'linux', architecture: 'amd64'}, DOCKER, [
    tar([
      ['opt/', null],
      ['opt/one.bin', random('one')],
    ]),
    tar([
      ['srv/', null],
      ['srv/two.bin', random('two')],
    ]),
  ])
  const threeDesc = await pushManifest('pivot-test/registry-three', 'latest', three)
  process.stderr.write(`registry-fixtures: pivot-test/registry-three:latest ${threeDesc.digest}\n`)
}

main().catch(error => {
  process.stderr.write(`registry-fixtures: ${error.stack || error}\n`)
  process.exit(1)
})
