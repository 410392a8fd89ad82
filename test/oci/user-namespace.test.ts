/* eslint-disable @typescript-eslint/no-explicit-any -- config.json is runtime-spec JSON, edited freely */
import * as assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {after, before, test} from 'node:test'
import {BUSYBOX_IMAGE, REPO_ROOT} from '../helpers/fixtures'
import {
  RUNC_BIN,
  RUNTIME_BIN,
  busyboxRootfs,
  containerdConfig,
  leftovers,
  makeBundle,
  run,
  runCreate,
  savedBusybox,
  startContainerd,
  type PrivateContainerd,
} from '../helpers/oci'

/**
 * Containers in a user namespace (linux.namespaces "user" with uidMappings/gidMappings, or joined
 * by path), pivot-runtime against runc on the same bundle: the maps the process sees, the host ids
 * its files get, exec into it, state/ps/pause/resume/kill/delete, nothing left afterwards; then
 * containerd's `ctr run --uidmap/--gidmap` (which prepares a remapped copy of the image) on both.
 *
 * The bundle's root is a copy of the busybox fixture owned by host uid/gid 100000, i.e. root of the
 * mapped range: the caller prepares the rootfs for its maps, as with runc.
 */
const HOST = 100000
const SIZE = 65536
const MAPS = {uid: [{containerID: 0, hostID: HOST, size: SIZE}], gid: [{containerID: 0, hostID: HOST, size: SIZE}]}
const STARTER = path.join(REPO_ROOT, 'dist', 'monitor', 'pivot-userns')

const roots = {runc: fs.mkdtempSync('/tmp/pivot-oci-userns-runc-'), pivot: fs.mkdtempSync('/tmp/pivot-oci-userns-pivot-')}
const BINS = {runc: RUNC_BIN, pivot: RUNTIME_BIN}
let rootfs: string
const bundles: string[] = []
let containerd: PrivateContainerd | undefined
let work: string

before(() => {
  work = fs.mkdtempSync('/tmp/pivot-oci-userns-')
  rootfs = path.join(work, 'rootfs')
  execFileSync('cp', ['-a', busyboxRootfs() + '/.', rootfs])
  execFileSync('chown', ['-R', `${HOST}:${HOST}`, rootfs])
  fs.chmodSync(work, 0o755)
})

after(async () => {
  for (const [name, root] of Object.entries(roots)) {
    for (const id of fs.readdirSync(root).filter(n => fs.existsSync(path.join(root, n, 'state.json'))))
      run(BINS[name as keyof typeof BINS], ['--root', root, 'delete', '--force', id])
    fs.rmSync(root, {recursive: true, force: true})
  }
  await containerd?.stop()
  for (const b of bundles) fs.rmSync(b, {recursive: true, force: true})
  fs.rmSync(work, {recursive: true, force: true})
})

function bundle(edit: (c: Record<string, any>) => void): string {
  const b = makeBundle(c => {
    c.root.path = rootfs
    c.root.readonly = false
    c.linux.namespaces.push({type: 'user'})
    c.linux.uidMappings = MAPS.uid
    c.linux.gidMappings = MAPS.gid
    edit(c)
  })
  bundles.push(b)
  return b
}

/** pids of processes running the user-namespace starter of this checkout (none may outlive a container's create). */
function starters(): number[] {
  const found: number[] = []
  for (const pid of fs.readdirSync('/proc').filter(n => /^\d+$/.test(n))) {
    try {
      if (fs.readlinkSync(`/proc/${pid}/exe`) === STARTER) found.push(Number(pid))
    } catch {
      // gone, or a kernel thread
    }
  }
  return found
}

/** A process that exists and has not exited (a zombie only waits for its parent to reap it). */
function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2))
  } catch {
    return false
  }
}

async function waitFor(what: string, check: () => boolean): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (check()) return
    await new Promise(r => setTimeout(r, 50))
  }
  assert.fail(`timed out waiting for ${what}`)
}

function status(name: keyof typeof BINS, id: string): string {
  const r = run(BINS[name], ['--root', roots[name], 'state', id])
  return (JSON.parse(r.stdout || '{}') as {status?: string}).status ?? r.stderr
}

