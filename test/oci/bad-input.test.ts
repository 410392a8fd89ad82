/* eslint-disable @typescript-eslint/no-explicit-any -- the tests edit config.json (runtime-spec JSON) freely, as any runtime-spec document */
import * as assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {after, test} from 'node:test'
import {RUNC_BIN, RUNTIME_BIN, leftovers, makeBundle, run, runCreate} from '../helpers/oci'

/**
 * Bad input to pivot-runtime next to the same input to runc: runc's exit status (1) and, where
 * containerd parses it, runc's message; one line naming the cause; nothing half-made (no state
 * dir, cgroup or mount left for the id).
 */
const roots = {runc: fs.mkdtempSync('/tmp/pivot-oci-runc-root-'), pivot: fs.mkdtempSync('/tmp/pivot-oci-pivot-root-')}
const bundles: string[] = []

after(() => {
  for (const [name, root] of Object.entries(roots)) {
    for (const id of fs.existsSync(root) ? fs.readdirSync(root).filter(n => !n.startsWith('.')) : []) {
      run(name === 'runc' ? RUNC_BIN : RUNTIME_BIN, ['--root', root, 'delete', '--force', id])
    }
    fs.rmSync(root, {recursive: true, force: true})
  }
  for (const b of bundles) fs.rmSync(b, {recursive: true, force: true})
})

function both(args: string[]) {
  return {
    runc: run(RUNC_BIN, ['--root', roots.runc, ...args]),
    pivot: run(RUNTIME_BIN, ['--root', roots.pivot, ...args]),
  }
}

/** The `msg` of runc's `time=… level=error msg="…"` stderr line. */
function msg(stderr: string): string {
  const lines = stderr.trim().split('\n')
  assert.equal(lines.length, 1, `one line on stderr, got: ${stderr}`)
  const m = /level=error msg=("(?:[^"\\]|\\.)*")/.exec(lines[0]!)
  assert.ok(m, `runc's error line format: ${stderr}`)
  return JSON.parse(m[1]!) as string
}

function bundle(edit?: (c: Record<string, any>) => void): string {
  const b = makeBundle(edit)
  bundles.push(b)
  return b
}

function noLeak(id: string): void {
  assert.deepEqual(leftovers(id, [roots.pivot]), [])
}

test('missing and malformed config.json: exit 1, the cause, nothing made', () => {
  const empty = fs.mkdtempSync('/tmp/pivot-oci-empty-')
  bundles.push(empty)
  const missing = both(['create', '--bundle', empty, 'oci-bad-missing'])
  assert.equal(missing.pivot.status, 1)
  assert.equal(missing.pivot.status, missing.runc.status)
  assert.match(msg(missing.runc.stderr), /JSON specification file config.json not found/)
  assert.match(msg(missing.pivot.stderr), /JSON specification file config.json not found/)
  noLeak('oci-bad-missing')
  fs.writeFileSync(path.join(empty, 'config.json'), '{bad')
  const malformed = both(['create', '--bundle', empty, 'oci-bad-malformed'])
  assert.equal(malformed.pivot.status, malformed.runc.status)
  assert.match(msg(malformed.pivot.stderr), /^config.json is not valid JSON: /)
  noLeak('oci-bad-malformed')
})

test('an unsupported field is refused by name (never ignored), with --log json as containerd reads it', () => {
  const b = bundle(c => {
    c.linux.personality = {domain: 'LINUX32'}
  })
  const log = path.join(b, 'log.json')
  const r = run(RUNTIME_BIN, ['--root', roots.pivot, '--log', log, '--log-format', 'json', 'create', '--bundle', b, 'oci-bad-personality'])
  assert.equal(r.status, 1)
  const last = JSON.parse(fs.readFileSync(log, 'utf8').trim().split('\n').pop()!) as {level: string; msg: string}
  assert.equal(last.level, 'error')
  assert.equal(last.msg, 'config.json: linux.personality is not supported by pivot')
  noLeak('oci-bad-personality')
  const unknownField = bundle(c => {
    c.linux.intelRdt = {closID: 'x'}
  })
  const rdt = run(RUNTIME_BIN, ['--root', roots.pivot, 'create', '--bundle', unknownField, 'oci-bad-rdt'])
  assert.equal(rdt.status, 1)
  assert.equal(msg(rdt.stderr), 'config.json: linux.intelRdt is not supported by pivot')
  noLeak('oci-bad-rdt')
  const caps = bundle(c => c.process.capabilities.bounding.push('CAP_NOT_A_CAP'))
  const badCap = run(RUNTIME_BIN, ['--root', roots.pivot, 'create', '--bundle', caps, 'oci-bad-cap'])
  assert.equal(badCap.status, 1)
  assert.match(msg(badCap.stderr), /unknown capability "CAP_NOT_A_CAP"/)
  noLeak('oci-bad-cap')
  const systemd = run(RUNTIME_BIN, ['--systemd-cgroup', 'state', 'x'])
  assert.equal(systemd.status, 1)
  assert.match(msg(systemd.stderr), /--systemd-cgroup is not supported by pivot/)
})

