// `pivot run -d`: the monitor, the log, the exit record, --rm, a killed monitor, and what each of
// them leaves on the host (nothing, once removed).
import {before, test} from 'node:test'
import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {BUSYBOX_IMAGE, pivot, tempDir} from '../../helpers/fixtures'
import {leftovers, seedImage} from '../../helpers/seed-image'
import {processesMentioning} from '../../helpers/processes-mentioning'

const B = BUSYBOX_IMAGE
let cache: string

before(() => {
  cache = tempDir('pivot-detached')
  seedImage(cache, B)
})

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

function p(args: string[], timeout = 60_000) {
  return pivot(args, {cacheDir: cache, input: '', timeout})
}

function ok(args: string[]): string {
  const r = p(args)
  assert.equal(r.status, 0, `pivot ${args.join(' ')}: ${r.stderr}`)
  return r.stdout
}

function runD(args: string[]): string {
  const out = ok(['run', '-d', '--net', 'none', ...args])
  assert.match(out, /^[0-9a-f]{64}\n$/, 'run -d prints the full id and nothing else')
  return out.trim()
}

function monitorOf(id: string): number {
  const pids = processesMentioning(id).filter(pid => fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0].endsWith('pivot-monitor'))
  assert.equal(pids.length, 1, `one monitor for ${id}`)
  return pids[0]
}

async function until(what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(100)
  }
}

function psJson(): Array<{id: string; state: string; status: string; exitCode?: number; name?: string; detached: boolean}> {
  return JSON.parse(ok(['ps', '-a', '--json']))
}

function clean(): void {
  assert.deepEqual(leftovers(cache), {mounts: [], cgroups: [], containers: []})
}

test('run -d returns at once; the container runs on, its output is logged in json-file lines, its exit recorded', async () => {
  const started = Date.now()
  const id = runD([B, 'sh', '-c', 'echo out-1; echo err-1 >&2; sleep 2; printf "no newline"; exit 3'])
  assert.ok(Date.now() - started < 20_000)
  const running = psJson().find(c => c.id === id)!
  assert.equal(running.state, 'running')
  assert.match(running.status, /^Up /)
  assert.equal(running.detached, true)
  // The container outlived the `pivot run -d` that made it; its monitor is its parent.
  const monitor = monitorOf(id)
  const status = fs.readFileSync(`/proc/${monitor}/status`, 'utf8')
  const rssKiB = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)![1])
  assert.ok(rssKiB < 4096, `the monitor's RSS is ${rssKiB} KiB`)
  assert.equal(ok(['wait', id]), '3\n')
  const lines = fs
    .readFileSync(path.join(cache, 'containers', id, 'json.log'), 'utf8')
    .trimEnd()
    .split('\n')
    .map(l => JSON.parse(l))
  assert.deepEqual(
    lines.map(l => [l.log, l.stream]),
    [
      ['out-1\n', 'stdout'],
      ['err-1\n', 'stderr'],
      ['no newline', 'stdout'],
    ],
  )
  for (const l of lines) assert.match(l.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/)
  await until('the record to say exited', () => psJson().find(c => c.id === id)?.state === 'exited')
  const exited = psJson().find(c => c.id === id)!
  assert.equal(exited.exitCode, 3)
  assert.match(exited.status, /^Exited \(3\) .* ago$/)
  const logs = p(['logs', id])
  assert.equal(logs.stdout, 'out-1\nno newline')
  assert.equal(logs.stderr, 'err-1\n')
  await until('the monitor to finish', () => processesMentioning(id).length === 0)
  // Only the exited container's files are left: no cgroup, no mount, no process.
  assert.deepEqual(leftovers(cache), {mounts: [], cgroups: [], containers: [id]})
  assert.equal(ok(['rm', id.slice(0, 10)]), id.slice(0, 10) + '\n')
  clean()
})

test('run -d --rm: the monitor removes the container when it exits', async () => {
  const id = runD(['--rm', B, 'sh', '-c', 'sleep 1'])
  assert.equal(psJson().find(c => c.id === id)?.state, 'running')
  await until('the container to be removed', () => !fs.existsSync(path.join(cache, 'containers', id)) && processesMentioning(id).length === 0)
  clean()
})

