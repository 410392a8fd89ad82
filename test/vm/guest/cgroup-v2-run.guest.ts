// `pivot run` and `pivot prune` on a real cgroup v2 kernel, through the CLI as a user runs them.
// Runs only inside the test VM (test/vm/run-vm.sh boots it with cgroup_no_v1=all); on a v1 or
// hybrid host its first test fails, as it should: it would not be testing v2. The busybox fixture
// comes in as a `docker export` tar on the VM's data disk and is imported with `pivot import`.
import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {detectCgroups, openCgroup} from '../../../src/runtime/cgroups'
import {pivot, tempDir} from '../../helpers/fixtures'
import {cacheCgroups} from '../../helpers/seed-image'
import {processesMentioning} from '../../helpers/processes-mentioning'
import {assertNothingLeft, cleanUp, signalTwice, sleep, startPivot, uniqueName, waitUntil, type Running} from '../../helpers/security'

const BUSYBOX_TAR = process.env.PIVOT_VM_BUSYBOX_TAR ?? '/data/busybox.tar'
const CGROUP_ROOT = '/sys/fs/cgroup'
const MiB = 1024 * 1024
/** Everything is slow under TCG on a shared machine: a `pivot run` takes seconds, not ms. */
const SLOW = 120_000

let cache: string

before(() => {
  cache = tempDir('pivot-vm-cache')
  const r = pivot(['import', BUSYBOX_TAR, 'busybox'], {cacheDir: cache, timeout: SLOW})
  assert.equal(r.status, 0, `pivot import: ${r.stderr}`)
})

after(() => cleanUp(cache))

function start(args: string[]): Running {
  return startPivot(cache, ['run', ...args], {guardMs: 4 * SLOW})
}

/** The directory of the one running container's cgroup. */
function cgroupDir(): string {
  const ids = cacheCgroups(cache)
  assert.equal(ids.length, 1, `one running container: ${ids.join(', ')}`)
  const [dir] = openCgroup(ids[0]).paths
  assert.equal(path.dirname(dir), path.join(CGROUP_ROOT, 'pivot'))
  return dir
}

function read(dir: string, name: string): string {
  return fs.readFileSync(path.join(dir, name), 'utf8').trim()
}

/** `key value` lines of a flat-keyed cgroup file, as numbers. */
function keyed(dir: string, name: string): Record<string, number> {
  return Object.fromEntries(
    read(dir, name)
      .split('\n')
      .map(line => [line.split(' ')[0], Number(line.split(' ')[1])]),
  )
}

