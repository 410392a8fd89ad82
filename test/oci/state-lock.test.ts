import * as assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {after, test} from 'node:test'
import {ROOTLESS_UID} from '../helpers/rootless'
import {RUNTIME_BIN, leftovers, makeBundle, run, runCreate} from '../helpers/oci'

/**
 * pivot-runtime's per-id lock lives in the state root, which only root may write: another local
 * user can neither take an id's lock nor make the calls on it wait. Before, the lock was an
 * abstract unix socket name any user of the network namespace could bind first (every call on the
 * id then waited 60 s and failed). Here the test user (test/env/rootless.sh) squats that old name
 * and tries to make lock files in the root, while root's calls on the id run as usual.
 */
const work = fs.mkdtempSync('/tmp/pivot-oci-lock-')
fs.chmodSync(work, 0o755)
// Made by pivot-runtime itself, as /run/pivot-runtime is.
const root = path.join(work, 'root')
const bundle = makeBundle(c => (c.process.args = ['sleep', '1000']))
const id = 'oci-lock-squatted'

after(() => {
  run(RUNTIME_BIN, ['--root', root, 'delete', '--force', id])
  fs.rmSync(work, {recursive: true, force: true})
  fs.rmSync(bundle, {recursive: true, force: true})
})

/** The abstract name the old lock used for (root, id): an FNV-1a hash of the root. */
function oldLockName(): string {
  let hash = 0x811c9dc5
  for (const ch of Buffer.from(root)) hash = Math.imul(hash ^ ch, 0x01000193) >>> 0
  // Without its leading NUL (argv cannot carry one): the squatter adds it.
  return `pivot-runtime/${hash.toString(16)}/${id}`
}

const SQUATTER = `
const fs = require('fs'), net = require('net')
const [root, id, name] = process.argv.slice(1)
const tries = []
for (const n of [1, 2, 1000]) {
  try { fs.writeFileSync(root + '/' + id + '@lock.' + n, process.pid + ' 1\\n'); tries.push('made ' + n) } catch (e) { tries.push(e.code) }
}
const server = net.createServer()
server.on('error', e => { console.log(JSON.stringify({tries, bound: e.code})) })
server.listen({path: '\\0' + name}, () => console.log(JSON.stringify({tries, bound: 'yes'})))
`

test('another user cannot take an id lock or make the calls on it wait', async () => {
  // The root exists (0711) once a first container was made, as in real use.
  assert.equal(runCreate(RUNTIME_BIN, ['--root', root, 'create', '--bundle', bundle, 'oci-lock-first']).status, 0)
  assert.equal(run(RUNTIME_BIN, ['--root', root, 'delete', '--force', 'oci-lock-first']).status, 0)
  assert.equal(fs.statSync(root).mode & 0o777, 0o711)

  const squatter = spawn(
    'setpriv',
    ['--reuid', String(ROOTLESS_UID), '--regid', String(ROOTLESS_UID), '--clear-groups', '--', process.execPath, '-e', SQUATTER, root, id, oldLockName()],
    {stdio: ['ignore', 'pipe', 'inherit']},
  )
  try {
    const said = await new Promise<string>((resolve, reject) => {
      let text = ''
      squatter.stdout.on('data', (c: Buffer) => {
        text += c.toString()
        if (text.includes('\n')) resolve(text.trim())
      })
      squatter.on('exit', code => reject(new Error(`the squatter exited (${code}) before it said anything`)))
    })
    // It holds the old name (nothing stops that), but cannot write into the state root.
    assert.deepEqual(JSON.parse(said), {tries: ['EACCES', 'EACCES', 'EACCES'], bound: 'yes'})

    const began = Date.now()
    const created = runCreate(RUNTIME_BIN, ['--root', root, 'create', '--bundle', bundle, id])
    assert.equal(created.status, 0, created.stderr)
    for (const cmd of [['start'], ['pause'], ['resume'], ['kill', '--all'], ['delete', '--force']]) {
      const r = run(RUNTIME_BIN, ['--root', root, ...cmd, id, ...(cmd[0] === 'kill' ? ['KILL'] : [])])
      assert.equal(r.status, 0, `${cmd.join(' ')}: ${r.stderr}`)
    }
    // The old lock made each of these calls wait 60 s, then fail; a loaded machine takes seconds.
    assert.ok(Date.now() - began < 30_000, `the calls took ${Date.now() - began} ms`)
    assert.deepEqual(leftovers(id, [root]), [])
    assert.deepEqual(fs.readdirSync(root), [])
  } finally {
    squatter.kill('SIGKILL')
  }
})

/** Takes the lock of (root, id) with pivot-runtime's own code, says so, and holds it until killed. */
const HOLDER = `
const {withLock} = require(${JSON.stringify(path.join(__dirname, '..', '..', 'src', 'oci', 'oci-state.js'))})
withLock(process.argv[1], process.argv[2], () => new Promise(() => console.log('held')))
`

test("a SIGKILLed holder of an id's lock: the next create and delete of the id go ahead and leave nothing", async () => {
  const killed = 'oci-lock-killed'
  assert.equal(runCreate(RUNTIME_BIN, ['--root', root, 'create', '--bundle', bundle, killed]).status, 0)
  const holder = spawn(process.execPath, ['-e', HOLDER, root, killed], {stdio: ['ignore', 'pipe', 'inherit']})
  await new Promise<void>(resolve => holder.stdout.once('data', () => resolve()))
  holder.kill('SIGKILL')
  await new Promise(resolve => holder.once('exit', resolve))
  assert.equal(fs.readdirSync(root).filter(n => n.startsWith(`${killed}@`)).length, 1, "the killed holder's lock file")
  const began = Date.now()
  for (const cmd of [
    ['delete', '--force'],
    ['create', '--bundle', bundle],
    ['delete', '--force'],
  ]) {
    const r = (cmd[0] === 'create' ? runCreate : run)(RUNTIME_BIN, ['--root', root, ...cmd, killed])
    assert.equal(r.status, 0, `${cmd.join(' ')}: ${r.stderr}`)
  }
  assert.ok(Date.now() - began < 30_000, `the calls took ${Date.now() - began} ms`)
  assert.deepEqual(leftovers(killed, [root]), [])
  assert.deepEqual(fs.readdirSync(root), [])
})
