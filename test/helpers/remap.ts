import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import {USERNS_STAGING} from '../../src/userns/spawn-in-userns'
import {leftovers} from './seed-image'
import {processesMentioning} from './processes-mentioning'

/**
 * Nothing of a cache's `--userns remap` containers on the host: no mount, cgroup or record
 * (leftovers), nothing mounted on the starters' staging dir, no process whose command line names
 * the cache (monitor, starter, init).
 */
export function assertRemapClean(cache: string): void {
  assert.deepEqual(leftovers(cache), {mounts: [], cgroups: [], containers: []})
  assert.ok(!fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(USERNS_STAGING), 'nothing mounted on the staging dir on the host')
  assert.deepEqual(processesMentioning(cache), [], 'no process of this cache left')
}
