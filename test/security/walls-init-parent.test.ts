// The container's init sets its parent-death signal, then reads its config from fd 3. A `pivot
// run` killed after sending the config but before that prctl sends no death signal, yet leaves
// the config buffered on the socket: the init would start the container with nobody to clean it
// up (seen under load: an orphan `sleep 600` kept a test's pipe open). The config names the parent;
// the init checks it is still there before running anything.
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {spawn, spawnSync} from 'node:child_process'
import * as path from 'node:path'
import {REPO_ROOT} from '../helpers/fixtures'

const INIT = path.join(REPO_ROOT, 'dist', 'src', 'runtime', 'init.js')

/** Sends `config` as the init's only input; its exit code and what it wrote back on fd 3. */
function initWith(config: object): Promise<{code: number | null; reply: string}> {
  const child = spawn(process.execPath, [INIT], {env: {}, stdio: ['ignore', 'ignore', 'ignore', 'pipe']})
  const control = child.stdio[3] as import('node:net').Socket
  let reply = ''
  control.on('data', (c: Buffer) => (reply += c.toString()))
  control.end(JSON.stringify(config) + '\n')
  return new Promise(resolve => child.on('close', code => resolve({code, reply})))
}

test('an init whose parent died before its death signal was set runs nothing', async () => {
  const dead = spawnSync('true').pid!
  const r = await initWith({parentPid: dead})
  assert.equal(r.code, 125)
  assert.equal(r.reply, '', 'it stopped before any setup step')
})

test('control: with its parent alive the same init goes on to its setup', async () => {
  // An empty config fails at the first setup step, which it reports on fd 3.
  const r = await initWith({parentPid: process.pid})
  assert.equal(r.code, 125)
  assert.match(r.reply, /"code":"RUN_SETUP_FAILED"/)
})
