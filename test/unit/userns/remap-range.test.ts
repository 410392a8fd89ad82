import {test} from 'node:test'
import assert from 'node:assert/strict'
import {DEFAULT_REMAP_START, chooseRemapRange, parseSubIds, remapMaps} from '../../../src/userns'

test("remap: a `pivot` entry in both files is pivot's range", () => {
  const r = chooseRemapRange(parseSubIds('alice:100000:65536\npivot:300000:65536\n'), parseSubIds('pivot:400000:70000\n'))
  assert.deepEqual(r, {uid: 300000, gid: 400000, count: 65536, source: 'subid'})
  assert.deepEqual(remapMaps(r), {uid: [{inside: 0, outside: 300000, count: 65536}], gid: [{inside: 0, outside: 400000, count: 65536}]})
})

test('remap: no entry gives the documented default range', () => {
  const r = chooseRemapRange(parseSubIds('alice:100000:65536\n'), [])
  assert.deepEqual(r, {uid: DEFAULT_REMAP_START, gid: DEFAULT_REMAP_START, count: 65536, source: 'default'})
})

test('remap: the default range is refused when another entry overlaps it; a short or one-sided pivot entry is refused', () => {
  assert.throws(
    () => chooseRemapRange([], parseSubIds(`bob:${DEFAULT_REMAP_START + 10}:5\n`)),
    (e: Error & {code?: string}) =>
      e.code === 'USERNS_RANGE_OVERLAP' &&
      e.message ===
        `--userns remap: pivot's default range 1000000000-1000065535 overlaps bob:1000000010:5 in /etc/subgid: give pivot a range of its own (a "pivot:START:65536" line in /etc/subuid and /etc/subgid)`,
  )
  assert.throws(() => chooseRemapRange(parseSubIds('pivot:300000:100\n'), parseSubIds('pivot:300000:65536\n')), {code: 'USERNS_RANGE_SMALL'})
  assert.throws(() => chooseRemapRange(parseSubIds('pivot:300000:65536\n'), []), {code: 'USERNS_RANGE_SMALL'})
})
