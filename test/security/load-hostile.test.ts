// pivot load of hostile image archives: path traversal in blob names, symlinked blobs, absurd
// sizes and layer counts, digest and diff id mismatches, and the split-reader tars of
// hostile-archives.ts. Each is refused with one line and exit 1, and the cache is byte-identical.
import {before, describe, it} from 'node:test'
import assert from 'node:assert/strict'
import {createHash} from 'node:crypto'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {BUSYBOX_IMAGE, pivot, tempDir} from '../helpers/fixtures'
import {hostileArchives} from '../helpers/hostile-archives'
import {assertOneLineError, cacheSnapshot} from '../helpers/security'
import {TarBuilder} from '../helpers/tar-builder'

let cache: string
let work: string

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex')

/** A valid one-layer OCI layout (files by name), with hooks to spoil it. */
function layout(
  spoil: {layer?: Buffer; diffId?: string; layerDigest?: string; layerSize?: number; layers?: number; manifestJson?: unknown} = {},
): Map<string, Buffer> {
  const layer = spoil.layer ?? new TarBuilder().file('hello.txt', 'hello from a loaded layer\n').end().toBuffer()
  const files = new Map<string, Buffer>()
  const blob = (data: Buffer) => {
    const hex = sha(data)
    files.set(`blobs/sha256/${hex}`, data)
    return {digest: `sha256:${hex}`, size: data.length}
  }
  const l = blob(layer)
  const count = spoil.layers ?? 1
  const config = blob(
    Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        config: {Cmd: ['/hello']},
        rootfs: {type: 'layers', diff_ids: Array(count).fill(spoil.diffId ?? l.digest)},
      }),
    ),
  )
  const layerDescriptor = {mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: spoil.layerDigest ?? l.digest, size: spoil.layerSize ?? l.size}
  const manifest = blob(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: {mediaType: 'application/vnd.oci.image.config.v1+json', ...config},
        layers: Array(count).fill(layerDescriptor),
      }),
    ),
  )
  files.set('oci-layout', Buffer.from('{"imageLayoutVersion":"1.0.0"}'))
  files.set(
    'index.json',
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        manifests: [
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            ...manifest,
            annotations: {'io.containerd.image.name': 'docker.io/library/hostile-imagefiles:1'},
          },
        ],
      }),
    ),
  )
  if (spoil.manifestJson !== undefined) files.set('manifest.json', Buffer.from(JSON.stringify(spoil.manifestJson)))
  return files
}

