// The tar-split format (src/unpack/tar-split.ts) as the unpack worker records it: the real
// TarReader walks each archive with the recorder on its input (as extract-tar.ts does, file
// contents kept aside as the files would be), and the tar is rebuilt from the records and those
// contents. Archives from the independent builder (test/helpers/tar-builder.ts) and from GNU tar.
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {createHash, randomBytes} from 'node:crypto'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {after, describe, it} from 'node:test'
import * as zlib from 'node:zlib'
import {BlockInput} from '../../../src/unpack/sync-io'
import {pathBytes} from '../../../src/unpack/tar-format'
import {TarReader} from '../../../src/unpack/tar-reader'
import {MAGIC, TarSplitWriter, parseTarSplit, type TarSplitRecord} from '../../../src/unpack/tar-split'
import {TarBuilder} from '../../helpers/tar-builder'

const dirs: string[] = []
after(() => {
  for (const d of dirs) fs.rmSync(d, {recursive: true, force: true})
})

function temp(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'pivot-tar-split-'))
  dirs.push(d)
  return d
}

/** Records `tar` as the unpack worker does; returns the tar-split file's bytes, the files' contents and the bytes read. */
function record(tar: Buffer): {split: Buffer; files: Map<string, Buffer>; consumed: number} {
  const file = path.join(temp(), 'layer.tar')
  fs.writeFileSync(file, tar)
  const fd = fs.openSync(file, 'r')
  const members: Buffer[] = []
  const files = new Map<string, Buffer>()
  try {
    const input = new BlockInput(fd, 256 * 1024)
    const split = new TarSplitWriter(member => members.push(member))
    input.tap = split.tap
    const reader = new TarReader(input)
    for (let e = reader.next(); e !== null; e = reader.next()) {
      // What the extractor writes to a file (whiteouts and other types leave none).
      if (e.kind !== 'file' || e.path.includes('.wh.')) continue
      const chunks: Buffer[] = []
      if (e.size > 0) split.content(pathBytes(e.path), e.size)
      reader.data(
        () => 'data',
        (buf, off, len) => chunks.push(Buffer.from(buf.subarray(off, off + len))),
      )
      files.set(e.path, Buffer.concat(chunks))
    }
    split.end()
    assert.equal(split.total, reader.consumed)
    return {split: Buffer.concat(members), files, consumed: reader.consumed}
  } finally {
    fs.closeSync(fd)
  }
}

function rebuild(split: Buffer, files: Map<string, Buffer>): Buffer {
  const parsed = parseTarSplit(split)
  if ('problem' in parsed) assert.fail(parsed.problem)
  const out: Buffer[] = []
  for (const r of parsed.records) {
    if (r.kind === 'raw') out.push(r.data)
    else if (r.kind === 'zeros') out.push(Buffer.alloc(r.size))
    else if (r.kind === 'file') {
      const content = files.get(r.path.toString('latin1'))
      assert.ok(content, `no file ${r.path.toString()}`)
      assert.equal(content.length, r.size)
      out.push(content)
    }
  }
  return Buffer.concat(out)
}

