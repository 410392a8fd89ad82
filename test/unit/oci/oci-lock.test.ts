import * as assert from 'node:assert/strict'
import {spawn, spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {test} from 'node:test'
import {procStat, withLock} from '../../../src/oci/oci-state'

/**
 * pivot-runtime's per-id lock (oci-state.ts withLock): a lock file per caller in the state root,
 * named by its pid and start time. Several processes at once on one id take turns; a dead
 * holder's file (SIGKILL) is removed by the next call, which goes ahead at once; a live holder is
 * waited for.
 */
const STATE_MODULE = path.join(__dirname, '..', '..', '..', 'src', 'oci', 'oci-state.js')

function tempRoot(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'pivot-unit-oci-lock-'))
  process.on('exit', () => fs.rmSync(root, {recursive: true, force: true}))
  return root
}

/** A process that read-modify-writes a counter N times under the lock, yielding between read and write. */
const WORKER = `
const fs = require('fs')
const {withLock} = require(${JSON.stringify(STATE_MODULE)})
const [root, n] = [process.argv[1], Number(process.argv[2])]
;(async () => {
  for (let i = 0; i < n; i++) {
    await withLock(root, 'ctr', async () => {
      const file = root + '/counter'
      const v = Number(fs.readFileSync(file, 'utf8'))
      await new Promise(r => setTimeout(r, 2))
      fs.writeFileSync(file, String(v + 1))
    })
  }
})()
`

test('several processes on one id take turns: no update is lost, no lock file is left', async () => {
  const root = tempRoot()
  fs.writeFileSync(path.join(root, 'counter'), '0')
  const workers = Array.from({length: 4}, () => spawn(process.execPath, ['-e', WORKER, root, '15'], {stdio: ['ignore', 'ignore', 'inherit']}))
  const codes = await Promise.all(workers.map(w => new Promise<number | null>(resolve => w.on('exit', code => resolve(code)))))
  assert.deepEqual(codes, [0, 0, 0, 0])
  assert.equal(fs.readFileSync(path.join(root, 'counter'), 'utf8'), '60')
  assert.deepEqual(fs.readdirSync(root), ['counter'])
})

/** A process that takes the lock on 'ctr', says so, and holds it until it is killed. */
const HOLDER = `
const {withLock} = require(${JSON.stringify(STATE_MODULE)})
withLock(process.argv[1], 'ctr', () => new Promise(() => console.log('held')))
`

test("a SIGKILLed holder's lock file goes with the next call, which goes ahead at once and leaves nothing", async () => {
  const root = tempRoot()
  const holder = spawn(process.execPath, ['-e', HOLDER, root], {stdio: ['ignore', 'pipe', 'inherit']})
  await new Promise<void>(resolve => holder.stdout.once('data', () => resolve()))
  assert.equal(fs.readdirSync(root).length, 1, 'the holder has its lock file')
  holder.kill('SIGKILL')
  await new Promise(resolve => holder.once('exit', resolve))
  const began = Date.now()
  let during: string[] = []
  await withLock(root, 'ctr', () => {
    during = fs.readdirSync(root)
  })
  assert.ok(Date.now() - began < 5000)
  assert.equal(during.length, 1, `only ours while held: ${during.join(' ')}`)
  assert.match(during[0]!, new RegExp(`^ctr@lock\\.${process.pid}\\.${procStat(process.pid)!.startTime}\\.\\d+$`))
  assert.deepEqual(fs.readdirSync(root), [])
})

test("an older pivot-runtime's leftovers (numbered locks of dead holders, temp files) go the same way", async () => {
  const root = tempRoot()
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(require("fs").readFileSync("/proc/self/stat", "utf8"))'], {encoding: 'utf8'})
  const stat = dead.stdout.slice(dead.stdout.lastIndexOf(')') + 2).split(' ')
  // pid and start time of a process that has exited (its pid may be reused: the start time tells).
  const pid = Number(dead.stdout.split(' ')[0])
  for (const n of [1, 2]) fs.writeFileSync(path.join(root, `ctr@lock.${n}`), `${pid} ${stat[19]}\n`)
  fs.writeFileSync(path.join(root, `ctr@new.${pid}`), `${pid} ${stat[19]}\n`)
  await withLock(root, 'ctr', () => undefined)
  assert.deepEqual(fs.readdirSync(root), [])
})

test('a live holder is waited for, and the lock taken once it is gone', async () => {
  const root = tempRoot()
  const holder = spawn('sleep', ['30'], {stdio: 'ignore'})
  const startTime = procStat(holder.pid!)!.startTime
  // A live holder's file, as its process would name it.
  fs.writeFileSync(path.join(root, `ctr@lock.${holder.pid}.${startTime}.1`), '')
  let ranAt = 0
  const began = Date.now()
  const call = withLock(root, 'ctr', () => {
    ranAt = Date.now()
  })
  await new Promise(r => setTimeout(r, 400))
  assert.equal(ranAt, 0, 'ran while a live process held the lock')
  holder.kill('SIGKILL')
  await new Promise(r => holder.on('exit', r))
  await call
  assert.ok(ranAt - began >= 400)
  // Another id is not held up by it.
  fs.writeFileSync(path.join(root, `other@lock.${process.pid}.${procStat(process.pid)!.startTime}.999`), '')
  await withLock(root, 'ctr', () => undefined)
  // A live holder of the old kind (an older pivot-runtime's numbered lock) is waited for too.
  const old = spawn('sleep', ['30'], {stdio: 'ignore'})
  fs.writeFileSync(path.join(root, 'ctr@lock.7'), `${old.pid} ${procStat(old.pid!)!.startTime}\n`)
  let oldRan = 0
  const waiting = withLock(root, 'ctr', () => {
    oldRan = Date.now()
  })
  await new Promise(r => setTimeout(r, 300))
  assert.equal(oldRan, 0, "ran while an older pivot-runtime's live holder held the lock")
  old.kill('SIGKILL')
  await new Promise(r => old.on('exit', r))
  await waiting
  assert.ok(oldRan > 0)
})

test('without a state root there is nothing to lock: the call runs (and reports what it finds)', async () => {
  const root = path.join(tempRoot(), 'not-made')
  assert.equal(await withLock(root, 'ctr', () => 7), 7)
  assert.equal(fs.existsSync(root), false)
})
