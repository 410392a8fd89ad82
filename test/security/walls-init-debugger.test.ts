// The container's init is the host's node binary running as root until its exec. `pivot run`
// forwards SIGUSR1 (as docker does) to it, also before the exec; by default node answers SIGUSR1
// by opening its inspector on 127.0.0.1:9229, where any local user could run code in that root
// process. The init must never open it.
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {REPO_ROOT} from '../helpers/fixtures'

const INIT = path.join(REPO_ROOT, 'dist', 'src', 'runtime', 'init.js')
const SIGUSR1 = 10

function catches(pid: number, signal: number): boolean {
  const m = /^SigCgt:\s*([0-9a-f]+)$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m !== null && ((BigInt('0x' + m[1]) >> BigInt(signal - 1)) & 1n) === 1n
}

test('SIGUSR1 to the init waiting for its config opens no debugger', async () => {
  // The init blocks reading its config on fd 3: the window in which `pivot run` forwards signals
  // to it. Its stderr is a pipe here, to see what node would announce.
  const child = spawn(process.execPath, [INIT], {env: {}, stdio: ['ignore', 'pipe', 'pipe', 'pipe']})
  let stderr = ''
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()))
  const exited = new Promise<number | null>(resolve => child.on('close', code => resolve(code)))
  try {
    // Node's own SIGUSR1 handler is there from its start, so SigCgt cannot tell when the init's
    // code runs: wait until it blocks reading fd 3 (a socket), past its first lines.
    const end = Date.now() + 30_000
    const reading = () => {
      try {
        return /unix_stream_read|sock|read/.test(fs.readFileSync(`/proc/${child.pid}/wchan`, 'utf8')) && catches(child.pid!, SIGUSR1)
      } catch {
        return false
      }
    }
    while (!reading()) {
      assert.ok(Date.now() < end, `the init never waited for its config: ${stderr}`)
      await new Promise(r => setTimeout(r, 20))
    }
    child.kill('SIGUSR1')
    await new Promise(r => setTimeout(r, 1500))
    assert.doesNotMatch(stderr, /Debugger listening/)
    assert.equal(child.exitCode, null, 'the init is still waiting')
  } finally {
    // EOF on fd 3: the init exits as abandoned (125).
    ;(child.stdio[3] as import('node:net').Socket).destroy()
  }
  assert.equal(await exited, 125, stderr)
})
