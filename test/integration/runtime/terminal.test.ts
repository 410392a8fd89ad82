// `-t`: a real pty of the container, tested in a real terminal (a tmux server of this test's own):
// tty, stty size before and after a resize, job control, the exit status, and the host terminal's
// settings restored after the run; `run -d -t` logs; `exec -t`, `exec -u/-d/--privileged`; and
// `-it` without a terminal against docker.
import {after, before, test} from 'node:test'
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {BUSYBOX_IMAGE, DOCKER_BIN, PIVOT_BIN, pivot, tempDir} from '../../helpers/fixtures'
import {leftovers, seedImage} from '../../helpers/seed-image'

const B = BUSYBOX_IMAGE
const SOCKET = `pivot-lifecycle-tty-${process.pid}`
const DOCKER_NAME = `pivot-lifecycle-tty-${process.pid}`
let cache: string
let work: string

before(() => {
  cache = tempDir('pivot-tty')
  work = tempDir('pivot-tty-work')
  seedImage(cache, B)
})

after(() => {
  spawnSync('tmux', ['-L', SOCKET, 'kill-server'], {stdio: 'ignore'})
  spawnSync(DOCKER_BIN, ['rm', '-f', DOCKER_NAME], {stdio: 'ignore'})
})

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

function tmux(...args: string[]): string {
  const r = spawnSync('tmux', ['-L', SOCKET, ...args], {encoding: 'utf8'})
  assert.equal(r.status, 0, r.stderr)
  return r.stdout
}

/** Waits until the pane shows `text` (a loaded machine: up to 30 s). */
async function waitFor(session: string, text: string | RegExp): Promise<string> {
  let screen = ''
  for (let i = 0; i < 300; i++) {
    screen = tmux('capture-pane', '-p', '-J', '-S', '-200', '-t', session)
    if (typeof text === 'string' ? screen.includes(text) : text.test(screen)) return screen
    await sleep(100)
  }
  assert.fail(`the terminal never showed ${String(text)}:\n${screen}`)
}

/** The shell's redirect makes the file before stty writes to it: wait for its line, not its name. */
async function settingsWritten(file: string): Promise<void> {
  for (let i = 0; i < 100 && !(fs.existsSync(file) && fs.readFileSync(file, 'utf8').endsWith('\n')); i++) await sleep(100)
}

function shell(session: string, cols: number, rows: number): void {
  tmux(
    'new-session',
    '-d',
    '-s',
    session,
    '-x',
    String(cols),
    '-y',
    String(rows),
    'env',
    '-u',
    'NODE_EXTRA_CA_CERTS',
    'PS1=host$ ',
    'bash',
    '--norc',
    '--noprofile',
  )
}

test('run -it in a terminal: tty, stty size, a resize, job control, the exit status, the terminal restored', async () => {
  const s = 'run'
  shell(s, 100, 30)
  await waitFor(s, 'host$')
  const before = path.join(work, 'before')
  const afterFile = path.join(work, 'after')
  tmux(
    'send-keys',
    '-t',
    s,
    `stty -g > ${before}; ${PIVOT_BIN} run --cache-dir ${cache} --rm -it ${B} sh -c 'PS1="c""tr# " exec sh'; echo "status=$?"; stty -g > ${afterFile}`,
    'Enter',
  )
  await waitFor(s, 'ctr#')
  tmux('send-keys', '-t', s, 'tty; stty size; ls -l /dev/console; echo "term=$TERM"', 'Enter')
  let screen = await waitFor(s, 'term=xterm')
  assert.match(screen, /^\/dev\/pts\/0$/m)
  assert.match(screen, /^30 100$/m)
  assert.match(screen, /^c.* 136, +0 .*\/dev\/console$/m)
  tmux('resize-window', '-t', s, '-x', '120', '-y', '40')
  await sleep(300)
  tmux('send-keys', '-t', s, 'stty size; sleep 100 & jobs; echo jobs-done', 'Enter')
  screen = await waitFor(s, /^jobs-done$/m)
  assert.match(screen, /^40 120$/m)
  assert.match(screen, /\[1\]\+ +Running +sleep 100/)
  // Ctrl-C is a byte for the container's line discipline: it interrupts the foreground job only.
  tmux('send-keys', '-t', s, 'sleep 50', 'Enter')
  await sleep(300)
  tmux('send-keys', '-t', s, 'C-c')
  tmux('send-keys', '-t', s, 'echo "after-ctrl-c=$?"', 'Enter')
  await waitFor(s, 'after-ctrl-c=130')
  // One exit: the interactive sh is PID 1 (exec), and a second one would end the host's shell,
  // and with it the tmux server, before the status line is read.
  tmux('send-keys', '-t', s, 'exit 3', 'Enter')
  await waitFor(s, 'status=3')
  await settingsWritten(afterFile)
  assert.equal(fs.readFileSync(afterFile, 'utf8'), fs.readFileSync(before, 'utf8'), 'the host terminal settings changed')
  tmux('kill-session', '-t', s)
  assert.deepEqual(leftovers(cache), {mounts: [], cgroups: [], containers: []})
})