test('a new user namespace: maps, file ownership on the host, exec, state/ps/pause/resume/kill/delete as with runc, nothing left', async () => {
  const b = bundle(c => {
    c.process.args = ['sh', '-c', 'cat /proc/self/uid_map /proc/self/gid_map > /tmp/report-$RT; id >> /tmp/report-$RT; touch /tmp/made-$RT; exec sleep 1000']
  })
  const seen: Record<string, Record<string, string>> = {}
  for (const name of ['runc', 'pivot'] as const) {
    const id = `oci-userns-${name}`
    const config = JSON.parse(fs.readFileSync(path.join(b, 'config.json'), 'utf8'))
    config.process.env.push(`RT=${name}`)
    fs.writeFileSync(path.join(b, 'config.json'), JSON.stringify(config))
    const created = runCreate(BINS[name], ['--root', roots[name], 'create', '--bundle', b, id])
    assert.equal(created.status, 0, `${name}: ${created.stderr}`)
    // The init is the caller's: no starter of pivot's stays behind as its parent.
    assert.deepEqual(starters(), [], name)
    assert.equal(status(name, id), 'created', name)
    const started = run(BINS[name], ['--root', roots[name], 'start', id])
    assert.equal(started.status, 0, `${name}: ${started.stderr}`)
    const made = path.join(rootfs, 'tmp', `made-${name}`)
    await waitFor(`${name}'s process to write its report`, () => fs.existsSync(made))
    const state = JSON.parse(run(BINS[name], ['--root', roots[name], 'state', id]).stdout) as {pid: number; status: string}
    assert.equal(state.status, 'running', name)
    const owner = fs.statSync(made)
    const exec = run(BINS[name], [
      '--root',
      roots[name],
      'exec',
      id,
      'sh',
      '-c',
      'cat /proc/self/uid_map /proc/self/gid_map; id; touch /tmp/exec-made; stat -c "%u:%g" /tmp/exec-made',
    ])
    assert.equal(exec.status, 0, `${name}: ${exec.stderr}`)
    const execOwner = fs.statSync(path.join(rootfs, 'tmp', 'exec-made'))
    const ps = JSON.parse(run(BINS[name], ['--root', roots[name], 'ps', '--format', 'json', id]).stdout) as number[]
    assert.ok(ps.includes(state.pid), `${name}: ps ${JSON.stringify(ps)} lacks the init ${state.pid}`)
    assert.equal(run(BINS[name], ['--root', roots[name], 'pause', id]).status, 0, name)
    const paused = status(name, id)
    assert.equal(run(BINS[name], ['--root', roots[name], 'resume', id]).status, 0, name)
    const resumed = status(name, id)
    assert.equal(run(BINS[name], ['--root', roots[name], 'kill', id, 'KILL']).status, 0, name)
    await waitFor(`${name}'s container to stop`, () => status(name, id) === 'stopped')
    const deleted = run(BINS[name], ['--root', roots[name], 'delete', id])
    assert.equal(deleted.status, 0, `${name}: ${deleted.stderr}`)
    assert.deepEqual(leftovers(id, [roots[name]]), [], name)
    assert.ok(!alive(state.pid), `${name}: the init ${state.pid} outlived delete`)
    seen[name] = {
      report: fs.readFileSync(path.join(rootfs, 'tmp', `report-${name}`), 'utf8'),
      owner: `${owner.uid}:${owner.gid}`,
      exec: exec.stdout,
      execOwner: `${execOwner.uid}:${execOwner.gid}`,
      states: `${paused} ${resumed}`,
    }
    fs.rmSync(path.join(rootfs, 'tmp', 'exec-made'))
  }
  // What the process sees of its namespace, inside and from the host, is runc's.
  assert.match(seen.runc.report, new RegExp(`^\\s+0\\s+${HOST}\\s+${SIZE}\\n\\s+0\\s+${HOST}\\s+${SIZE}\\nuid=0\\(root\\) gid=0\\(root\\)\n$`))
  assert.equal(seen.pivot.report, seen.runc.report)
  assert.equal(seen.runc.owner, `${HOST}:${HOST}`)
  assert.equal(seen.pivot.owner, seen.runc.owner)
  assert.equal(seen.pivot.exec, seen.runc.exec)
  assert.match(seen.pivot.exec, /^0:0$/m)
  assert.equal(seen.pivot.execOwner, `${HOST}:${HOST}`)
  assert.equal(seen.pivot.states, 'paused running')
  assert.equal(seen.pivot.states, seen.runc.states)
  assert.deepEqual(starters(), [])
})