describe('cgroup v2 in the VM: pivot run and prune', {timeout: 15 * 60_000}, () => {
  it('the kernel runs pure cgroup v2 with pids, memory and cpu, and no v1 hierarchy', () => {
    const host = detectCgroups()
    assert.equal(host.version, 2)
    assert.ok(host.version === 2)
    for (const controller of ['pids', 'memory', 'cpu']) assert.ok(host.controllers.includes(controller), controller)
    assert.doesNotMatch(fs.readFileSync('/proc/self/mountinfo', 'utf8'), / - cgroup /, 'no v1 mount')
    assert.match(fs.readFileSync('/proc/self/cgroup', 'utf8'), /^0::\/\S*\n$/)
  })

  it('writes --pids-limit, --memory and --cpus to pids.max, memory.max (swap 0) and cpu.max; 4096 pids by default', async () => {
    const r = start(['--rm', '--memory', '64m', '--cpus', '0.5', '--pids-limit', '33', 'busybox', 'sh', '-c', 'echo up; exec sleep 600'])
    await r.waitFor('up', SLOW)
    const dir = cgroupDir()
    assert.equal(read(dir, 'pids.max'), '33')
    assert.equal(read(dir, 'memory.max'), String(64 * MiB))
    if (fs.existsSync(path.join(dir, 'memory.swap.max'))) assert.equal(read(dir, 'memory.swap.max'), '0')
    assert.equal(read(dir, 'cpu.max'), '50000 100000')
    for (const parent of [CGROUP_ROOT, path.join(CGROUP_ROOT, 'pivot')]) {
      const enabled = read(parent, 'cgroup.subtree_control').split(' ')
      for (const controller of ['pids', 'memory', 'cpu']) assert.ok(enabled.includes(controller), `${controller} in ${parent}`)
    }
    assert.equal(read(path.join(CGROUP_ROOT, 'pivot'), 'cgroup.procs'), '', 'no process in pivot/ itself')
    assert.notEqual(read(dir, 'cgroup.procs'), '')
    await signalTwice(r, 'SIGTERM')
    assert.equal(await r.done, 137, r.err())
    assertNothingLeft(cache)

    const d = start(['--rm', 'busybox', 'sh', '-c', 'echo up; exec sleep 600'])
    await d.waitFor('up', SLOW)
    const defaults = cgroupDir()
    assert.equal(read(defaults, 'pids.max'), '4096')
    assert.equal(read(defaults, 'memory.max'), 'max')
    assert.equal(read(defaults, 'cpu.max'), 'max 100000')
    await signalTwice(d, 'SIGTERM')
    assert.equal(await d.done, 137, d.err())
    assertNothingLeft(cache)
  })

  it('contains a fork bomb under --pids-limit 20 (pids.events counts the refused forks); two SIGTERMs kill it all', async () => {
    // The bomb processes are forks of the shell, so its command line (and the marker in the
    // comment) is theirs. PID 1 forks once and then only execs: under the limit a failed fork
    // would end it, and the run with it.
    const marker = uniqueName('pivot-vm-bomb')
    const r = start(['--rm', '--pids-limit', '20', 'busybox', 'sh', '-c', `echo bombing; b(){ b|b& }; b & exec sleep 600 # ${marker}`])
    await r.waitFor('bombing', SLOW)
    const dir = cgroupDir()
    await waitUntil('the bomb to hit the limit', () => keyed(dir, 'pids.events').max > 0, SLOW)
    const current = Number(read(dir, 'pids.current'))
    assert.ok(current <= 20, `pids.current ${current}`)
    const bombs = processesMentioning(marker).length
    assert.ok(bombs >= 1 && bombs <= 20, `${bombs} bomb processes`)
    assert.equal(r.child.exitCode, null, 'the run goes on')
    // cgroup.kill takes the whole cgroup at once, however fast the bomb forks.
    await signalTwice(r, 'SIGTERM')
    assert.equal(await r.done, 137, r.err())
    assert.deepEqual(processesMentioning(marker), [])
    assert.ok(!fs.existsSync(dir), 'the cgroup is gone')
    assertNothingLeft(cache)
  })

  it('OOM-kills a process over --memory: exit 137 for PID 1, memory.events counts the kill', async () => {
    const hog = start(['--rm', '--memory', '32m', 'busybox', 'sh', '-c', 'head -c 200m /dev/zero | tail; echo "hog=$?"; echo waiting; exec sleep 600'])
    // The kernel may pick PID 1 as well while the hog's memory is freed: then the run ends at once.
    if (await hog.waitForOrEnd('waiting', SLOW)) {
      assert.match(hog.out(), /^hog=137$/m, 'the hog was SIGKILLed')
      const dir = cgroupDir()
      assert.ok(keyed(dir, 'memory.events').oom_kill >= 1, read(dir, 'memory.events'))
      if (fs.existsSync(path.join(dir, 'memory.peak'))) {
        const peak = Number(read(dir, 'memory.peak'))
        assert.ok(peak > 0 && peak <= 32 * MiB, `memory.peak ${peak}`)
      }
      await signalTwice(hog, 'SIGTERM')
    }
    assert.equal(await hog.done, 137, hog.err())
    assert.doesNotMatch(hog.out(), /hog=0/)
    assertNothingLeft(cache)

    const r = pivot(['run', '--rm', '--memory', '10m', 'busybox', 'tail', '-c', '40000000', '/dev/zero'], {cacheDir: cache, timeout: SLOW, input: ''})
    assert.equal(r.status, 137, `exit ${r.status}, stderr: ${r.stderr}`)
    assertNothingLeft(cache)
  })

  it('throttles a busy loop to --cpus 0.2 (cpu.stat nr_throttled grows)', async () => {
    const r = start(['--rm', '--cpus', '0.2', 'busybox', 'sh', '-c', 'echo spinning; while :; do :; done'])
    await r.waitFor('spinning', SLOW)
    const dir = cgroupDir()
    assert.equal(read(dir, 'cpu.max'), '20000 100000')
    await sleep(1500)
    const stat = keyed(dir, 'cpu.stat')
    assert.ok(stat.nr_throttled >= 2, read(dir, 'cpu.stat'))
    // 0.2 CPUs over the whole run so far, with slack for the periods before the quota applied.
    assert.ok(stat.throttled_usec > 0, read(dir, 'cpu.stat'))
    await signalTwice(r, 'SIGTERM')
    assert.equal(await r.done, 137, r.err())
    assertNothingLeft(cache)
  })

  it('prune removes the cgroup of a container whose pivot was SIGKILLed', async () => {
    // No exec: PID 1 keeps the marker in its command line.
    const marker = uniqueName('pivot-vm-orphan')
    const r = start(['--rm', 'busybox', 'sh', '-c', `echo up; sleep 600; echo ${marker}`])
    await r.waitFor('up', SLOW)
    const dir = cgroupDir()
    r.child.kill('SIGKILL')
    await r.exited
    await waitUntil('the container to die with pivot', () => processesMentioning(marker).length === 0, SLOW)
    assert.ok(fs.existsSync(dir), 'nobody removed the cgroup yet')
    assert.deepEqual(cacheCgroups(cache), [path.basename(dir)])
    const prune = pivot(['prune'], {cacheDir: cache, timeout: SLOW})
    assert.equal(prune.status, 0, prune.stderr)
    assert.ok(!fs.existsSync(dir), 'prune removed it')
    assertNothingLeft(cache)
  })

  it('leaves no cgroup under /sys/fs/cgroup/pivot and no container process', () => {
    const left = fs.readdirSync(path.join(CGROUP_ROOT, 'pivot'), {withFileTypes: true}).filter(e => e.isDirectory())
    assert.deepEqual(
      left.map(e => e.name),
      [],
    )
    assert.deepEqual(processesMentioning('pivot-vm-'), [], 'no process of these tests')
  })
})
