// pivot import: hand-made archives, `docker export` output, stdin, gzip, names, and failures that
// must leave the cache exactly as it was.
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {gzipSync} from 'node:zlib'
import {BUSYBOX_IMAGE, docker, pivot, tempDir} from '../../helpers/fixtures'
import {makeTar} from '../../helpers/tar-builder'
import {cacheListing} from '../../helpers/tree-listing'
import type {ImageSummary} from '../../../src/images/list-images'

const SMALL = makeTar([
  {path: './', mode: 0o755},
  {path: './etc/', mode: 0o755},
  {path: './etc/hostname', data: 'small\n'},
  {path: './bin/', mode: 0o755},
  {path: './bin/tool', data: '#!/bin/sh\necho tool\n', mode: 0o4755, uid: 0, gid: 0},
  {path: './tmp/', mode: 0o1777},
  {path: './home/', mode: 0o755},
  {path: './home/user/', mode: 0o700, uid: 1000, gid: 1000},
  {path: './home/user/notes', data: 'mine', mode: 0o600, uid: 1000, gid: 1000},
  {path: './etc/localtime', type: 'symlink', linkname: '/usr/share/zoneinfo/UTC'},
])

function setup(): {cache: string; dir: string} {
  const dir = tempDir('pivot-import')
  return {cache: path.join(dir, 'cache'), dir}
}

function json<T>(r: {status: number | null; stdout: string; stderr: string}): T {
  assert.equal(r.status, 0, r.stderr)
  return JSON.parse(r.stdout) as T
}

function layerRootfs(cache: string, digest: string): string {
  return path.join(cache, 'layers', digest.replace(/^sha256:/, ''), 'rootfs')
}

/** The cache as a list; a failed command must leave it the same (times aside). */
function snapshot(cache: string): string[] {
  return cacheListing(cache)
}

/** One line on stderr, starting with `pivot: `, non-zero status. */
function assertOneLineError(r: {status: number | null; stderr: string}, pattern: RegExp): void {
  assert.notEqual(r.status, 0)
  const lines = r.stderr.trimEnd().split('\n')
  assert.equal(lines.length, 1, r.stderr)
  assert.match(lines[0], /^pivot: /)
  assert.match(lines[0], pattern)
}

test('import of a hand-made tar: one layer, normalised name, faithful tree, cache root 0700', () => {
  const {cache, dir} = setup()
  const file = path.join(dir, 'small.tar')
  fs.writeFileSync(file, SMALL)
  const r = pivot(['import', file, 'mybase'], {cacheDir: cache})
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stdout, /^sha256:[0-9a-f]{64}\n$/)
  assert.equal(fs.statSync(cache).mode & 0o777, 0o700)

  const [image] = json<ImageSummary[]>(pivot(['images', '--json'], {cacheDir: cache}))
  assert.deepEqual(image.names, ['docker.io/library/mybase:latest'])
  assert.equal(image.id, r.stdout.trim())
  assert.equal(image.layers.length, 1)
  assert.deepEqual(image.source, {kind: 'import', file})
  const rootfs = layerRootfs(cache, image.layers[0])
  assert.equal(fs.readFileSync(path.join(rootfs, 'etc/hostname'), 'utf8'), 'small\n')
  assert.equal(fs.lstatSync(path.join(rootfs, 'bin/tool')).mode & 0o7777, 0o4755)
  assert.equal(fs.lstatSync(path.join(rootfs, 'tmp')).mode & 0o7777, 0o1777)
  assert.equal(fs.lstatSync(path.join(rootfs, 'home/user/notes')).uid, 1000)
  assert.equal(fs.readlinkSync(path.join(rootfs, 'etc/localtime')), '/usr/share/zoneinfo/UTC')
  // The short link overlay uses, and the layer record's sizes.
  assert.equal(fs.readlinkSync(path.join(cache, 'l', image.layers[0].slice(7, 19))), `../layers/${image.layers[0].slice(7)}/rootfs`)
  assert.equal(image.size, 'small\n'.length + '#!/bin/sh\necho tool\n'.length + 'mine'.length)
  // Nothing left in staging.
  assert.deepEqual(fs.readdirSync(path.join(cache, 'tmp')), [])
})

