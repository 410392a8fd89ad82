import assert from 'node:assert/strict'
import {execFileSync, spawnSync} from 'node:child_process'
import {describe, it} from 'node:test'
import {
  BLOCK,
  TYPE,
  decodeHeader,
  encodeHeaders,
  formatPaxTime,
  nameProblem,
  normalizePath,
  parsePax,
  parsePaxTime,
  timeNs,
} from '../../../src/unpack/tar-format'
import {sniffCompression} from '../../../src/unpack/compression'
import {UnpackError} from '../../../src/unpack/unpack-error'
import {TarBuilder, checksum, header, paxBody} from '../../helpers/tar-builder'

const isCode = (code: string) => (e: unknown) => e instanceof UnpackError && e.code === code

describe('tar-format: decodeHeader', () => {
  it('reads the ustar fields the builder writes', () => {
    const h = decodeHeader(
      header({name: Buffer.from('usr/bin/ping'), typeflag: '0', mode: 0o4755, uid: 1000, gid: 42, size: 1234, mtime: 1_600_000_000, linkname: Buffer.from('')}),
      0,
    )
    assert.deepEqual(
      {...h},
      {name: 'usr/bin/ping', mode: 0o4755, uid: 1000, gid: 42, size: 1234, mtime: 1_600_000_000, typeflag: '0', linkname: '', devmajor: 0, devminor: 0},
    )
  })

  it('applies the POSIX prefix field; under GNU magic only when atime/ctime do not parse (Go 1.7 wrote those), as Go does', () => {
    const posix = header({name: Buffer.from('file'), typeflag: '0'})
    posix.write('some/prefix', 345, 'latin1')
    assert.equal(decodeHeader(checksum(posix), 0).name, 'some/prefix/file')
    const gnu = header({name: Buffer.from('file'), typeflag: '0', gnuMagic: true})
    gnu.write('00000000000\0', 345, 'latin1')
    gnu.write('12345670123\0', 357, 'latin1')
    assert.equal(decodeHeader(checksum(gnu), 0).name, 'file')
    const go17 = header({name: Buffer.from('file'), typeflag: '0', gnuMagic: true})
    go17.write('a-prefix', 345, 'latin1')
    assert.equal(decodeHeader(checksum(go17), 0).name, 'a-prefix/file')
  })

  it('reads GNU base-256 numbers, negative mtimes included', () => {
    const h = decodeHeader(header({name: Buffer.from('x'), typeflag: '0', uid: 3_000_000_000, size: 9_000_000_000, mtime: -86400}), 0)
    assert.equal(h.uid, 3_000_000_000)
    assert.equal(h.size, 9_000_000_000)
    assert.equal(h.mtime, -86400)
  })

  it('keeps name bytes that are not UTF-8', () => {
    const h = decodeHeader(header({name: Buffer.from([0x63, 0x61, 0x66, 0xe9]), typeflag: '0'}), 0)
    assert.deepEqual(Buffer.from(h.name, 'latin1'), Buffer.from([0x63, 0x61, 0x66, 0xe9]))
  })

  it('refuses a bad checksum and a non-octal number', () => {
    const h = header({name: Buffer.from('x'), typeflag: '0'})
    h[0] = 0x79
    assert.throws(() => decodeHeader(h, 0), isCode('UNPACK_CORRUPT'))
    const bad = header({name: Buffer.from('x'), typeflag: '0'})
    bad.write('12x4567\0', 100, 'latin1')
    assert.throws(() => decodeHeader(checksum(bad), 0), isCode('UNPACK_CORRUPT'))
  })
})

