import {test} from 'node:test'
import assert from 'node:assert/strict'
import {formatAge, formatSize, formatTable, humanDuration, shortId} from '../../../src/common/format'

test('formatSize: decimal units, three significant digits, like docker images', () => {
  assert.equal(formatSize(0), '0B')
  assert.equal(formatSize(999), '999B')
  assert.equal(formatSize(1000), '1kB')
  assert.equal(formatSize(1234), '1.23kB')
  assert.equal(formatSize(4_261_345), '4.26MB')
  assert.equal(formatSize(77_900_000), '77.9MB')
  assert.equal(formatSize(123_456_789_012), '123GB')
  assert.equal(formatSize(-1), '-')
})

test('humanDuration: the go-units wording docker uses', () => {
  const s = 1000
  const h = 3600 * s
  assert.equal(humanDuration(500), 'Less than a second')
  assert.equal(humanDuration(1 * s), '1 second')
  assert.equal(humanDuration(42 * s), '42 seconds')
  assert.equal(humanDuration(61 * s), 'About a minute')
  assert.equal(humanDuration(59 * 60 * s), '59 minutes')
  assert.equal(humanDuration(h), 'About an hour')
  assert.equal(humanDuration(5 * h), '5 hours')
  assert.equal(humanDuration(47 * h), '47 hours')
  assert.equal(humanDuration(3 * 24 * h), '3 days')
  assert.equal(humanDuration(15 * 24 * h), '2 weeks')
  assert.equal(humanDuration(90 * 24 * h), '3 months')
  assert.equal(humanDuration(800 * 24 * h), '2 years')
})

test('formatAge: relative to now, tolerant of bad input and clock skew', () => {
  const now = Date.parse('2024-06-01T12:00:00Z')
  assert.equal(formatAge('2024-06-01T10:00:00Z', now), '2 hours ago')
  assert.equal(formatAge('2024-06-01T12:00:30.123456789Z', now), 'Less than a second ago')
  assert.equal(formatAge('not a date', now), 'N/A')
})

test('formatTable: left-aligned columns three spaces apart, no trailing blanks', () => {
  const text = formatTable(
    ['NAME', 'ID'],
    [
      ['ubuntu:latest', 'abc'],
      ['x', 'defdef'],
    ],
  )
  assert.equal(text, 'NAME            ID\nubuntu:latest   abc\nx               defdef\n')
})

test('shortId: 12 hex digits without the algorithm', () => {
  assert.equal(shortId('sha256:' + 'a1'.repeat(32)), 'a1a1a1a1a1a1')
})
