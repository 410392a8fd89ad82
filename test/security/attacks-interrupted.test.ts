/**
 * Faults: pivot SIGKILLed in the middle of its work (a pull while it unpacks, a run while its
 * container runs), then `pivot prune`. The safe outcome: nothing half-written is ever visible
 * under layers/, images/, refs/ or l/; no process keeps working in the cache or in the dead
 * container's namespaces; prune leaves tmp/ empty, no container dir, no cgroup, no mount, and no
 * docker container of pivot's.
 */
import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {describe, it} from 'node:test'
import {openCgroup} from '../../src/runtime/cgroups'
import {DEBIAN_IMAGE, docker, pivot, tempDir} from '../helpers/fixtures'
import {cacheCgroups, cacheContainers, hostMountsUnder, leftovers, seedImage} from '../helpers/seed-image'
import {assertNothingLeft, cleanUp, startPivot, waitUntil} from '../helpers/security'

function exportContainers(): string[] {
  return docker(['ps', '-aq', '--filter', 'label=io.pivot.export']).split('\n').filter(Boolean).sort()
}

/** Host processes whose root or working directory is under `dir` (an unpack worker chroots into its layer). */
function processesInside(dir: string): number[] {
  const found: number[] = []
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    for (const link of ['root', 'cwd']) {
      try {
        const target = fs.readlinkSync(`/proc/${entry}/${link}`)
        if (target === dir || target.startsWith(dir + '/')) found.push(Number(entry))
      } catch {
        // gone, or not ours to read
      }
    }
  }
  return [...new Set(found)]
}

/** Host processes in the PID namespace `ns` (as /proc/PID/ns/pid reads, e.g. "pid:[4026532]"). */
function processesInPidNamespace(ns: string): number[] {
  return fs
    .readdirSync('/proc')
    .filter(e => /^\d+$/.test(e))
    .filter(e => {
      try {
        return fs.readlinkSync(`/proc/${e}/ns/pid`) === ns
      } catch {
        return false
      }
    })
    .map(Number)
}

function listing(cache: string, dir: string): string[] {
  const full = path.join(cache, dir)
  return fs.existsSync(full) ? fs.readdirSync(full) : []
}

describe('pivot pull SIGKILLed while it unpacks, then pivot prune', {timeout: 600_000}, () => {
  for (const flat of [false, true]) {
    it(`${flat ? 'flat (docker export)' : 'layered (docker save)'}: no half entry, the worker stops, prune empties tmp/, no export container left`, async t => {
      const cache = path.join(tempDir('pivot-attack-pullkill'), 'cache')
      const containersBefore = exportContainers()
      const r = startPivot(cache, ['pull', ...(flat ? ['--flat'] : []), DEBIAN_IMAGE], {guardMs: 300_000})
      t.after(() => cleanUp(cache))
      // Whatever prune does, the killed pull's export container (labelled with its pid) goes.
      t.after(() => {
        const label = `io.pivot.export=${os.hostname()}:${r.child.pid}`
        for (const id of docker(['ps', '-aq', '--filter', `label=${label}`])
          .split('\n')
          .filter(Boolean))
          docker(['rm', '-f', id])
      })
      const tmp = path.join(cache, 'tmp')
      // Killed once a staging dir holds some of the rootfs: mid-unpack.
      await waitUntil(
        'the pull to start unpacking',
        () =>
          fs.existsSync(tmp) &&
          fs.readdirSync(tmp).some(e => {
            try {
              return fs.readdirSync(path.join(tmp, e, 'rootfs')).length > 3
            } catch {
              return false
            }
          }),
        240_000,
      )
      r.child.kill('SIGKILL')
      await r.exited
      assert.ok(listing(cache, 'tmp').length > 0, 'the pull was killed mid-unpack (its staging dir is there)')
      for (const dir of ['layers', 'images', 'refs', 'l']) assert.deepEqual(listing(cache, dir), [], `${dir}/ holds nothing of the killed pull`)
      // The unpack worker (chrooted in the staging dir) sees its input end and exits by itself.
      await waitUntil('no process working in the cache', () => processesInside(cache).length === 0, 15_000)

      const pruned = pivot(['prune'], {cacheDir: cache, timeout: 120_000})
      assert.equal(pruned.status, 0, pruned.stderr)
      for (const dir of ['layers', 'images', 'refs', 'l', 'tmp']) assert.deepEqual(listing(cache, dir), [], `${dir}/ after prune`)
      assertNothingLeft(cache)
      assert.deepEqual(exportContainers(), containersBefore, 'no export container of the killed pull is left behind')
    })
  }
})

describe('pivot run SIGKILLed while its container runs, then pivot prune', {timeout: 120_000}, () => {
  it('every process of the container dies (a non-root user, a process tree, a trap), no mount stays; prune removes the dir and the cgroup', async t => {
    const cache = tempDir('pivot-attack-runkill')
    seedImage(cache, DEBIAN_IMAGE)
    const volume = tempDir('pivot-attack-runkill-vol')
    // The user switch clears the parent-death signal: the init must set it again after it.
    const script = 'trap "" TERM INT HUP; for i in 1 2 3; do sleep 600 & done; (sleep 600 &); setsid sleep 600 & echo up; wait'
    const r = startPivot(cache, ['run', '--rm', '-u', '65534', '-v', `${volume}:/data`, DEBIAN_IMAGE, 'sh', '-c', script])
    t.after(() => cleanUp(cache))
    await r.waitFor('up')
    const ids = cacheCgroups(cache)
    assert.equal(ids.length, 1)
    const procs = fs
      .readFileSync(path.join(openCgroup(ids[0]).paths[0], 'cgroup.procs'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map(Number)
    assert.ok(procs.length >= 6, `the container's processes: ${procs.join(' ')}`)
    const ns = fs.readlinkSync(`/proc/${procs[0]}/ns/pid`)
    assert.notEqual(ns, fs.readlinkSync('/proc/self/ns/pid'))
    assert.ok(processesInPidNamespace(ns).length >= 6)
    // Survivors (when the test fails) are killed, so that nothing outlives it.
    t.after(() => processesInPidNamespace(ns).forEach(p => process.kill(p, 'SIGKILL')))

    // Not `done`: that also waits for the container, which holds pivot's stdout.
    r.child.kill('SIGKILL')
    await r.exited
    await waitUntil('every process of the container to die', () => processesInPidNamespace(ns).length === 0, 10_000)
    assert.deepEqual(hostMountsUnder(cache), [], 'no mount under the cache')
    assert.deepEqual(hostMountsUnder(volume), [], 'no mount on the volume')
    assert.equal(cacheContainers(cache).length, 1, "the dead container's dir waits for prune")

    const pruned = pivot(['prune'], {cacheDir: cache})
    assert.equal(pruned.status, 0, pruned.stderr)
    assertNothingLeft(cache)
    assert.deepEqual(leftovers(cache).tmp, undefined)
  })
})
