import {test} from 'node:test'
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {tempDir} from '../../helpers/fixtures'

/**
 * The user-namespace starter (src/userns) on the real kernel: each case runs in a fresh node
 * process (a script through spawnInUserns), as root and as uid 65534.
 */
const usernsModule = path.resolve(__dirname, '../../../src/userns')
// A range nothing else on a test machine uses (pivot's own default is elsewhere).
const BASE = 1_500_000_000

function script(code: string, as?: number): {status: number | null; stdout: string; stderr: string} {
  const prelude = `const U = require(${JSON.stringify(usernsModule)});
const wide = {uid: [{inside: 0, outside: ${BASE}, count: 65536}], gid: [{inside: 0, outside: ${BASE}, count: 65536}]};
const done = p => { p.ready.then(pid => console.log('ready', pid), e => console.log('failed', e.code, e.message)); p.child.on('exit', (c, s) => console.log('exit', c, s)) };\n`
  const argv = [process.execPath, '-e', prelude + code]
  const cmd = as === undefined ? argv : ['setpriv', `--reuid=${as}`, `--regid=${as}`, '--clear-groups', ...argv]
  const r = spawnSync(cmd[0], cmd.slice(1), {encoding: 'utf8', timeout: 30_000, env: {PATH: process.env.PATH}})
  return {status: r.status, stdout: r.stdout, stderr: r.stderr}
}

function noMountUnder(dir: string): void {
  assert.ok(!fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(dir), `no mount left under ${dir}`)
}

test('root: the program is PID 1 in a user namespace with the given map; files land shifted on the host', () => {
  const dir = tempDir('pivot-userns-')
  try {
    fs.chownSync(dir, BASE, BASE)
    const r =
      script(`done(U.spawnInUserns('/bin/sh', ['-c', 'cat /proc/self/uid_map /proc/self/gid_map; echo pid=$$ uid=$(id -u); touch ${dir}/a ${dir}/b; chown 1000:1000 ${dir}/b; grep -E "^(CapEff|NoNewPrivs)" /proc/self/status; exit 7'],
      {env: {PATH: '/usr/bin:/bin'}, stdio: 'inherit'}, {maps: wide}))`)
    assert.equal(r.status, 0, r.stderr)
    const lines = r.stdout.split('\n')
    assert.match(
      lines.find(l => l.startsWith('ready'))!,
      /^ready \d+$/,
    )
    assert.deepEqual(
      lines.filter(l => /^\s+0\s/.test(l)).map(l => l.trim().split(/\s+/).join(' ')),
      [`0 ${BASE} 65536`, `0 ${BASE} 65536`],
    )
    assert.ok(lines.includes('pid=1 uid=0'), r.stdout)
    assert.ok(lines.includes('exit 7 null'), r.stdout)
    // Root of the namespace: every capability there (none on the host).
    assert.match(r.stdout, /CapEff:\s+000001ffffffffff/)
    assert.equal(fs.statSync(path.join(dir, 'a')).uid, BASE)
    assert.equal(fs.statSync(path.join(dir, 'b')).uid, BASE + 1000)
    assert.equal(fs.statSync(path.join(dir, 'b')).gid, BASE + 1000)
  } finally {
    fs.rmSync(dir, {recursive: true, force: true})
  }
})