function roundTrip(tar: Buffer): {split: Buffer; records: TarSplitRecord[]} {
  const {split, files, consumed} = record(tar)
  const back = rebuild(split, files)
  assert.equal(back.length, consumed)
  assert.ok(back.equals(tar.subarray(0, consumed)), 'the rebuilt tar differs from the original')
  const parsed = parseTarSplit(split) as {records: TarSplitRecord[]}
  return {split, records: parsed.records}
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')

describe('tar-split: round trips (the builder)', () => {
  it('files, directories, symlinks, hard links, empty files, devices, FIFOs: contents referenced, headers raw', () => {
    const big = randomBytes(70_000)
    const tar = new TarBuilder()
      .dir('etc/')
      .file('etc/passwd', 'root:x:0:0::/root:/bin/sh\n')
      .file('etc/empty', '')
      .file('bin/big', big, {mode: 0o755})
      .hardlink('bin/again', 'bin/big')
      .symlink('bin/sh', 'busybox')
      .char('dev/null', 1, 3)
      .fifo('run/pipe')
      .end()
      .toBuffer()
    const {split, records} = roundTrip(tar)
    const refs = records.filter(r => r.kind === 'file').map(r => [(r as {path: Buffer}).path.toString(), (r as {size: number}).size])
    assert.deepEqual(refs, [
      ['etc/passwd', 26],
      ['bin/big', 70_000],
    ])
    // Contents are referenced, not copied, and zero runs counted: a small fraction of the tar.
    assert.ok(split.length < 1000, `${split.length} bytes`)
    assert.ok(
      records.some(r => r.kind === 'zeros' && r.size >= 1024),
      'the end-of-archive blocks are one zero run',
    )
    assert.ok(zlib.gunzipSync(split).subarray(0, MAGIC.length).equals(MAGIC))
  })

  it('pax headers (long names, xattrs, sub-second times, a global header) and GNU long names and links', () => {
    const long = `${'d'.repeat(120)}/${'f'.repeat(150)}`
    const tar = new TarBuilder()
      .globalPax([['comment', 'made by hand']])
      .file(long, 'pax named\n')
      .file(`gnu/${'g'.repeat(200)}`, 'gnu named\n', {gnuLongName: true})
      .hardlink(`gnu/${'h'.repeat(180)}`, `gnu/${'g'.repeat(200)}`, {gnuLongName: true, gnuLongLink: true})
      .file('caps', 'x', {xattrs: {'security.capability': Buffer.from([1, 0, 0, 2, 0, 0x20, 0, 0])}, pax: [['mtime', '1700000000.123456789']]})
      .end()
      .toBuffer()
    const {records} = roundTrip(tar)
    assert.deepEqual(
      records.filter(r => r.kind === 'file').map(r => (r as {path: Buffer}).path.toString()),
      [long, `gnu/${'g'.repeat(200)}`, 'caps'],
    )
  })

  it('whiteouts and what follows the end-of-archive blocks (garbage, no marker at all, more than the 1 MiB read) are kept raw', () => {
    const body = new TarBuilder().file('a', 'A').file('.wh.gone', '').file('d/.wh..wh..opq', '')
    roundTrip(Buffer.concat([body.end().toBuffer(), Buffer.from('trailing garbage after the end\n')]))
    // No end-of-archive marker: the input ends at a header boundary.
    roundTrip(new TarBuilder().file('a', 'A').toBuffer())
    // More than MAX_TAIL_BYTES after the marker: only what the reader read (and hashed) is recorded.
    const {split} = roundTrip(Buffer.concat([new TarBuilder().file('a', 'A').end().toBuffer(), randomBytes(1_600_000)]))
    const end = (parseTarSplit(split) as {records: TarSplitRecord[]}).records.at(-1)
    assert.equal(end?.kind, 'end')
  })

  it('a duplicate name: each occurrence is referenced (the rebuild of the unpacked layer then differs, which the digest check catches)', () => {
    const tar = new TarBuilder().file('x', 'first').file('x', 'second!').end().toBuffer()
    const {split} = record(tar)
    const records = (parseTarSplit(split) as {records: TarSplitRecord[]}).records.filter(r => r.kind === 'file')
    assert.deepEqual(
      records.map(r => (r as {size: number}).size),
      [5, 7],
    )
  })

  it('more than 1 MiB of headers: several gzip members, read as one stream', () => {
    // Zero runs are counted, not stored: names that fill their field make the raw bytes add up.
    const tar = new TarBuilder()
    for (let i = 0; i < 8000; i++) tar.file(`many/${String(i).padStart(94, 'n')}`, `${i}`, {uname: 'u'.repeat(31), gname: 'g'.repeat(31)})
    const {split} = roundTrip(tar.end().toBuffer())
    // Each member starts with gzip's magic: more than one of them in the file.
    let members = 0
    for (let i = split.indexOf(Buffer.from([0x1f, 0x8b, 8])); i >= 0; i = split.indexOf(Buffer.from([0x1f, 0x8b, 8]), i + 1)) members++
    assert.ok(members >= 2, `${members} gzip members`)
  })
})

describe('tar-split: round trips (GNU tar)', () => {
  const tree = temp()
  const root = path.join(tree, 'root')
  fs.mkdirSync(path.join(root, 'usr', 'bin'), {recursive: true})
  fs.writeFileSync(path.join(root, 'usr', 'bin', 'tool'), randomBytes(200_000))
  fs.linkSync(path.join(root, 'usr', 'bin', 'tool'), path.join(root, 'usr', 'bin', 'tool-link'))
  fs.symlinkSync('tool', path.join(root, 'usr', 'bin', 'alias'))
  fs.writeFileSync(path.join(root, 'empty'), '')
  const deep = path.join(root, 'a'.repeat(90), 'b'.repeat(90))
  fs.mkdirSync(deep, {recursive: true})
  fs.writeFileSync(path.join(deep, 'c'.repeat(120)), 'deep\n')

  for (const format of ['gnu', 'pax', 'ustar', 'v7'] as const) {
    it(`--format=${format}${format === 'gnu' ? ', -b 2048 (a 1 MiB record of zeros at the end)' : ''}: the same bytes back`, () => {
      const out = path.join(tree, `${format}.tar`)
      // ustar and v7 cannot hold the 300-byte name: they get the rest of the tree.
      const members = format === 'ustar' || format === 'v7' ? ['usr', 'empty'] : ['.']
      const args = ['-cf', out, `--format=${format}`, ...(format === 'gnu' ? ['-b', '2048'] : []), '-C', root, ...members]
      execFileSync('tar', args, {stdio: 'pipe'})
      const tar = fs.readFileSync(out)
      const {records} = roundTrip(tar)
      assert.ok(records.some(r => r.kind === 'file' && r.size === 200_000))
      assert.equal(sha(rebuild(record(tar).split, record(tar).files)), sha(tar))
    })
  }
})

describe('tar-split: damage is named, never taken for a tar', () => {
  const tar = new TarBuilder().file('a', 'hello').end().toBuffer()
  const {split} = record(tar)
  const raw = zlib.gunzipSync(split)

  it('not gzip, a wrong magic, an unknown record, cut short, no end record, a wrong total, bytes after the end', () => {
    const problem = (data: Buffer, gz = true) => {
      const r = parseTarSplit(gz ? zlib.gzipSync(data) : data)
      assert.ok('problem' in r, 'damage must be found')
      return r.problem
    }
    assert.match(problem(Buffer.from('plain text'), false), /not valid gzip/)
    assert.match(problem(Buffer.concat([Buffer.from('other magic 1\n!!!!'), raw.subarray(MAGIC.length)])), /bad magic/)
    assert.match(problem(Buffer.concat([MAGIC, Buffer.from('Q')])), /unknown record type/)
    assert.match(problem(raw.subarray(0, raw.length - 3)), /cut short/)
    assert.match(problem(raw.subarray(0, raw.length - 7)), /no end record/)
    const wrongTotal = Buffer.from(raw)
    wrongTotal.writeUIntBE(tar.length + 512, raw.length - 6, 6)
    assert.match(problem(wrongTotal), /add up to \d+ bytes, not the \d+ its end says/)
    assert.match(problem(Buffer.concat([raw, Buffer.from('R')])), /goes on after its end record/)
    assert.ok(!('problem' in parseTarSplit(split)))
  })
})
