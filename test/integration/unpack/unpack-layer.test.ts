/**
 * unpackLayer is faithful: each property a real rootfs depends on, on a hand-made archive.
 * Needs root (the worker chroots, chowns and mknods); no daemon.
 */
import assert from 'node:assert/strict'
import {createHash} from 'node:crypto'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {Readable} from 'node:stream'
import {after, describe, it} from 'node:test'
import {prepareUnpacker, unpackLayer} from '../../../src/unpack/unpack-layer'
import {UnpackError} from '../../../src/unpack/unpack-error'
import {TarBuilder, header} from '../../helpers/tar-builder'
import {processesMentioning} from '../../helpers/processes-mentioning'
import {cleanupTempDirs, majorMinor, streamOf, tempDir, unpackBuffer, walk, xattr, xattrNames} from '../../helpers/unpack-kit'

after(cleanupTempDirs)

const mode = (p: string) => fs.lstatSync(p).mode & 0o7777
const owner = (p: string) => {
  const st = fs.lstatSync(p)
  return [st.uid, st.gid]
}
/** security.capability v2: cap_net_raw (13) permitted+effective. */
const CAP_NET_RAW = Buffer.from('0100000200200000000000000000000000000000', 'hex')

describe('unpackLayer: faithful', () => {
  it('keeps modes exactly whatever the umask: 1777, 0555 directories, and no setgid inheritance of groups', async () => {
    const old = process.umask(0o022)
    try {
      const tar = new TarBuilder()
        .dir('tmp/', {mode: 0o1777})
        .dir('ro/', {mode: 0o555})
        .file('ro/secret', 'x', {mode: 0o600})
        .dir('shared/', {mode: 0o2775, gid: 50})
        .file('shared/plain', 'y', {mode: 0o644})
        .dir('shared/sub/', {mode: 0o755})
        .file('shared/implicit/file', 'z', {mode: 0o644})
        .symlink('shared/link', 'plain')
        .end()
        .toBuffer()
      const {dest} = await unpackBuffer(tar)
      assert.equal(mode(`${dest}/tmp`).toString(8), '1777')
      assert.equal(mode(`${dest}/ro`).toString(8), '555')
      assert.equal(mode(`${dest}/ro/secret`).toString(8), '600')
      assert.equal(mode(`${dest}/shared`).toString(8), '2775')
      assert.deepEqual(owner(`${dest}/shared`), [0, 50])
      // Created in a setgid directory, they would take its group and bit: the archive says 0 and 0755.
      assert.deepEqual(owner(`${dest}/shared/plain`), [0, 0])
      assert.deepEqual(owner(`${dest}/shared/sub`), [0, 0])
      assert.equal(mode(`${dest}/shared/sub`).toString(8), '755')
      // A directory the archive does not list inherits setgid like any mkdir; what the archive lists in it keeps its owner.
      assert.deepEqual(owner(`${dest}/shared/implicit/file`), [0, 0])
      assert.deepEqual(owner(`${dest}/shared/link`), [0, 0])
    } finally {
      process.umask(old)
    }
  })

  it('keeps setuid/setgid bits through the chown, with numeric owners (never names)', async () => {
    const tar = new TarBuilder()
      .file('bin/su', 'su', {mode: 0o4755})
      .file('bin/priv', 'priv', {mode: 0o4750, uid: 1000, gid: 1000})
      .file('bin/wall', 'wall', {mode: 0o2755, gid: 5})
      .file('bin/named', 'n', {uid: 4242, gid: 4343, uname: 'root', gname: 'root'})
      .end()
      .toBuffer()
    const {dest} = await unpackBuffer(tar)
    assert.equal(mode(`${dest}/bin/su`).toString(8), '4755')
    assert.equal(mode(`${dest}/bin/priv`).toString(8), '4750')
    assert.deepEqual(owner(`${dest}/bin/priv`), [1000, 1000])
    assert.equal(mode(`${dest}/bin/wall`).toString(8), '2755')
    assert.deepEqual(owner(`${dest}/bin/wall`), [0, 5])
    assert.deepEqual(owner(`${dest}/bin/named`), [4242, 4343])
    assert.equal(fs.readFileSync(`${dest}/bin/priv`, 'utf8'), 'priv')
  })

  it('stores symlink targets verbatim: absolute, and ../ climbing above the root', async () => {
    const tar = new TarBuilder()
      .symlink('etc/localtime', '/usr/share/zoneinfo/Etc/UTC', {uid: 7, gid: 8, mtime: 1_500_000_000})
      .symlink('a/b/up', '../../../../../etc/passwd')
      .symlink('lib', 'usr/lib')
      .end()
      .toBuffer()
    const {dest} = await unpackBuffer(tar)
    assert.equal(fs.readlinkSync(`${dest}/etc/localtime`), '/usr/share/zoneinfo/Etc/UTC')
    assert.equal(fs.readlinkSync(`${dest}/a/b/up`), '../../../../../etc/passwd')
    assert.equal(fs.readlinkSync(`${dest}/lib`), 'usr/lib')
    assert.deepEqual(owner(`${dest}/etc/localtime`), [7, 8])
    assert.equal(fs.lstatSync(`${dest}/etc/localtime`).mtimeMs, 1_500_000_000_000)
  })

  it('makes hardlinks one inode', async () => {
    const tar = new TarBuilder().file('bin/a', 'shared content', {mode: 0o755}).hardlink('bin/b', 'bin/a').hardlink('sbin/c', './bin/a').end().toBuffer()
    const {dest} = await unpackBuffer(tar)
    const a = fs.statSync(`${dest}/bin/a`)
    assert.equal(fs.statSync(`${dest}/bin/b`).ino, a.ino)
    assert.equal(fs.statSync(`${dest}/sbin/c`).ino, a.ino)
    assert.equal(a.nlink, 3)
  })

  it('applies xattrs from pax SCHILY.xattr records: security.capability (after the chown) and binary user.*', async () => {
    const note = Buffer.from([0x61, 0x00, 0x0a, 0xff, 0x62])
    const tar = new TarBuilder()
      .file('bin/ping', 'ELF', {mode: 0o755, xattrs: {'security.capability': CAP_NET_RAW, 'user.note': note}})
      .file('bin/owned', 'ELF', {mode: 0o750, uid: 1000, gid: 1000, xattrs: {'security.capability': CAP_NET_RAW}})
      .dir('data/', {xattrs: {'user.dir': 'd'}})
      .symlink('link', 'data', {xattrs: {'trusted.sym': 't'}})
      .end()
      .toBuffer()
    const {dest} = await unpackBuffer(tar)
    assert.deepEqual(xattr(`${dest}/bin/ping`, 'security.capability'), CAP_NET_RAW)
    assert.deepEqual(xattr(`${dest}/bin/ping`, 'user.note'), note)
    assert.deepEqual(xattr(`${dest}/bin/owned`, 'security.capability'), CAP_NET_RAW)
    assert.deepEqual(owner(`${dest}/bin/owned`), [1000, 1000])
    assert.equal(xattr(`${dest}/data`, 'user.dir')?.toString(), 'd')
    assert.equal(xattr(`${dest}/link`, 'trusted.sym')?.toString(), 't')
  })

  it('creates character and block devices and FIFOs as the archive says', async () => {
    const tar = new TarBuilder()
      .char('dev/null', 1, 3, {mode: 0o666})
      .char('dev/big', 240, 300000, {mode: 0o600})
      .block('dev/loop0', 7, 0, {mode: 0o660, gid: 6})
      .fifo('run/fifo', {mode: 0o620, uid: 1000})
      .end()
      .toBuffer()
    const {dest} = await unpackBuffer(tar)
    const nul = fs.lstatSync(`${dest}/dev/null`)
    assert.ok(nul.isCharacterDevice())
    assert.deepEqual(majorMinor(nul.rdev), [1, 3])
    assert.equal(mode(`${dest}/dev/null`).toString(8), '666')
    assert.deepEqual(majorMinor(fs.lstatSync(`${dest}/dev/big`).rdev), [240, 300000])
    const loop = fs.lstatSync(`${dest}/dev/loop0`)
    assert.ok(loop.isBlockDevice())
    assert.deepEqual(majorMinor(loop.rdev), [7, 0])
    assert.deepEqual(owner(`${dest}/dev/loop0`), [0, 6])
    assert.ok(fs.lstatSync(`${dest}/run/fifo`).isFIFO())
    assert.equal(mode(`${dest}/run/fifo`).toString(8), '620')
    assert.deepEqual(owner(`${dest}/run/fifo`), [1000, 0])
  })

  it('sets mtimes on files, symlinks and directories (after their contents), to the nanosecond from pax', async () => {
    const tar = new TarBuilder()
      .dir('d/', {mtime: 1_000_000_000})
      .file('d/f', 'x', {mtime: 1_100_000_000})
      .dir('d/sub/', {mtime: 1_200_000_000})
      .file('d/sub/g', 'y')
      .file('precise', 'z', {pax: [['mtime', '1600000000.123456789']]})
      .end()
      .toBuffer()
    const {dest} = await unpackBuffer(tar)
    const ns = (p: string) => fs.lstatSync(p, {bigint: true}).mtimeNs
    assert.equal(ns(`${dest}/d`), 1_000_000_000_000_000_000n)
    assert.equal(ns(`${dest}/d/f`), 1_100_000_000_000_000_000n)
    assert.equal(ns(`${dest}/d/sub`), 1_200_000_000_000_000_000n)
    assert.equal(ns(`${dest}/precise`), 1_600_000_000_123_456_789n)
  })

  it('turns whiteouts into overlay whiteouts: deletes in this layer, leaves 0/0 char devices, never .wh. files', async () => {
    const tar = new TarBuilder()
      .dir('etc/')
      .file('etc/foo', 'deleted later')
      .file('etc/.wh.foo')
      .file('.wh.gone')
      .dir('tree/')
      .file('tree/x', 'x')
      .file('.wh.tree')
      .end()
      .toBuffer()
    const {dest, result} = await unpackBuffer(tar)
    for (const p of ['etc/foo', 'gone', 'tree']) {
      const st = fs.lstatSync(`${dest}/${p}`)
      assert.ok(st.isCharacterDevice(), `${p} is a whiteout`)
      assert.deepEqual(majorMinor(st.rdev), [0, 0])
    }
    assert.deepEqual(
      walk(dest).filter(p => p.split('/').pop()!.startsWith('.wh.')),
      [],
    )
    assert.equal(result.entries, 7)
  })

  it('lets a real entry replace an earlier whiteout; a directory that does so is opaque', async () => {
    const tar = new TarBuilder().file('.wh.again').file('again', 'back').file('.wh.dir2').dir('dir2/').file('.wh.dir3').file('dir3/child', 'c').end().toBuffer()
    const {dest} = await unpackBuffer(tar)
    assert.equal(fs.readFileSync(`${dest}/again`, 'utf8'), 'back')
    assert.ok(fs.lstatSync(`${dest}/dir2`).isDirectory())
    assert.equal(xattr(`${dest}/dir2`, 'trusted.overlay.opaque')?.toString(), 'y')
    assert.ok(fs.lstatSync(`${dest}/dir3`).isDirectory())
    assert.equal(xattr(`${dest}/dir3`, 'trusted.overlay.opaque')?.toString(), 'y')
    assert.equal(fs.readFileSync(`${dest}/dir3/child`, 'utf8'), 'c')
  })

  it("records .wh..wh..opq as trusted.overlay.opaque=y (and user.overlay.opaque=y, for a user namespace's overlay) and keeps the layer's own files", async () => {
    const tar = new TarBuilder().dir('opq/').file('opq/keep', 'k').file('opq/.wh..wh..opq').file('plain/.wh..wh..opq').end().toBuffer()
    const {dest} = await unpackBuffer(tar)
    assert.equal(xattr(`${dest}/opq`, 'trusted.overlay.opaque')?.toString(), 'y')
    assert.equal(xattr(`${dest}/plain`, 'trusted.overlay.opaque')?.toString(), 'y')
    assert.equal(fs.readFileSync(`${dest}/opq/keep`, 'utf8'), 'k')
    assert.deepEqual(xattrNames(`${dest}/opq`).sort(), ['trusted.overlay.opaque', 'user.overlay.opaque'])
    assert.equal(xattr(`${dest}/plain`, 'user.overlay.opaque')?.toString(), 'y')
    assert.deepEqual(walk(dest).sort(), ['opq', 'opq/keep', 'plain'])
  })

  it('reads gzip input; the digest is the sha256 of the uncompressed bytes, trailing padding included', async () => {
    const builder = new TarBuilder().dir('etc/').file('etc/hostname', 'pivot\n').symlink('etc/mtab', '/proc/self/mounts').end()
    builder.raw(Buffer.alloc(10240 - (builder.toBuffer().length % 10240)))
    const plain = builder.toBuffer()
    const expected = `sha256:${createHash('sha256').update(plain).digest('hex')}`
    const gz = await unpackBuffer(builder.gzip(), {chunk: 100})
    assert.deepEqual(gz.result, {digest: expected, size: plain.length, entries: 3})
    assert.equal(fs.readFileSync(`${gz.dest}/etc/hostname`, 'utf8'), 'pivot\n')
    const raw = await unpackBuffer(plain, {chunk: 777})
    assert.deepEqual(raw.result, gz.result)
  })

  it('keeps names as bytes (not UTF-8), long names from pax and GNU headers, long link targets', async () => {
    const latin = Buffer.from([0x63, 0x61, 0x66, 0xe9]) // "café" in Latin-1: invalid UTF-8
    const deep = `${'a'.repeat(200)}/${'b'.repeat(200)}/file`
    const gnu = `${'g'.repeat(150)}/gnu-long`
    const target = `/${'t'.repeat(250)}`
    const tar = new TarBuilder()
      .file(latin, 'latin1')
      .file(deep, 'pax')
      .file(gnu, 'gnu', {gnuLongName: true})
      .symlink('longlink', target, {gnuLongLink: true})
      .symlink('paxlink', target)
      .end()
      .toBuffer()
    const {dest} = await unpackBuffer(tar)
    const names = fs.readdirSync(dest, {encoding: 'buffer'})
    assert.ok(names.some(n => n.equals(latin)))
    assert.equal(fs.readFileSync(Buffer.concat([Buffer.from(`${dest}/`), latin]), 'utf8'), 'latin1')
    assert.equal(fs.readFileSync(`${dest}/${deep}`, 'utf8'), 'pax')
    assert.equal(fs.readFileSync(`${dest}/${gnu}`, 'utf8'), 'gnu')
    assert.equal(fs.readlinkSync(`${dest}/longlink`), target)
    assert.equal(fs.readlinkSync(`${dest}/paxlink`), target)
  })

  it('ignores a pax global header, as Go (docker) does', async () => {
    const tar = new TarBuilder()
      .globalPax([
        ['uid', '77'],
        ['path', 'hijacked'],
        ['comment', 'git archive'],
      ])
      .file('a', 'a')
      .file('b', 'b', {pax: [['uid', '']]})
      .end()
      .toBuffer()
    const {dest, result} = await unpackBuffer(tar)
    assert.deepEqual(walk(dest).sort(), ['a', 'b'])
    assert.equal(fs.lstatSync(`${dest}/a`).uid, 0)
    assert.equal(fs.lstatSync(`${dest}/b`).uid, 0)
    assert.equal(result.entries, 2)
  })

  it('reads old GNU-format headers (magic "ustar  "), devices included', async () => {
    const tar = new TarBuilder().char('dev/tty', 5, 0, {gnuMagic: true}).file('f', 'x', {gnuMagic: true}).end().toBuffer()
    const {dest} = await unpackBuffer(tar)
    assert.deepEqual(majorMinor(fs.lstatSync(`${dest}/dev/tty`).rdev), [5, 0])
    assert.equal(fs.readFileSync(`${dest}/f`, 'utf8'), 'x')
  })

  it('replaces an earlier entry of the same name without writing through it', async () => {
    const tar = new TarBuilder()
      .file('x', 'first')
      .hardlink('x-link', 'x')
      .file('x', 'second', {mode: 0o600})
      .dir('d/')
      .file('d/inner', 'i')
      .file('d', 'now a file')
      .end()
      .toBuffer()
    const {dest} = await unpackBuffer(tar)
    assert.equal(fs.readFileSync(`${dest}/x`, 'utf8'), 'second')
    assert.equal(fs.readFileSync(`${dest}/x-link`, 'utf8'), 'first')
    assert.equal(mode(`${dest}/x`).toString(8), '600')
    assert.equal(fs.readFileSync(`${dest}/d`, 'utf8'), 'now a file')
  })

  it('stops on abort: rejects with UNPACK_ABORTED and kills the worker', async () => {
    const dest = tempDir()
    const head = header({name: Buffer.from('big'), typeflag: '0', size: 1 << 30})
    // A source that sends one header and part of the body, then stalls forever.
    const source = new Readable({read() {}})
    source.push(head)
    source.push(Buffer.alloc(65536))
    const controller = new AbortController()
    setTimeout(() => controller.abort(), 300)
    await assert.rejects(unpackLayer(source, dest, {signal: controller.signal}), (e: unknown) => e instanceof UnpackError && e.code === 'UNPACK_ABORTED')
    await new Promise(resolve => setTimeout(resolve, 100))
    assert.deepEqual(processesMentioning(dest), [])
  })

  it('rejects at once on an already-aborted signal', async () => {
    await assert.rejects(
      unpackLayer(Readable.from([Buffer.alloc(1024)]), tempDir(), {signal: AbortSignal.abort()}),
      (e: unknown) => e instanceof UnpackError && e.code === 'UNPACK_ABORTED',
    )
  })

  it('reports a failing source as UNPACK_SOURCE_FAILED', async () => {
    const source = new Readable({
      read() {
        this.destroy(new Error('connection reset by daemon'))
      },
    })
    await assert.rejects(
      unpackLayer(source, tempDir()),
      (e: unknown) => e instanceof UnpackError && e.code === 'UNPACK_SOURCE_FAILED' && /connection reset/.test(e.message),
    )
  })
})

