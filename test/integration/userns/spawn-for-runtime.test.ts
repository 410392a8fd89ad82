import {test} from 'node:test'
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'

/**
 * The starter's placement options for the OCI runtime mode (spawnPlacedInUserns: userns.c's -x,
 * -u, -j, -P) on the real kernel, as root, each case in a fresh node process.
 */
const starterModule = path.resolve(__dirname, '../../../src/userns/spawn-for-runtime')
// A range nothing else on a test machine uses (spawn-in-userns.test.ts uses 1_500_000_000).
const BASE = 1_600_000_000

function script(code: string): {status: number | null; stdout: string; stderr: string} {
  const prelude = `const U = require(${JSON.stringify(starterModule)});
const wide = {uid: [{inside: 0, outside: ${BASE}, count: 65536}], gid: [{inside: 0, outside: ${BASE}, count: 65536}]};
const env = {PATH: '/usr/bin:/bin'};
const ns = (pid, n) => require('fs').readlinkSync('/proc/' + pid + '/ns/' + n);\n`
  const r = spawnSync(process.execPath, ['-e', prelude + code], {encoding: 'utf8', timeout: 30_000, env: {PATH: process.env.PATH}})
  return {status: r.status, stdout: r.stdout, stderr: r.stderr}
}

function gone(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    return /^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2))
  } catch {
    return true
  }
}

// The sleep lets go of the output pipe: spawnSync waits for the pipe's end, so a sleep holding it
// made every run last 30 s and raced the sleep's own end against spawnSync's timeout.
test('-x: the starter exits 0 once the program runs; the program lives on without it, PID 1 of its own namespace', () => {
  const r = script(`
const p = U.spawnPlacedInUserns('/bin/sh', ['-c', 'echo pid=$$ ppid=$PPID; exec sleep 30 >/dev/null 2>&1'], {env, stdio: ['ignore', 'inherit', 'inherit']}, {maps: wide}, {detach: true})
const exited = new Promise(resolve => p.child.on('exit', (code, signal) => resolve({code, signal})))
Promise.all([p.ready, exited]).then(([pid, {code, signal}]) => {
  const stat = require('fs').readFileSync('/proc/' + pid + '/stat', 'utf8')
  const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
  console.log(JSON.stringify({code, signal, pid, starter: p.child.pid, ppid, uidMap: require('fs').readFileSync('/proc/' + pid + '/uid_map', 'utf8').trim().split(/\\s+/).join(' ')}))
}, e => console.log('failed', e.message))`)
  assert.equal(r.status, 0, r.stderr)
  const report = JSON.parse(r.stdout.split('\n').find(l => l.startsWith('{'))!) as Record<string, unknown>
  try {
    assert.match(r.stdout, /^pid=1 ppid=0$/m)
    assert.equal(report.code, 0)
    assert.equal(report.signal, null)
    // Alive after the starter's exit, and no longer its child (no parent-death signal either).
    assert.notEqual(report.ppid, report.starter)
    assert.equal(report.uidMap, `0 ${BASE} 65536`)
    assert.equal(gone(report.pid as number), false)
  } finally {
    process.kill(report.pid as number, 'SIGKILL')
  }
})

test('-u, -j, -P: a second program joins the first one user and network namespaces, in our PID namespace; a bad path is one error', () => {
  const r = script(`
const first = U.spawnPlacedInUserns('/bin/sleep', ['30'], {env, stdio: 'ignore'}, {maps: wide, newNetwork: true}, {detach: true})
first.ready.then(pid => {
  const second = U.spawnPlacedInUserns('/bin/sh', ['-c', 'readlink /proc/self/ns/user /proc/self/ns/net /proc/self/ns/pid; echo uid=$(id -u)'], {env, stdio: ['ignore', 'inherit', 'inherit']},
    {maps: {uid: [], gid: []}, writer: 'none'}, {joinUser: '/proc/' + pid + '/ns/user', join: ['/proc/' + pid + '/ns/net'], newPid: false, detach: true})
  second.ready.then(() => {
    console.log('want ' + [ns(pid, 'user'), ns(pid, 'net'), ns(process.pid, 'pid')].join(' '))
    const bad = U.spawnPlacedInUserns('/bin/true', [], {env, stdio: 'ignore'}, {maps: wide}, {join: ['/nonexistent/ns/net'], detach: true})
    bad.ready.then(() => console.log('bad ran'), e => { console.log('bad ' + e.code + ' ' + e.message); process.kill(pid, 'SIGKILL') })
  }, e => { console.log('failed', e.message); process.kill(pid, 'SIGKILL') })
}, e => console.log('failed', e.message))`)
  assert.equal(r.status, 0, r.stderr)
  const lines = r.stdout.trim().split('\n')
  const want = lines.find(l => l.startsWith('want '))
  assert.ok(want, r.stdout)
  const got = lines.filter(l => /^(user|net|pid):\[/.test(l))
  assert.deepEqual(got, want.slice(5).split(' '))
  assert.ok(lines.includes('uid=0'), r.stdout)
  assert.ok(lines.includes('bad USERNS_FAILED cannot open the namespace /nonexistent/ns/net: No such file or directory'), r.stdout)
})
