/**
 * Hostile layers: every attempt to write outside the layer directory, and every malformed input,
 * either stays confined to dest or fails with an UnpackError — and nothing appears on the host.
 * Each test uses a unique marker path under /tmp and checks it is untouched afterwards.
 */
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {Readable} from 'node:stream'
import {after, describe, it} from 'node:test'
import {unpackLayer, type UnpackResult} from '../../src/unpack/unpack-layer'
import {UnpackError} from '../../src/unpack/unpack-error'
import {TarBuilder, checksum, header} from '../helpers/tar-builder'
import {cleanupTempDirs, streamOf, tempDir, unpackBuffer, walk} from '../helpers/unpack-kit'

const markers: string[] = []
after(() => {
  cleanupTempDirs()
  for (const m of markers) fs.rmSync(m, {recursive: true, force: true})
})

/** A fresh /tmp path that must not exist when the test ends (unless the test made it). */
function marker(): string {
  const m = `/tmp/pivot-escape-${randomBytes(6).toString('hex')}`
  markers.push(m)
  return m
}

/** Unpacks; returns the dest and either the result or the UnpackError (anything else fails the test). */
async function attempt(tar: Buffer, chunk?: number): Promise<{dest: string; error?: UnpackError; result?: UnpackResult}> {
  const dest = tempDir('hostile')
  try {
    const result = await unpackLayer(streamOf(tar, chunk), dest)
    return {dest, result}
  } catch (error) {
    assert.ok(error instanceof UnpackError, `expected an UnpackError, got ${String(error)}`)
    return {dest, error}
  }
}

function expectCode(error: UnpackError | undefined, code: string): void {
  assert.ok(error, `expected ${code}, but the unpack succeeded`)
  assert.equal(error.code, code, error.message)
}

describe('unpackLayer: hostile paths stay inside dest', () => {
  it('../../escape is confined', async () => {
    const m = marker()
    const rel = path.relative('/', m)
    const {dest, error} = await attempt(new TarBuilder().file(`../../../../../../${rel}/escape`, 'x').end().toBuffer())
    assert.equal(error, undefined)
    assert.ok(!fs.existsSync(m))
    assert.equal(fs.readFileSync(`${dest}/${rel}/escape`, 'utf8'), 'x')
  })

  it('an absolute /abs/escape is confined', async () => {
    const m = marker()
    const {dest, error} = await attempt(new TarBuilder().file(`${m}/abs`, 'x').end().toBuffer())
    assert.equal(error, undefined)
    assert.ok(!fs.existsSync(m))
    assert.equal(fs.readFileSync(`${dest}${m}/abs`, 'utf8'), 'x')
  })

  it('a symlink to an outside dir followed by a write through it never reaches the host', async () => {
    const m = marker()
    fs.mkdirSync(m) // the attack target exists on the host
    const rel = path.relative('/', m)
    // Dangling inside the root: the write fails, and nothing lands in the host's directory.
    const first = await attempt(new TarBuilder().symlink('evil', m).file('evil/pwn', 'owned').end().toBuffer())
    expectCode(first.error, 'UNPACK_WRITE_FAILED')
    assert.deepEqual(fs.readdirSync(m), [])
    // With the target made inside the layer, the write follows the link — inside dest.
    const second = await attempt(new TarBuilder().dir(`${rel}/`).symlink('evil', m).file('evil/pwn', 'owned').end().toBuffer())
    assert.equal(second.error, undefined)
    assert.deepEqual(fs.readdirSync(m), [])
    assert.equal(fs.readFileSync(`${second.dest}/${rel}/pwn`, 'utf8'), 'owned')
    assert.equal(fs.readlinkSync(`${second.dest}/evil`), m)
  })

  it('a file replacing a symlink to a host file replaces the link, not the host file', async () => {
    const m = marker()
    fs.writeFileSync(m, 'host content')
    const {dest, error} = await attempt(new TarBuilder().symlink('target', m).file('target', 'layer content').end().toBuffer())
    assert.equal(error, undefined)
    assert.equal(fs.readFileSync(m, 'utf8'), 'host content')
    assert.ok(fs.lstatSync(`${dest}/target`).isFile())
    assert.equal(fs.readFileSync(`${dest}/target`, 'utf8'), 'layer content')
  })

  it('a hardlink to /etc/shadow (absolute, ../, or through a symlink) never links the host file', async () => {
    const before = fs.statSync('/etc/shadow')
    for (const tar of [
      new TarBuilder().hardlink('shadow', '/etc/shadow').end(),
      new TarBuilder().hardlink('shadow', '../../../../../../etc/shadow').end(),
      new TarBuilder().symlink('hostetc', '/etc').hardlink('shadow', 'hostetc/shadow').end(),
    ]) {
      const {dest, error} = await attempt(tar.toBuffer())
      expectCode(error, 'UNPACK_WRITE_FAILED')
      assert.match(error!.message, /shadow/)
      const made = fs.existsSync(`${dest}/shadow`) ? fs.statSync(`${dest}/shadow`) : undefined
      assert.notEqual(made?.ino, before.ino)
    }
    const afterwards = fs.statSync('/etc/shadow')
    assert.equal(afterwards.nlink, before.nlink)
    assert.equal(afterwards.mtimeMs, before.mtimeMs)
  })

  it('a hardlink to a file of the layer itself still works after a ../ prefix', async () => {
    const {dest, error} = await attempt(new TarBuilder().file('etc/shadow', 'layer').hardlink('copy', '../../etc/shadow').end().toBuffer())
    assert.equal(error, undefined)
    assert.equal(fs.statSync(`${dest}/copy`).ino, fs.statSync(`${dest}/etc/shadow`).ino)
  })

  it('an entry that would replace the root is refused', async () => {
    const {error} = await attempt(new TarBuilder().symlink('./', '/').end().toBuffer())
    expectCode(error, 'UNPACK_HOSTILE_ENTRY')
  })

  it('the worker ignores NODE_OPTIONS (no --require of host code as root in the chroot)', async () => {
    const m = marker()
    fs.mkdirSync(m)
    fs.writeFileSync(`${m}/evil.js`, `require('fs').writeFileSync(${JSON.stringify(`${m}/ran`)}, 'yes')`)
    const old = process.env.NODE_OPTIONS
    process.env.NODE_OPTIONS = `--require ${m}/evil.js`
    try {
      const {error} = await attempt(new TarBuilder().file('a', 'a').end().toBuffer())
      assert.equal(error, undefined)
    } finally {
      if (old === undefined) delete process.env.NODE_OPTIONS
      else process.env.NODE_OPTIONS = old
    }
    assert.ok(!fs.existsSync(`${m}/ran`))
  })
})

