// `pivot run` over a container's life: limits, signals, a killed pivot, prune, many at once.
import {before, test} from 'node:test'
import assert from 'node:assert/strict'
import {spawn, spawnSync, type ChildProcess} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {BUSYBOX_IMAGE, DEBIAN_IMAGE, PIVOT_BIN, REPO_ROOT, pivot, tempDir} from '../../helpers/fixtures'
import {cacheCgroups, leftovers, seedImage} from '../../helpers/seed-image'
import {openCgroup} from '../../../src/runtime/cgroups'

const B = BUSYBOX_IMAGE
let cache: string

before(() => {
  cache = tempDir('pivot-life')
  seedImage(cache, B)
})

interface Running {
  child: ChildProcess
  out: () => string
  err: () => string
  /** Resolves with the exit status (128+N for a signal, as a shell shows it). */
  done: Promise<number>
  /** Resolves once stdout contains `text`. */
  waitFor(text: string, timeoutMs?: number): Promise<void>
}

function start(args: string[]): Running {
  const env: NodeJS.ProcessEnv = {...process.env, PIVOT_CACHE_DIR: cache}
  delete env.NODE_EXTRA_CA_CERTS
  const child = spawn(PIVOT_BIN, ['run', ...args], {cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe']})
  let out = ''
  let err = ''
  const waiters: Array<() => void> = []
  child.stdout!.on('data', (c: Buffer) => {
    out += c.toString()
    waiters.forEach(w => w())
  })
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()))
  // A test must never hang: the run is SIGKILLed after a minute whatever happens.
  const guard = setTimeout(() => child.kill('SIGKILL'), 60_000)
  const done = new Promise<number>(resolve =>
    child.on('close', (code, signal) => {
      clearTimeout(guard)
      resolve(signal ? 128 + (require('node:os').constants.signals[signal] as number) : (code ?? -1))
    }),
  )
  return {
    child,
    out: () => out,
    err: () => err,
    done,
    waitFor: (text, timeoutMs = 20_000) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (out.includes(text)) resolve()
        }
        const t = setTimeout(() => reject(new Error(`timed out waiting for ${JSON.stringify(text)}; stdout: ${out}; stderr: ${err}`)), timeoutMs)
        waiters.push(() => {
          if (out.includes(text)) {
            clearTimeout(t)
            resolve()
          }
        })
        check()
      }),
  }
}

function clean(): void {
  assert.deepEqual(leftovers(cache), {mounts: [], cgroups: [], containers: []})
}

/** The one cgroup of this cache's running container, as the cgroups module finds it. */
function runningCgroupDirs(): string[] {
  const ids = cacheCgroups(cache)
  assert.equal(ids.length, 1, `one cgroup: ${ids.join(', ')}`)
  return openCgroup(ids[0]).paths
}

function readLimit(dirs: string[], v1: string, v2: string): string {
  for (const dir of dirs) {
    for (const f of [v1, v2]) {
      const p = path.join(dir, f)
      if (fs.existsSync(p)) return fs.readFileSync(p, 'utf8').trim()
    }
  }
  throw new Error(`neither ${v1} nor ${v2} in ${dirs.join(', ')}`)
}

test("limits are written to the container's cgroup: memory, cpus, pids (4096 by default)", async () => {
  const r = start(['--rm', '--memory', '64m', '--cpus', '0.5', '--pids-limit', '33', B, 'sh', '-c', 'echo up; sleep 30'])
  await r.waitFor('up')
  const dirs = runningCgroupDirs()
  assert.equal(readLimit(dirs, 'memory.limit_in_bytes', 'memory.max'), String(64 * 1024 * 1024))
  assert.equal(readLimit(dirs, 'pids.max', 'pids.max'), '33')
  const cpu = readLimit(dirs, 'cpu.cfs_quota_us', 'cpu.max')
  assert.ok(cpu === '50000' || cpu === '50000 100000', cpu)
  await killTwice(r, 'SIGTERM')
  assert.equal(await r.done, 137)
  clean()

  const d = start(['--rm', B, 'sh', '-c', 'echo up; sleep 30'])
  await d.waitFor('up')
  assert.equal(readLimit(runningCgroupDirs(), 'pids.max', 'pids.max'), '4096')
  d.child.kill('SIGKILL')
  await d.done
  await pruneAndCheck()
})

