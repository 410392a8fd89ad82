// The container's init sets its parent-death signal, then reads its setup from fd 3. A `pivot
// run` killed after sending the setup but before that prctl sends no death signal, yet leaves
// the message buffered on the socket: the init would start the container with nobody to clean it
// up (seen under load: an orphan `sleep 600` kept a test's pipe open). The message names the
// parent; the init checks it is still there before running anything.
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {spawn, spawnSync} from 'node:child_process'
import {closeSync, existsSync, mkdtempSync, openSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {INIT_ARGS, INIT_BIN} from '../../src/runtime/start-init'
import {encodeInitMessage} from '../../src/runtime/rootfs/step-wire'
import type {Step} from '../../src/runtime/rootfs/steps'

/** Sends `message` as the init's only input; its exit code and what it wrote back on fd 3. */
function initWith(message: Buffer, wrap: readonly string[] = []): Promise<{code: number | null; reply: string}> {
  const argv = [...wrap, INIT_BIN, ...INIT_ARGS]
  const child = spawn(argv[0], argv.slice(1), {env: {}, stdio: ['ignore', 'ignore', 'ignore', 'pipe']})
  const control = child.stdio[3] as import('node:net').Socket
  let reply = ''
  control.on('data', (c: Buffer) => (reply += c.toString()))
  // An init that refuses the header exits with the payload unread: a reset, as pivot run ignores.
  control.on('error', () => undefined)
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

/** A hand-made message: the header and `fields`, each NUL-terminated, then `tail` as it is. */
function raw(fields: readonly string[], tail = ''): Buffer {
  const payload = Buffer.from(fields.map(f => f + '\0').join('') + tail)
  return Buffer.concat([Buffer.from(`${payload.length}\n`), payload])
}

const UNREADABLE = {code: 'RUN_INIT_FAILED', message: 'container init: unreadable config', exitCode: 125}

test('the wire takes only the decimals the encoder writes, and nothing after "end"', async () => {
  const head = ['pivot-init 1', 'parent', String(process.pid)]
  // Control: the same hand-made message, well formed, reaches its (failing) step.
  const good = await initWith(raw([...head, 'chdir', '/nonexistent-pivot-init-test', 'end']))
  assert.match(JSON.parse(good.reply).message, /chdir\("\/nonexistent-pivot-init-test"\) failed: ENOENT/)
  // strtoull alone reads " -1" as all ones: a capability mask of every capability.
  for (const bad of [
    [...head, 'capBounding', ' -1', 'exec', 'end'],
    [...head, 'umask', '+18', 'exec', 'end'],
    [...head, 'umask', ' 18', 'exec', 'end'],
    [...head, 'umask', '18 ', 'exec', 'end'],
    ['pivot-init 1', 'parent', '4294967297', 'exec', 'end'],
  ]) {
    const r = await initWith(raw(bad))
    assert.equal(r.code, 125, bad.join(' '))
    assert.deepEqual(JSON.parse(r.reply), UNREADABLE, bad.join(' '))
  }
  const trailing = await initWith(raw([...head, 'chdir', '/nonexistent-pivot-init-test', 'end'], 'umask\x0018\0'))
  assert.deepEqual(JSON.parse(trailing.reply), UNREADABLE)
  const header = Buffer.from(
    `+${raw([...head, 'exec', 'end'])
      .toString()
      .slice(0)}`,
  )
  assert.deepEqual(JSON.parse((await initWith(header)).reply), UNREADABLE)
})

// The init first runs again from a sealed memfd copy of itself. vm.memfd_noexec (Linux 6.3+, set
// per PID namespace, so a new one here leaves the host's alone) makes a memfd non-executable
// unless it is created with MFD_EXEC (1), or refuses executable ones (2): every run failed with a
// silent 125.
test('the sealed copy works under vm.memfd_noexec=1 and says why it cannot under 2', {skip: !existsSync('/proc/sys/vm/memfd_noexec')}, async () => {
  const inNamespace = (level: number) => [
    'unshare',
    '--pid',
    '--fork',
    '--mount-proc',
    'sh',
    '-c',
    `echo ${level} > /proc/sys/vm/memfd_noexec && exec "$@"`,
    'sh',
  ]
  // No parent pid: the new namespace's /proc does not show this process.
  const r1 = await initWith(encodeInitMessage(FAILING, undefined), inNamespace(1))
  assert.equal(r1.code, 125)
  assert.match(JSON.parse(r1.reply).message, /chdir\("\/nonexistent-pivot-init-test"\) failed: ENOENT/, 'it ran its steps')
  const r2 = await initWith(encodeInitMessage(FAILING, undefined), inNamespace(2))
  assert.equal(r2.code, 125)
  assert.deepEqual(JSON.parse(r2.reply), {
    code: 'RUN_INIT_FAILED',
    message: 'container init: cannot run from a sealed copy of its binary: EACCES',
    exitCode: 125,
  })
})

// mountInRoot walks the path inside the container one component at a time (no symlink followed).
// A fixed table of 4096 components cut a deeper path short: the file was made, and the mount
// aimed, at one of its parents. Every component is walked now, as execute.ts does.
test('mountInRoot walks every component of a path deeper than 4096 levels', async () => {
  const root = mkdtempSync(join(tmpdir(), 'pivot-cinitreview-'))
  try {
    const inside = 'a/'.repeat(4100) + 'leaf'
    // A filesystem type that does not exist: the mount fails (ENODEV) and changes nothing.
    const step: Step = {op: 'mountInRoot', root, inside, kind: 'file', source: 'none', fstype: 'pivot-no-such-fs', flags: 0, data: null}
    const r = await initWith(encodeInitMessage([step], process.pid))
    assert.equal(r.code, 125)
    assert.match(JSON.parse(r.reply).message, /^container setup failed: mount\("none", "\/proc\/self\/fd\/\d+", "pivot-no-such-fs", 0, null\) failed: ENODEV$/)
    const found = spawnSync('find', [root, '-type', 'f'], {encoding: 'utf8'})
    const files = found.stdout.split('\n').filter(Boolean)
    assert.equal(files.length, 1, 'one file made')
    // (Compared by shape: the path is 8 KiB.)
    const made = files[0].slice(root.length + 1).split('/')
    assert.deepEqual([made.length, made.at(-1)], [4101, 'leaf'], 'at the full depth')
  } finally {
    // rm(1): node's recursive rmSync overflows its stack on a tree this deep.
    spawnSync('rm', ['-rf', root])
  }
})

// The node init ignored SIGPIPE (node does): a failure line written to a control socket nobody
// reads any more failed with EPIPE and the init still exited with the step's status. The C init
// must not die of the signal instead.
test('a failure reported to a parent that closed its socket: the status, not SIGPIPE', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pivot-cinitreview-'))
  try {
    const fifo = join(dir, 'tasks')
    spawnSync('mkfifo', [fifo])
    // joinCgroup opens the fifo and blocks until it has a reader: the socket is closed by then.
    const steps: Step[] = [{op: 'joinCgroup', tasks: fifo}, ...FAILING]
    const child = spawn(INIT_BIN, INIT_ARGS, {env: {}, stdio: ['ignore', 'ignore', 'ignore', 'pipe']})
    const control = child.stdio[3] as import('node:net').Socket
    control.on('error', () => undefined)
    const closed = new Promise<{code: number | null; signal: NodeJS.Signals | null}>(resolve => child.on('close', (code, signal) => resolve({code, signal})))
    await new Promise<void>(resolve => control.write(encodeInitMessage(steps, process.pid), () => resolve()))
    control.destroy()
    closeSync(openSync(fifo, 'r'))
    assert.deepEqual(await closed, {code: 125, signal: null})
  } finally {
    spawnSync('rm', ['-rf', dir])
  }
})
