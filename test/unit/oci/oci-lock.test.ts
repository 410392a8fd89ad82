import * as assert from 'node:assert/strict'
import {spawn, spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {test} from 'node:test'
import {procStat, withLock} from '../../../src/oci/oci-state'

/**
 * pivot-runtime's per-id lock (oci-state.ts withLock): lock files in the state root, numbered,
 * taken with link(2). Several processes at once on one id take turns; a dead holder's lock is
 * passed over at once (its file stays, the next number is taken); a live holder is waited for.
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

test("a dead holder's lock is passed over at once; its file stays, the next number comes and goes", async () => {
  const root = tempRoot()
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(require("fs").readFileSync("/proc/self/stat", "utf8"))'], {encoding: 'utf8'})
  const stat = dead.stdout.slice(dead.stdout.lastIndexOf(')') + 2).split(' ')
  // pid and start time of a process that has exited (its pid may be reused: the start time tells).
  const pid = Number(dead.stdout.split(' ')[0])
  fs.writeFileSync(path.join(root, 'ctr@lock.1'), `${pid} ${stat[19]}\n`)
  const began = Date.now()
  let during: string[] = []
  await withLock(root, 'ctr', () => {
    during = fs.readdirSync(root).sort()
  })
  assert.ok(Date.now() - began < 5000)
  assert.deepEqual(during, ['ctr@lock.1', 'ctr@lock.2'])
  assert.deepEqual(fs.readdirSync(root), ['ctr@lock.1'])
})

test('a live holder is waited for, and the lock taken once it is gone', async () => {
  const root = tempRoot()
  const holder = spawn('sleep', ['30'], {stdio: 'ignore'})
  const startTime = procStat(holder.pid!)!.startTime
  fs.writeFileSync(path.join(root, 'ctr@lock.1'), `${holder.pid} ${startTime}\n`)
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
  fs.writeFileSync(path.join(root, 'other@lock.1'), `${process.pid} ${procStat(process.pid)!.startTime}\n`)
  await withLock(root, 'ctr', () => undefined)
})

test('without a state root there is nothing to lock: the call runs (and reports what it finds)', async () => {
  const root = path.join(tempRoot(), 'not-made')
  assert.equal(await withLock(root, 'ctr', () => 7), 7)
  assert.equal(fs.existsSync(root), false)
})
