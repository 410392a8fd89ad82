/**
 * packRootfs: faithful (unpack -> pack -> unpack gives an identical tree), deterministic, readable
 * by GNU tar, streaming, and never following a symlink. Needs root (the workers chroot).
 */
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import type {Readable} from 'node:stream'
import {pipeline} from 'node:stream/promises'
import {after, describe, it} from 'node:test'
import {packRootfs} from '../../../src/unpack/pack-rootfs'
import {unpackLayer} from '../../../src/unpack/unpack-layer'
import {UnpackError} from '../../../src/unpack/unpack-error'
import {TarBuilder} from '../../helpers/tar-builder'
import {diffTrees, treeListing} from '../../helpers/tree-listing'
import {processesMentioning} from '../../helpers/processes-mentioning'
import {cleanupTempDirs, tempDir, unpackBuffer, xattr} from '../../helpers/unpack-kit'

after(cleanupTempDirs)

/** Everything a faithful unpack reproduces: all xattrs, times to the nanosecond. */
const snapshot = (root: string) => treeListing(root, {mtimeNs: true, xattrs: 'all'})

const CAP_NET_RAW = Buffer.from('0100000200200000000000000000000000000000', 'hex')

/** An archive with one of everything packRootfs must carry. */
function richArchive(): Buffer {
  return new TarBuilder()
    .dir('./', {mode: 0o755, mtime: 1_400_000_000})
    .dir('bin/', {mtime: 1_500_000_000})
    .file('bin/ping', 'ELF ping', {mode: 0o755, xattrs: {'security.capability': CAP_NET_RAW}})
    .file('bin/su', 'ELF su', {mode: 0o4755})
    .file('bin/wall', 'ELF wall', {mode: 0o2755, gid: 5})
    .file('bin/owned', 'x', {mode: 0o4710, uid: 1000, gid: 1000, xattrs: {'security.capability': CAP_NET_RAW, 'user.note': Buffer.from([0, 10, 255])}})
    .hardlink('bin/ping6', 'bin/ping')
    .hardlink('bin/ping4', 'bin/ping')
    .dir('tmp/', {mode: 0o1777})
    .dir('ro/', {mode: 0o555, uid: 3, gid: 4, xattrs: {'user.dir': 'yes'}})
    .file('ro/empty', '', {mode: 0o400})
    .file('precise', 'ns', {pax: [['mtime', '1600000000.123456789']]})
    .file('old', 'before 1970', {mtime: -86400 * 365})
    .symlink('etc/localtime', '/usr/share/zoneinfo/Etc/UTC', {uid: 7, gid: 8, mtime: 1_300_000_000})
    .symlink('up', '../../../etc/passwd')
    .symlink('long-target', `/${'t'.repeat(300)}`)
    .char('dev/null', 1, 3, {mode: 0o666})
    .char('dev/wh', 0, 0, {mode: 0})
    .block('dev/sda', 8, 0, {mode: 0o660, gid: 6})
    .fifo('run/initctl', {mode: 0o600})
    .file(`${'deep/'.repeat(30)}${'n'.repeat(150)}`, 'long path')
    .file(Buffer.from([0x63, 0x61, 0x66, 0xe9]), 'latin-1 name')
    .file('big', Buffer.alloc(3 * 1024 * 1024 + 123, 7))
    .dir('opaque/', {xattrs: {'trusted.overlay.opaque': 'y'}})
    .end()
    .toBuffer()
}

async function packToBuffer(dir: string): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of packRootfs(dir) as Readable) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

