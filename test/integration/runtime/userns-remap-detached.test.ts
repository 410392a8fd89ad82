// `--userns remap` over a container's whole lifecycle: `run -d` (with --rm, -i, -t, --name, -p on
// the bridge, a user network), everything a detached container offers (ps, logs -f, exec, attach,
// top, stats, pause, cp both ways, diff, commit, inspect, stop, kill, rm, prune), `start`,
// `restart` and `--restart` of one. What a user checks: the map inside (PID 1's and an exec'd
// process's), where a file written inside lands on the host (base+uid), the same walls for exec
// as for PID 1, and nothing left on the host afterwards.
import {before, test} from 'node:test'
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {BUSYBOX_IMAGE, pivot, tempDir, type PivotResult} from '../../helpers/fixtures'
import {leftovers, seedImage} from '../../helpers/seed-image'
import {remapRange} from '../../../src/userns/remap-range'
import {assertRemapClean} from '../../helpers/remap'
import {processesMentioning} from '../../helpers/processes-mentioning'

const B = BUSYBOX_IMAGE
const NETWORK = 'pivot-test-remapd-net'
let cache: string
let base: number
let mapLine: string[]

before(() => {
  cache = tempDir('pivot-userns-detached')
  seedImage(cache, B)
  base = remapRange().uid
  mapLine = ['0', String(base), '65536']
})

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

function p(args: string[], timeout = 60_000, input = ''): PivotResult {
  return pivot(args, {cacheDir: cache, input, timeout})
}

function ok(args: string[], input = ''): string {
  const r = p(args, 60_000, input)
  assert.equal(r.status, 0, `pivot ${args.join(' ')}: exit ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`)
  return r.stdout
}

function runD(args: string[]): string {
  const out = ok(['run', '-d', '--userns', 'remap', ...args])
  assert.match(out, /^[0-9a-f]{64}\n$/, 'run -d prints the full id and nothing else')
  return out.trim()
}

async function until(what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(100)
  }
}

function status(ref: string): string {
  return ok(['inspect', '--format', '{{.State.Status}}', ref]).trim()
}

function upperOf(id: string): string {
  return path.join(cache, 'containers', id, 'upper')
}

function fields(line: string | undefined): string[] {
  return (line ?? '').trim().split(/\s+/)
}

/** Processes on the host whose command line names this test's cache (monitors, starters, inits). */
/** Nothing of the cache's containers on the host: mounts, cgroups, records, processes, staging mounts, attach sockets. */
async function clean(ids: string[]): Promise<void> {
  // A -d --rm container is removed by its monitor's cleanup, just after it exits.
  await until('the monitors to finish', () => processesMentioning(cache).length === 0 && leftovers(cache).containers.length === 0)
  assertRemapClean(cache)
  const sockets = fs.existsSync('/run/pivot/attach') ? fs.readdirSync('/run/pivot/attach') : []
  for (const id of ids) assert.ok(!sockets.includes(`${id.slice(0, 32)}.sock`), `no attach socket left for ${id.slice(0, 12)}`)
}

test('run -d: the map inside, ps, logs -f, exec in the same user namespace with the walls of PID 1, top, stats, pause, inspect, stop, rm', async () => {
  const id = runD([
    '--name',
    'rd1',
    B,
    'sh',
    '-c',
    'cat /proc/self/uid_map /proc/self/gid_map; touch /a; touch /b; chown 1000:1000 /b; echo ready; exec sleep 600',
  ])
  await until('the first output', () => ok(['logs', 'rd1']).includes('ready'))
  const logs = ok(['logs', 'rd1']).trim().split('\n')
  assert.deepEqual(fields(logs[0]), mapLine)
  assert.deepEqual(fields(logs[1]), mapLine)
  assert.match(ok(['ps', '--filter', 'name=rd1']), /Up .* rd1\n$/)
  assert.equal(fs.statSync(path.join(upperOf(id), 'a')).uid, base)
  assert.equal(fs.statSync(path.join(upperOf(id), 'b')).uid, base + 1000)
  assert.equal(fs.statSync(path.join(upperOf(id), 'b')).gid, base + 1000)

  // exec joins PID 1's user namespace: its own map, its namespace and its walls are PID 1's.
  const walls = 'grep -E "^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp):"'
  const inExec = ok([
    'exec',
    'rd1',
    'sh',
    '-c',
    `cat /proc/self/uid_map; readlink /proc/self/ns/user; readlink /proc/1/ns/user; id -u; ${walls} /proc/self/status`,
  ])
  const [map, ownNs, pid1Ns, uid, ...execWalls] = inExec.trim().split('\n')
  assert.deepEqual(fields(map), mapLine)
  assert.equal(ownNs, pid1Ns)
  assert.equal(uid, '0')
  const pid1Walls = ok(['exec', 'rd1', 'sh', '-c', `${walls} /proc/1/status`])
    .trim()
    .split('\n')
  assert.deepEqual(execWalls, pid1Walls)
  assert.ok(
    pid1Walls.some(l => /^Seccomp:\s+2$/.test(l)),
    pid1Walls.join('\n'),
  )
  assert.equal(ok(['exec', '-u', '1000', 'rd1', 'sh', '-c', 'id -u; touch /tmp/by1000']), '1000\n')
  assert.equal(fs.statSync(path.join(upperOf(id), 'tmp', 'by1000')).uid, base + 1000)

  // top shows the host's view (the range's base), as docker's does for a remapped container.
  const top = ok(['top', 'rd1'])
  assert.match(top, /sleep 600/)
  assert.match(ok(['stats', '--no-stream', 'rd1']), /rd1/)
  ok(['pause', 'rd1'])
  assert.equal(status('rd1'), 'paused')
  ok(['unpause', 'rd1'])
  assert.equal(status('rd1'), 'running')
  assert.equal(ok(['inspect', '--format', '{{.HostConfig.UsernsMode}}', 'rd1']), 'remap\n')
  ok(['stop', '-t', '1', 'rd1'])
  assert.equal(status('rd1'), 'exited')

  // logs -f of a remapped container follows it to its end.
  const follow = runD(['--name', 'rd2', B, 'sh', '-c', 'echo one; sleep 1; echo two'])
  const followed = p(['logs', '-f', 'rd2'], 30_000)
  assert.equal(followed.status, 0, followed.stderr)
  assert.equal(followed.stdout, 'one\ntwo\n')
  ok(['rm', 'rd1', 'rd2'])
  await clean([id, follow])
})

