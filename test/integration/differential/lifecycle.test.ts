// The differential suite of the container lifecycle, run and the terminal: every row of
// lifecycle.rows.ts through docker and pivot (harness.ts).
import {after, before, test} from 'node:test'
import {spawnSync} from 'node:child_process'
import {BUSYBOX_IMAGE, DOCKER_BIN, tempDir} from '../../helpers/fixtures'
import {leftovers, seedImage} from '../../helpers/seed-image'
import assert from 'node:assert/strict'
import {PREFIX, checkRow} from './harness'
import {ROWS} from './lifecycle.rows'

let cache: string

before(() => {
  cache = tempDir('pivot-differential')
  seedImage(cache, BUSYBOX_IMAGE)
})

after(() => {
  const ids = spawnSync(DOCKER_BIN, ['ps', '-aq', '--filter', `name=${PREFIX}`], {encoding: 'utf8'})
    .stdout.split('\n')
    .filter(Boolean)
  if (ids.length > 0) spawnSync(DOCKER_BIN, ['rm', '-f', ...ids], {stdio: 'ignore'})
})

const only = process.env.PIVOT_DIFF_ONLY
ROWS.forEach((row, index) => {
  if (only !== undefined && !new RegExp(only).test(row.name)) return
  test(row.name, () => checkRow(cache, row, index))
})

test('the differential rows leave nothing behind', () => {
  assert.deepEqual(leftovers(cache), {mounts: [], cgroups: [], containers: []})
})