test('a SIGKILLed monitor takes its container with it; ps shows it dead; prune removes it', async () => {
  const marker = `detached-marker-${process.pid}`
  const id = runD(['--name', 'killed-monitor', B, 'sh', '-c', `sleep 600; : ${marker}`])
  await until('the container to run', () => processesMentioning(marker).length > 0)
  process.kill(monitorOf(id), 'SIGKILL')
  await until('the container to die', () => processesMentioning(marker).length === 0 && processesMentioning(id).length === 0)
  await until('ps to say dead', () => psJson().find(c => c.id === id)?.state === 'dead')
  assert.equal(psJson().find(c => c.id === id)!.status, 'Dead')
  assert.equal(ok(['wait', 'killed-monitor']), '137\n')
  const pruned = ok(['prune'])
  assert.match(pruned, new RegExp(`Deleted container: ${id}`))
  clean()
  // Its name is free again.
  const again = runD(['--rm', '--name', 'killed-monitor', B, 'true'])
  await until('the second container to be removed', () => !fs.existsSync(path.join(cache, 'containers', again)))
  clean()
})

test('rm -f of a running detached container, and rm of one whose monitor was killed', async () => {
  const id = runD([B, 'sleep', '600'])
  const refused = p(['rm', id])
  assert.equal(refused.status, 1)
  assert.equal(refused.stdout, '')
  assert.match(refused.stderr, /^pivot: you cannot remove a running container [0-9a-f]{64}\. Stop the container/)
  assert.equal(refused.stderr.trim().split('\n').length, 1)
  assert.equal(ok(['rm', '-f', id]), id + '\n')
  assert.equal(processesMentioning(id).length, 0)
  clean()
  const dead = runD([B, 'sleep', '600'])
  process.kill(monitorOf(dead), 'SIGKILL')
  await until('ps to say dead', () => psJson().find(c => c.id === dead)?.state === 'dead')
  assert.equal(ok(['rm', dead]), dead + '\n')
  clean()
})

test('run -d of a command that is not there: exit 127 and one line, as docker; the container is kept exited', async () => {
  const r = p(['run', '-d', '--net', 'none', '--name', 'no-such-cmd', B, 'no-such-command'])
  assert.equal(r.status, 127)
  assert.equal(r.stdout, '')
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
  assert.match(r.stderr, /^pivot: .*no-such-command/)
  await until('its record', () => psJson().find(c => c.name === 'no-such-cmd')?.state === 'exited')
  assert.equal(psJson().find(c => c.name === 'no-such-cmd')!.exitCode, 127)
  await until('the monitor to finish', () => processesMentioning(psJson().find(c => c.name === 'no-such-cmd')!.id).length === 0)
  assert.equal(ok(['rm', 'no-such-cmd']), 'no-such-cmd\n')
  clean()
})

test('names, prefixes, unknown and ambiguous containers; foreground containers in ps and logs', async () => {
  const fg = p(['run', '--net', 'none', '--name', 'fg', B, 'sh', '-c', 'echo fg; exit 4'])
  assert.equal(fg.status, 4)
  assert.equal(fg.stdout, 'fg\n')
  const listed = psJson().find(c => c.name === 'fg')!
  assert.equal(listed.state, 'exited')
  assert.match(listed.status, /^Exited \(4\) /)
  assert.equal(ok(['wait', 'fg']), '4\n')
  const logs = p(['logs', 'fg'])
  assert.equal(logs.status, 1)
  assert.match(logs.stderr, /^pivot: container fg ran in the foreground/)
  // 17 containers: two of them share a first hex digit (pigeonhole), a prefix that is not unique.
  for (let i = 0; i < 16; i++) ok(['run', '--net', 'none', B, 'true'])
  const existing = psJson().map(c => c.id)
  assert.equal(existing.length, 17)
  const shared = [...'0123456789abcdef'].find(hex => existing.filter(id => id.startsWith(hex)).length > 1)!
  const amb = p(['wait', shared])
  assert.equal(amb.status, 1)
  assert.equal(amb.stdout, '')
  assert.equal(amb.stderr, `pivot: multiple containers found with provided prefix: ${shared}\n`)
  const unique = existing.find(id => existing.filter(other => other.startsWith(id.slice(0, 12))).length === 1)!
  assert.equal(ok(['wait', unique.slice(0, 12)]), unique === listed.id ? '4\n' : '0\n')
  for (const cmd of [['logs'], ['stop'], ['kill'], ['rm'], ['wait']]) {
    const r = p([...cmd, 'no-such-container'])
    assert.equal(r.status, 1, cmd.join(' '))
    assert.equal(r.stdout, '')
    assert.match(r.stderr, /^pivot: .*No such container: no-such-container\n$/)
  }
  assert.equal(ok(['rm', 'fg']), 'fg\n')
  assert.equal(psJson().length, 16)
  ok(['prune'])
  clean()
})