test('cp both ways with the container view of owners, diff, and commit: the layer holds container ids (run without --userns shows uid 1000)', async () => {
  const id = runD([
    '--name',
    'rcp',
    B,
    'sh',
    '-c',
    'mkdir -p /home/u; chown 1000:1000 /home/u; chmod 700 /home/u; echo mine > /home/u/f; chown 1000:1000 /home/u/f; echo ready; exec sleep 600',
  ])
  await until('the container to be ready', () => ok(['logs', 'rcp']).includes('ready'))
  const host = tempDir('pivot-userns-cp')
  // A root-only host file goes in (pivot reads it, the container's root owns the copy), also into
  // a directory only uid 1000 may write.
  fs.writeFileSync(path.join(host, 'secret'), 'in\n', {mode: 0o600})
  ok(['cp', path.join(host, 'secret'), 'rcp:/secret'])
  ok(['cp', path.join(host, 'secret'), 'rcp:/home/u/'])
  fs.mkdirSync(path.join(host, 'dir', 'sub'), {recursive: true})
  fs.writeFileSync(path.join(host, 'dir', 'sub', 'x'), 'x\n')
  ok(['cp', path.join(host, 'dir'), 'rcp:/dir'])
  // A tar stream keeps its owners, in the container's terms.
  fs.mkdirSync(path.join(host, 'tarred'))
  fs.writeFileSync(path.join(host, 'tarred', 't'), 't\n')
  fs.chownSync(path.join(host, 'tarred', 't'), 1000, 1000)
  const tar = spawnSync('tar', ['-C', path.join(host, 'tarred'), '--numeric-owner', '-cf', '-', 't'])
  assert.equal(tar.status, 0)
  ok(['cp', '-', 'rcp:/home'], tar.stdout as unknown as string)
  const inside = ok(['exec', 'rcp', 'sh', '-c', 'stat -c "%u %g %a %n" /secret /home/u/secret /dir /dir/sub/x /home/t; cat /secret /home/u/secret'])
  assert.equal(inside, '0 0 600 /secret\n0 0 600 /home/u/secret\n0 0 755 /dir\n0 0 644 /dir/sub/x\n1000 1000 644 /home/t\nin\nin\n')
  assert.equal(fs.statSync(path.join(upperOf(id), 'secret')).uid, base)
  assert.equal(fs.statSync(path.join(upperOf(id), 'home', 't')).uid, base + 1000)

  // Out: a file lands owned by the caller; a tar shows the ids the container sees.
  ok(['cp', 'rcp:/home/u/f', path.join(host, 'out')])
  assert.equal(fs.readFileSync(path.join(host, 'out'), 'utf8'), 'mine\n')
  assert.equal(fs.statSync(path.join(host, 'out')).uid, 0)
  const listed = spawnSync('tar', ['-tvf', '-', '--numeric-owner'], {input: p(['cp', 'rcp:/home/u', '-']).stdout})
  assert.match(listed.stdout.toString(), /^drwx------ 1000\/1000 .* u\/$/m)
  assert.match(listed.stdout.toString(), /^-rw-r--r-- 1000\/1000 .* u\/f$/m)

  assert.deepEqual(
    ok(['diff', 'rcp'])
      .trim()
      .split('\n')
      .filter(l => !l.includes('/proc') && !l.startsWith('C /tmp'))
      .sort(),
    ['A /dir', 'A /dir/sub', 'A /dir/sub/x', 'A /home/t', 'A /home/u', 'A /home/u/f', 'A /home/u/secret', 'A /secret', 'C /home'],
  )
  ok(['commit', 'rcp', 'pivot-test/remapd-commit'])
  const plain = ok(['run', '--rm', 'pivot-test/remapd-commit', 'stat', '-c', '%u %g %n', '/home/u', '/home/u/f', '/home/t', '/secret'])
  assert.equal(plain, '1000 1000 /home/u\n1000 1000 /home/u/f\n1000 1000 /home/t\n0 0 /secret\n')
  const remapped = ok(['run', '--rm', '--userns', 'remap', 'pivot-test/remapd-commit', 'stat', '-c', '%u %g %n', '/home/u', '/secret'])
  assert.equal(remapped, '1000 1000 /home/u\n0 0 /secret\n')

  // Stopped: out still works (the layers mounted on the host, the upper's ids shifted back); in
  // goes through the container's idmapped layers (userns-remap-cp.test.ts compares it with a running one).
  ok(['stop', '-t', '0', 'rcp'])
  const stopped = spawnSync('tar', ['-tvf', '-', '--numeric-owner'], {input: p(['cp', 'rcp:/home/u', '-']).stdout})
  assert.match(stopped.stdout.toString(), /^drwx------ 1000\/1000 .* u\/$/m)
  ok(['cp', path.join(host, 'secret'), 'rcp:/again'])
  assert.equal(fs.statSync(path.join(upperOf(id), 'again')).uid, base)
  ok(['rm', 'rcp'])
  ok(['rmi', 'pivot-test/remapd-commit'])
  await clean([id])
})

