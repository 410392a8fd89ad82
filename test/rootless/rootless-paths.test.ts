// Where pivot keeps things for a user other than root (issue 14): the cache under
// $XDG_DATA_HOME/pivot (else ~/.local/share/pivot), runtime state under $XDG_RUNTIME_DIR, and a
// cache that is not the user's refused in one line.
import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {describe, it} from 'node:test'
import {tempDir} from '../helpers/fixtures'
import {ROOTLESS_UID, pivotRootless, rootlessHome} from '../helpers/rootless'

function oneLine(stderr: string): string {
  const lines = stderr.trim().split('\n')
  assert.equal(lines.length, 1, `one line expected, got:\n${stderr}`)
  assert.match(lines[0], /^pivot: /)
  return lines[0]
}

describe("rootless: where pivot keeps a user's things", () => {
  it("makes the cache under ~/.local/share/pivot, the user's own, 0700", () => {
    const home = rootlessHome()
    const r = pivotRootless(home, ['images'])
    assert.equal(r.status, 0, r.stderr)
    assert.match(r.stdout, /^NAME\s+IMAGE ID/)
    const st = fs.statSync(home.cache)
    assert.equal(st.uid, ROOTLESS_UID)
    assert.equal(st.mode & 0o777, 0o700)
    assert.ok(fs.statSync(path.join(home.cache, 'layers')).isDirectory())
  })

  it('follows $XDG_DATA_HOME', () => {
    const home = rootlessHome()
    const data = path.join(home.home, 'data')
    const r = pivotRootless(home, ['images'], {env: {XDG_DATA_HOME: data}})
    assert.equal(r.status, 0, r.stderr)
    assert.ok(fs.statSync(path.join(data, 'pivot', 'images')).isDirectory())
    assert.equal(fs.existsSync(home.cache), false, 'nothing under ~/.local/share')
  })

  it('refuses a cache owned by someone else in one line, and changes nothing in it', () => {
    const home = rootlessHome()
    // root's cache, in a directory the user may enter.
    const other = tempDir('pivot-rootless-other')
    fs.chmodSync(other, 0o755)
    const cache = path.join(other, 'cache')
    fs.mkdirSync(cache, {mode: 0o755})
    const r = pivotRootless(home, ['images', '--cache-dir', cache])
    assert.equal(r.status, 125)
    const line = oneLine(r.stderr)
    assert.match(line, /owned by uid 0, not by you \(uid 2000\)/)
    assert.deepEqual(fs.readdirSync(cache), [])
    // Another user's cache too.
    const theirs = path.join(other, 'theirs')
    fs.mkdirSync(theirs, {mode: 0o700})
    fs.chownSync(theirs, 2001, 2001)
    const r2 = pivotRootless(home, ['images', '--cache-dir', theirs])
    assert.equal(r2.status, 125)
    assert.match(oneLine(r2.stderr), /owned by uid 2001/)
  })
})
