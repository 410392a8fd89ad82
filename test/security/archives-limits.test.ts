// Endless, huge and unwritable input and output: `pivot import /dev/zero`, `pivot build
// /dev/zero`, an 8 MB command in an error, a full disk (space and inodes) during import and
// pull, and `export -o` onto devices, FIFOs, symlinks and directories, killed half way.
import {describe, it, before, after} from 'node:test'
import assert from 'node:assert/strict'
import {execFileSync, spawn, spawnSync} from 'node:child_process'
import {createHash, randomBytes} from 'node:crypto'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {BUSYBOX_IMAGE, PIVOT_BIN, pivot, tempDir} from '../helpers/fixtures'
import {TarBuilder} from '../helpers/tar-builder'

function oneLine(stderr: string): string {
  const lines = stderr.trim().split('\n')
  assert.equal(lines.length, 1, `expected one line, got:\n${stderr.slice(0, 2000)}`)
  return lines[0]!
}

describe('endless and huge input is bounded', () => {
  it('pivot import /dev/zero stops at the end-of-archive marker: an empty image, the same every time', () => {
    const cache = tempDir('pivot-limits-zero')
    const a = pivot(['import', '/dev/zero', 'zeros'], {cacheDir: cache, timeout: 60_000})
    assert.equal(a.status, 0, a.stderr)
    const b = pivot(['import', '/dev/zero', 'zeros2'], {cacheDir: cache, timeout: 60_000})
    assert.equal(b.stdout, a.stdout)
    const [image] = JSON.parse(pivot(['images', '--json'], {cacheDir: cache}).stdout) as Array<{layers: string[]}>
    // Two zero blocks, then 1 MiB of what follows them, hashed; nothing more read.
    const expected = createHash('sha256')
      .update(Buffer.alloc(1024 + (1 << 20)))
      .digest('hex')
    assert.equal(image!.layers[0], `sha256:${expected}`)
    assert.deepEqual(fs.readdirSync(path.join(cache, 'layers', expected, 'rootfs')), [])
  })

  it('pivot build /dev/zero, or a recipe over 1 MiB: one line naming the limit, at once', () => {
    const cache = tempDir('pivot-limits-build')
    const r = pivot(['build', '/dev/zero', '-t', 'never'], {cacheDir: cache, timeout: 30_000})
    assert.equal(r.status, 125)
    assert.equal(oneLine(r.stderr), 'pivot: /dev/zero: the recipe is larger than 1048576 bytes (the limit for a recipe file)')
  })

  it('a huge step command is cut short in messages, never printed whole', () => {
    const cache = tempDir('pivot-limits-cmd')
    const dir = tempDir('pivot-limits-recipe')
    const recipe = path.join(dir, 'recipe.yaml')
    fs.writeFileSync(recipe, `from: ${BUSYBOX_IMAGE}\nsteps:\n  - run: "echo ${'x'.repeat(600_000)}; exit 3"\n`)
    const r = pivot(['build', recipe, '-t', 'archives-huge-cmd'], {cacheDir: cache, timeout: 300_000})
    assert.notEqual(r.status, 0)
    assert.ok(r.stdout.length + r.stderr.length < 4096, `printed ${r.stdout.length + r.stderr.length} bytes`)
    assert.match(r.stderr, /… \(600\d\d\d characters\)/)
  })
})

