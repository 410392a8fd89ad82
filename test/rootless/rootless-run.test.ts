// Containers as a user other than root (issue 14): the user namespace inside (/proc/self/uid_map,
// host ownership of what the container writes), the same walls as a root run, cgroup limits only
// in a delegated cgroup (refused in one line without), --net host and none only, every container
// command on the user's containers; runc --rootless on the same rootfs as the control.
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {describe, it} from 'node:test'
import {BUSYBOX_IMAGE, pivot, tempDir} from '../helpers/fixtures'
import {ROOTLESS_CGROUP, ROOTLESS_SUB_START, ROOTLESS_UID, pivotRootless, rootlessHome, runAsRootless, type RootlessHome} from '../helpers/rootless'

const UID_MAP = [`0 ${ROOTLESS_UID} 1`, `1 ${ROOTLESS_SUB_START} 65536`]

function mapLines(text: string): string[] {
  return text
    .trim()
    .split('\n')
    .map(l => l.trim().split(/\s+/).join(' '))
}

function oneLine(stderr: string): string {
  const lines = stderr.trim().split('\n')
  assert.equal(lines.length, 1, `one line expected, got:\n${stderr}`)
  assert.match(lines[0], /^pivot: /)
  return lines[0]
}

/** The user's home with busybox pulled. */
function homeWithBusybox(): RootlessHome {
  const home = rootlessHome()
  const r = pivotRootless(home, ['pull', BUSYBOX_IMAGE])
  assert.equal(r.status, 0, r.stderr)
  return home
}

/** Processes owned by the user or its subordinate ids: none may outlive a test. */
function leftoverProcesses(): string[] {
  const out: string[] = []
  for (const pid of fs.readdirSync('/proc').filter(p => /^\d+$/.test(p))) {
    try {
      const uid = Number(/^Uid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1])
      if (uid === ROOTLESS_UID || (uid >= ROOTLESS_SUB_START && uid < ROOTLESS_SUB_START + 65536)) {
        out.push(`${pid} ${fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ')}`)
      }
    } catch {
      // gone
    }
  }
  return out
}

