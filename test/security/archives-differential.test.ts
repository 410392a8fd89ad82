// Hostile and odd archives read by pivot's tar reader, by Go's archive/tar (the reader docker
// uses; built from Debian's golang-go, see test/helpers/go-tar.ts) and by GNU tar. Every archive
// Go accepts must give the same entries in pivot (names, types, sizes, modes, owners, times, link
// targets, content digests, xattrs); every archive Go refuses pivot must refuse. The corpus:
// Go's own test archives (golang-1.19-src), CPython's (libpython3.11-testsuite) and archives made
// here to split readers (a data block read as headers by one and as file data by the other).
import {describe, it, before} from 'node:test'
import assert from 'node:assert/strict'
import {execFileSync, spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {pivot, tempDir} from '../helpers/fixtures'
import {goTarList} from '../helpers/go-tar'
import {listArchive, type Listing} from '../helpers/pivot-tar-list'
import {hidden, hostileArchives} from '../helpers/hostile-archives'

const GO_TESTDATA = '/usr/share/go-1.19/src/archive/tar/testdata'
const PY_TESTDATA = '/usr/lib/python3.11/test'

/**
 * Archives Go reads that pivot refuses on purpose, with the code it must refuse them with: sparse
 * files (docker's extractor refuses old GNU 'S' entries too; pax GNU.sparse files are rare in
 * images and would need hole punching to be faithful).
 */
const DELIBERATE: Record<string, {code: string; why: string}> = {
  'gnu-incremental.tar': {code: 'UNPACK_UNSUPPORTED', why: 'GNU sparse entry'},
  'gnu-nil-sparse-data.tar': {code: 'UNPACK_UNSUPPORTED', why: 'GNU sparse entry'},
  'gnu-nil-sparse-hole.tar': {code: 'UNPACK_UNSUPPORTED', why: 'GNU sparse entry'},
  'gnu-sparse-big.tar': {code: 'UNPACK_UNSUPPORTED', why: 'GNU sparse entry'},
  'pax-nil-sparse-data.tar': {code: 'UNPACK_UNSUPPORTED', why: 'GNU.sparse pax records'},
  'pax-nil-sparse-hole.tar': {code: 'UNPACK_UNSUPPORTED', why: 'GNU.sparse pax records'},
  'pax-sparse-big.tar': {code: 'UNPACK_UNSUPPORTED', why: 'GNU.sparse pax records'},
  'sparse-formats.tar': {code: 'UNPACK_UNSUPPORTED', why: 'GNU sparse entry'},
  'testtar.tar': {code: 'UNPACK_UNSUPPORTED', why: 'GNU sparse entry (gnu/sparse)'},
}

function names(listing: Listing): string[] {
  return listing.entries.map(e => Buffer.from(e.name, 'hex').toString('latin1'))
}

let dir: string
const files: string[] = []
let go: Map<string, Listing>

describe('tar reading: pivot against Go archive/tar and GNU tar', () => {
  before(() => {
    dir = tempDir('pivot-archives-diff')
    for (const [name, data] of Object.entries(hostileArchives())) {
      fs.writeFileSync(path.join(dir, name), data)
      files.push(path.join(dir, name))
    }
    for (const name of fs.readdirSync(GO_TESTDATA)) if (name.endsWith('.tar')) files.push(path.join(GO_TESTDATA, name))
    fs.writeFileSync(
      path.join(dir, 'pax-bad-hdr-large.tar'),
      execFileSync('bzip2', ['-dc', path.join(GO_TESTDATA, 'pax-bad-hdr-large.tar.bz2')], {maxBuffer: 64 << 20}),
    )
    fs.writeFileSync(path.join(dir, 'py-testtar-xz.tar'), execFileSync('xz', ['-dc', path.join(PY_TESTDATA, 'testtar.tar.xz')], {maxBuffer: 64 << 20}))
    files.push(
      path.join(dir, 'pax-bad-hdr-large.tar'),
      path.join(dir, 'py-testtar-xz.tar'),
      path.join(PY_TESTDATA, 'testtar.tar'),
      path.join(PY_TESTDATA, 'recursion.tar'),
    )
    go = new Map(goTarList(files).map(l => [l.file, l]))
  })

  it('reads every archive Go accepts the same way, and refuses every archive Go refuses', {timeout: 120_000}, () => {
    let compared = 0
    let refusedByBoth = 0
    for (const file of files) {
      const base = path.basename(file)
      const theirs = go.get(file)!
      const ours = listArchive(file)
      const deliberate = DELIBERATE[base]
      if (deliberate) {
        assert.equal(theirs.ok, true, `${base}: Go should read it`)
        assert.equal(ours.code, deliberate.code, `${base}: pivot refuses ${deliberate.why}: ${ours.error}`)
        continue
      }
      if (!theirs.ok) {
        assert.equal(ours.ok, false, `${base}: Go refuses it (${theirs.error}), pivot read ${ours.entries.length} entries`)
        refusedByBoth++
        continue
      }
      assert.equal(ours.ok, true, `${base}: Go reads it, pivot says ${ours.code}: ${ours.error}`)
      assert.deepEqual(ours.entries, theirs.entries, `${base}: entries differ`)
      compared++
    }
    // The corpus is what it should be (Debian's packages present, nothing silently skipped).
    assert.ok(compared >= 45, `compared ${compared}`)
    assert.ok(refusedByBoth >= 15, `refused by both ${refusedByBoth}`)
  })

  it('the hostile archives: what each reader sees', () => {
    const at = (name: string) => go.get(path.join(dir, name))!
    // Go: a '0' entry named "dir/" is a file whose data is the hidden archive; '\0' is a directory.
    assert.deepEqual(names(at('reg-trailing-slash.tar')), ['dir/'])
    assert.deepEqual(names(at('v7-trailing-slash.tar')), ['v7dir/', 'hidden'])
    assert.deepEqual(names(at('symlink-with-size.tar')), ['link', 'hidden'])
    assert.deepEqual(names(at('contiguous.tar')), ['c'])
    assert.deepEqual(names(at('longname-beats-pax.tar')), ['short'])
    assert.deepEqual(names(at('longname-nul.tar')), ['kept'])
    assert.deepEqual(names(at('global-pax.tar')), ['a'])
    assert.deepEqual(names(at('after-end.tar')), ['a'])
    assert.equal(at('zero-then-header.tar').ok, false)
    assert.equal(at('pax-times.tar').entries[0]!.mtime, '-315619201.750000000')
    assert.equal(at('base256.tar').entries[0]!.mtime, '-315619200.000000000')
    assert.equal(at('base256.tar').entries[0]!.uid, 4_000_000_000)
  })

  // GNU tar and Go disagree on some (GNU tar skips the "data" of a symlink, a FIFO or an old-style '\0' directory, keeps a pending
  // pax header across a global one, lets a pax path beat a GNU long name, accepts NUL-padded pax
  // bodies): pivot follows Go, which is what docker runs.
  it("GNU tar lists the same names as Go where the two agree, the issue's example included", () => {
    for (const name of [
      'reg-trailing-slash.tar',
      'dir-with-size.tar',
      'after-end.tar',
      'pax-size-file.tar',
      'one-zero-block.tar',
      'no-marker.tar',
      'contiguous.tar',
      'volume-label.tar',
      'longname-nul.tar',
      'pax-twice.tar',
    ]) {
      const r = spawnSync('tar', ['--list', '--quoting-style=literal', '-f', path.join(dir, name)], {encoding: 'utf8'})
      assert.equal(r.status, 0, `${name}: ${r.stderr}`)
      assert.deepEqual(r.stdout.split('\n').filter(Boolean), names(go.get(path.join(dir, name))!), name)
    }
  })

  it('pivot import of the hostile archives: the layer holds what docker would extract, nothing hidden', () => {
    const cache = tempDir('pivot-archives-cache')
    const layer = (name: string): string => {
      const r = pivot(['import', path.join(dir, name), `archives-${name.replace(/\W/g, '-')}`], {cacheDir: cache})
      assert.equal(r.status, 0, `${name}: ${r.stderr}`)
      const images = JSON.parse(pivot(['images', '--json'], {cacheDir: cache}).stdout) as Array<{id: string; layers: string[]}>
      const image = images.find(i => i.id === r.stdout.trim())!
      return path.join(cache, 'layers', image.layers[0]!.slice('sha256:'.length), 'rootfs')
    }
    const reg = layer('reg-trailing-slash.tar')
    assert.deepEqual(fs.readdirSync(reg), ['dir'])
    assert.ok(fs.lstatSync(path.join(reg, 'dir')).isFile())
    assert.equal(fs.lstatSync(path.join(reg, 'dir')).size, hidden.length)
    assert.deepEqual(fs.readdirSync(layer('after-end.tar')), ['a'])
    const old = layer('base256.tar')
    assert.equal(fs.lstatSync(path.join(old, 'old-and-far')).mtimeMs, -315619200 * 1000)
    assert.equal(fs.lstatSync(path.join(old, 'old-and-far')).uid, 4_000_000_000)
    const times = layer('pax-times.tar')
    const st = fs.lstatSync(path.join(times, 't'), {bigint: true})
    assert.equal(st.mtimeNs, -315619200_250_000_000n)
    assert.equal(st.atimeNs, 4102444800_500_000_000n)
    const bad = pivot(['import', path.join(dir, 'zero-then-header.tar'), 'archives-bad'], {cacheDir: cache})
    assert.equal(bad.status, 125)
    assert.match(bad.stderr, /^pivot: cannot import .*zero-then-header\.tar: not a valid tar archive: a zero block followed by a header/)
    assert.deepEqual(fs.readdirSync(path.join(cache, 'tmp')), [])
  })
})