test('run -it: the terminal is restored when pivot is SIGTERMed and when the container is killed', async () => {
  const s = 'kill'
  shell(s, 80, 24)
  await waitFor(s, 'host$')
  const before = path.join(work, 'before2')
  const afterFile = path.join(work, 'after2')
  tmux(
    'send-keys',
    '-t',
    s,
    `stty -g > ${before}; ${PIVOT_BIN} run --cache-dir ${cache} --name ttykill -it ${B} sh -c 'echo ready; exec sleep 600'; echo "status=$?"; stty -g > ${afterFile}`,
    'Enter',
  )
  // The line the container prints, not the typed command that contains it (a race under load).
  await waitFor(s, /^ready$/m)
  assert.equal(pivot(['kill', 'ttykill'], {cacheDir: cache}).status, 0)
  await waitFor(s, 'status=137')
  await settingsWritten(afterFile)
  assert.equal(fs.readFileSync(afterFile, 'utf8'), fs.readFileSync(before, 'utf8'))
  assert.equal(pivot(['rm', 'ttykill'], {cacheDir: cache}).status, 0)

  fs.rmSync(afterFile, {force: true})
  tmux(
    'send-keys',
    '-t',
    s,
    `clear; ${PIVOT_BIN} run --cache-dir ${cache} --rm -it ${B} sh -c 'trap "exit 7" TERM; echo ready2; while :; do sleep 1; done'; echo "status=$?"; stty -g > ${afterFile}`,
    'Enter',
  )
  await waitFor(s, /^ready2$/m)
  const ps = spawnSync('pgrep', ['-f', `${PIVOT_BIN} run --cache-dir ${cache} --rm -it`], {encoding: 'utf8'})
  const pid = Number(ps.stdout.trim().split('\n')[0])
  assert.ok(pid > 0, ps.stdout)
  process.kill(pid, 'SIGTERM')
  await waitFor(s, 'status=7')
  await settingsWritten(afterFile)
  assert.equal(fs.readFileSync(afterFile, 'utf8'), fs.readFileSync(before, 'utf8'))
  tmux('kill-session', '-t', s)
  assert.deepEqual(leftovers(cache), {mounts: [], cgroups: [], containers: []})
})

test("exec -it in a terminal: the container's pty, its size, the exit status, the terminal restored", async () => {
  assert.equal(pivot(['run', '-d', '--name', 'ttyexec', B, 'sleep', '600'], {cacheDir: cache}).status, 0)
  try {
    const s = 'exec'
    shell(s, 90, 25)
    await waitFor(s, 'host$')
    const before = path.join(work, 'before3')
    const afterFile = path.join(work, 'after3')
    tmux(
      'send-keys',
      '-t',
      s,
      `stty -g > ${before}; ${PIVOT_BIN} exec --cache-dir ${cache} -it ttyexec sh -c 'PS1="e""x# " sh'; echo "status=$?"; stty -g > ${afterFile}`,
      'Enter',
    )
    await waitFor(s, 'ex#')
    tmux('send-keys', '-t', s, 'tty; stty size; echo "term=${TERM:-none}"', 'Enter')
    const screen = await waitFor(s, /^term=/m)
    assert.match(screen, /^\/dev\/pts\/\d+$/m)
    assert.match(screen, /^25 90$/m)
    // A resize of the outer terminal reaches the exec'd command's pty (pivot-exec's SIGWINCH).
    tmux('resize-window', '-t', s, '-x', '110', '-y', '33')
    await sleep(300)
    tmux('send-keys', '-t', s, 'stty size; echo resized', 'Enter')
    assert.match(await waitFor(s, /^resized$/m), /^33 110$/m)
    tmux('send-keys', '-t', s, 'exit 4', 'Enter')
    await waitFor(s, 'status=4')
    await settingsWritten(afterFile)
    assert.equal(fs.readFileSync(afterFile, 'utf8'), fs.readFileSync(before, 'utf8'))
    tmux('kill-session', '-t', s)
  } finally {
    assert.equal(pivot(['rm', '-f', 'ttyexec'], {cacheDir: cache}).status, 0)
  }
  assert.deepEqual(leftovers(cache), {mounts: [], cgroups: [], containers: []})
})

