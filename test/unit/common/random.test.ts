import {test} from 'node:test'
import assert from 'node:assert/strict'
import {randomHex} from '../../../src/common/random'
import {newContainerId} from '../../../src/store/container-record'

test('randomHex: the asked number of bytes as lowercase hex, different each time', () => {
  assert.match(randomHex(4), /^[0-9a-f]{8}$/)
  const ids = new Set(Array.from({length: 50}, () => newContainerId()))
  assert.equal(ids.size, 50)
  for (const id of ids) assert.match(id, /^[0-9a-f]{64}$/)
  // Not a constant pattern: across 50 ids of 64 digits, every hex digit shows up.
  assert.equal(new Set([...ids].join('')).size, 16)
})
