// The differential suite of the container lifecycle, run and the terminal: every row of
// lifecycle.rows.ts through docker and pivot (harness.ts).
import {after, before, test} from 'node:test'
import {spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
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
  // A `-d --rm` container is removed by its monitor after it exits, not by the command that ran
  // it: on a loaded machine the last rows' removals may still be under way. Wait for them (they
  // must finish), then name what is left with its command, so a real leak says which row made it.
  const deadline = Date.now() + 20_000
  let found = leftovers(cache)
  while (found.containers.length + found.mounts.length + found.cgroups.length > 0 && Date.now() < deadline) {
    spawnSync('sleep', ['0.5'])
    found = leftovers(cache)
  }
  const records = found.containers.map(id => {
    try {
      const state = JSON.parse(fs.readFileSync(path.join(cache, 'containers', id, 'state.json'), 'utf8')) as {name?: string; command?: unknown}
      return `${id.slice(0, 12)} ${state.name ?? ''} ${JSON.stringify(state.command ?? '')}`
    } catch {
      return `${id.slice(0, 12)} (no record)`
    }
  })
  assert.deepEqual(found, {mounts: [], cgroups: [], containers: []}, records.join('\n'))
})