describe('unpackLayer: hostile names are refused', () => {
  it('a path deeper than 1024 components: UNPACK_TOO_DEEP, and 1024 is fine', async () => {
    const deep = Array(1025).fill('d').join('/')
    const {dest, error} = await attempt(new TarBuilder().file(deep, 'x').end().toBuffer())
    expectCode(error, 'UNPACK_TOO_DEEP')
    assert.match(error!.message, /1025 components/)
    assert.deepEqual(walk(dest), [])
    const ok = await attempt(new TarBuilder().file(Array(1024).fill('d').join('/'), 'x').end().toBuffer())
    assert.equal(ok.error, undefined)
  })

  it('a name longer than 4096 bytes: UNPACK_HOSTILE_ENTRY naming it', async () => {
    const long = `${'n'.repeat(200)}/`.repeat(25)
    const {error} = await attempt(new TarBuilder().file(long, 'x').end().toBuffer())
    expectCode(error, 'UNPACK_HOSTILE_ENTRY')
    assert.match(error!.message, /5025 bytes long/)
    assert.match(error!.message, /nnnn/)
  })

  it('a component longer than the file system allows: UNPACK_WRITE_FAILED naming it', async () => {
    const {error} = await attempt(new TarBuilder().file('x'.repeat(300), 'x').end().toBuffer())
    expectCode(error, 'UNPACK_WRITE_FAILED')
    assert.match(error!.message, /ENAMETOOLONG/)
  })

  it('NUL in a pax path or linkpath is refused (Go: invalid header); a GNU long name ends at its first NUL, as Go reads it', async () => {
    const cases = [
      new TarBuilder().file('decoy', 'x', {pax: [['path', Buffer.from('etc/pass\0wd')]]}),
      new TarBuilder().symlink('s', Buffer.from('/etc/pass\0wd'), {pax: [['linkpath', Buffer.from('/etc/pass\0wd')]]}),
    ]
    for (const tar of cases) {
      const {dest, error} = await attempt(tar.end().toBuffer())
      expectCode(error, 'UNPACK_CORRUPT')
      assert.match(error!.message, /NUL/)
      assert.deepEqual(walk(dest), [])
    }
    const {dest, error} = await attempt(
      new TarBuilder()
        .file(Buffer.from(`${'l'.repeat(120)}\0/etc/passwd`), 'x', {gnuLongName: true})
        .end()
        .toBuffer(),
    )
    assert.equal(error, undefined)
    assert.deepEqual(walk(dest), ['l'.repeat(120)])
  })

  it('a whiteout that names nothing, or used as a directory: UNPACK_HOSTILE_ENTRY', async () => {
    expectCode((await attempt(new TarBuilder().file('etc/.wh.').end().toBuffer())).error, 'UNPACK_HOSTILE_ENTRY')
    expectCode((await attempt(new TarBuilder().file('etc/.wh...').end().toBuffer())).error, 'UNPACK_HOSTILE_ENTRY')
    expectCode((await attempt(new TarBuilder().file('.wh.etc/passwd', 'x').end().toBuffer())).error, 'UNPACK_HOSTILE_ENTRY')
  })
})