describe('packRootfs', () => {
  it('round-trips: unpack(pack(tree)) is identical (lstat fields, targets, hardlinks, xattrs, contents)', async () => {
    const {dest: first} = await unpackBuffer(richArchive())
    const packed = await packToBuffer(first)
    const {dest: second, result} = await unpackBuffer(packed)
    assert.deepEqual(diffTrees(snapshot(first), snapshot(second)), [])
    assert.equal(result.size, packed.length)
    // spot checks, in case the snapshot missed something
    assert.deepEqual(xattr(`${second}/bin/owned`, 'security.capability'), CAP_NET_RAW)
    assert.equal(fs.lstatSync(`${second}/bin/owned`).mode & 0o7777, 0o4710)
    assert.equal(fs.statSync(`${second}/bin/ping4`).ino, fs.statSync(`${second}/bin/ping`).ino)
    assert.equal(fs.lstatSync(`${second}/precise`, {bigint: true}).mtimeNs, 1_600_000_000_123_456_789n)
    assert.equal(fs.lstatSync(second).mtimeMs, 1_400_000_000_000)
  })

  it('is deterministic: the same tree gives the same bytes', async () => {
    const {dest} = await unpackBuffer(richArchive())
    const a = await packToBuffer(dest)
    const b = await packToBuffer(dest)
    assert.ok(a.equals(b))
  })

  it('is read by GNU tar, xattrs included, to the same tree', {skip: spawnSync('tar', ['--version']).status === 0 ? false : 'no GNU tar'}, async () => {
    const {dest: first} = await unpackBuffer(richArchive())
    const packed = await packToBuffer(first)
    const archive = `${tempDir('packed')}/rootfs.tar`
    fs.writeFileSync(archive, packed)
    const list = spawnSync('tar', ['-tvf', archive], {encoding: 'utf8'})
    assert.equal(list.status, 0, list.stderr)
    const byGnu = tempDir('gnu')
    const extract = spawnSync('tar', ['-x', '--xattrs', '--xattrs-include=*', '--numeric-owner', '-p', '-C', byGnu, '-f', archive], {encoding: 'utf8'})
    assert.equal(extract.status, 0, extract.stderr)
    assert.deepEqual(diffTrees(snapshot(first), snapshot(byGnu)), [])
  })

  it('never follows symlinks: a link to /etc is packed as a link', async () => {
    const dir = tempDir('links')
    fs.symlinkSync('/etc', `${dir}/hostetc`)
    fs.symlinkSync('/etc/shadow', `${dir}/shadow`)
    const {dest} = await unpackBuffer(await packToBuffer(dir))
    assert.deepEqual(fs.readdirSync(dest).sort(), ['hostetc', 'shadow'])
    assert.equal(fs.readlinkSync(`${dest}/hostetc`), '/etc')
    assert.equal(fs.readlinkSync(`${dest}/shadow`), '/etc/shadow')
  })

  it('streams: a large sparse file passes through without being held in memory', async () => {
    const dir = tempDir('sparse')
    const size = 512 * 1024 * 1024
    const fd = fs.openSync(`${dir}/sparse`, 'w')
    fs.ftruncateSync(fd, size)
    fs.closeSync(fd)
    const baseline = process.memoryUsage().rss
    let peak = baseline
    let total = 0
    for await (const chunk of packRootfs(dir) as Readable) {
      total += (chunk as Buffer).length
      peak = Math.max(peak, process.memoryUsage().rss)
    }
    assert.ok(total > size)
    assert.ok(peak - baseline < 128 * 1024 * 1024, `RSS grew by ${Math.round((peak - baseline) / 1048576)} MiB`)
  })

  it('fails the stream with an UnpackError for a missing directory', async () => {
    await assert.rejects(
      pipeline(packRootfs('/nonexistent/pivot-dir') as Readable, fs.createWriteStream('/dev/null')),
      (e: unknown) => e instanceof UnpackError && /nonexistent/.test(e.message),
    )
  })

  it('kills its worker when the reader stops early', async () => {
    const dir = tempDir('early')
    const fd = fs.openSync(`${dir}/big`, 'w')
    fs.ftruncateSync(fd, 256 * 1024 * 1024)
    fs.closeSync(fd)
    const stream = packRootfs(dir) as Readable
    for await (const _ of stream) break
    await new Promise(resolve => setTimeout(resolve, 200))
    assert.deepEqual(processesMentioning(dir), [])
  })

  it('is accepted back by unpackLayer as the same digest every time', async () => {
    const {dest} = await unpackBuffer(richArchive())
    const a = await unpackLayer(packRootfs(dest), tempDir())
    const b = await unpackLayer(packRootfs(dest), tempDir())
    assert.equal(a.digest, b.digest)
  })
})
