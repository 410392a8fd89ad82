// The cgroups module against this host's real cgroup filesystem. Written for both versions
// (the version is detected, as pivot does): the host here runs cgroup v1 (hybrid), and the
// cgroup v2 tier (test/vm) runs this same file inside a VM booted with pure cgroup v2.
import assert from 'node:assert/strict'
import {type ChildProcess, spawn} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {after, describe, it} from 'node:test'
import {type CgroupManager, createCgroup, detectCgroups, listCgroups, removeStaleCgroups} from '../../../src/runtime/cgroups'

const MiB = 1024 ** 2
const host = detectCgroups()
const created: CgroupManager[] = []
const children: ChildProcess[] = []

after(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  for (const cgroup of created) await cgroup.remove()
})

/**
 * Every process forks forever and survives its failed forks, so the cgroup stays full of
 * processes racing to fork while killAll runs. (A shell bomb is no good here: dash exits at the
 * first failed fork, so under a small pids.max the bomb can die out on its own.)
 */
const FORK_BOMB = `exec perl -e 'while (1) { fork }'`

function newId(): string {
  return `test-${process.pid}-${randomBytes(4).toString('hex')}`
}

function make(limits: Parameters<typeof createCgroup>[1]): CgroupManager {
  const cgroup = createCgroup(newId(), limits)
  created.push(cgroup)
  return cgroup
}

/** A process that waits for "go" on stdin, as pivot's init waits for it on fd 3. */
function spawnWaiting(script: string): ChildProcess {
  const child = spawn('/bin/sh', ['-c', `read go; ${script}`], {stdio: ['pipe', 'pipe', 'pipe']})
  children.push(child)
  return child
}

function go(child: ChildProcess): void {
  child.stdin!.write('go\n')
}

function exited(child: ChildProcess): Promise<{code: number | null; signal: NodeJS.Signals | null}> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({code: child.exitCode, signal: child.signalCode})
  return new Promise(resolve => child.once('exit', (code, signal) => resolve({code, signal})))
}

async function waitFor(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}

/** The cgroup of pid in each hierarchy, from /proc/<pid>/cgroup: controller -> path. */
function cgroupsOf(pid: number): Map<string, string> {
  const result = new Map<string, string>()
  for (const line of fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n')) {
    const [, controllers, cgroupPath] = /^\d+:([^:]*):(.*)$/.exec(line)!
    for (const controller of controllers === '' ? ['(v2)'] : controllers.split(',')) result.set(controller, cgroupPath)
  }
  return result
}

