import {test} from 'node:test'
import assert from 'node:assert/strict'
import {exitStatus, forwardedSignals, forwardSignals} from '../../../src/runtime/signals'

function harness(tty: boolean, catches = false) {
  const sent: string[] = []
  let kills = 0
  const stop = forwardSignals(
    {pid: () => 4242, killAll: () => kills++},
    {tty, catches: () => catches, kill: (pid, sig) => sent.push(`${pid}:${sig}`), realtime: false},
  )
  return {sent, kills: () => kills, stop}
}

test('signals are forwarded to PID 1; a second SIGTERM kills the container', () => {
  const h = harness(false)
  try {
    process.emit('SIGUSR1', 'SIGUSR1')
    process.emit('SIGHUP', 'SIGHUP')
    process.emit('SIGTERM', 'SIGTERM')
    assert.deepEqual(h.sent, ['4242:SIGUSR1', '4242:SIGHUP', '4242:SIGTERM'])
    assert.equal(h.kills(), 0)
    process.emit('SIGINT', 'SIGINT')
    assert.equal(h.kills(), 1)
  } finally {
    h.stop()
  }
  assert.equal(process.listenerCount('SIGTERM'), 0, 'handlers removed')
})

test('on a terminal, Ctrl-C is not sent again; it counts unless PID 1 handles SIGINT', () => {
  const shell = harness(true, true)
  try {
    for (let i = 0; i < 3; i++) process.emit('SIGINT', 'SIGINT')
    assert.deepEqual(shell.sent, [])
    assert.equal(shell.kills(), 0, 'Ctrl-C at a shell prompt never kills the shell')
  } finally {
    shell.stop()
  }
  const sleeper = harness(true, false)
  try {
    process.emit('SIGINT', 'SIGINT')
    assert.equal(sleeper.kills(), 0)
    process.emit('SIGINT', 'SIGINT')
    assert.equal(sleeper.kills(), 1, 'the user can always get out')
    assert.deepEqual(sleeper.sent, [])
  } finally {
    sleeper.stop()
  }
})

test('exit status: the code, or 128+N for signal N', () => {
  assert.equal(exitStatus(3, null), 3)
  assert.equal(exitStatus(null, 'SIGKILL'), 137)
  assert.equal(exitStatus(null, 'SIGTERM'), 143)
})

test('every catchable signal docker forwards is forwarded, none of its exceptions', () => {
  const plain = forwardedSignals(false)
  for (const s of [
    'SIGHUP',
    'SIGINT',
    'SIGQUIT',
    'SIGUSR1',
    'SIGUSR2',
    'SIGALRM',
    'SIGTERM',
    'SIGTSTP',
    'SIGTTIN',
    'SIGTTOU',
    'SIGVTALRM',
    'SIGPROF',
    'SIGXCPU',
    'SIGXFSZ',
    'SIGIO',
    'SIGPWR',
    'SIGSYS',
    'SIGTRAP',
    'SIGABRT',
    'SIGCONT',
    'SIGWINCH',
    'SIGSTKFLT',
  ] as const) {
    assert.ok(plain.includes(s), s)
  }
  for (const s of ['SIGKILL', 'SIGSTOP', 'SIGCHLD', 'SIGURG', 'SIGPIPE', 'SIGSEGV', 'SIGBUS', 'SIGFPE', 'SIGILL'] as const) {
    assert.ok(!plain.includes(s), s)
  }
  assert.equal(new Set(plain).size, plain.length, 'no signal twice under two names')
  const tty = forwardedSignals(true)
  for (const s of ['SIGTSTP', 'SIGTTIN', 'SIGTTOU'] as const) assert.ok(!tty.includes(s), `${s}: job control on a terminal keeps its default`)
})

test('a SIGTERM or SIGINT that PID 1 handles never counts towards the kill', () => {
  const h = harness(false, true)
  try {
    for (let i = 0; i < 4; i++) process.emit('SIGTERM', 'SIGTERM')
    process.emit('SIGINT', 'SIGINT')
    assert.equal(h.kills(), 0)
    assert.equal(h.sent.length, 5)
  } finally {
    h.stop()
  }
})

test('on a terminal a resize is not forwarded (the container got it from the kernel); without one it is', () => {
  const t = harness(true)
  const p = harness(false)
  try {
    process.emit('SIGWINCH', 'SIGWINCH')
    assert.deepEqual(p.sent, ['4242:SIGWINCH'])
    assert.deepEqual(t.sent, [])
  } finally {
    t.stop()
    p.stop()
  }
})

test('real-time signals reach PID 1 and do not kill pivot', async () => {
  const sent: Array<string | number> = []
  const stop = forwardSignals({pid: () => 4242, killAll: () => undefined}, {tty: false, catches: () => false, kill: (_pid, sig) => sent.push(sig)})
  try {
    for (const n of [34, 40, 64]) process.kill(process.pid, n)
    const deadline = Date.now() + 10_000
    while (sent.length < 3 && Date.now() < deadline) await new Promise(r => setTimeout(r, 20))
    assert.deepEqual([...sent].sort(), [34, 40, 64])
  } finally {
    stop()
  }
})