/** The layout with its manifest behind a nested index (skopeo --multi-arch all's shape), listed for `platforms`. */
function nested(platforms: Array<{os: string; architecture: string; variant?: string}>): Map<string, Buffer> {
  const files = layout()
  const top = JSON.parse(files.get('index.json')!.toString()) as {manifests: Array<{digest: string; size: number; annotations: Record<string, string>}>}
  const manifest = top.manifests[0]!
  const entries = platforms.map((platform, i) =>
    i === 0
      ? {mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: manifest.digest, size: manifest.size, platform}
      : // Other platforms' manifests are not in the layout (skopeo copies one platform by default).
        {mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${sha(String(i))}`, size: 10, platform},
  )
  // An attestation entry, as buildx writes it: skipped.
  entries.push({
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    digest: `sha256:${sha('att')}`,
    size: 10,
    platform: {os: 'unknown', architecture: 'unknown'},
  })
  const index = Buffer.from(JSON.stringify({schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: entries.reverse()}))
  files.set(`blobs/sha256/${sha(index)}`, index)
  files.set(
    'index.json',
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        manifests: [
          {mediaType: 'application/vnd.oci.image.index.v1+json', digest: `sha256:${sha(index)}`, size: index.length, annotations: manifest.annotations},
        ],
      }),
    ),
  )
  return files
}

function asTar(files: Map<string, Buffer>): Buffer {
  const tar = new TarBuilder()
  for (const [name, data] of files) tar.file(name, data)
  return tar.end().toBuffer()
}

function asDir(files: Map<string, Buffer>): string {
  const dir = fs.mkdtempSync(path.join(work, 'layout-'))
  for (const [name, data] of files) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), {recursive: true})
    fs.writeFileSync(path.join(dir, name), data)
  }
  return dir
}

/** Loads `input` (a tar's bytes or a directory) and checks the refusal and the untouched cache. */
function refused(input: Buffer | string, pattern: RegExp): void {
  const before = cacheSnapshot(cache)
  const r = typeof input === 'string' ? pivot(['load', '-i', input], {cacheDir: cache}) : pivot(['load'], {cacheDir: cache, input})
  assertOneLineError(r, pattern, 1)
  assert.deepEqual(cacheSnapshot(cache), before, 'the cache is byte-identical')
  assert.deepEqual(fs.readdirSync(path.join(cache, 'tmp')), [], 'no staging left')
}

before(() => {
  cache = tempDir('pivot-load-hostile')
  work = tempDir('pivot-load-hostile-work')
  assert.equal(pivot(['pull', '-q', BUSYBOX_IMAGE], {cacheDir: cache}).status, 0)
})

describe('pivot load refuses hostile archives and keeps the cache as it was', () => {
  it('the valid layout these are made from loads (as a tar and as a directory)', () => {
    const fresh = tempDir('pivot-load-hostile-ok')
    const r = pivot(['load'], {cacheDir: fresh, input: asTar(layout())})
    assert.equal(r.status, 0, r.stderr)
    assert.equal(r.stdout, 'Loaded image: hostile-imagefiles:1\n')
    assert.equal(pivot(['load', '-i', asDir(layout())], {cacheDir: fresh}).status, 0)
  })

  it('a nested index resolves to the host platform; one without it is refused naming what it has', () => {
    const fresh = tempDir('pivot-load-hostile-nested')
    const r = pivot(['load'], {
      cacheDir: fresh,
      input: asTar(
        nested([
          {os: 'linux', architecture: 'amd64'},
          {os: 'linux', architecture: 'arm64', variant: 'v8'},
        ]),
      ),
    })
    assert.equal(r.status, 0, r.stderr)
    assert.equal(r.stdout, 'Loaded image: hostile-imagefiles:1\n')
    refused(
      asTar(
        nested([
          {os: 'linux', architecture: 's390x'},
          {os: 'linux', architecture: 'arm64', variant: 'v8'},
        ]),
      ),
      /has no image for linux\/amd64 \(it has linux\/arm64\/v8, linux\/s390x\)/,
    )
  })

  it("a blob whose bytes do not match its digest, or a layer whose diff id is not the config's", () => {
    const files = layout()
    const [name] = [...files.keys()].filter(n => n.startsWith('blobs/') && files.get(n)!.length > 1000)
    const spoilt = Buffer.from(files.get(name!)!)
    spoilt[600] ^= 1
    files.set(name!, spoilt)
    refused(asTar(files), /layer blobs\/sha256\/[0-9a-f]{64} has digest sha256:[0-9a-f]{64}, not sha256:/)
    refused(asDir(files), /has digest sha256:[0-9a-f]{64}, not sha256:/)
    refused(asTar(layout({diffId: `sha256:${'0'.repeat(64)}`})), /has diff id sha256:[0-9a-f]{64}; its config says sha256:0{64}/)
  })

  it('path traversal in blob names and in manifest.json', () => {
    refused(asTar(layout({layerDigest: 'sha256:../../../../etc/passwd'})), /invalid digest/)
    const legacy = new Map([
      ['manifest.json', Buffer.from(JSON.stringify([{Config: 'c.json', RepoTags: ['x-imagefiles:1'], Layers: ['../../../etc/passwd']}]))],
      ['c.json', Buffer.from('{}')],
    ])
    refused(asTar(legacy), /names "\.\.\/\.\.\/\.\.\/etc\/passwd", outside the archive/)
    const member = new TarBuilder().file('../../evil/index.json', '{}').end().toBuffer()
    refused(member, /outside the archive/)
  })

  it('symlinked blobs, in a directory and in a tar', () => {
    const files = layout()
    const dir = asDir(files)
    const blob = [...files.keys()].find(n => files.get(n)!.length > 1000)!
    fs.rmSync(path.join(dir, blob))
    fs.symlinkSync('/etc/passwd', path.join(dir, blob))
    refused(dir, /is a symbolic link/)
    const tar = new TarBuilder()
    for (const [name, data] of files) {
      if (name === blob) tar.symlink(name, '/etc/passwd')
      else tar.file(name, data)
    }
    refused(tar.end().toBuffer(), /is a link; only a legacy layer\.tar may be one/)
  })

  it('absurd sizes and counts: a 1 TB layer, a tar member claiming 1 TB, 10 000 layers', () => {
    refused(asTar(layout({layerSize: 1024 ** 4})), /is \d+ bytes; its descriptor says 1099511627776/)
    const files = layout()
    const blob = [...files.keys()].find(n => files.get(n)!.length > 1000)!
    const tar = new TarBuilder()
    for (const [name, data] of files) {
      if (name === blob) tar.file(name, data, {size: 1024 ** 4})
      else tar.file(name, data)
    }
    refused(tar.toBuffer(), /damaged|truncated/)
    const started = Date.now()
    refused(asTar(layout({layers: 10_000})), /lists 10000 layers \(limit 500\)/)
    assert.ok(Date.now() - started < 30_000)
  })

  it('the split-reader tars of hostile-archives.ts are not image archives', () => {
    for (const [name, bytes] of Object.entries(hostileArchives())) {
      const before = cacheSnapshot(cache)
      // From a file: pivot stops reading a hostile stream early, and a pipe would then break.
      const file = path.join(work, name)
      fs.writeFileSync(file, bytes)
      const r = pivot(['load', '-i', file], {cacheDir: cache})
      assertOneLineError(r, /^pivot: cannot load \S+: /, 1)
      assert.deepEqual(cacheSnapshot(cache), before, name)
    }
  })

  it('input that is empty, endless zeros, or a terminal-less nothing', () => {
    refused(Buffer.alloc(0), /the input is empty/)
    refused('/dev/zero', /not an image archive/)
    refused(path.join(work, 'no-such.tar'), /^pivot: no such file: .*no-such.tar$/)
  })
})