test('root: an idmapped directory shows host ownership unchanged inside, and no mount is left on the host', () => {
  const dir = tempDir('pivot-userns-')
  try {
    // The namespace's root is an unprivileged host uid: it must be able to reach the layer.
    fs.chmodSync(dir, 0o755)
    fs.mkdirSync(path.join(dir, 'layer'))
    fs.writeFileSync(path.join(dir, 'layer', 'f'), 'x')
    fs.chownSync(path.join(dir, 'layer', 'f'), 1000, 1000)
    const r = script(`done(U.spawnInUserns('/bin/sh', ['-c', 'stat -c "%u:%g" ${dir}/layer/f ${dir}/layer; grep -c ${dir}/layer /proc/self/mountinfo'],
      {env: {PATH: '/usr/bin:/bin'}, stdio: 'inherit'}, {maps: wide, idmapDirs: ['${dir}/layer']}))`)
    assert.equal(r.status, 0, r.stderr)
    const lines = r.stdout.split('\n')
    assert.ok(lines.includes('1000:1000'), r.stdout)
    assert.ok(lines.includes('0:0'), r.stdout)
    assert.ok(lines.includes('1'), `mounted in the starter's namespace: ${r.stdout}`)
    noMountUnder(dir)
  } finally {
    fs.rmSync(dir, {recursive: true, force: true})
  }
})

test("signals to the starter reach the program; its death by signal is the starter's", () => {
  const r =
    script(`const p = U.spawnInUserns('/bin/sh', ['-c', 'trap "echo got TERM; exit 3" TERM; sleep 20 & wait'], {env: {PATH: '/usr/bin:/bin'}, stdio: 'inherit'}, {maps: wide});
    done(p); p.ready.then(() => setTimeout(() => p.child.kill('SIGTERM'), 300));
    const q = U.spawnInUserns('/bin/sleep', ['20'], {env: {}, stdio: 'inherit'}, {maps: wide});
    q.ready.then(pid => setTimeout(() => process.kill(pid, 'SIGKILL'), 300)); q.child.on('exit', (c, s) => console.log('q exit', c, s))`)
  assert.equal(r.status, 0, r.stderr)
  assert.ok(r.stdout.includes('got TERM\n'), r.stdout)
  assert.ok(r.stdout.includes('exit 3 null\n'), r.stdout)
  assert.ok(r.stdout.includes('q exit null SIGKILL\n'), r.stdout)
})

test('uid 65534 without subordinate ranges: the single-id map with setgroups denied', () => {
  const r = script(
    `done(U.spawnInUserns('/bin/sh', ['-c', 'cat /proc/self/uid_map /proc/self/setgroups; id -u'], {env: {PATH: '/usr/bin:/bin'}, stdio: 'inherit'},
      {maps: {uid: [{inside: 0, outside: 65534, count: 1}], gid: [{inside: 0, outside: 65534, count: 1}]}}))`,
    65534,
  )
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stdout, /^\s+0\s+65534\s+1$/m)
  assert.match(r.stdout, /^deny$/m)
  assert.match(r.stdout, /^0$/m)
  assert.match(r.stdout, /^exit 0 null$/m)
})

test('failures are one UsernsError each and leave no process: a map the user may not have, a missing idmap dir', () => {
  const r = script(`done(U.spawnInUserns('/bin/true', [], {env: {}, stdio: 'inherit'}, {maps: wide}))`, 65534)
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stdout, /^failed USERNS_MAP_FAILED newuidmap \d+ 0 1500000000 65536 failed: newuidmap: .*not allowed$/m)
  // The starter reads EOF instead of "go" (125), or pivot's SIGKILL comes first.
  assert.match(r.stdout, /^exit (125 null|null SIGKILL)$/m)
  const s = script(`done(U.spawnInUserns('/bin/true', [], {env: {}, stdio: 'inherit'}, {maps: wide, idmapDirs: ['/nonexistent/pivot-userns']}))`)
  assert.equal(s.status, 0, s.stderr)
  assert.match(s.stdout, /^failed USERNS_FAILED cannot idmap \/nonexistent\/pivot-userns: open_tree: No such file or directory$/m)
  assert.match(s.stdout, /^exit 125 null$/m)
  // The starter and its child are gone (the script waited for the starter's exit).
  const leftover = spawnSync('pgrep', ['-f', 'pivot-userns -c'], {encoding: 'utf8'}).stdout.trim()
  assert.equal(
    leftover
      .split('\n')
      .filter(Boolean)
      .filter(pid => fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('/bin/true')).length,
    0,
  )
})