test('start and restart of a stopped remapped container keep its writable layer and map it again; --restart on-failure and always', async () => {
  const id = runD(['--name', 'rs', B, 'sh', '-c', 'cat /proc/self/uid_map; echo run >> /runs; chown 1000:1000 /runs; wc -l < /runs; exec sleep 600'])
  await until('the first run', () => ok(['logs', 'rs']).includes('1\n'))
  ok(['stop', '-t', '0', 'rs'])
  assert.equal(ok(['start', 'rs']), 'rs\n')
  await until('the second run', () => ok(['logs', 'rs']).trim().endsWith('2'))
  assert.deepEqual(fields(ok(['exec', 'rs', 'cat', '/proc/self/uid_map'])), mapLine)
  ok(['restart', '-t', '0', 'rs'])
  await until('the third run', () => ok(['logs', 'rs']).trim().endsWith('3'))
  const logs = ok(['logs', 'rs']).trim().split('\n')
  assert.deepEqual(logs.filter((_, i) => i % 2 === 0).map(fields), [mapLine, mapLine, mapLine])
  assert.equal(fs.statSync(path.join(upperOf(id), 'runs')).uid, base + 1000)
  ok(['rm', '-f', 'rs'])

  const failing = runD(['--restart', 'on-failure:2', '--name', 'rf', B, 'sh', '-c', 'cat /proc/self/uid_map; echo x >> /count; exit 3'])
  await until('two restarts', () => ok(['inspect', '--format', '{{.RestartCount}} {{.State.Status}}', 'rf']) === '2 exited\n', 60_000)
  const runs = ok(['logs', 'rf']).trim().split('\n')
  assert.equal(runs.length, 3)
  for (const line of runs) assert.deepEqual(fields(line), mapLine)
  assert.equal(fs.readFileSync(path.join(upperOf(failing), 'count'), 'utf8'), 'x\nx\nx\n')
  assert.equal(ok(['inspect', '--format', '{{.State.ExitCode}}', 'rf']), '3\n')

  const always = runD(['--restart', 'always', '--name', 'ra', B, 'sh', '-c', 'echo up; sleep 2'])
  try {
    // Stopped while it runs (not between two runs, which the monitor's back-off may be in).
    await until('two restarts', () => ok(['inspect', '--format', '{{.RestartCount}} {{.State.Status}}', 'ra']) === '2 running\n', 60_000)
    await until('the three runs logged', () => ok(['logs', 'ra']) === 'up\nup\nup\n')
    ok(['stop', '-t', '0', 'ra'])
    await until('the stop', () => status('ra') === 'exited')
  } finally {
    p(['rm', '-f', 'rf', 'ra'])
  }
  await clean([id, failing, always])
})