/** `stty size` in an attached shell, then a resize of the outer terminal, then `stty size` again. */
async function sizesInAttachedShell(s: string, prompt: string, marker: string): Promise<string[]> {
  tmux('send-keys', '-t', s, `stty size; echo ${marker}-1`, 'Enter')
  await waitFor(s, new RegExp(`^${marker}-1$`, 'm'))
  tmux('resize-window', '-t', s, '-x', '132', '-y', '43')
  await sleep(300)
  tmux('send-keys', '-t', s, `stty size; echo ${marker}-2`, 'Enter')
  const screen = await waitFor(s, new RegExp(`^${marker}-2$`, 'm'))
  const lines = screen.split('\n').map(l => l.trim())
  const at = (m: string) => lines[lines.findIndex(l => l === m) - 1]
  assert.ok(screen.includes(prompt), screen)
  return [at(`${marker}-1`), at(`${marker}-2`)]
}

test('attach and start -a -i to a -dit container in a terminal: its pty takes the size at attach and after a resize, as docker attach', async () => {
  // -d -it from no terminal at all: nothing is attached yet (docker runs it too).
  const run = pivot(['run', '-d', '-it', '--name', 'ttyattach', B, 'sh', '-c', 'PS1="a""t# " exec sh'], {cacheDir: cache})
  assert.equal(run.status, 0, run.stderr)
  const dk = spawnSync(DOCKER_BIN, ['run', '-d', '-it', '--network', 'none', '--name', DOCKER_NAME, B, 'sh', '-c', 'PS1="a""t# " exec sh'], {
    encoding: 'utf8',
    input: '',
  })
  assert.equal(dk.status, 0, dk.stderr)
  try {
    const sizes: Record<string, string[]> = {}
    for (const [who, cmd] of [
      ['pivot', `${PIVOT_BIN} attach --cache-dir ${cache} ttyattach`],
      ['docker', `${DOCKER_BIN} attach ${DOCKER_NAME}`],
    ]) {
      const s = `attach-${who}`
      shell(s, 90, 25)
      await waitFor(s, 'host$')
      tmux('send-keys', '-t', s, `${cmd}; echo "status=$?"`, 'Enter')
      // A prompt appears once the shell redraws it: an empty line asks for one.
      await sleep(500)
      tmux('send-keys', '-t', s, '', 'Enter')
      await waitFor(s, 'at#')
      sizes[who] = await sizesInAttachedShell(s, 'at#', `${who}-size`)
      tmux('send-keys', '-t', s, 'C-p', 'C-q')
      await waitFor(s, /^status=\d+/m)
      tmux('kill-session', '-t', s)
    }
    assert.deepEqual(sizes.pivot, ['25 90', '43 132'])
    assert.deepEqual(sizes.pivot, sizes.docker)

    // start -a -i: the new PID 1 gets the size of the terminal it is started from, then its changes.
    assert.equal(pivot(['stop', '-t', '1', 'ttyattach'], {cacheDir: cache}).status, 0)
    const s = 'start'
    shell(s, 100, 30)
    await waitFor(s, 'host$')
    tmux('send-keys', '-t', s, `${PIVOT_BIN} start --cache-dir ${cache} -a -i ttyattach; echo "status=$?"`, 'Enter')
    await waitFor(s, 'at#')
    assert.deepEqual(await sizesInAttachedShell(s, 'at#', 'start-size'), ['30 100', '43 132'])
    tmux('send-keys', '-t', s, 'exit 5', 'Enter')
    await waitFor(s, 'status=5')
    tmux('kill-session', '-t', s)
  } finally {
    spawnSync(DOCKER_BIN, ['rm', '-f', DOCKER_NAME], {stdio: 'ignore'})
    assert.equal(pivot(['rm', '-f', 'ttyattach'], {cacheDir: cache}).status, 0)
  }
  assert.deepEqual(leftovers(cache), {mounts: [], cgroups: [], containers: []})
})

