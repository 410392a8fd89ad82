// An interactive shell in a real terminal (tmux): what a person typing sees.
import {after, before, test} from 'node:test'
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {BUSYBOX_IMAGE, DEBIAN_IMAGE, PIVOT_BIN, tempDir} from '../../helpers/fixtures'
import {leftovers, seedImage} from '../../helpers/seed-image'

const session = `pivot-test-${process.pid}`
let cache: string
let exitFile: string

before(() => {
  cache = tempDir('pivot-tty')
  seedImage(cache, BUSYBOX_IMAGE)
  seedImage(cache, DEBIAN_IMAGE)
  exitFile = path.join(tempDir('pivot-tty-exit'), 'status')
})

after(() => {
  tmux(['kill-server'], true)
})

// Each shell gets its own tmux server (socket): a new session on a shared server races with that
// server exiting after the previous session was killed ("server exited unexpectedly").
let socket = `${session}-0`
let shells = 0

function tmux(args: string[], mayFail = false): string {
  try {
    return execFileSync('tmux', ['-L', socket, ...args], {encoding: 'utf8'})
  } catch (error) {
    if (mayFail) return ''
    throw error
  }
}

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

async function screenShows(re: RegExp, timeoutMs = 15_000): Promise<string> {
  const deadline = Date.now() + timeoutMs
  let screen = ''
  while (Date.now() < deadline) {
    screen = tmux(['capture-pane', '-t', session, '-p'])
    if (re.test(screen)) return screen
    await sleep(100)
  }
  throw new Error(`the screen never showed ${re}:\n${screen}`)
}

async function type(keys: string, enter = true): Promise<void> {
  tmux(['send-keys', '-t', session, '-l', keys])
  if (enter) tmux(['send-keys', '-t', session, 'Enter'])
  await sleep(150)
}

function startShell(image: string, shell: string): void {
  tmux(['kill-server'], true)
  socket = `${session}-${++shells}`
  fs.rmSync(exitFile, {force: true})
  const cmd = `env -u NODE_EXTRA_CA_CERTS PIVOT_CACHE_DIR=${cache} ${PIVOT_BIN} run --rm -it ${image} ${shell}; echo $? > ${exitFile}; sleep 600`
  tmux(['new-session', '-d', '-s', session, '-x', '120', '-y', '40', cmd])
}

async function exitStatus(): Promise<number> {
  const deadline = Date.now() + 15_000
  while (!fs.existsSync(exitFile) || fs.readFileSync(exitFile, 'utf8').trim() === '') {
    if (Date.now() > deadline) throw new Error('pivot did not exit')
    await sleep(100)
  }
  return Number(fs.readFileSync(exitFile, 'utf8').trim())
}

test('busybox sh in a terminal: a prompt, its own hostname, PID 1, Ctrl-C, exit 3', async () => {
  startShell(BUSYBOX_IMAGE, '/bin/sh')
  await screenShows(/^\/ #\s*$/m)
  await type('hostname; echo "pid=$$"')
  const screen = await screenShows(/^pid=1$/m)
  assert.match(screen, /^[0-9a-f]{12}$/m)
  // Ctrl-C interrupts the foreground command, not the shell or the container.
  await type('sleep 100')
  tmux(['send-keys', '-t', session, 'C-c'])
  await sleep(300)
  tmux(['send-keys', '-t', session, 'C-c'])
  await sleep(300)
  await type('echo still-here')
  await screenShows(/^still-here$/m)
  await type('exit 3')
  assert.equal(await exitStatus(), 3)
  assert.deepEqual(leftovers(cache), {mounts: [], cgroups: [], containers: []})
})

test('bash in the Debian image: job control works, exit status comes back', async () => {
  startShell(DEBIAN_IMAGE, '/bin/bash')
  await screenShows(/^root@[0-9a-f]{12}:\/#\s*$/m)
  await type('echo "pid=$$ user=$(id -un)"; tty -s && echo is-a-tty')
  await screenShows(/^pid=1 user=root$/m)
  await screenShows(/^is-a-tty$/m)
  await type('exit 0')
  assert.equal(await exitStatus(), 0)
  assert.deepEqual(leftovers(cache), {mounts: [], cgroups: [], containers: []})
})

test('in a terminal, Ctrl-C twice gets the user out of a PID 1 that ignores it', async () => {
  startShell(BUSYBOX_IMAGE, 'sleep 600')
  await sleep(1500)
  tmux(['send-keys', '-t', session, 'C-c'])
  await sleep(400)
  assert.equal(fs.existsSync(exitFile), false, 'one Ctrl-C does nothing to sleep as PID 1 (as in docker)')
  tmux(['send-keys', '-t', session, 'C-c'])
  assert.equal(await exitStatus(), 137)
  assert.deepEqual(leftovers(cache), {mounts: [], cgroups: [], containers: []})
})
