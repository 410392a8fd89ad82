// The container's init sets its parent-death signal, then reads its setup from fd 3. A `pivot
// run` killed after sending the setup but before that prctl sends no death signal, yet leaves
// the message buffered on the socket: the init would start the container with nobody to clean it
// up (seen under load: an orphan `sleep 600` kept a test's pipe open). The message names the
// parent; the init checks it is still there before running anything.
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {spawn, spawnSync} from 'node:child_process'
import {INIT_ARGS, INIT_BIN} from '../../src/runtime/start-init'
import {encodeInitMessage} from '../../src/runtime/rootfs/step-wire'
import type {Step} from '../../src/runtime/rootfs/steps'

/** Sends `message` as the init's only input; its exit code and what it wrote back on fd 3. */
function initWith(message: Buffer): Promise<{code: number | null; reply: string}> {
  const child = spawn(INIT_BIN, INIT_ARGS, {env: {}, stdio: ['ignore', 'ignore', 'ignore', 'pipe']})
  const control = child.stdio[3] as import('node:net').Socket
  let reply = ''
  control.on('data', (c: Buffer) => (reply += c.toString()))
  control.end(message)
  return new Promise(resolve => child.on('close', code => resolve({code, reply})))
}

// A first step that fails, and says so, without changing anything on the host.
const FAILING: Step[] = [{op: 'chdir', path: '/nonexistent-pivot-init-test'}]

test('an init whose parent died before its death signal was set runs nothing', async () => {
  const dead = spawnSync('true').pid!
  const r = await initWith(encodeInitMessage(FAILING, dead))
  assert.equal(r.code, 125)
  assert.equal(r.reply, '', 'it stopped before any setup step')
})

test('control: with its parent alive the same init goes on to its setup', async () => {
  const r = await initWith(encodeInitMessage(FAILING, process.pid))
  assert.equal(r.code, 125)
  assert.deepEqual(JSON.parse(r.reply), {
    code: 'RUN_SETUP_FAILED',
    message: 'container setup failed: chdir("/nonexistent-pivot-init-test") failed: ENOENT',
    exitCode: 125,
  })
})

test('a message cut short is an abandoned init (125, silent); a malformed one or a plan without exec says so', async () => {
  const whole = encodeInitMessage(FAILING, process.pid)
  assert.deepEqual(await initWith(whole.subarray(0, whole.length - 3)), {code: 125, reply: ''})
  const unreadable = await initWith(Buffer.from('9\nnot\0a\0msg'))
  assert.equal(unreadable.code, 125)
  assert.deepEqual(JSON.parse(unreadable.reply), {code: 'RUN_INIT_FAILED', message: 'container init: unreadable config', exitCode: 125})
  const noExec = await initWith(encodeInitMessage([{op: 'umask', mask: 0o22}], process.pid))
  assert.deepEqual(JSON.parse(noExec.reply), {code: 'RUN_INIT_FAILED', message: 'container init: the setup ended without exec', exitCode: 125})
  // An op from a newer parent: reported by name once the steps before it ran.
  const payload = Buffer.from(`pivot-init 1\0parent\0${process.pid}\0umask\x0018\0fly\0end\0`)
  const unknown = await initWith(Buffer.concat([Buffer.from(`${payload.length}\n`), payload]))
  assert.deepEqual(JSON.parse(unknown.reply), {code: 'RUN_SETUP_FAILED', message: 'unknown setup step fly', exitCode: 125})
})