test('joining a user namespace (and the pid namespace it owns) by path: the same namespaces and maps as the container that made them', async () => {
  const maker = bundle(c => (c.process.args = ['sleep', '1000']))
  const id = 'oci-userns-maker'
  const made = runCreate(RUNTIME_BIN, ['--root', roots.pivot, 'create', '--bundle', maker, id])
  assert.equal(made.status, 0, made.stderr)
  const makerPid = (JSON.parse(run(RUNTIME_BIN, ['--root', roots.pivot, 'state', id]).stdout) as {pid: number}).pid
  const userns = `/proc/${makerPid}/ns/user`
  const pidns = `/proc/${makerPid}/ns/pid`
  const results: Record<string, {status: number | null; out: string}> = {}
  for (const name of ['runc', 'pivot'] as const) {
    const joiner = bundle(c => {
      c.process.args = [
        'sh',
        '-c',
        `readlink /proc/self/ns/user > /tmp/join-${name}; readlink /proc/self/ns/pid >> /tmp/join-${name}; cat /proc/self/uid_map >> /tmp/join-${name}`,
      ]
      const paths: Record<string, string> = {user: userns, pid: pidns}
      c.linux.namespaces = c.linux.namespaces.map((ns: {type: string}) => (paths[ns.type] ? {type: ns.type, path: paths[ns.type]} : ns))
      // The joined namespace has its maps: a runtime writes none (runc 1.1 still wants them given).
      if (name === 'pivot') {
        delete c.linux.uidMappings
        delete c.linux.gidMappings
      }
    })
    const jid = `oci-userns-join-${name}`
    const created = runCreate(BINS[name], ['--root', roots[name], 'create', '--bundle', joiner, jid])
    assert.equal(created.status, 0, `${name}: ${created.stderr}`)
    assert.equal(run(BINS[name], ['--root', roots[name], 'start', jid]).status, 0, name)
    const out = path.join(rootfs, 'tmp', `join-${name}`)
    await waitFor(`${name}'s joined process`, () => status(name, jid) === 'stopped')
    results[name] = {status: 0, out: fs.readFileSync(out, 'utf8')}
    assert.equal(run(BINS[name], ['--root', roots[name], 'delete', jid]).status, 0, name)
    assert.deepEqual(leftovers(jid, [roots[name]]), [], name)
  }
  const expected = `${fs.readlinkSync(userns)}\n${fs.readlinkSync(pidns)}\n`
  assert.ok(results.pivot.out.startsWith(expected), results.pivot.out)
  assert.equal(results.pivot.out, results.runc.out)
  assert.equal(run(RUNTIME_BIN, ['--root', roots.pivot, 'delete', '--force', id]).status, 0)
  assert.deepEqual(leftovers(id, [roots.pivot]), [])
})

test('bad user namespace configs: one line naming the field, nothing made', () => {
  const cases: [string, (c: Record<string, any>) => void, RegExp][] = [
    ['no-maps', c => delete c.linux.uidMappings, /^config\.json: linux\.uidMappings: a new user namespace needs uid and gid mappings$/],
    ['maps-no-userns', c => (c.linux.namespaces = c.linux.namespaces.filter((ns: {type: string}) => ns.type !== 'user')), /no user namespace/],
    ['no-root', c => (c.linux.gidMappings = [{containerID: 1, hostID: HOST, size: 10}]), /linux\.gidMappings: must map id 0/],
    [
      'overlap',
      c => (c.linux.uidMappings = [...MAPS.uid, {containerID: 70000, hostID: HOST + 10, size: 5}]),
      /linux\.uidMappings: entries 0 and 1 overlap on the host/,
    ],
  ]
  for (const [name, edit, message] of cases) {
    const b = bundle(edit)
    const id = `oci-userns-bad-${name}`
    const r = runCreate(RUNTIME_BIN, ['--root', roots.pivot, 'create', '--bundle', b, id])
    assert.equal(r.status, 1, name)
    const line = r.stderr.trim().split('\n')
    assert.equal(line.length, 1, r.stderr)
    assert.match(/msg="(.*)"$/.exec(line[0]!)?.[1] ?? '', message, name)
    assert.deepEqual(leftovers(id, [roots.pivot]), [], name)
  }
  assert.deepEqual(starters(), [])
})

test('containerd: ctr run --uidmap/--gidmap (a remapped copy of the image) as with runc, -t included', async () => {
  containerd = await startContainerd(containerdConfig())
  const imported = containerd.ctr(['image', 'import', savedBusybox(work)], {timeout: 120_000})
  assert.equal(imported.status, 0, imported.stderr)
  const out: Record<string, string> = {}
  for (const name of ['runc', 'pivot'] as const) {
    const map = ['--uidmap', `0:${HOST}:${SIZE}`, '--gidmap', `0:${HOST}:${SIZE}`]
    const script = 'cat /proc/self/uid_map /proc/self/gid_map; id; touch /made; stat -c %u:%g /made; exit 3'
    const r = containerd.ctr(['run', '--rm', ...map, '--runc-binary', BINS[name], BUSYBOX_IMAGE, `oci-userns-ctr-${name}`, 'sh', '-c', script], {
      timeout: 120_000,
    })
    assert.equal(r.status, 3, `${name}: ${r.stderr}`)
    const tty = containerd.ctr(
      ['run', '--rm', '-t', ...map, '--runc-binary', BINS[name], BUSYBOX_IMAGE, `oci-userns-ctr-t-${name}`, 'sh', '-c', 'tty; id -u'],
      {
        timeout: 120_000,
        tty: true,
      },
    )
    assert.equal(tty.status, 0, `${name}: ${tty.stdout} ${tty.stderr}`)
    out[name] = `${r.stdout}--\n${tty.stdout.replace(/\r/g, '')}`
  }
  assert.match(out.runc!, new RegExp(`^\\s+0\\s+${HOST}\\s+${SIZE}\\n`))
  assert.match(out.runc!, /\/dev\/pts\/0\n0\n?$/)
  assert.equal(out.pivot, out.runc)
  assert.deepEqual(starters(), [])
})