describe('unpackLayer: a worker started before its layer is known (prepareUnpacker)', () => {
  // Our own children that are this checkout's worker waiting for its directory on stdin (argv: node, script, '-').
  const script = `${path.resolve(__dirname, '../../../src/unpack/unpack-worker.js')}\0-\0`
  const parentOf = (pid: number) => {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
    } catch {
      return -1
    }
  }
  const waitingWorkers = () => processesMentioning(script).filter(pid => parentOf(pid) === process.pid)
  const until = async (what: () => boolean) => {
    for (let i = 0; i < 100 && !what(); i++) await new Promise(resolve => setTimeout(resolve, 50))
    assert.ok(what())
  }

  it('is told the directory, unpacks exactly what a worker started for it does, and is taken once', async () => {
    const builder = new TarBuilder()
      .dir('etc/', {mode: 0o750})
      .file('etc/hostname', 'pivot\n', {mode: 0o640, uid: 7})
      .symlink('etc/mtab', '/proc/self/mounts')
      .end()
    const plain = builder.toBuffer()
    const prepared = prepareUnpacker()
    assert.ok(prepared)
    await until(() => waitingWorkers().length > 0)
    const dest = tempDir()
    const result = await unpackLayer(streamOf(builder.gzip(), 1000), dest, {prepared})
    assert.deepEqual(waitingWorkers(), [])
    const fresh = await unpackBuffer(plain)
    assert.deepEqual(result, fresh.result)
    assert.deepEqual(result, {digest: `sha256:${createHash('sha256').update(plain).digest('hex')}`, size: plain.length, entries: 3})
    assert.deepEqual(walk(dest).sort(), walk(fresh.dest).sort())
    assert.equal(mode(`${dest}/etc`).toString(8), '750')
    assert.deepEqual(owner(`${dest}/etc/hostname`), [7, 0])
    // Taken: a second layer given it gets a worker of its own; discard then has nothing to end.
    const second = tempDir()
    assert.deepEqual(await unpackLayer(streamOf(plain), second, {prepared}), fresh.result)
    assert.equal(fs.readFileSync(`${second}/etc/hostname`, 'utf8'), 'pivot\n')
    await prepared.discard()
  })

  it('is ended by discard when no layer took it (no process left), and a discarded one is not used', async () => {
    const prepared = prepareUnpacker()
    assert.ok(prepared)
    await until(() => waitingWorkers().length > 0)
    await prepared.discard()
    assert.deepEqual(waitingWorkers(), [])
    await prepared.discard()
    const {dest, result} = await unpackBuffer(new TarBuilder().file('a', 'b').end().toBuffer())
    assert.equal(result.entries, 1)
    assert.equal(fs.readFileSync(`${dest}/a`, 'utf8'), 'b')
    const again = tempDir()
    assert.equal((await unpackLayer(streamOf(new TarBuilder().file('c', 'd').end().toBuffer()), again, {prepared})).entries, 1)
    assert.equal(fs.readFileSync(`${again}/c`, 'utf8'), 'd')
  })
})
