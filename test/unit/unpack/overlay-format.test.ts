// The whiteout conversion both ways: what build writes (Docker's form) is what unpack reads back.
import assert from 'node:assert/strict'
import {test} from 'node:test'
import {dockerWhiteout, isOverlayWhiteout, opaqueEntryName, whiteoutEntryName} from '../../../src/unpack/overlay-format'

const base = (name: string) => name.slice(name.lastIndexOf('/') + 1)

test('overlay-format: a deletion and an opaque directory written by build read back by unpack', () => {
  assert.equal(whiteoutEntryName('etc/motd'), 'etc/.wh.motd')
  assert.equal(whiteoutEntryName('top'), '.wh.top')
  assert.deepEqual(dockerWhiteout(base(whiteoutEntryName('etc/motd'))), {kind: 'delete', name: 'motd'})
  assert.deepEqual(dockerWhiteout(base(whiteoutEntryName('.hidden'))), {kind: 'delete', name: '.hidden'})
  assert.equal(opaqueEntryName('var/cache'), 'var/cache/.wh..wh..opq')
  assert.deepEqual(dockerWhiteout(base(opaqueEntryName('var/cache'))), {kind: 'opaque'})
  assert.deepEqual(dockerWhiteout('.wh..wh.plnk'), {kind: 'aufs'})
  assert.equal(dockerWhiteout('x.wh.y'), null)
  assert.equal(dockerWhiteout('motd'), null)
})

test("overlay-format: only a 0/0 character device is overlay's whiteout", () => {
  assert.equal(isOverlayWhiteout('char', 0, 0), true)
  assert.equal(isOverlayWhiteout('char', 1, 3), false)
  assert.equal(isOverlayWhiteout('block', 0, 0), false)
  assert.equal(isOverlayWhiteout('file', undefined, undefined), false)
})