/** `pivot stats ARGS` for about `ms`, stdout a pipe (or, with `terminal`, a pty through script(1)), then Ctrl-C. */
async function streamStats(args: string[], ms: number, terminal = false): Promise<{out: string; code: number | null; signal: string | null}> {
  const {spawn} = await import('node:child_process')
  const {PIVOT_BIN} = await import('../../helpers/fixtures')
  const env: NodeJS.ProcessEnv = {...process.env, PIVOT_CACHE_DIR: cache}
  delete env.NODE_EXTRA_CA_CERTS
  const command = terminal ? 'script' : PIVOT_BIN
  const argv = terminal ? ['-qfec', [PIVOT_BIN, 'stats', ...args].join(' '), '/dev/null'] : ['stats', ...args]
  const child = spawn(command, argv, {env, stdio: ['pipe', 'pipe', 'inherit']})
  let out = ''
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()))
  await sleep(ms)
  // script(1) passes a Ctrl-C typed on its terminal to the pty.
  if (terminal) child.stdin.write('\u0003')
  else child.kill('SIGINT')
  const [code, signal] = await new Promise<[number | null, string | null]>(resolve => child.on('exit', (c, s) => resolve([c, s])))
  return {out, code, signal}
}

test('stats streams a frame each second until interrupted: plain into a pipe, drawn over itself on a terminal', async () => {
  const id = runD(['--name', 'streamed', B, 'sleep', '60'])
  const piped = await streamStats(['streamed'], 4500)
  assert.ok(piped.signal === 'SIGINT' || piped.code === 130, `ended by Ctrl-C: ${piped.code} ${piped.signal}`)
  assert.ok(!piped.out.includes('\u001B'), 'no terminal escapes into a pipe')
  const headers = piped.out.split('\n').filter(l => l.startsWith('CONTAINER ID'))
  assert.ok(headers.length >= 2 && headers.length <= 5, `a frame a second: ${piped.out}`)
  assert.equal(piped.out.split('\n').filter(l => l.startsWith(id.slice(0, 12))).length, headers.length, piped.out)
  assert.match(
    piped.out,
    new RegExp(`^${id.slice(0, 12)} +streamed +\\d+\\.\\d\\d% +[\\d.]+\\w?i?B / [\\d.]+\\w?i?B +\\d+\\.\\d\\d% +-- +\\S+ / \\S+ +1$`, 'm'),
  )
  // Without names: a container started while streaming joins the frames; --format per row.
  const later = streamStats(['--format', '{{.Name}}:{{.PIDs}}'], 4500)
  await sleep(1500)
  runD(['--name', 'joined', B, 'sleep', '60'])
  const all = await later
  const frames = all.out.split('\n').filter(Boolean)
  assert.ok(frames.includes('streamed:1') && frames.includes('joined:1'), all.out)
  assert.ok(frames.indexOf('streamed:1') < frames.indexOf('joined:1'), 'joined after it started')
  const drawn = await streamStats(['streamed'], 2500, true)
  const home = drawn.out.indexOf('\u001B[H')
  assert.ok(home !== -1 && drawn.out.indexOf('CONTAINER ID', home) !== -1, `home, then the table: ${JSON.stringify(drawn.out)}`)
  assert.ok(drawn.out.includes('PIDS\u001B[K\r\n'), `each line erased to its end: ${JSON.stringify(drawn.out)}`)
  ok(['rm', '-f', 'streamed', 'joined'])
  clean()
})