test('unknown id: state, start, kill, delete say "container does not exist" like runc', () => {
  for (const cmd of [['state'], ['start'], ['kill'], ['delete'], ['pause'], ['ps', '--format', 'json']]) {
    const r = both([...cmd, 'oci-bad-nothere'])
    assert.equal(r.runc.status, 1, cmd.join(' '))
    assert.equal(r.pivot.status, 1, cmd.join(' '))
    assert.equal(msg(r.pivot.stderr), msg(r.runc.stderr), cmd.join(' '))
  }
})

test("create of an existing id, kill of a stopped container, delete of a running one: runc's answers", async () => {
  const b = bundle(c => (c.process.args = ['sleep', '1000']))
  const id = 'oci-bad-lifecycle'
  for (const [name, bin] of [
    ['runc', RUNC_BIN],
    ['pivot', RUNTIME_BIN],
  ] as const) {
    const root = roots[name]
    assert.equal(runCreate(bin, ['--root', root, 'create', '--bundle', b, id]).status, 0, name)
    const again = runCreate(bin, ['--root', root, 'create', '--bundle', b, id])
    assert.equal(again.status, 1, name)
    assert.match(msg(again.stderr), /container with given ID already exists/, name)
    assert.equal(run(bin, ['--root', root, 'start', id]).status, 0, name)
    const startAgain = run(bin, ['--root', root, 'start', id])
    assert.equal(msg(startAgain.stderr), 'cannot start an already running container', name)
    const del = run(bin, ['--root', root, 'delete', id])
    assert.equal(del.status, 1, name)
    assert.equal(msg(del.stderr), `cannot delete container ${id} that is not stopped: running`, name)
    assert.equal(run(bin, ['--root', root, 'kill', id, 'KILL']).status, 0, name)
    let state = ''
    for (let i = 0; i < 100 && !state.includes('"stopped"'); i++) {
      await new Promise(r => setTimeout(r, 50))
      state = run(bin, ['--root', root, 'state', id]).stdout
    }
    assert.match(state, /"status": "stopped"/, name)
    const killStopped = run(bin, ['--root', root, 'kill', id, '9'])
    assert.equal(killStopped.status, 1, name)
    assert.equal(msg(killStopped.stderr), 'container not running', name)
    assert.equal(run(bin, ['--root', root, 'delete', id]).status, 0, name)
  }
  noLeak(id)
  // delete --force of a running container takes it all down.
  assert.equal(runCreate(RUNTIME_BIN, ['--root', roots.pivot, 'create', '--bundle', b, id]).status, 0)
  assert.equal(run(RUNTIME_BIN, ['--root', roots.pivot, 'start', id]).status, 0)
  const forced = run(RUNTIME_BIN, ['--root', roots.pivot, 'delete', '--force', id])
  assert.equal(forced.status, 0, forced.stderr)
  noLeak(id)
})

test('a command the container lacks fails at create, like runc, and leaves nothing', () => {
  const b = bundle(c => (c.process.args = ['/no/such/cmd']))
  const r = both(['create', '--bundle', b, 'oci-bad-nocmd'])
  assert.equal(r.pivot.status, 1)
  assert.equal(r.pivot.status, r.runc.status)
  assert.match(msg(r.pivot.stderr), /no\/such\/cmd/)
  noLeak('oci-bad-nocmd')
})
