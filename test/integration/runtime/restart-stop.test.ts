// `stop`, `kill` and `rm -f` of a `--restart always` container that restarts all the time: whatever
// phase they meet it in (running, the monitor's cleanup deciding, the back-off, the next start
// under way), stop returns within docker's bound and the container stays exited; rm -f removes
// it for good. Nothing is left: no process, cgroup or attach socket. Several rounds at once, so
// each meets the others' load.
import {before, test} from 'node:test'
import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {BUSYBOX_IMAGE, tempDir} from '../../helpers/fixtures'
import {pivotAsync} from '../../helpers/pivot-async'
import {cacheCgroups, seedImage} from '../../helpers/seed-image'

const B = BUSYBOX_IMAGE
let cache: string

before(() => {
  cache = tempDir('pivot-restart-stop')
  seedImage(cache, B)
})

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

async function ok(args: string[]): Promise<string> {
  const r = await pivotAsync(args, {cacheDir: cache, timeout: 120_000})
  assert.equal(r.status, 0, `pivot ${args.join(' ')}: ${r.stderr}`)
  return r.stdout
}

/** Processes whose command line names the container (its monitor, its cleanup, its init's node). */
function processesOf(id: string): string[] {
  const out: string[] = []
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue
    try {
      const cmd = fs.readFileSync(`/proc/${e}/cmdline`, 'utf8')
      if (cmd.includes(id)) out.push(`${e}: ${cmd.split('\0').join(' ').slice(0, 200)}`)
    } catch {
      // gone
    }
  }
  return out
}

const socketOf = (id: string) => `/run/pivot/attach/${id.slice(0, 32)}.sock`
const cgroupsOf = (id: string) => cacheCgroups(cache).filter(c => c.endsWith(id))

interface State {
  Status: string
  Running: boolean
  Restarting: boolean
  Pid: number
}

async function stateOf(id: string): Promise<State> {
  return (JSON.parse(await ok(['inspect', id])) as Array<{State: State}>)[0].State
}

/** Nothing of the container runs or is left on the host, checked until `timeoutMs`. */
async function nothingLeft(id: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const left = {processes: processesOf(id), cgroups: cgroupsOf(id), socket: fs.existsSync(socketOf(id))}
    if (left.processes.length === 0 && left.cgroups.length === 0 && !left.socket) return
    if (Date.now() > deadline) assert.fail(`${id.slice(0, 12)} left ${JSON.stringify(left)}`)
    await sleep(200)
  }
}

/** Runs `count` rounds, `parallel` at a time. */
async function rounds(count: number, parallel: number, round: (n: number) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(
    Array.from({length: parallel}, async () => {
      while (next < count) await round(next++)
    }),
  )
}

test('stop -t 1 of a --restart always container that exits at once: within the bound, exited for good, nothing left (30 rounds, 4 at once)', async () => {
  await rounds(30, 4, async n => {
    const id = (await ok(['run', '-d', '--net', 'none', '--restart', 'always', B, 'sh', '-c', 'exit 1'])).trim()
    // Meet it in every phase: a start, the cleanup's decision, the back-off (100 ms, 200, 400...).
    await sleep((n * 173) % 1500)
    const started = Date.now()
    const stop = await pivotAsync(['stop', '-t', '1', id], {cacheDir: cache, timeout: 60_000})
    const took = Date.now() - started
    assert.equal(stop.status, 0, `round ${n}: stop: ${stop.stderr}`)
    assert.equal(stop.stdout, `${id}\n`)
    // docker: the timeout, then SIGKILL, then the exit; a few seconds more on a loaded machine.
    assert.ok(took < 1000 + 10_000, `round ${n}: stop -t 1 took ${took} ms`)
    // It stays exited: no restart comes after the stop returned.
    for (const until = Date.now() + 2000; Date.now() < until; await sleep(250)) {
      const state = await stateOf(id)
      assert.deepEqual(
        {Status: state.Status, Running: state.Running, Restarting: state.Restarting, Pid: state.Pid},
        {Status: 'exited', Running: false, Restarting: false, Pid: 0},
        `round ${n}: after stop`,
      )
    }
    const listed = (JSON.parse(await ok(['ps', '-a', '--json'])) as Array<{id: string; status: string}>).find(c => c.id === id)?.status
    assert.match(listed ?? '', /^Exited \(\d+\) /, `round ${n}: ps says ${listed}`)
    await nothingLeft(id)
    await ok(['rm', id])
  })
})

test('rm, rm -f and kill of a --restart always container that exits at once: it is gone for good, nothing left (12 rounds, 4 at once)', async () => {
  await rounds(12, 4, async n => {
    const id = (await ok(['run', '-d', '--net', 'none', '--restart', 'always', B, 'sh', '-c', 'exit 1'])).trim()
    await sleep((n * 251) % 1500)
    if (n % 3 === 0) {
      // docker: kill of a restarting container fails ("is restarting"), of a running one kills it
      // and the policy starts it again. Either way it goes on restarting until rm -f.
      const kill = await pivotAsync(['kill', id], {cacheDir: cache, timeout: 60_000})
      assert.ok(kill.status === 0 || kill.status === 1, `round ${n}: kill: ${kill.status} ${kill.stderr}`)
      if (kill.status === 1) assert.match(kill.stderr, /^pivot: .*(is not running|is restarting)/)
    }
    if (n % 3 === 1) {
      // docker: "You cannot remove a restarting container ..." (or a running one), status 1.
      const rm = await pivotAsync(['rm', id], {cacheDir: cache, timeout: 60_000})
      assert.equal(rm.status, 1, `round ${n}: rm without -f: ${rm.stderr}`)
      assert.match(
        rm.stderr,
        /^pivot: you cannot remove a (running|restarting) container [0-9a-f]{64}\. Stop the container before attempting removal or force remove\n$/,
      )
    }
    const started = Date.now()
    const rm = await pivotAsync(['rm', '-f', id], {cacheDir: cache, timeout: 60_000})
    const took = Date.now() - started
    assert.equal(rm.status, 0, `round ${n}: rm -f: ${rm.stderr}`)
    assert.ok(took < 10_000, `round ${n}: rm -f took ${took} ms`)
    for (const until = Date.now() + 2000; Date.now() < until; await sleep(250)) {
      assert.equal(fs.existsSync(path.join(cache, 'containers', id)), false, `round ${n}: the container came back`)
      const inspect = await pivotAsync(['inspect', id], {cacheDir: cache})
      assert.equal(inspect.status, 1, `round ${n}: inspect after rm -f: ${inspect.stdout}`)
    }
    await nothingLeft(id)
  })
})