describe('rootless: run', () => {
  it('runs in a user namespace: its map inside, same as runc --rootless for container root', () => {
    const home = homeWithBusybox()
    const r = pivotRootless(home, ['run', '--rm', '--net', 'none', BUSYBOX_IMAGE, 'cat', '/proc/self/uid_map'])
    assert.equal(r.status, 0, r.stderr)
    assert.deepEqual(mapLines(r.stdout), UID_MAP)
    const host = pivotRootless(home, ['run', '--rm', BUSYBOX_IMAGE, 'sh', '-c', 'cat /proc/self/gid_map; id -u'])
    assert.equal(host.status, 0, host.stderr)
    assert.deepEqual(mapLines(host.stdout), [`0 ${ROOTLESS_UID} 1`, `1 ${ROOTLESS_SUB_START} 65536`, '0'])

    // Control: runc --rootless on the same rootfs (pivot's export, unpacked by the user).
    const bundle = path.join(home.home, 'bundle')
    fs.mkdirSync(path.join(bundle, 'rootfs'), {recursive: true})
    fs.chownSync(bundle, ROOTLESS_UID, ROOTLESS_UID)
    fs.chownSync(path.join(bundle, 'rootfs'), ROOTLESS_UID, ROOTLESS_UID)
    const tar = path.join(home.home, 'busybox.tar')
    assert.equal(pivotRootless(home, ['export', BUSYBOX_IMAGE, '-o', tar]).status, 0)
    assert.equal(runAsRootless(home, ['tar', '-C', path.join(bundle, 'rootfs'), '-xf', tar]).status, 0)
    assert.equal(runAsRootless(home, ['runc', 'spec', '--rootless'], {cwd: bundle}).status, 0)
    const configFile = path.join(bundle, 'config.json')
    const config = JSON.parse(fs.readFileSync(configFile, 'utf8')) as {process: {args: string[]; terminal: boolean}}
    config.process.args = ['cat', '/proc/self/uid_map']
    config.process.terminal = false
    fs.writeFileSync(configFile, JSON.stringify(config))
    const runc = runAsRootless(home, ['runc', '--root', path.join(home.runtime, 'runc'), 'run', '--bundle', bundle, 'pivot-rootless-control'])
    assert.equal(runc.status, 0, runc.stderr)
    // runc's rootless spec maps the user alone; pivot adds the subordinate range after it.
    assert.deepEqual(mapLines(runc.stdout), [UID_MAP[0]])
  })

  it('what the container writes as uid 1000 is a subordinate id on the host', () => {
    const home = homeWithBusybox()
    const shared = path.join(home.home, 'shared')
    fs.mkdirSync(shared)
    fs.chownSync(shared, ROOTLESS_UID, ROOTLESS_UID)
    const r = pivotRootless(home, [
      'run',
      '--rm',
      '--net',
      'none',
      '-v',
      `${shared}:/shared`,
      BUSYBOX_IMAGE,
      'sh',
      '-c',
      'echo x > /shared/f && chown 1000:1000 /shared/f && echo y > /shared/g',
    ])
    assert.equal(r.status, 0, r.stderr)
    const f = fs.statSync(path.join(shared, 'f'))
    assert.equal(f.uid, ROOTLESS_SUB_START + 999)
    assert.equal(f.gid, ROOTLESS_SUB_START + 999)
    assert.equal(fs.statSync(path.join(shared, 'g')).uid, ROOTLESS_UID)
  })

  it('keeps the walls of a root run: capabilities, seccomp, no_new_privs', () => {
    const home = homeWithBusybox()
    const script = 'grep -E "^(CapEff|CapBnd|CapPrm|NoNewPrivs|Seccomp):" /proc/self/status'
    const rootless = pivotRootless(home, ['run', '--rm', '--net', 'none', BUSYBOX_IMAGE, 'sh', '-c', script])
    assert.equal(rootless.status, 0, rootless.stderr)
    const cache = tempDir('pivot-rootless-rootful')
    assert.equal(pivot(['pull', BUSYBOX_IMAGE], {cacheDir: cache}).status, 0)
    const rootful = pivot(['run', '--rm', '--net', 'none', BUSYBOX_IMAGE, 'sh', '-c', script], {cacheDir: cache})
    assert.equal(rootful.status, 0, rootful.stderr)
    assert.equal(rootless.stdout, rootful.stdout)
    assert.match(rootless.stdout, /Seccomp:\s+2/)
  })

  it('refuses a limit without a delegated cgroup in one line, leaving nothing behind', () => {
    const home = homeWithBusybox()
    for (const flags of [
      ['--memory', '64m'],
      ['--pids-limit', '20'],
      ['--cpus', '0.5'],
    ]) {
      const r = pivotRootless(home, ['run', '--rm', '--net', 'none', ...flags, BUSYBOX_IMAGE, 'true'])
      assert.equal(r.status, 125, flags.join(' '))
      const line = oneLine(r.stderr)
      assert.match(
        line,
        /cannot apply the (memory|pids|CPU) limit: pivot runs as uid 2000 \(rootless\) and has no cgroup of its own; ask root to delegate one .* set PIVOT_CGROUP_PARENT=NAME/,
      )
    }
    // A name that is not delegated is no better.
    const bad = pivotRootless(home, ['run', '--rm', '--net', 'none', '--memory', '64m', BUSYBOX_IMAGE, 'true'], {env: {PIVOT_CGROUP_PARENT: 'pivot'}})
    assert.equal(bad.status, 125)
    assert.match(oneLine(bad.stderr), /PIVOT_CGROUP_PARENT=pivot is not a cgroup uid 2000 may write/)
    assert.deepEqual(
      fs.readdirSync(path.join(home.cache, 'containers')).filter(n => n !== 'names'),
      [],
    )
    // Without a limit, no cgroup is needed.
    assert.equal(pivotRootless(home, ['run', '--rm', '--net', 'none', BUSYBOX_IMAGE, 'true']).status, 0)
  })

  const pidsRoot = `/sys/fs/cgroup/pids/${ROOTLESS_CGROUP}`
  const v1Skip = fs.existsSync(pidsRoot) ? false : 'no v1 pids hierarchy delegated by test/env/rootless.sh (a pure v2 host)'
  it("applies limits in the cgroup root delegated (v1: per controller, as runc's rootless CI) and removes its cgroup", {skip: v1Skip}, () => {
    const home = homeWithBusybox()
    const r = pivotRootless(
      home,
      [
        'run',
        '--rm',
        '--net',
        'none',
        '--pids-limit',
        '20',
        '--memory',
        '64m',
        BUSYBOX_IMAGE,
        'sh',
        '-c',
        'grep pids /proc/self/cgroup; cat /sys/fs/cgroup/pids/pids.max',
      ],
      {env: {PIVOT_CGROUP_PARENT: ROOTLESS_CGROUP}},
    )
    assert.equal(r.status, 0, r.stderr)
    assert.match(r.stdout, new RegExp(`^\\d+:pids:/${ROOTLESS_CGROUP}/\\S+$`, 'm'))
    assert.match(r.stdout, /^20$/m)
    const left = fs.readdirSync(pidsRoot).filter(n => fs.statSync(path.join(pidsRoot, n)).isDirectory())
    assert.deepEqual(left, [])
  })

  it('refuses bridge networks in one line', () => {
    const home = homeWithBusybox()
    for (const net of ['bridge', 'somenet']) {
      const r = pivotRootless(home, ['run', '--rm', '--net', net, BUSYBOX_IMAGE, 'true'])
      assert.equal(r.status, 125)
      assert.match(
        oneLine(r.stderr),
        new RegExp(`--net ${net} needs root: as uid 2000 \\(rootless\\) pivot runs containers with --net host \\(the default\\) or --net none`),
      )
    }
    const n = pivotRootless(home, ['network', 'create', 'rootless-net'])
    assert.equal(n.status, 125)
    assert.match(oneLine(n.stderr), /networks need root/)
  })

  it("runs detached: ps, logs, exec, stop, rm on the user's container; nothing left", () => {
    const home = homeWithBusybox()
    const d = pivotRootless(home, ['run', '-d', '--name', 'rootless-d', '--net', 'none', BUSYBOX_IMAGE, 'sh', '-c', 'echo started; exec sleep 300'])
    assert.equal(d.status, 0, d.stderr)
    const id = d.stdout.trim()
    assert.match(id, /^[0-9a-f]{64}$/)
    const ps = pivotRootless(home, ['ps'])
    assert.match(ps.stdout, /rootless-d/)
    assert.match(ps.stdout, /Up /)
    let logs = ''
    for (let i = 0; i < 50 && !logs.includes('started'); i++) {
      logs = pivotRootless(home, ['logs', 'rootless-d']).stdout
      if (!logs.includes('started')) execFileSync('sleep', ['0.1'])
    }
    assert.equal(logs, 'started\n')
    const exec = pivotRootless(home, ['exec', 'rootless-d', 'sh', '-c', 'cat /proc/self/uid_map; id -u; grep Seccomp: /proc/self/status'])
    assert.equal(exec.status, 0, exec.stderr)
    assert.deepEqual(mapLines(exec.stdout), [...UID_MAP, '0', 'Seccomp: 2'])
    // Without a cgroup: top and stats from the container's process tree, pause refused saying why.
    const top = pivotRootless(home, ['top', 'rootless-d'])
    assert.equal(top.status, 0, top.stderr)
    assert.match(top.stdout, /sleep 300/)
    const stats = pivotRootless(home, ['stats', '--no-stream', 'rootless-d'])
    assert.equal(stats.status, 0, stats.stderr)
    assert.match(stats.stdout, /rootless-d .* 1\n$/)
    const pause = pivotRootless(home, ['pause', 'rootless-d'])
    assert.equal(pause.status, 1)
    assert.match(oneLine(pause.stderr), /the container has no cgroup: pivot runs as uid 2000 \(rootless\)/)
    const stop = pivotRootless(home, ['stop', '-t', '1', 'rootless-d'])
    assert.equal(stop.status, 0, stop.stderr)
    assert.match(pivotRootless(home, ['ps', '-a']).stdout, /Exited \(137\)/)
    assert.equal(pivotRootless(home, ['rm', 'rootless-d']).status, 0)
    assert.doesNotMatch(pivotRootless(home, ['ps', '-a']).stdout, /rootless-d/)
    let left = leftoverProcesses()
    for (let i = 0; i < 50 && left.length > 0; i++) {
      execFileSync('sleep', ['0.1'])
      left = leftoverProcesses()
    }
    assert.deepEqual(left, [])
  })

  it('starts a stopped container again in a new user namespace (its layer kept), and runs -d -t', () => {
    const home = homeWithBusybox()
    const script = 'cat /proc/self/uid_map; echo run >> /runs; wc -l < /runs; exec sleep 300'
    const d = pivotRootless(home, ['run', '-d', '--name', 'rootless-s', '--net', 'none', BUSYBOX_IMAGE, 'sh', '-c', script])
    assert.equal(d.status, 0, d.stderr)
    const logsUntil = (count: number): string[] => {
      let lines: string[] = []
      for (let i = 0; i < 100 && lines.length < count; i++) {
        lines = mapLines(pivotRootless(home, ['logs', 'rootless-s']).stdout)
        if (lines.length < count) execFileSync('sleep', ['0.1'])
      }
      return lines
    }
    assert.deepEqual(logsUntil(3), [...UID_MAP, '1'])
    assert.equal(pivotRootless(home, ['stop', '-t', '0', 'rootless-s']).status, 0)
    const start = pivotRootless(home, ['start', 'rootless-s'])
    assert.equal(start.status, 0, start.stderr)
    assert.deepEqual(logsUntil(6), [...UID_MAP, '1', ...UID_MAP, '2'])
    const t = pivotRootless(home, ['run', '-d', '-t', '--name', 'rootless-t', '--net', 'none', BUSYBOX_IMAGE, 'sh', '-c', 'tty; exec sleep 300'])
    assert.equal(t.status, 0, t.stderr)
    let tty = ''
    for (let i = 0; i < 100 && !tty.includes('/dev/pts/0'); i++) {
      tty = pivotRootless(home, ['logs', 'rootless-t']).stdout
      if (!tty.includes('/dev/pts/0')) execFileSync('sleep', ['0.1'])
    }
    assert.equal(tty, '/dev/pts/0\r\n')
    assert.equal(pivotRootless(home, ['rm', '-f', 'rootless-s', 'rootless-t']).status, 0)
    let left = leftoverProcesses()
    for (let i = 0; i < 50 && left.length > 0; i++) {
      execFileSync('sleep', ['0.1'])
      left = leftoverProcesses()
    }
    assert.deepEqual(left, [])
  })
})