test('-t without a terminal: run -t and exec -t get a pty; -it fails as docker does', () => {
  const run = pivot(['run', '--rm', '-t', B, 'sh', '-c', 'tty; echo "$TERM"'], {cacheDir: cache})
  const dk = spawnSync(DOCKER_BIN, ['run', '--rm', '-t', B, 'sh', '-c', 'tty; echo "$TERM"'], {encoding: 'utf8'})
  assert.equal(run.status, dk.status)
  assert.equal(run.stdout, dk.stdout)
  assert.equal(run.stdout, '/dev/pts/0\r\nxterm\r\n')
  const it = pivot(['run', '--rm', '-it', B, 'true'], {cacheDir: cache})
  const dkIt = spawnSync(DOCKER_BIN, ['run', '--rm', '-it', B, 'true'], {encoding: 'utf8', input: ''})
  assert.equal(it.status, 1)
  assert.equal(it.status, dkIt.status)
  assert.equal(it.stderr, 'pivot: the input device is not a TTY\n')
  assert.match(dkIt.stderr, /the input device is not a TTY/)

  assert.equal(pivot(['run', '-d', '--name', 'ttyd', '-t', B, 'sh', '-c', 'tty; echo hi'], {cacheDir: cache}).status, 0)
  assert.equal(pivot(['wait', 'ttyd'], {cacheDir: cache}).stdout, '0\n')
  const logs = pivot(['logs', 'ttyd'], {cacheDir: cache})
  assert.equal(logs.stdout, '/dev/pts/0\r\nhi\r\n')
  assert.equal(logs.stderr, '')
  assert.equal(pivot(['rm', 'ttyd'], {cacheDir: cache}).status, 0)
  assert.deepEqual(leftovers(cache), {mounts: [], cgroups: [], containers: []})
})

test('exec -u, -d, --privileged, -t against docker exec', () => {
  assert.equal(pivot(['run', '-d', '--name', 'flags', B, 'sleep', '600'], {cacheDir: cache}).status, 0)
  assert.equal(spawnSync(DOCKER_BIN, ['run', '-d', '--name', DOCKER_NAME, B, 'sleep', '600']).status, 0)
  try {
    const both = (args: string[]) => {
      const p = pivot(['exec', ...args.map(a => (a === 'C' ? 'flags' : a))], {cacheDir: cache})
      const d = spawnSync(DOCKER_BIN, ['exec', ...args.map(a => (a === 'C' ? DOCKER_NAME : a))], {encoding: 'utf8'})
      return {p, d}
    }
    for (const args of [
      ['-u', 'nobody', 'C', 'sh', '-c', 'id; echo "$HOME"; grep -E "^Cap(Prm|Eff|Amb)" /proc/self/status'],
      ['-u', '1000:1000', 'C', 'id'],
      ['-u', 'nobody:root', 'C', 'id'],
      ['-t', 'C', 'sh', '-c', 'tty; echo "$TERM"'],
    ]) {
      const {p, d} = both(args)
      assert.equal(p.status, d.status, args.join(' '))
      assert.equal(p.stdout, d.stdout, args.join(' '))
    }
    const {p, d} = both(['-u', 'nosuch', 'C', 'true'])
    assert.equal(p.status, 126)
    assert.equal(p.status, d.status)
    // docker 20.10 prints runc's message on stdout; pivot says it once, on stderr.
    assert.equal(p.stderr, 'pivot: unable to find user nosuch: no matching entries in passwd file\n')
    assert.ok((d.stdout + d.stderr).includes('unable to find user nosuch: no matching entries in passwd file'))
    // -d: returns at once; the command runs on.
    const started = Date.now()
    assert.equal(pivot(['exec', '-d', 'flags', 'sh', '-c', 'sleep 1; echo done > /tmp/d'], {cacheDir: cache}).status, 0)
    assert.ok(Date.now() - started < 10_000)
    let out = ''
    for (let i = 0; i < 100 && out !== 'done\n'; i++) {
      spawnSync('sleep', ['0.1'])
      out = pivot(['exec', 'flags', 'cat', '/tmp/d'], {cacheDir: cache}).stdout
    }
    assert.equal(out, 'done\n')
    // --privileged: every capability pivot holds (docker asks for all 41 and fails on a host
    // without one), the container's seccomp filter kept.
    const priv = pivot(['exec', '--privileged', 'flags', 'grep', '-E', '^(CapEff|CapBnd|Seccomp):', '/proc/self/status'], {cacheDir: cache})
    const own = fs.readFileSync('/proc/self/status', 'utf8')
    const eff = /^CapEff:\s*(\S+)$/m.exec(own)![1]
    assert.equal(priv.stdout, `CapEff:\t${eff}\nCapBnd:\t${eff}\nSeccomp:\t2\n`)
  } finally {
    spawnSync(DOCKER_BIN, ['rm', '-f', DOCKER_NAME], {stdio: 'ignore'})
    assert.equal(pivot(['rm', '-f', 'flags'], {cacheDir: cache}).status, 0)
  }
  assert.deepEqual(leftovers(cache), {mounts: [], cgroups: [], containers: []})
})