test('a fork bomb under --pids-limit 20 is contained, the host stays responsive, all is cleaned up', async () => {
  // PID 1 forks once (`b &`) before the bomb goes off and then only execs: a fork that fails
  // under the limit would end a non-interactive shell with status 2.
  const r = start(['--rm', '--pids-limit', '20', B, 'sh', '-c', 'echo bombing; b(){ b|b& }; b & exec sleep 3'])
  await r.waitFor('bombing')
  await new Promise(resolve => setTimeout(resolve, 1000))
  const dirs = runningCgroupDirs()
  const current = Number(readLimit(dirs, 'pids.current', 'pids.current'))
  assert.ok(current <= 20, `pids.current ${current}`)
  // The host still forks at once.
  const t0 = Date.now()
  for (let i = 0; i < 5; i++) assert.equal(spawnSync('/bin/true').status, 0)
  assert.ok(Date.now() - t0 < 5000, 'host responsive')
  const status = await r.done
  assert.equal(status, 0, r.err())
  clean()
})

test('the classic bash fork bomb in the Debian image is contained by --pids-limit 20', async () => {
  seedImage(cache, DEBIAN_IMAGE)
  const r = start(['--rm', '--pids-limit', '20', DEBIAN_IMAGE, 'bash', '-c', ':(){ :|:& };:; echo bombing; exec sleep 2'])
  await r.waitFor('bombing')
  const current = Number(readLimit(runningCgroupDirs(), 'pids.current', 'pids.current'))
  assert.ok(current <= 20, `pids.current ${current}`)
  assert.equal(await r.done, 0, r.err())
  clean()
})

test('a fork bomb that never ends: two SIGTERMs kill it all', async () => {
  const r = start(['--rm', '--pids-limit', '20', B, 'sh', '-c', 'echo bombing; b(){ b|b& }; b & exec sleep 600'])
  await r.waitFor('bombing')
  await new Promise(resolve => setTimeout(resolve, 500))
  await killTwice(r, 'SIGTERM')
  assert.equal(await r.done, 137)
  clean()
})

test('signals reach PID 1 through pivot: a trap sees HUP, USR1, USR2, TERM', async () => {
  const script = 'for s in HUP USR1 USR2; do trap "echo got-$s" $s; done; trap "echo got-TERM; exit 7" TERM; echo ready; while :; do sleep 0.1; done'
  const r = start(['--rm', B, 'sh', '-c', script])
  await r.waitFor('ready')
  for (const s of ['SIGHUP', 'SIGUSR1', 'SIGUSR2'] as const) {
    r.child.kill(s)
    await r.waitFor(`got-${s.slice(3)}`)
  }
  r.child.kill('SIGTERM')
  assert.equal(await r.done, 7)
  assert.match(r.out(), /got-TERM/)
  clean()
})

test('SIGINT to a PID 1 without a handler is ignored (as in docker); the second one kills', async () => {
  // `sleep` itself as PID 1: a `sh -c` PID 1 catches SIGINT (busybox ash does, in -c mode) and
  // exits 130, as it would in docker.
  const r = start(['--rm', B, 'sleep', '60'])
  await waitForCommand('sleep')
  r.child.kill('SIGINT')
  await new Promise(resolve => setTimeout(resolve, 300))
  assert.equal(r.child.exitCode, null, 'still running after one SIGINT')
  r.child.kill('SIGINT')
  assert.equal(await r.done, 137)
  clean()
})