test('import from stdin, and gzip; the same content shares one layer', () => {
  const {cache} = setup()
  const a = pivot(['import', '-', 'from-stdin:1'], {cacheDir: cache, input: SMALL})
  assert.equal(a.status, 0, a.stderr)
  const b = pivot(['import', '-', 'localhost:5000/gz/img:2', '--json'], {cacheDir: cache, input: gzipSync(SMALL)})
  const bj = json<{name: string; id: string; layer: string; layerReused: boolean}>(b)
  assert.equal(bj.name, 'localhost:5000/gz/img:2')
  assert.equal(bj.layerReused, true)
  // Same layers and config: one image with two names.
  assert.equal(bj.id, a.stdout.trim())
  const images = json<ImageSummary[]>(pivot(['images', '--json'], {cacheDir: cache}))
  assert.equal(images.length, 1)
  assert.deepEqual(images[0].names, ['docker.io/library/from-stdin:1', 'localhost:5000/gz/img:2'])
  assert.equal(fs.readdirSync(path.join(cache, 'layers')).length, 1)
})

test('import of `docker export` of the busybox fixture keeps the rootfs', t => {
  const {cache, dir} = setup()
  const container = docker(['create', BUSYBOX_IMAGE]).trim()
  t.after(() => docker(['rm', '-f', container]))
  const file = path.join(dir, 'busybox.tar')
  docker(['export', '-o', file, container])
  const r = pivot(['import', file, 'bb'], {cacheDir: cache})
  assert.equal(r.status, 0, r.stderr)
  const [image] = json<ImageSummary[]>(pivot(['images', '--json'], {cacheDir: cache}))
  const rootfs = layerRootfs(cache, image.layers[0])
  const busybox = fs.lstatSync(path.join(rootfs, 'bin/busybox'))
  assert.ok(busybox.isFile() && busybox.size > 100_000)
  assert.ok(fs.lstatSync(path.join(rootfs, 'bin/sh')).isSymbolicLink() || fs.lstatSync(path.join(rootfs, 'bin/sh')).nlink > 1)
  // docker export adds these (empty, or bind-mount targets).
  assert.ok(fs.existsSync(path.join(rootfs, 'etc/hostname')))
  assert.ok(fs.lstatSync(path.join(rootfs, 'dev')).isDirectory())
})

test('import of an existing name: refused without --force (cache untouched), replaced with it', () => {
  const {cache, dir} = setup()
  const first = path.join(dir, 'first.tar')
  const second = path.join(dir, 'second.tar')
  fs.writeFileSync(first, SMALL)
  fs.writeFileSync(second, makeTar([{path: 'second', data: '2'}]))
  const a = pivot(['import', first, 'same'], {cacheDir: cache})
  assert.equal(a.status, 0, a.stderr)
  const before = snapshot(cache)
  const b = pivot(['import', second, 'same:latest'], {cacheDir: cache})
  assertOneLineError(b, /already exists.*--force/)
  assert.deepEqual(snapshot(cache), before)

  const c = pivot(['import', '--force', second, 'docker.io/library/same'], {cacheDir: cache})
  assert.equal(c.status, 0, c.stderr)
  assert.notEqual(c.stdout.trim(), a.stdout.trim())
  const images = json<ImageSummary[]>(pivot(['images', '--json'], {cacheDir: cache}))
  const named = images.find(i => i.names.includes('docker.io/library/same:latest'))
  assert.equal(named?.id, c.stdout.trim())
  // The first image lost its only name; it is still listed, unnamed, until rmi/prune.
  assert.deepEqual(images.find(i => i.id === a.stdout.trim())?.names, [])
})

