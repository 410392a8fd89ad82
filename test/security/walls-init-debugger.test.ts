// `pivot run` forwards signals (SIGUSR1, SIGTERM... as docker does) to the container's init, also
// before its exec. The init was node, which answers SIGUSR1 by opening its inspector on
// 127.0.0.1:9229 (a debugger into a root process); it is C now (pivot-init), with no handler at
// all: as PID 1 of the container's PID namespace, the kernel drops a signal it has no handler for.
// So a forwarded signal neither kills the waiting init nor makes it do anything: it still waits
// for its setup, and exits 125 when the parent abandons it.
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import * as fs from 'node:fs'
import {INIT_ARGS, INIT_BIN} from '../../src/runtime/start-init'

function childrenOf(pid: number): number[] {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)
  } catch {
    return []
  }
}

test('signals to the init waiting for its setup open nothing and end nothing', async () => {
  // PID 1 of a new PID namespace, as `pivot run` makes it (util-linux's unshare forks it there).
  const child = spawn('unshare', ['--pid', '--fork', '--', INIT_BIN, ...INIT_ARGS], {env: {}, stdio: ['ignore', 'pipe', 'pipe', 'pipe']})
  let output = ''
  child.stdout!.on('data', (c: Buffer) => (output += c.toString()))
  child.stderr!.on('data', (c: Buffer) => (output += c.toString()))
  const exited = new Promise<number | null>(resolve => child.on('close', code => resolve(code)))
  try {
    // Waiting once it blocks reading fd 3 (a socket).
    const end = Date.now() + 30_000
    let init: number | undefined
    for (;;) {
      init = childrenOf(child.pid!)[0]
      const wchan = init ? fs.readFileSync(`/proc/${init}/wchan`, 'utf8') : ''
      if (/unix_stream_read|sock|read/.test(wchan)) break
      assert.ok(Date.now() < end, `the init never waited for its setup: ${output}`)
      await new Promise(r => setTimeout(r, 20))
    }
    for (const signal of ['SIGUSR1', 'SIGUSR2', 'SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.kill(init, signal)
    await new Promise(r => setTimeout(r, 500))
    assert.ok(fs.existsSync(`/proc/${init}`) && !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${init}/status`, 'utf8')), 'the init is still waiting')
    assert.equal(output, '')
  } finally {
    // EOF on fd 3: the init exits as abandoned (125); unshare exits with its status.
    ;(child.stdio[3] as import('node:net').Socket).destroy()
  }
  assert.equal(await exited, 125, output)
})