test('a SIGKILLed pivot run takes its container with it; prune removes the rest', async () => {
  const marker = `marker-${process.pid}-${Date.now()}`
  // The marker stays in PID 1's own command line (busybox sleep would reject it as an argument).
  const r = start(['--rm', B, 'sh', '-c', `echo up; sleep 600; : ${marker}`])
  await r.waitFor('up')
  assert.equal(psHas(marker), true, 'the container runs before the kill')
  r.child.kill('SIGKILL')
  await r.done
  // PR_SET_PDEATHSIG: the container's PID 1 dies with pivot, and the whole namespace with it.
  const deadline = Date.now() + 5000
  while (psHas(marker) && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 50))
  assert.equal(psHas(marker), false, 'no orphan container process')
  assert.deepEqual(leftovers(cache).mounts, [])
  assert.equal(leftovers(cache).containers.length, 1, "the dead container's dir is left for prune")
  await pruneAndCheck()
})

test('a pivot run killed while it starts the container leaves nothing prune cannot remove', async () => {
  for (const delay of [0, 30, 60, 90]) {
    const r = start(['--rm', B, 'sleep', '600'])
    await new Promise(resolve => setTimeout(resolve, delay))
    r.child.kill('SIGKILL')
    await r.done
  }
  await new Promise(resolve => setTimeout(resolve, 300))
  await pruneAndCheck()
})

test('twenty runs at once all succeed, each in its own container', async () => {
  const runs = Array.from({length: 20}, (_, i) => start(['--rm', B, 'sh', '-c', `echo run-${i} $(hostname) $$`]))
  const statuses = await Promise.all(runs.map(r => r.done))
  assert.deepEqual(statuses, Array(20).fill(0), runs.map(r => r.err()).join(''))
  const hostnames = new Set<string>()
  runs.forEach((r, i) => {
    const [tag, host, pid] = r.out().trim().split(' ')
    assert.equal(tag, `run-${i}`)
    assert.equal(pid, '1')
    hostnames.add(host)
  })
  assert.equal(hostnames.size, 20)
  clean()
})

/** Waits until the container's cgroup holds a process running `comm` (the exec happened). */
async function waitForCommand(comm: string): Promise<void> {
  const deadline = Date.now() + 20_000
  while (Date.now() < deadline) {
    const ids = cacheCgroups(cache)
    if (ids.length === 1) {
      for (const dir of openCgroup(ids[0]).paths) {
        const pids = fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)
        const isComm = (pid: string) => {
          try {
            return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === comm
          } catch {
            return false // gone meanwhile
          }
        }
        if (pids.some(isComm)) return
      }
    }
    await new Promise(resolve => setTimeout(resolve, 20))
  }
  throw new Error(`no ${comm} in the container`)
}

/** Two signals, apart: sent at once, the kernel would merge them into one pending signal. */
async function killTwice(r: Running, signal: NodeJS.Signals): Promise<void> {
  r.child.kill(signal)
  await new Promise(resolve => setTimeout(resolve, 200))
  r.child.kill(signal)
}

/** Whether a container shell (argv[0] `sh`, not the pivot CLI that carries the same argv) has `marker`. */
function psHas(marker: string): boolean {
  return fs
    .readdirSync('/proc')
    .filter(p => /^\d+$/.test(p))
    .some(p => {
      try {
        const argv = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0')
        return argv[0] === 'sh' && argv.some(a => a.includes(marker))
      } catch {
        return false
      }
    })
}

async function pruneAndCheck(): Promise<void> {
  const r = pivot(['prune'], {cacheDir: cache})
  assert.equal(r.status, 0, r.stderr)
  // The images module's prune calls the runtime's; call it directly too, in case prune changed.
  const {pruneContainers} = await import('../../../src/runtime/prune-containers')
  const {Store} = await import('../../../src/store')
  await pruneContainers(Store.open(cache))
  clean()
  assert.equal(fs.existsSync(path.join(cache, 'containers', 'names')) ? fs.readdirSync(path.join(cache, 'containers', 'names')).length : 0, 0)
}