describe('tar-format: pax', () => {
  it('parses binary values by their length, newlines and NULs included', () => {
    const cap = Buffer.from('0100000200200000000000000000000000000000', 'hex')
    const body = paxBody([
      ['path', 'a\nb'],
      ['SCHILY.xattr.security.capability', cap],
      ['SCHILY.xattr.user.x', Buffer.from([0, 10, 255])],
    ])
    const records = parsePax(body)
    assert.deepEqual(
      records.map(([k]) => k),
      ['path', 'SCHILY.xattr.security.capability', 'SCHILY.xattr.user.x'],
    )
    assert.equal(records[0]![1].toString(), 'a\nb')
    assert.deepEqual(records[1]![1], cap)
    assert.deepEqual(records[2]![1], Buffer.from([0, 10, 255]))
  })

  it('refuses what Go refuses: NUL padding after the records, a NUL in a key or path, a bad length', () => {
    assert.throws(() => parsePax(Buffer.concat([paxBody([['uid', '5']]), Buffer.alloc(20)])), isCode('UNPACK_CORRUPT'))
    assert.throws(() => parsePax(paxBody([['path', 'a\0b']])), isCode('UNPACK_CORRUPT'))
    assert.throws(() => parsePax(paxBody([['SCHILY.xattr.a\0b', 'x']])), isCode('UNPACK_CORRUPT'))
    assert.equal(parsePax(paxBody([['SCHILY.xattr.user.a', 'x\0y']]))[0]![1].toString('latin1'), 'x\0y')
    assert.throws(() => parsePax(Buffer.from('99 path=x\n')), isCode('UNPACK_CORRUPT'))
    assert.throws(() => parsePax(Buffer.from('9 pathx\n\n')), isCode('UNPACK_CORRUPT'))
  })

  it('parses and formats decimal times exactly, negative ones included', () => {
    assert.deepEqual(parsePaxTime('1700000000.123456789'), {sec: 1_700_000_000, nsec: 123_456_789})
    assert.deepEqual(parsePaxTime('1700000000.5'), {sec: 1_700_000_000, nsec: 500_000_000})
    assert.deepEqual(parsePaxTime('-1.25'), {sec: -2, nsec: 750_000_000})
    assert.deepEqual(parsePaxTime('-3'), {sec: -3, nsec: 0})
    assert.equal(formatPaxTime(1_700_000_000_123_456_789n), '1700000000.123456789')
    assert.equal(formatPaxTime(1_700_000_000_500_000_000n), '1700000000.5')
    assert.equal(formatPaxTime(-1_250_000_000n), '-1.25')
    assert.throws(() => parsePaxTime('12e3'), isCode('UNPACK_CORRUPT'))
    for (const text of ['1700000000', '1700000000.123456789', '1.5', '-1.25', '-3']) {
      assert.equal(formatPaxTime(timeNs(parsePaxTime(text))), text, 'nanoseconds and back')
    }
    assert.equal(timeNs(parsePaxTime('-1.25')), -1_250_000_000n)
  })
})

describe('tar-format: names', () => {
  it('normalises lexically and never climbs above the root', () => {
    assert.equal(normalizePath('./etc/passwd'), 'etc/passwd')
    assert.equal(normalizePath('/abs//x/./y/'), 'abs/x/y')
    assert.equal(normalizePath('../../escape'), 'escape')
    assert.equal(normalizePath('a/b/../../../c'), 'c')
    assert.equal(normalizePath('./'), '')
    assert.equal(normalizePath('...'), '...')
    assert.equal(normalizePath('usr/lib/'), 'usr/lib')
  })

  it('refuses NUL, more than 4096 bytes, more than 1024 components', () => {
    assert.equal(nameProblem('a\0b', true)?.code, 'UNPACK_HOSTILE_ENTRY')
    assert.equal(nameProblem('x'.repeat(4097), true)?.code, 'UNPACK_HOSTILE_ENTRY')
    assert.equal(nameProblem('x'.repeat(4096), true), null)
    assert.equal(nameProblem(Array(1025).fill('d').join('/'), true)?.code, 'UNPACK_TOO_DEEP')
    assert.equal(nameProblem(Array(1024).fill('d').join('/'), true), null)
    assert.equal(nameProblem('', false)?.code, 'UNPACK_HOSTILE_ENTRY')
  })
})

describe('tar-format: encodeHeaders', () => {
  it('writes plain ustar when everything fits', () => {
    const out = encodeHeaders({name: 'etc/passwd', type: TYPE.file, mode: 0o644, uid: 0, gid: 0, size: 10, mtimeNs: 1_700_000_000_000_000_000n})
    assert.equal(out.length, 512)
    const h = decodeHeader(out, 0)
    assert.equal(h.name, 'etc/passwd')
    assert.equal(h.size, 10)
    assert.equal(h.mtime, 1_700_000_000)
  })

  it('adds a pax header for long names, sub-second times and xattrs, and base-256 for big ids', () => {
    const long = `${'d'.repeat(150)}/${'f'.repeat(120)}`
    const out = encodeHeaders({
      name: long,
      type: TYPE.symlink,
      mode: 0o777,
      uid: 5_000_000,
      gid: 0,
      size: 0,
      mtimeNs: 1_700_000_000_000_000_001n,
      linkname: `/${'t'.repeat(200)}`,
      xattrs: [['security.capability', Buffer.from([1, 0, 0, 2, 0, 32, 0, 0])]],
    })
    const pax = decodeHeader(out, 0)
    assert.equal(pax.typeflag, 'x')
    const records = new Map(parsePax(out.subarray(512, 512 + pax.size)).map(([k, v]) => [k, v]))
    assert.equal(records.get('path')?.toString(), long)
    assert.equal(records.get('linkpath')?.toString(), `/${'t'.repeat(200)}`)
    assert.equal(records.get('mtime')?.toString(), '1700000000.000000001')
    assert.deepEqual(records.get('SCHILY.xattr.security.capability'), Buffer.from([1, 0, 0, 2, 0, 32, 0, 0]))
    const entry = decodeHeader(out, out.length - 512)
    assert.equal(entry.uid, 5_000_000)
    assert.equal(entry.typeflag, '2')
  })

  it('marks non-UTF-8 long names as binary for GNU tar', () => {
    const name = `${'d'.repeat(120)}/caf\xe9`
    const out = encodeHeaders({name, type: TYPE.file, mode: 0o644, uid: 0, gid: 0, size: 0, mtimeNs: 0n})
    const records = parsePax(out.subarray(512, 512 + decodeHeader(out, 0).size))
    assert.equal(records[0]![0], 'hdrcharset')
    assert.deepEqual(records.find(([k]) => k === 'path')![1], Buffer.from(name, 'latin1'))
  })
})

