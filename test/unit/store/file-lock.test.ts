import {test} from 'node:test'
import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {describeLock, lockFile, tryLockFile, withFileLock} from '../../../src/store/file-lock'

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

function tempLockFile(t: {after: (fn: () => void) => void}): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pivot-file-lock-'))
  t.after(() => fs.rmSync(dir, {recursive: true, force: true}))
  return path.join(dir, 'step.lock')
}

// flock locks belong to an open file description, so two opens in one process conflict as two
// processes would: the interleavings below are those of three `pivot build`s.
test('a lock file removed by its holder is never held twice (waiter on the old file, newcomer on the new)', async t => {
  const file = tempLockFile(t)
  let inside = 0
  let most = 0
  const section = async (ms: number) => {
    inside++
    most = Math.max(most, inside)
    await sleep(ms)
    inside--
  }
  // A holds the lock and removes the file as it lets go (what build-image.ts does with a step's lock).
  const a = withFileLock(file, () => section(300), {removeOnRelease: true})
  await sleep(50)
  // B opened the file A holds and waits on it.
  const b = withFileLock(file, () => section(400), {removeOnRelease: true})
  await a
  assert.equal(fs.existsSync(file), false, 'A removed the file on release')
  // C comes after A is done: it creates a new file at the same path.
  const c = withFileLock(file, () => section(400), {removeOnRelease: true})
  await Promise.all([b, c])
  assert.equal(most, 1, 'two holders at once: one on the unlinked file, one on the new one')
  assert.equal(fs.existsSync(file), false)
})

test('shared locks coexist; an exclusive one waits for them, and they for it', async t => {
  const file = tempLockFile(t)
  const r1 = tryLockFile(file, {shared: true})
  const r2 = tryLockFile(file, {shared: true})
  assert.ok(r1 && r2)
  assert.equal(tryLockFile(file), undefined)
  r1.release()
  assert.equal(tryLockFile(file), undefined)
  r2.release()
  r2.release() // idempotent
  const w = tryLockFile(file)
  assert.ok(w)
  assert.equal(tryLockFile(file, {shared: true}), undefined)
  w.release()
  const again = await lockFile(file, {shared: true})
  again.release()
})

test('a lock path that is a symlink or a directory is refused with one line naming it', t => {
  const file = tempLockFile(t)
  fs.symlinkSync(path.join(path.dirname(file), 'elsewhere'), file)
  assert.throws(() => tryLockFile(file), {
    code: 'STORE_DAMAGED',
    message: `the lock file ${file} is a symbolic link, not a file: remove it (rm -r ${file}) and try again`,
  })
  assert.equal(fs.existsSync(path.join(path.dirname(file), 'elsewhere')), false, 'the link target was not created')
  fs.rmSync(file)
  fs.mkdirSync(file)
  assert.throws(() => tryLockFile(file), {
    code: 'STORE_DAMAGED',
    message: `the lock file ${file} is a directory, not a file: remove it (rm -r ${file}) and try again`,
  })
})

test('lock names read as what they serialise', () => {
  assert.equal(describeLock('/c/locks'), "the cache's garbage-collection lock")
  assert.equal(describeLock('/c/locks/prune.lock'), 'another prune of this cache')
  assert.equal(describeLock('/c/locks/pull-0123456789abcdef0123.lock'), 'another pull of image 0123456789ab')
  assert.equal(describeLock('/c/locks/build-abc.lock'), 'another build running the same step')
})
