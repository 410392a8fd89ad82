// A detached container's attach socket (/run/pivot/attach/<id>.sock, made by its monitor) lives
// exactly as long as its monitor: a `run -d` that fails once the monitor runs, a monitor ended by
// SIGTERM, and one killed by SIGKILL (then `prune`, from any cache) leave none behind, while the
// socket of a monitor that still runs is never touched.
import {before, test} from 'node:test'
import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as net from 'node:net'
import * as path from 'node:path'
import {BUSYBOX_IMAGE, pivot, tempDir} from '../../helpers/fixtures'
import {leftovers, seedImage} from '../../helpers/seed-image'

const B = BUSYBOX_IMAGE
const SOCKETS = '/run/pivot/attach'
let cache: string

before(() => {
  cache = tempDir('pivot-attach-sockets')
  seedImage(cache, B)
})

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

function p(args: string[], cacheDir = cache) {
  return pivot(args, {cacheDir, input: '', timeout: 60_000})
}

function ok(args: string[], cacheDir = cache): string {
  const r = p(args, cacheDir)
  assert.equal(r.status, 0, `pivot ${args.join(' ')}: ${r.stderr}`)
  return r.stdout
}

function runD(args: string[]): string {
  return ok(['run', '-d', '--net', 'none', ...args]).trim()
}

const socketOf = (id: string) => path.join(SOCKETS, `${id.slice(0, 32)}.sock`)

/** The pid of the monitor of container `id` (its command line names the container's directory). */
function monitorOf(id: string): number {
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue
    try {
      const args = fs.readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0')
      if (args[0].endsWith('pivot-monitor') && args.some(a => a.includes(id))) return Number(e)
    } catch {
      // gone
    }
  }
  throw new Error(`no monitor for ${id}`)
}

async function until(what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(100)
  }
}

const stateOf = (id: string) => (JSON.parse(ok(['ps', '-a', '--json'])) as Array<{id: string; state: string; exitCode?: number}>).find(c => c.id === id)

test('run -d failing after its monitor started (a published port a host process holds) leaves no attach socket', async () => {
  const holder = net.createServer()
  await new Promise<void>((resolve, reject) => {
    holder.once('error', reject)
    holder.listen(5554, '0.0.0.0', () => resolve())
  })
  try {
    const r = p(['run', '-d', '--net', 'bridge', '-p', '5554:80', B, 'sleep', '60'])
    assert.equal(r.status, 125, r.stderr)
    assert.match(r.stderr, /^pivot: Bind for 0\.0\.0\.0:5554 failed: a host process already uses the port/)
    // The container is kept, as docker keeps one whose start failed; its monitor and socket are gone.
    const [id] = leftovers(cache).containers
    assert.ok(id, 'the failed container is listed')
    assert.equal(fs.existsSync(socketOf(id)), false, `${socketOf(id)} is left`)
    ok(['rm', id])
  } finally {
    holder.close()
  }
  assert.deepEqual(leftovers(cache), {mounts: [], cgroups: [], containers: []})
})

test('a monitor ended by SIGTERM records the container exited (137) and removes its socket and cgroup', async () => {
  const id = runD([B, 'sleep', '600'])
  assert.equal(fs.statSync(socketOf(id)).isSocket(), true)
  process.kill(monitorOf(id), 'SIGTERM')
  await until('the container to be recorded exited', () => stateOf(id)?.state === 'exited')
  assert.equal(stateOf(id)!.exitCode, 137)
  await until('its monitor to finish', () => leftovers(cache).cgroups.length === 0 && !fs.existsSync(socketOf(id)))
  ok(['rm', id])
  assert.deepEqual(leftovers(cache), {mounts: [], cgroups: [], containers: []})
})

/** True when a process accepts connections on the unix socket at `file`. */
function listening(file: string): Promise<boolean> {
  return new Promise(resolve => {
    const c = net.connect(file)
    c.once('connect', () => {
      c.destroy()
      resolve(true)
    })
    c.once('error', () => resolve(false))
  })
}

test("a SIGKILLed monitor's socket goes with prune and container prune from any cache; a live monitor's stays", async () => {
  const live = runD([B, 'sleep', '600'])
  const other = tempDir('pivot-attach-sockets-other')
  for (const prune of [['container', 'prune', '-f'], ['prune']]) {
    const killed = runD([B, 'sleep', '600'])
    process.kill(monitorOf(killed), 'SIGKILL')
    await until('ps to say dead', () => stateOf(killed)?.state === 'dead')
    assert.equal(fs.existsSync(socketOf(killed)), true, 'a SIGKILLed monitor cannot remove its own socket')
    assert.equal(await listening(socketOf(killed)), false)
    // As if its cache were thrown away without an rm (a test's temp cache): a prune of another
    // cache has no record of it, and sweeps its socket all the same, as nothing listens there.
    ok(prune, other)
    assert.equal(fs.existsSync(socketOf(killed)), false, `${prune.join(' ')} left ${socketOf(killed)}`)
    assert.equal(await listening(socketOf(live)), true, `${prune.join(' ')} removed the socket of a running monitor`)
    ok(['rm', killed])
  }
  assert.equal(stateOf(live)?.state, 'running')
  ok(['rm', '-f', live])
  await until('the live container to be gone', () => !fs.existsSync(socketOf(live)))
  assert.deepEqual(leftovers(cache), {mounts: [], cgroups: [], containers: []})
})