describe('sniffCompression', () => {
  it('tells gzip, zstd and plain tar apart; a valid tar header wins over magic numbers', () => {
    const tar = new TarBuilder().file('a', 'x').end().toBuffer()
    assert.equal(sniffCompression(tar), 'none')
    assert.equal(sniffCompression(new TarBuilder().file('a', 'x').end().gzip()), 'gzip')
    assert.equal(sniffCompression(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0])), 'zstd')
    const gzipLookingName = new TarBuilder()
      .file(Buffer.from([0x1f, 0x8b, 0x08, 0x41]), 'x')
      .end()
      .toBuffer()
    assert.equal(sniffCompression(gzipLookingName), 'none')
    assert.equal(sniffCompression(Buffer.alloc(1024)), 'none')
  })
})

describe('tar-format: encodeHeaders read by GNU tar', () => {
  // An independent reader of what build writes: GNU tar's listing must show every field given.
  // (Negative times with a fraction are left out: GNU tar 1.34 lists "-1.25" as -0.75 s.)
  const gnuTar = spawnSync('tar', ['--version'], {encoding: 'utf8'})
  it('lists each entry with its type, mode, owner, size, time, name and target', {skip: /GNU tar/.test(gnuTar.stdout ?? '') ? false : 'no GNU tar'}, () => {
    const pad = (b: Buffer) => Buffer.concat([b, Buffer.alloc((BLOCK - (b.length % BLOCK)) % BLOCK)])
    const longName = `${'d'.repeat(90)}/${'f'.repeat(80)}`
    const longTarget = `/${'t'.repeat(150)}`
    const base = {uid: 0, gid: 0, size: 0, mtimeNs: 0n}
    const archive = Buffer.concat([
      encodeHeaders({...base, name: 'dir/', type: TYPE.dir, mode: 0o2775, gid: 50, mtimeNs: 1_700_000_000_000_000_000n}),
      encodeHeaders({
        ...base,
        name: 'dir/file',
        type: TYPE.file,
        mode: 0o4755,
        uid: 1000,
        gid: 1001,
        size: 5,
        mtimeNs: 1_700_000_000_250_000_000n,
        xattrs: [['user.pivot', Buffer.from('yes')]],
      }),
      pad(Buffer.from('hello')),
      encodeHeaders({...base, name: longName, type: TYPE.file, mode: 0o644, uid: 3_000_000}),
      encodeHeaders({...base, name: 'dir/link', type: TYPE.symlink, mode: 0o777, linkname: longTarget}),
      encodeHeaders({...base, name: 'dir/hard', type: TYPE.link, mode: 0o644, linkname: 'dir/file'}),
      encodeHeaders({...base, name: 'dev/null', type: TYPE.char, mode: 0o666, devmajor: 1, devminor: 3}),
      encodeHeaders({...base, name: 'old', type: TYPE.fifo, mode: 0o600, mtimeNs: -1_000_000_000n}),
      Buffer.alloc(2 * BLOCK),
    ])
    const listing = execFileSync('tar', ['-tv', '--numeric-owner', '--full-time', '--xattrs', '-f', '-'], {
      input: archive,
      encoding: 'utf8',
      env: {...process.env, TZ: 'UTC', LC_ALL: 'C'},
    })
    const lines = listing
      .trimEnd()
      .split('\n')
      .map(l => l.replace(/ +/g, ' '))
    assert.deepEqual(lines, [
      'drwxrwsr-x 0/50 0 2023-11-14 22:13:20 dir/',
      '-rwsr-xr-x* 1000/1001 5 2023-11-14 22:13:20.25 dir/file',
      `-rw-r--r-- 3000000/0 0 1970-01-01 00:00:00 ${longName}`,
      `lrwxrwxrwx 0/0 0 1970-01-01 00:00:00 dir/link -> ${longTarget}`,
      'hrw-r--r-- 0/0 0 1970-01-01 00:00:00 dir/hard link to dir/file',
      'crw-rw-rw- 0/0 1,3 1970-01-01 00:00:00 dev/null',
      'prw------- 0/0 0 1969-12-31 23:59:59 old',
    ])
    // The file's data is where the header says it is.
    assert.equal(execFileSync('tar', ['-xO', '-f', '-', 'dir/file'], {input: archive, encoding: 'utf8'}), 'hello')
  })
})