test('a corrupt, truncated, hostile or missing archive: one line, non-zero, cache byte-identical', () => {
  const {cache, dir} = setup()
  const good = path.join(dir, 'good.tar')
  fs.writeFileSync(good, SMALL)
  assert.equal(pivot(['import', good, 'keep'], {cacheDir: cache}).status, 0)
  const before = snapshot(cache)

  // Random content, so that the first 2000 bytes of its gzip are not the whole archive.
  const big = makeTar([
    {path: 'big', data: randomBytes(300_000)},
    {path: 'after', data: 'x'},
  ])
  const badChecksum = Buffer.from(SMALL)
  badChecksum.write('999999', 512 + 148) // the second header's checksum
  const cases: Array<[string, Buffer | undefined]> = [
    ['truncated.tar', big.subarray(0, 100_000)],
    ['truncated.tar.gz', gzipSync(big).subarray(0, 2000)],
    ['checksum.tar', badChecksum],
    ['garbage.tar', Buffer.from('this is not a tar archive at all\n'.repeat(40))],
    [
      'replace-root.tar',
      makeTar([
        {path: 'ok', data: '1'},
        {path: './', type: 'symlink', linkname: '/etc'},
      ]),
    ],
    [
      'bad-whiteout.tar',
      makeTar([
        {path: 'ok', data: '1'},
        {path: 'd/.wh.', data: ''},
      ]),
    ],
    ['empty.tar', Buffer.alloc(0)],
    ['missing.tar', undefined],
  ]
  for (const [name, bytes] of cases) {
    const file = path.join(dir, name)
    if (bytes) fs.writeFileSync(file, bytes)
    const r = pivot(['import', file, `bad-${name.replace(/\W/g, '-')}`], {cacheDir: cache})
    assertOneLineError(r, name === 'missing.tar' ? /no such file/ : /./)
    assert.deepEqual(snapshot(cache), before, `${name} changed the cache`)
  }

  const viaStdin = pivot(['import', '-', 'bad-stdin'], {cacheDir: cache, input: big.subarray(0, 70_000)})
  assertOneLineError(viaStdin, /./)
  assert.deepEqual(snapshot(cache), before)
})

test('import sweeps staging left by a dead process', () => {
  const {cache, dir} = setup()
  const file = path.join(dir, 'small.tar')
  fs.writeFileSync(file, SMALL)
  assert.equal(pivot(['import', file, 'one'], {cacheDir: cache}).status, 0)
  // pid 2^22+1 is above the default pid_max: never a live process.
  const stale = path.join(cache, 'tmp', `${2 ** 22 + 1}-0123456789ab-import`)
  fs.mkdirSync(path.join(stale, 'rootfs'), {recursive: true})
  fs.writeFileSync(path.join(stale, 'rootfs', 'half'), 'x')
  assert.equal(pivot(['import', file, 'two'], {cacheDir: cache}).status, 0)
  assert.equal(fs.existsSync(stale), false)
})

test('import rejects a bad NAME and a digest NAME before reading anything', () => {
  const {cache, dir} = setup()
  const file = path.join(dir, 'small.tar')
  fs.writeFileSync(file, SMALL)
  assertOneLineError(pivot(['import', file, 'UPPER'], {cacheDir: cache}), /lowercase/)
  assertOneLineError(pivot(['import', file, 'x@sha256:' + 'a'.repeat(64)], {cacheDir: cache}), /digest/)
  assert.deepEqual(fs.readdirSync(path.join(cache, 'layers')), [])
})

test('a `../` name cannot write outside the layer', () => {
  const {cache, dir} = setup()
  const file = path.join(dir, 'escape.tar')
  const marker = `escape-pivot-test-${randomBytes(4).toString('hex')}`
  fs.writeFileSync(
    file,
    makeTar([
      {path: 'ok', data: '1'},
      {path: `../../../../../../${marker}`, data: 'x'},
    ]),
  )
  const r = pivot(['import', file, 'escape'], {cacheDir: cache})
  // unpackLayer confines names to the layer (`../` stops at its root) rather than rejecting them.
  assert.equal(fs.existsSync(`/${marker}`), false)
  assert.equal(fs.existsSync(path.join(dir, marker)), false)
  assert.equal(fs.existsSync(path.join(cache, marker)), false)
  if (r.status === 0) {
    const [image] = json<ImageSummary[]>(pivot(['images', '--json'], {cacheDir: cache}))
    assert.deepEqual(fs.readdirSync(layerRootfs(cache, image.layers[0])).sort(), [marker, 'ok'].sort())
  }
})
