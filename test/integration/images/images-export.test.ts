// pivot export: a faithful flat tar (import -> export -> import gives the same tree), accepted by
// `docker import`, multi-layer images flattened with overlay semantics, and atomic output.
import {before, test} from 'node:test'
import assert from 'node:assert/strict'
import {execFileSync, spawnSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {PIVOT_BIN, docker, pivot, tempDir} from '../../helpers/fixtures'
import {KoffiSyscalls} from '../../../src/sys/koffi-syscalls'
import {S_IFBLK, S_IFCHR, S_IFIFO, makedev} from '../../../src/sys/constants'
import {makeTar, type TarEntry} from '../../helpers/tar-builder'
import {treeListing, type ListingOptions} from '../../helpers/tree-listing'
import type {ImageSummary} from '../../../src/images/list-images'

const sys = new KoffiSyscalls()
const XATTRS: ListingOptions['xattrs'] = {names: ['security.capability', 'user.pivot', 'trusted.overlay.opaque'], get: (f, n) => sys.lgetxattrBytes(f, n)}
// cap_net_raw+ep as setcap writes it (VFS_CAP_REVISION_2, effective bit set).
const CAP_NET_RAW = Buffer.from('0100000200200000000000000000000000000000', 'hex')

function ok(r: {status: number | null; stdout: string; stderr: string}): string {
  assert.equal(r.status, 0, r.stderr)
  return r.stdout
}

function imageLayers(cache: string, name: string): string[] {
  const images = JSON.parse(ok(pivot(['images', '--json'], {cacheDir: cache}))) as ImageSummary[]
  const image = images.find(i => i.names.includes(name))
  assert.ok(image, `${name} not in ${JSON.stringify(images)}`)
  return image.layers
}

function rootfsOf(cache: string, digest: string): string {
  return path.join(cache, 'layers', digest.slice(7), 'rootfs')
}

function mountsUnder(dir: string): string[] {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map(l => l.split(' ')[4])
    .filter(m => m !== undefined && (m === dir || m.startsWith(dir + '/')))
}

/** A rootfs with every kind of thing a round trip can lose. */
function makeRootfs(root: string): void {
  const dir = (p: string, mode: number, uid = 0, gid = 0) => {
    fs.mkdirSync(path.join(root, p), {recursive: true})
    // chown before chmod: chown clears setuid/setgid bits.
    fs.chownSync(path.join(root, p), uid, gid)
    fs.chmodSync(path.join(root, p), mode)
  }
  const file = (p: string, data: string | Buffer, mode = 0o644, uid = 0, gid = 0) => {
    fs.writeFileSync(path.join(root, p), data)
    fs.chownSync(path.join(root, p), uid, gid)
    fs.chmodSync(path.join(root, p), mode)
  }
  fs.chmodSync(root, 0o755)
  for (const d of ['bin', 'etc', 'usr', 'usr/bin', 'usr/lib', 'usr/share', 'dev', 'var']) dir(d, 0o755)
  fs.copyFileSync('/bin/busybox', path.join(root, 'bin/busybox'))
  fs.chmodSync(path.join(root, 'bin/busybox'), 0o755)
  fs.symlinkSync('busybox', path.join(root, 'bin/sh'))
  file('bin/su', 'setuid', 0o4755)
  file('bin/wall', 'setgid', 0o2755, 0, 5)
  file('bin/ping', 'capable', 0o755)
  sys.lsetxattr(path.join(root, 'bin/ping'), 'security.capability', CAP_NET_RAW)
  file('etc/marker', 'pivot-export-marker\n')
  file('etc/tagged', 'x')
  sys.lsetxattr(path.join(root, 'etc/tagged'), 'user.pivot', Buffer.from('value'))
  file('usr/bin/one', 'shared content', 0o755)
  fs.linkSync(path.join(root, 'usr/bin/one'), path.join(root, 'usr/bin/two'))
  fs.symlinkSync('/usr/share/zoneinfo/UTC', path.join(root, 'etc/localtime'))
  fs.symlinkSync('../../../../../etc', path.join(root, 'usr/lib/climb'))
  fs.symlinkSync('usr/lib', path.join(root, 'lib'))
  sys.mknod(path.join(root, 'dev/null'), S_IFCHR | 0o666, makedev(1, 3))
  sys.mknod(path.join(root, 'dev/sda'), S_IFBLK | 0o660, makedev(8, 0))
  fs.chownSync(path.join(root, 'dev/sda'), 0, 6)
  sys.mknod(path.join(root, 'dev/initctl'), S_IFIFO | 0o600, 0n)
  dir('tmp', 0o1777)
  dir('home/user', 0o700, 1000, 1000)
  file('home/user/.profile', 'export A=1\n', 0o600, 1000, 1000)
  dir('usr/share/sg', 0o2775, 0, 50)
  dir('var/empty', 0o555)
  file('etc/name with spaces and ü', 'unicode')
  fs.utimesSync(path.join(root, 'etc/marker'), 1_600_000_000, 1_600_000_000)
}

let work: string
let cache: string
let exported: string
let sourceListing: ReturnType<typeof treeListing>

before(() => {
  work = tempDir('pivot-export')
  cache = path.join(work, 'cache')
  const src = path.join(work, 'src')
  fs.mkdirSync(src)
  makeRootfs(src)
  sourceListing = treeListing(src, {mtimes: true, xattrs: XATTRS})
  assert.equal(sourceListing['bin/su'].mode, '4755')
  assert.equal(sourceListing['usr/share/sg'].mode, '2775')
  // GNU tar makes the first archive: an implementation independent of pivot's.
  const tarball = path.join(work, 'src.tar')
  execFileSync('tar', ['--xattrs', '--xattrs-include=*', '--numeric-owner', '-C', src, '-cpf', tarball, '.'])
  ok(pivot(['import', tarball, 'roundtrip'], {cacheDir: cache}))
  exported = path.join(work, 'exported.tar')
  ok(pivot(['export', 'roundtrip', '-o', exported], {cacheDir: cache}))
})

test('import keeps the tree GNU tar archived', () => {
  const [layer] = imageLayers(cache, 'docker.io/library/roundtrip:latest')
  assert.deepEqual(treeListing(rootfsOf(cache, layer), {mtimes: true, xattrs: XATTRS}), sourceListing)
})

test('export -> import gives the identical tree: modes, owners, links, hardlinks, devices, setuid, capabilities', () => {
  assert.equal(fs.statSync(exported).mode & 0o777, 0o600)
  ok(pivot(['import', exported, 'again'], {cacheDir: cache}))
  const [layer] = imageLayers(cache, 'docker.io/library/again:latest')
  const again = treeListing(rootfsOf(cache, layer), {mtimes: true, xattrs: XATTRS})
  assert.deepEqual(again, sourceListing)
  // Spot checks, so a listing bug cannot hide a loss.
  assert.equal(again['bin/su'].mode, '4755')
  assert.equal(again['tmp'].mode, '1777')
  assert.equal(again['bin/ping'].xattrs?.['security.capability'], CAP_NET_RAW.toString('hex'))
  assert.equal(again['usr/bin/two'].linkGroup, 'usr/bin/one')
  assert.equal(again['dev/null'].type, 'char')
  assert.equal(again['usr/lib/climb'].target, '../../../../../etc')
  assert.ok(
    fs.readdirSync(work).every(f => !f.endsWith('.tmp')),
    'temp file left beside the output',
  )
})

test('export -o - writes the same archive to a pipe', () => {
  const r = spawnSync(PIVOT_BIN, ['export', 'roundtrip', '-o', '-'], {
    env: {...process.env, PIVOT_CACHE_DIR: cache, NODE_EXTRA_CA_CERTS: ''},
    maxBuffer: 64 * 1024 * 1024,
  })
  assert.equal(r.status, 0, r.stderr?.toString())
  const list = (input: Buffer | string) =>
    execFileSync('tar', ['-tvf', '-', '--numeric-owner', '--full-time'], {input: typeof input === 'string' ? fs.readFileSync(input) : input, encoding: 'utf8'})
  assert.equal(list(r.stdout), list(exported))
})

test('docker import of the export runs, with the files, modes and owners', t => {
  const tag = `pivot-test/exported:${randomBytes(4).toString('hex')}`
  docker(['import', exported, tag])
  t.after(() => docker(['rmi', '-f', tag]))
  const out = docker([
    'run',
    '--rm',
    '--network',
    'none',
    tag,
    '/bin/busybox',
    'sh',
    '-c',
    'cat /etc/marker; /bin/busybox stat -c "%a %u %g %n" /bin/su /tmp /home/user /home/user/.profile; /bin/busybox readlink /etc/localtime',
  ])
  assert.equal(
    out,
    'pivot-export-marker\n4755 0 0 /bin/su\n1777 0 0 /tmp\n700 1000 1000 /home/user\n600 1000 1000 /home/user/.profile\n/usr/share/zoneinfo/UTC\n',
  )
})

test('export to a missing directory or of an unknown image: one line, non-zero, no file', () => {
  const r = pivot(['export', 'roundtrip', '-o', path.join(work, 'no/such/dir/out.tar')], {cacheDir: cache})
  assert.notEqual(r.status, 0)
  assert.match(r.stderr, /^pivot: cannot write .*: no such directory\n$/)
  const d = pivot(['export', 'roundtrip', '-o', work], {cacheDir: cache})
  assert.notEqual(d.status, 0)
  assert.equal(d.stderr, `pivot: cannot write ${work}: it is a directory\n`)
  const u = pivot(['export', 'nosuch', '-o', path.join(work, 'nosuch.tar')], {cacheDir: cache})
  assert.notEqual(u.status, 0)
  assert.equal(u.stderr, 'pivot: no such image: "nosuch"\n')
  assert.equal(fs.existsSync(path.join(work, 'nosuch.tar')), false)
})

// ---- multi-layer flattening ---------------------------------------------------------------------

const LAYERS: TarEntry[][] = [
  [
    {path: 'a', data: 'a1'},
    {path: 'd/'},
    {path: 'd/x', data: 'x1'},
    {path: 'd/y', data: 'y1'},
    {path: 'o/'},
    {path: 'o/1', data: 'o1'},
    {path: 'o/sub/'},
    {path: 'o/sub/deep', data: 'deep'},
    {path: 'keep', data: 'k'},
    {path: 'hl1', data: 'linked', mode: 0o4755},
    {path: 'hl2', type: 'hardlink', linkname: 'hl1'},
    {path: 'lnk', type: 'symlink', linkname: '/keep'},
    {path: 'gone/'},
    {path: 'gone/inside', data: 'g'},
  ],
  [
    {path: '.wh.a'},
    {path: 'd/'},
    {path: 'd/y', data: 'y2'},
    {path: 'o/', mode: 0o750},
    {path: 'o/.wh..wh..opq'},
    {path: 'o/2', data: 'o2'},
    {path: 'newdir/'},
    {path: 'newdir/f', data: 'n'},
    {path: '.wh.gone'},
  ],
  [{path: 'a', data: 'a3'}, {path: 'd/'}, {path: 'd/.wh.x'}, {path: 'keep', data: 'k', mode: 0o600}, {path: 'top', data: 't'}, {path: 'tmp/', mode: 0o1777}],
]

/** Layers committed straight into a store (as a layered pull or a build makes them) and named. */
async function layeredImage(cacheDir: string, name: string): Promise<string[]> {
  const {Store} = await import('../../../src/store')
  const {unpackLayer} = await import('../../../src/unpack')
  const {Readable} = await import('node:stream')
  const store = Store.open(cacheDir)
  const digests: string[] = []
  for (const entries of LAYERS) {
    const staging = store.stage('test-layer')
    fs.mkdirSync(path.join(staging, 'rootfs'))
    const r = await unpackLayer(Readable.from([makeTar(entries)]), path.join(staging, 'rootfs'))
    store.commitLayer(staging, {digest: r.digest, tarSize: r.size, entries: r.entries})
    digests.push(r.digest)
  }
  const now = new Date().toISOString()
  const image = store.writeImage({layers: digests, config: {}, source: {kind: 'build', recipe: 'test'}, created: now, added: now})
  store.setRef(name, image.id)
  return digests
}

test('a multi-layer image is flattened: upper wins, whiteouts and opaque dirs hide what is below', async () => {
  const dir = tempDir('pivot-flatten')
  const cacheDir = path.join(dir, 'cache')
  const layers = await layeredImage(cacheDir, 'docker.io/library/layered:latest')
  // The layers hold overlay-form whiteouts, which export must not leak.
  assert.ok(fs.lstatSync(path.join(rootfsOf(cacheDir, layers[1]), 'a')).isCharacterDevice())
  const out = path.join(dir, 'flat.tar')
  ok(pivot(['export', 'layered', '-o', out], {cacheDir}))
  assert.deepEqual(mountsUnder(cacheDir), [])
  assert.deepEqual(fs.readdirSync(path.join(cacheDir, 'tmp')), [])

  ok(pivot(['import', out, 'flat'], {cacheDir}))
  const [flat] = imageLayers(cacheDir, 'docker.io/library/flat:latest')
  const tree = treeListing(rootfsOf(cacheDir, flat))
  assert.deepEqual(Object.keys(tree).sort(), ['.', 'a', 'd', 'd/y', 'hl1', 'hl2', 'keep', 'lnk', 'newdir', 'newdir/f', 'o', 'o/2', 'tmp', 'top'])
  const read = (p: string) => fs.readFileSync(path.join(rootfsOf(cacheDir, flat), p), 'utf8')
  assert.equal(read('a'), 'a3')
  assert.equal(read('d/y'), 'y2')
  assert.equal(read('o/2'), 'o2')
  assert.equal(tree['keep'].mode, '600')
  assert.equal(tree['o'].mode, '750')
  assert.equal(tree['tmp'].mode, '1777')
  assert.equal(tree['hl1'].mode, '4755')
  assert.equal(tree['hl2'].linkGroup, 'hl1')
  assert.equal(tree['lnk'].target, '/keep')
  // No overlay bookkeeping in the archive.
  const names = execFileSync('tar', ['-tf', out], {encoding: 'utf8'})
  assert.doesNotMatch(names, /\.wh\./)
  assert.equal(sys.lgetxattr(path.join(rootfsOf(cacheDir, flat), 'o'), 'trusted.overlay.opaque'), null)
})

test('a failed flattening leaves no output, no temp file, no mount and no staging', async () => {
  const dir = tempDir('pivot-flatten-fail')
  const cacheDir = path.join(dir, 'cache')
  const layers = await layeredImage(cacheDir, 'docker.io/library/broken:latest')
  // A damaged cache: the middle layer's tree is gone (its record stays).
  fs.rmSync(rootfsOf(cacheDir, layers[1]), {recursive: true})
  const outDir = path.join(dir, 'out')
  fs.mkdirSync(outDir)
  const r = pivot(['export', 'broken', '-o', path.join(outDir, 'flat.tar')], {cacheDir})
  assert.notEqual(r.status, 0)
  // The store now counts a layer without its rootfs as absent, so export names it before flattening.
  assert.match(r.stderr, /^pivot: (cannot flatten the layers: .*|cannot export broken: its layer sha256:[0-9a-f]{64} is missing from the cache)\n$/)
  assert.deepEqual(fs.readdirSync(outDir), [])
  assert.deepEqual(mountsUnder(cacheDir), [])
  assert.deepEqual(fs.readdirSync(path.join(cacheDir, 'tmp')), [])
})

test('an image with no layer (a build from scratch) exports an empty root', async () => {
  const dir = tempDir('pivot-export-empty')
  const cacheDir = path.join(dir, 'cache')
  const {Store} = await import('../../../src/store')
  const store = Store.open(cacheDir)
  const now = new Date().toISOString()
  store.setRef('docker.io/library/empty:latest', store.writeImage({layers: [], config: {}, source: {kind: 'build', recipe: 'x'}, created: now, added: now}).id)
  const out = path.join(dir, 'empty.tar')
  ok(pivot(['export', 'empty', '-o', out], {cacheDir}))
  assert.match(execFileSync('tar', ['-tvf', out, '--numeric-owner'], {encoding: 'utf8'}), /^drwxr-xr-x 0\/0 +0 .* \.\/\n$/)
  assert.deepEqual(fs.readdirSync(path.join(cacheDir, 'tmp')), [])
})