describe('import names the real cause, and takes what docker import takes', () => {
  it('zstd, xz and bzip2 archives import to the same layer as the plain tar', () => {
    const cache = tempDir('pivot-limits-compress')
    const dir = tempDir('pivot-limits-compress-src')
    const tar = new TarBuilder().file('etc/hostname', 'box\n').file('big', randomBytes(300_000)).end().toBuffer()
    fs.writeFileSync(path.join(dir, 'plain.tar'), tar)
    const plain = pivot(['import', path.join(dir, 'plain.tar'), 'plain'], {cacheDir: cache})
    assert.equal(plain.status, 0, plain.stderr)
    for (const program of ['zstd', 'xz', 'bzip2']) {
      const file = path.join(dir, `archive.${program}`)
      fs.writeFileSync(file, execFileSync(program, ['-c'], {input: tar, maxBuffer: 64 << 20}))
      const r = pivot(['import', file, `from-${program}`], {cacheDir: cache})
      assert.equal(r.status, 0, `${program}: ${r.stderr}`)
      assert.equal(r.stdout, plain.stdout, program)
    }
  })

  it('corrupt gzip says corrupt, cut gzip says truncated, an oversized pax header names the limit (never EPIPE)', () => {
    const cache = tempDir('pivot-limits-msg')
    const dir = tempDir('pivot-limits-msg-src')
    const gz = new TarBuilder().file('a', randomBytes(200_000)).end().gzip()
    const corrupt = Buffer.from(gz)
    corrupt.fill(0x55, 20, 60)
    fs.writeFileSync(path.join(dir, 'corrupt.gz'), corrupt)
    fs.writeFileSync(path.join(dir, 'cut.gz'), gz.subarray(0, gz.length - 100))
    assert.match(oneLine(pivot(['import', path.join(dir, 'corrupt.gz'), 'x'], {cacheDir: cache}).stderr), /: the gzip data is corrupt: /)
    assert.match(oneLine(pivot(['import', path.join(dir, 'cut.gz'), 'x'], {cacheDir: cache}).stderr), /: the gzip data is truncated: /)
    // The worker stops at the header while 20 MB are still to come: its reason must win.
    const pax = Buffer.concat([new TarBuilder().file('PaxHeaders/x', Buffer.alloc((1 << 20) + 1), {typeflag: 'x'}).toBuffer(), randomBytes(20 << 20)])
    fs.writeFileSync(path.join(dir, 'pax.tar'), pax)
    for (let i = 0; i < 3; i++) {
      const r = pivot(['import', path.join(dir, 'pax.tar'), 'x'], {cacheDir: cache})
      assert.equal(r.status, 125)
      assert.match(oneLine(r.stderr), /a pax extended header of 1048577 bytes \(limit 1048576 bytes/)
    }
    assert.deepEqual(fs.readdirSync(path.join(cache, 'tmp')), [])
  })
})

describe('a full disk during import and pull names the cause and leaves the cache as it was', () => {
  let mnt: string
  before(() => {
    mnt = tempDir('pivot-limits-full')
  })
  after(() => {
    spawnSync('umount', [mnt])
  })

  const mount = (options: string) => {
    spawnSync('umount', [mnt])
    execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', mnt])
  }

  it('out of space: import and pull fail with "no space left on device", exit 125, no tmp/ leftovers', () => {
    mount('size=3m,nr_inodes=4000')
    const cache = path.join(mnt, 'cache')
    const small = tempDir('pivot-limits-src')
    fs.writeFileSync(path.join(small, 'small.tar'), new TarBuilder().file('a', 'a').end().toBuffer())
    assert.equal(pivot(['import', path.join(small, 'small.tar'), 'before'], {cacheDir: cache}).status, 0)
    const imagesBefore = pivot(['images', '--json'], {cacheDir: cache}).stdout
    fs.writeFileSync(
      path.join(small, 'big.tar'),
      new TarBuilder()
        .file('big', randomBytes(6 << 20))
        .end()
        .toBuffer(),
    )
    const r = pivot(['import', path.join(small, 'big.tar'), 'big'], {cacheDir: cache})
    assert.equal(r.status, 125)
    assert.match(
      oneLine(r.stderr),
      /^pivot: cannot import .*big\.tar: entry "big": ENOSPC: no space left on device.*\(the file system is out of space or of inodes\)$/,
    )
    assert.deepEqual(fs.readdirSync(path.join(cache, 'tmp')), [])
    assert.equal(pivot(['images', '--json'], {cacheDir: cache}).stdout, imagesBefore)
  })

  it('out of space during a pull: the same cause, never "EPIPE"', () => {
    mount('size=400k,nr_inodes=4000')
    const cache = path.join(mnt, 'cache')
    const p = pivot(['pull', BUSYBOX_IMAGE], {cacheDir: cache, timeout: 300_000})
    assert.equal(p.status, 125, p.stderr)
    assert.match(oneLine(p.stderr), /no space left on device/i)
    assert.doesNotMatch(p.stderr, /EPIPE/)
    assert.deepEqual(fs.readdirSync(path.join(cache, 'tmp')), [])
    assert.equal(pivot(['images', '--json'], {cacheDir: cache}).stdout.trim(), '[]')
  })

  it('out of inodes: the same line, naming inodes', () => {
    mount('size=64m,nr_inodes=200')
    const cache = path.join(mnt, 'cache')
    const src = tempDir('pivot-limits-src')
    const many = new TarBuilder()
    for (let i = 0; i < 500; i++) many.file(`f${i}`, 'x')
    fs.writeFileSync(path.join(src, 'many.tar'), many.end().toBuffer())
    const r = pivot(['import', path.join(src, 'many.tar'), 'many'], {cacheDir: cache})
    assert.equal(r.status, 125)
    assert.match(oneLine(r.stderr), /ENOSPC: no space left on device.*out of space or of inodes/)
    assert.deepEqual(fs.readdirSync(path.join(cache, 'tmp')), [])
  })
})

describe('export -o PATH onto what is already there', () => {
  let cache: string
  let dir: string
  before(() => {
    cache = tempDir('pivot-export-o-cache')
    dir = tempDir('pivot-export-o')
    // ~24 MB, so a kill lands mid-write.
    const tar = new TarBuilder()
    for (let i = 0; i < 6; i++) tar.file(`blob${i}`, randomBytes(4 << 20))
    fs.writeFileSync(path.join(dir, 'src.tar'), tar.file('etc/hostname', 'box\n').end().toBuffer())
    assert.equal(pivot(['import', path.join(dir, 'src.tar'), 'archives-export-src'], {cacheDir: cache}).status, 0)
  })

  const exportTo = (out: string) => pivot(['export', 'archives-export-src', '-o', out], {cacheDir: cache})
  const isArchiveOfImage = (file: string) => {
    const names = execFileSync('tar', ['-tf', file], {encoding: 'utf8'})
    assert.match(names, /etc\/hostname/)
  }

  it('a regular file is replaced whole; a symlink is written through and kept; a dangling one creates its target', () => {
    fs.writeFileSync(path.join(dir, 'old.tar'), 'old')
    assert.equal(exportTo(path.join(dir, 'old.tar')).status, 0)
    isArchiveOfImage(path.join(dir, 'old.tar'))
    assert.equal(fs.statSync(path.join(dir, 'old.tar')).mode & 0o777, 0o600)
    fs.writeFileSync(path.join(dir, 'real.tar'), 'old')
    fs.symlinkSync('real.tar', path.join(dir, 'link.tar'))
    assert.equal(exportTo(path.join(dir, 'link.tar')).status, 0)
    assert.ok(fs.lstatSync(path.join(dir, 'link.tar')).isSymbolicLink())
    isArchiveOfImage(path.join(dir, 'real.tar'))
    fs.symlinkSync('made-by-export.tar', path.join(dir, 'dangling.tar'))
    assert.equal(exportTo(path.join(dir, 'dangling.tar')).status, 0)
    isArchiveOfImage(path.join(dir, 'made-by-export.tar'))
  })

  it('/dev/null and a FIFO are written into, never replaced', async () => {
    const before = fs.statSync('/dev/null')
    assert.equal(exportTo('/dev/null').status, 0)
    const afterwards = fs.statSync('/dev/null')
    assert.ok(afterwards.isCharacterDevice())
    assert.equal(afterwards.ino, before.ino)
    const fifo = path.join(dir, 'fifo')
    execFileSync('mkfifo', [fifo])
    const copy = path.join(dir, 'from-fifo.tar')
    const reader = spawn('sh', ['-c', 'cat "$1" > "$2"', 'sh', fifo, copy], {stdio: 'ignore'})
    const readerDone = new Promise<number | null>(resolve => reader.once('close', resolve))
    const r = exportTo(fifo)
    assert.equal(r.status, 0, r.stderr)
    assert.equal(await readerDone, 0)
    isArchiveOfImage(copy)
    assert.ok(fs.lstatSync(fifo).isFIFO())
  })

  it('a directory, a block device and a missing directory are refused with one line', () => {
    assert.equal(oneLine(exportTo(dir).stderr), `pivot: cannot write ${dir}: it is a directory`)
    const loop = fs.readdirSync('/dev').find(n => /^loop\d+$/.test(n))
    if (loop) assert.match(oneLine(exportTo(`/dev/${loop}`).stderr), /it is a block device \(refusing to overwrite it\)/)
    const missing = exportTo(path.join(dir, 'no', 'such.tar'))
    assert.equal(missing.status, 125)
    assert.match(oneLine(missing.stderr), /no such directory/)
  })

  it('an export killed at any point (SIGKILL, SIGINT) leaves no temp file, and FILE whole or absent', async () => {
    const out = path.join(dir, 'killed.tar')
    for (let i = 0; i < 12; i++) {
      fs.rmSync(out, {force: true})
      const env: NodeJS.ProcessEnv = {...process.env, PIVOT_CACHE_DIR: cache}
      delete env.NODE_EXTRA_CA_CERTS
      const child = spawn(PIVOT_BIN, ['export', 'archives-export-src', '-o', out], {env, stdio: 'ignore'})
      const closed = new Promise(resolve => child.once('close', resolve))
      await new Promise(resolve => setTimeout(resolve, 150 + ((i * 97) % 900)))
      child.kill(i % 2 === 0 ? 'SIGKILL' : 'SIGINT')
      await closed
      const left = fs.readdirSync(dir).filter(n => n.startsWith('.killed.tar.'))
      assert.deepEqual(left, [], `run ${i}: temp files left`)
      if (fs.existsSync(out)) isArchiveOfImage(out)
    }
  })
})