test('-d --rm, -d -t, -d -i with attach, kill, prune: each in the range, nothing left', async () => {
  const gone = runD(['--rm', B, 'sh', '-c', 'cat /proc/self/uid_map'])
  await until('the --rm container to go', () => !fs.existsSync(path.join(cache, 'containers', gone)))

  const tty = runD(['-t', '--name', 'rt', B, 'sh', '-c', 'tty; cat /proc/self/uid_map; exec sleep 600'])
  await until('the terminal output', () => ok(['logs', 'rt']).includes('65536'))
  const [ttyName, ttyMap] = ok(['logs', 'rt']).split('\r\n')
  assert.equal(ttyName, '/dev/pts/0')
  assert.deepEqual(fields(ttyMap), mapLine)
  ok(['kill', 'rt'])
  await until('the kill', () => status('rt') === 'exited')
  assert.equal(ok(['inspect', '--format', '{{.State.ExitCode}}', 'rt']), '137\n')

  const interactive = runD(['-i', '--name', 'ri', B, 'sh', '-c', 'read line; echo "got $line"; cat /proc/self/uid_map'])
  const attached = p(['attach', 'ri'], 30_000, 'hello\n')
  assert.equal(attached.status, 0, attached.stderr)
  assert.equal(attached.stdout.split('\n')[0], 'got hello')
  assert.deepEqual(fields(attached.stdout.split('\n')[1]), mapLine)
  await until('its end', () => status('ri') === 'exited')
  assert.match(ok(['container', 'prune', '-f']), /Total reclaimed space/)
  assert.equal(ok(['ps', '-aq']), '')
  await clean([gone, tty, interactive])
})

test('-p on the bridge and a user network: the namespace is the user namespace own, reachable, and again after restart', async () => {
  const web = runD(['--net', 'bridge', '-p', '127.0.0.1:5300:80', '--name', 'rweb', B, 'sh', '-c', 'echo hello > /i; exec httpd -f -p 80 -h /'])
  const get = () => spawnSync('wget', ['-qO-', '-T', '3', 'http://127.0.0.1:5300/i'], {encoding: 'utf8'}).stdout
  await until('the published port', () => get() === 'hello\n')
  ok(['restart', '-t', '0', 'rweb'])
  await until('the published port after the restart', () => get() === 'hello\n')
  assert.deepEqual(fields(ok(['exec', 'rweb', 'cat', '/proc/self/uid_map'])), mapLine)
  ok(['rm', '-f', 'rweb'])

  ok(['network', 'create', NETWORK])
  try {
    const member = runD(['--net', NETWORK, '--name', 'rnet', B, 'sleep', '600'])
    const ping = () => p(['run', '--rm', '--net', NETWORK, B, 'ping', '-c1', '-W3', 'rnet']).status === 0
    assert.ok(ping(), 'a container on the network reaches the remapped one by name')
    assert.match(ok(['exec', 'rnet', 'cat', '/etc/hosts']), new RegExp(`\\t${member.slice(0, 12)}\\n`))
    ok(['restart', '-t', '0', 'rnet'])
    assert.ok(ping(), 'and again after its restart')
    ok(['rm', '-f', 'rnet'])
    await clean([web, member])
  } finally {
    p(['rm', '-f', 'rnet'])
    p(['network', 'rm', NETWORK])
  }
})

test('bad input: a range that changed between run and start, or a record without it: one line each, the container left as it was', async () => {
  const id = runD(['--name', 'rchg', B, 'true'])
  await until('its end', () => status('rchg') === 'exited')
  // As if the administrator had given pivot another range since: the record keeps the old one.
  const file = path.join(cache, 'containers', id, 'state.json')
  const record = JSON.parse(fs.readFileSync(file, 'utf8')) as {usernsMaps: {uid: Array<{outside: number}>}}
  record.usernsMaps.uid[0].outside = base + 65536
  fs.writeFileSync(file, JSON.stringify(record))
  const start = p(['start', 'rchg'])
  assert.equal(start.status, 1)
  assert.equal(
    start.stderr,
    `pivot: container ${id.slice(0, 12)} cannot be started again: it was made with pivot's --userns remap range uids ${base + 65536}+65536, gids ${base}+65536, and the range is now uids ${base}+65536, gids ${base}+65536 (/etc/subuid, /etc/subgid); remove it and run it again\n`,
  )
  assert.equal(status('rchg'), 'exited')
  // A record without the maps (a remapped container of the pivot before this one): one line too.
  delete (record as {usernsMaps?: unknown}).usernsMaps
  fs.writeFileSync(file, JSON.stringify(record))
  const old = p(['start', 'rchg'])
  assert.equal(old.status, 1)
  assert.equal(
    old.stderr,
    `pivot: container ${id.slice(0, 12)} cannot be started again: it was made by an older pivot that did not record its user namespace's range; remove it and run it again\n`,
  )
  assert.equal(status('rchg'), 'exited')
  ok(['rm', 'rchg'])
  await clean([id])
})