describe('unpackLayer: broken input is an error, never a partial success', () => {
  const good = new TarBuilder().dir('etc/').file('etc/passwd', 'root:x:0:0::/root:/bin/sh\n'.repeat(100)).file('etc/group', 'root:x:0:\n').end().toBuffer()

  it('truncated inside a file body: UNPACK_TRUNCATED', async () => {
    const {error} = await attempt(good.subarray(0, 512 * 2 + 700))
    expectCode(error, 'UNPACK_TRUNCATED')
    assert.match(error!.message, /etc\/passwd/)
  })

  it('truncated inside a header: UNPACK_TRUNCATED; ending at an entry boundary without the marker is the end, as in Go and GNU tar', async () => {
    expectCode((await attempt(good.subarray(0, 512 + 100))).error, 'UNPACK_TRUNCATED')
    const {dest, error} = await attempt(good.subarray(0, good.length - 1024))
    assert.equal(error, undefined)
    assert.deepEqual(walk(dest).sort(), ['etc', 'etc/group', 'etc/passwd'])
  })

  it('truncated gzip: UNPACK_TRUNCATED', async () => {
    const gz = new TarBuilder().file('a', 'a'.repeat(100000)).end().gzip()
    const {error} = await attempt(gz.subarray(0, gz.length - 20))
    expectCode(error, 'UNPACK_TRUNCATED')
  })

  it('garbage, corrupt gzip and empty input: UNPACK_CORRUPT', async () => {
    expectCode((await attempt(randomBytes(8192))).error, 'UNPACK_CORRUPT')
    const gz = new TarBuilder().file('a', 'a'.repeat(100000)).end().gzip()
    gz.fill(0x55, 20, 60)
    expectCode((await attempt(gz)).error, 'UNPACK_CORRUPT')
    expectCode((await attempt(Buffer.alloc(0))).error, 'UNPACK_CORRUPT')
  })

  it('a header with a bad checksum in the middle: UNPACK_CORRUPT', async () => {
    const bad = header({name: Buffer.from('sneaky'), typeflag: '0'})
    bad[0] = 0x53 // checksum no longer matches
    const {error} = await attempt(Buffer.concat([new TarBuilder().file('a', 'a').toBuffer(), bad, Buffer.alloc(1024)]))
    expectCode(error, 'UNPACK_CORRUPT')
  })

  it('an entry whose size lies writes no more than the stream carries', async () => {
    const carried = 1 << 20
    const lying = Buffer.concat([header({name: Buffer.from('huge'), typeflag: '0', size: 64 * 2 ** 30}), Buffer.alloc(carried, 0x41)])
    const {dest, error} = await attempt(lying)
    expectCode(error, 'UNPACK_TRUNCATED')
    const st = fs.existsSync(`${dest}/huge`) ? fs.statSync(`${dest}/huge`) : undefined
    assert.ok(!st || (st.size <= carried && st.blocks * 512 <= carried + 65536), `huge: ${st?.size} bytes, ${st?.blocks} blocks`)
  })

  it('GNU sparse entries and pax sparse records: UNPACK_UNSUPPORTED', async () => {
    expectCode((await attempt(new TarBuilder().file('s', 'x', {typeflag: 'S'}).end().toBuffer())).error, 'UNPACK_UNSUPPORTED')
    expectCode(
      (
        await attempt(
          new TarBuilder()
            .file('s', 'x', {pax: [['GNU.sparse.major', '1']]})
            .end()
            .toBuffer(),
        )
      ).error,
      'UNPACK_UNSUPPORTED',
    )
  })

  it('zstd, xz and bzip2 input is decompressed; corrupt or cut data says so, naming the format', async () => {
    const tar = new TarBuilder().file('a', 'a'.repeat(100000)).file('b', 'b').end().toBuffer()
    for (const [format, program] of [
      ['zstd', 'zstd'],
      ['xz', 'xz'],
      ['bzip2', 'bzip2'],
    ] as const) {
      const packed = execFileSync(program, ['-c'], {input: tar})
      const {dest, error, result} = await attempt(packed)
      assert.equal(error, undefined, `${format}: ${error?.message}`)
      assert.deepEqual(walk(dest).sort(), ['a', 'b'])
      assert.equal(result!.size, tar.length)
      const cut = await attempt(packed.subarray(0, packed.length - 40))
      expectCode(cut.error, 'UNPACK_TRUNCATED')
      assert.match(cut.error!.message, new RegExp(`^the ${format} data is truncated`))
      const garbage = await attempt(Buffer.concat([packed.subarray(0, 6), randomBytes(2000)]))
      assert.ok(garbage.error && /^UNPACK_(CORRUPT|TRUNCATED)$/.test(garbage.error.code), `${format}: ${garbage.error?.message}`)
      assert.match(garbage.error!.message, new RegExp(`the ${format} data is`))
    }
  })

  it('a compression whose program is missing names the program to install', async () => {
    const saved = process.env.PATH
    process.env.PATH = '/nonexistent'
    try {
      const {error} = await attempt(execFileSync('/usr/bin/zstd', ['-c'], {input: new TarBuilder().file('a', 'a').end().toBuffer()}))
      expectCode(error, 'UNPACK_UNSUPPORTED')
      assert.match(error!.message, /needs the zstd program, which is not installed \(Debian: apt-get install zstd\)/)
    } finally {
      process.env.PATH = saved
    }
  })

  it("a pax header larger than 1 MiB (Go's limit) is refused before it is buffered", async () => {
    const h = header({name: Buffer.from('PaxHeaders/x'), typeflag: 'x', size: 64 * 2 ** 20})
    const {error} = await attempt(Buffer.concat([h, Buffer.alloc(4096)]))
    expectCode(error, 'UNPACK_HOSTILE_ENTRY')
  })

  it('data after the end-of-archive marker is hashed but never unpacked', async () => {
    const smuggled = new TarBuilder().file('after-eof', 'x').end().toBuffer()
    const data = Buffer.concat([new TarBuilder().file('a', 'a').end().toBuffer(), smuggled])
    const {dest, result} = await unpackBuffer(data)
    assert.deepEqual(walk(dest), ['a'])
    assert.equal(result.size, data.length)
  })

  it('a symlink entry with a body is read the way Go (docker) reads it: the body is the next header', async () => {
    // The symlink's size field claims 512 bytes; the block that follows is a real header.
    const link = header({name: Buffer.from('link'), typeflag: '2', size: 512, linkname: Buffer.from('/x')})
    const next = new TarBuilder().file('visible', 'v').end().toBuffer()
    const {dest, error} = await attempt(Buffer.concat([checksum(link), next]))
    assert.equal(error, undefined)
    assert.deepEqual(walk(dest).sort(), ['link', 'visible'])
  })

  it('a corrupt header is reported at once, even if the source then stalls forever', {timeout: 20000}, async () => {
    const source = new Readable({read() {}})
    source.push(randomBytes(4096))
    await assert.rejects(unpackLayer(source, tempDir('hostile')), (e: unknown) => e instanceof UnpackError && e.code === 'UNPACK_CORRUPT')
  })

  it('a missing destination: UNPACK_WRITE_FAILED', async () => {
    await assert.rejects(
      unpackLayer(streamOf(new TarBuilder().file('a', 'a').end().toBuffer()), '/nonexistent/pivot-dest'),
      (e: unknown) => e instanceof UnpackError && e.code === 'UNPACK_WRITE_FAILED' && /nonexistent/.test(e.message),
    )
  })

  it('a source stream that errors: UNPACK_SOURCE_FAILED, the worker does not linger', async () => {
    const dest = tempDir('hostile')
    let sent = false
    const source = new Readable({
      read() {
        if (!sent) {
          sent = true
          this.push(new TarBuilder().file('a', 'a').toBuffer())
        } else {
          this.destroy(new Error('socket hang up'))
        }
      },
    })
    await assert.rejects(unpackLayer(source, dest), (e: unknown) => e instanceof UnpackError && e.code === 'UNPACK_SOURCE_FAILED')
  })
})