function procs(cgroup: CgroupManager): number[] {
  return fs.readFileSync(path.join(cgroup.paths[0], 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number)
}

/** The cgroup directory holding a controller's files. */
function dirOf(cgroup: CgroupManager, controller: string): string {
  if (host.version === 2) return cgroup.paths[0]
  return path.join(host.mounts[controller], 'pivot', cgroup.id)
}

function read(dir: string, name: string): string {
  return fs.readFileSync(path.join(dir, name), 'utf8').trim()
}

describe(`cgroups on this host (v${host.version})`, () => {
  it('detects the hierarchies pivot needs', () => {
    if (host.version === 1) {
      for (const controller of ['pids', 'memory', 'cpu', 'freezer']) {
        assert.ok(host.mounts[controller], `${controller} is mounted`)
        assert.ok(fs.existsSync(path.join(host.mounts[controller], 'cgroup.procs')))
      }
    } else {
      for (const controller of ['pids', 'memory', 'cpu']) assert.ok(host.controllers.includes(controller), controller)
    }
  })

  it('creates the cgroup with its limits and moves a process into it', async () => {
    const cgroup = make({pids: 50, memory: 64 * MiB, cpus: 0.5})
    assert.equal(cgroup.version, host.version)
    for (const dir of cgroup.paths) assert.equal(path.basename(dir), cgroup.id)
    if (host.version === 1) {
      assert.equal(read(dirOf(cgroup, 'pids'), 'pids.max'), '50')
      assert.equal(read(dirOf(cgroup, 'memory'), 'memory.limit_in_bytes'), String(64 * MiB))
      if (fs.existsSync(path.join(dirOf(cgroup, 'memory'), 'memory.memsw.limit_in_bytes'))) {
        assert.equal(read(dirOf(cgroup, 'memory'), 'memory.memsw.limit_in_bytes'), String(64 * MiB))
      }
      assert.equal(read(dirOf(cgroup, 'cpu'), 'cpu.cfs_period_us'), '100000')
      assert.equal(read(dirOf(cgroup, 'cpu'), 'cpu.cfs_quota_us'), '50000')
    } else {
      assert.equal(read(cgroup.paths[0], 'pids.max'), '50')
      assert.equal(read(cgroup.paths[0], 'memory.max'), String(64 * MiB))
      assert.equal(read(cgroup.paths[0], 'cpu.max'), '50000 100000')
    }

    const sleeper = spawn('sleep', ['60'], {stdio: 'ignore'})
    children.push(sleeper)
    cgroup.addProcess(sleeper.pid!)
    const where = cgroupsOf(sleeper.pid!)
    const expected = `/pivot/${cgroup.id}`
    if (host.version === 1) {
      for (const controller of ['pids', 'memory', 'cpu', 'freezer']) assert.equal(where.get(controller), expected, controller)
    } else {
      assert.equal(where.get('(v2)'), expected)
    }
    assert.deepEqual(procs(cgroup), [sleeper.pid])
    assert.equal(cgroup.stats().pidsCurrent, 1)

    await cgroup.remove()
    assert.deepEqual(await exited(sleeper), {code: null, signal: 'SIGKILL'})
    for (const dir of cgroup.paths) assert.ok(!fs.existsSync(dir), `${dir} is gone`)
    await cgroup.remove() // idempotent
  })

  it('gives the default pids limit when none is asked for', () => {
    const cgroup = make({})
    assert.equal(read(dirOf(cgroup, 'pids'), 'pids.max'), '4096')
  })

  it('contains a burst of forks with pids.max, then killAll empties it', async () => {
    const cgroup = make({pids: 10})
    const shell = spawnWaiting('i=0; while [ $i -lt 50 ]; do sleep 60 & i=$((i+1)); done; echo all started')
    let output = ''
    shell.stdout!.on('data', chunk => (output += chunk))
    shell.stderr!.on('data', chunk => (output += chunk))
    cgroup.addProcess(shell.pid!)
    go(shell)
    // dash gives up at the first fork that fails ("Cannot fork"); the sleeps it did start stay.
    await exited(shell)
    const inside = procs(cgroup)
    assert.ok(inside.length > 0 && inside.length < 50, `${inside.length} processes`)
    assert.ok(cgroup.stats().pidsCurrent! <= 10)
    assert.doesNotMatch(output, /all started/)
    assert.match(output, /fork/i)
    await cgroup.killAll()
    assert.deepEqual(procs(cgroup), [])
    await cgroup.remove()
    for (const dir of cgroup.paths) assert.ok(!fs.existsSync(dir))
  })

  it('kills a running fork bomb', async () => {
    const cgroup = make({pids: 20})
    const bomb = spawnWaiting(FORK_BOMB)
    cgroup.addProcess(bomb.pid!)
    go(bomb)
    await waitFor('the bomb to fill the cgroup', () => cgroup.stats().pidsCurrent! >= 15)
    await new Promise(resolve => setTimeout(resolve, 200))
    const started = Date.now()
    await cgroup.killAll()
    assert.deepEqual(procs(cgroup), [])
    assert.ok(Date.now() - started < 5000, `killAll took ${Date.now() - started} ms`)
    await cgroup.remove()
    for (const dir of cgroup.paths) assert.ok(!fs.existsSync(dir))
  })

  it('kills a running fork bomb without a freezer too (v1: by signalling until empty)', {skip: host.version !== 1}, async () => {
    // The real mountinfo minus the freezer hierarchy: same kernel, the fallback path.
    const dir = fs.mkdtempSync('/tmp/pivot-cgroups-test-')
    try {
      const mountinfo = path.join(dir, 'mountinfo')
      const lines = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
      fs.writeFileSync(mountinfo, lines.filter(line => !/ - cgroup \S+ \S*\bfreezer\b/.test(line)).join('\n'))
      const cgroup = createCgroup(newId(), {pids: 20}, {mountinfo})
      created.push(cgroup)
      assert.equal(cgroup.paths.length, 3)
      assert.ok(!cgroup.paths.some(p => p.startsWith(host.version === 1 ? host.mounts.freezer + '/' : '-')))
      const bomb = spawnWaiting(FORK_BOMB)
      cgroup.addProcess(bomb.pid!)
      go(bomb)
      await waitFor('the bomb to fill the cgroup', () => cgroup.stats().pidsCurrent! >= 15)
      await cgroup.killAll()
      assert.deepEqual(procs(cgroup), [])
      await cgroup.remove()
      for (const p of cgroup.paths) assert.ok(!fs.existsSync(p))
    } finally {
      fs.rmSync(dir, {recursive: true, force: true})
    }
  })

  it('kills a running fork bomb without cgroup.kill too (v2: freeze, signal, thaw, as before Linux 5.14)', {skip: host.version !== 2}, async () => {
    const cgroup = createCgroup(newId(), {pids: 20}, {withoutKillFile: true})
    created.push(cgroup)
    const bomb = spawnWaiting(FORK_BOMB)
    cgroup.addProcess(bomb.pid!)
    go(bomb)
    await waitFor('the bomb to fill the cgroup', () => cgroup.stats().pidsCurrent! >= 15)
    await cgroup.killAll()
    assert.deepEqual(procs(cgroup), [])
    assert.equal(read(cgroup.paths[0], 'cgroup.freeze'), '0', 'thawed again')
    assert.match(read(cgroup.paths[0], 'cgroup.events'), /^frozen 0$/m)
    await cgroup.remove()
    assert.ok(!fs.existsSync(cgroup.paths[0]))
  })

  it('enforces the memory limit, swap included', async () => {
    const cgroup = make({memory: 16 * MiB})
    // Builds a 64 MiB string in the shell: only the OOM killer can stop it under 16 MiB.
    const hog = spawnWaiting(`x=$(head -c ${64 * MiB} /dev/zero | tr '\\0' a); echo survived \${#x}`)
    let output = ''
    hog.stdout!.on('data', chunk => (output += chunk))
    cgroup.addProcess(hog.pid!)
    go(hog)
    const result = await exited(hog)
    assert.doesNotMatch(output, /survived/)
    assert.equal(result.signal, 'SIGKILL')
    assert.ok(cgroup.stats().memoryPeak! >= 8 * MiB, `peak ${cgroup.stats().memoryPeak}`)
    assert.ok(cgroup.stats().memoryPeak! <= 16 * MiB, `peak ${cgroup.stats().memoryPeak}`)
  })

  it('freezes and thaws: a frozen process makes no progress until thawed', async () => {
    const cgroup = make({})
    assert.equal(cgroup.canFreeze(), true)
    const ticker = spawnWaiting(`exec perl -e '$|=1; while (1) { print "x"; select(undef, undef, undef, 0.01) }'`)
    let ticks = 0
    ticker.stdout!.on('data', (chunk: Buffer) => (ticks += chunk.length))
    cgroup.addProcess(ticker.pid!)
    go(ticker)
    await waitFor('the ticker to tick', () => ticks > 5)
    await cgroup.freeze()
    const frozenFile = host.version === 1 ? read(dirOf(cgroup, 'freezer'), 'freezer.state') : read(cgroup.paths[0], 'cgroup.events')
    assert.match(frozenFile, host.version === 1 ? /^FROZEN$/ : /^frozen 1$/m)
    // Output already written may still be on its way through the pipe.
    await new Promise(resolve => setTimeout(resolve, 200))
    const atFreeze = ticks
    await new Promise(resolve => setTimeout(resolve, 500))
    assert.equal(ticks, atFreeze, 'no output while frozen')
    cgroup.thaw()
    await waitFor('the ticker to tick again', () => ticks > atFreeze + 5)
    await cgroup.remove()
    assert.equal((await exited(ticker)).signal, 'SIGKILL')
  })

  it('throttles to the CPU quota', async () => {
    const cgroup = make({cpus: 0.1})
    const spinner = spawnWaiting('while :; do :; done')
    cgroup.addProcess(spinner.pid!)
    go(spinner)
    await new Promise(resolve => setTimeout(resolve, 500))
    const stat = read(dirOf(cgroup, 'cpu'), 'cpu.stat')
    const throttled = Number(/^nr_throttled (\d+)$/m.exec(stat)![1])
    assert.ok(throttled >= 2, stat)
    await cgroup.remove()
    assert.equal((await exited(spinner)).signal, 'SIGKILL')
  })

  it('refuses an id in use', () => {
    const cgroup = make({})
    assert.throws(() => createCgroup(cgroup.id, {}), {code: 'CGROUP_EXISTS'})
  })

  it('lists pivot cgroups and removes only the stale ones, killing what runs in them', async () => {
    const live = make({})
    const stale = make({})
    const stray = spawn('sleep', ['60'], {stdio: 'ignore'})
    children.push(stray)
    stale.addProcess(stray.pid!)
    const ids = listCgroups()
    assert.ok(ids.includes(live.id) && ids.includes(stale.id))
    // Other pivot cgroups on this host (other tests, real containers) count as live.
    const removed = await removeStaleCgroups(id => id !== stale.id)
    assert.deepEqual(removed, [stale.id])
    assert.equal((await exited(stray)).signal, 'SIGKILL')
    for (const dir of stale.paths) assert.ok(!fs.existsSync(dir))
    for (const dir of live.paths) assert.ok(fs.existsSync(dir))
    assert.ok(!listCgroups().includes(stale.id))
  })

  it('leaves nothing behind', async () => {
    for (const cgroup of created) await cgroup.remove()
    const ours = listCgroups().filter(id => id.startsWith(`test-${process.pid}-`))
    assert.deepEqual(ours, [])
  })
})
