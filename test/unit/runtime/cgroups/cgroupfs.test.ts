// createCgroup & co. against fake cgroupfs trees in temp dirs: one shaped like this machine's v1
// hybrid layout (and variants: cpu,cpuacct co-mounted, no swap accounting, missing controllers),
// one like a pure v2 host. The fake kernel (FakeKernel below) fills a new cgroup directory with
// the control files the real kernel would create, and removes a cgroup directory with its files,
// so the module's real reads and writes run unchanged against it.
import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {after, describe, it} from 'node:test'
import {
  CgroupError,
  type CgroupDirOps,
  type CgroupOptions,
  DEFAULT_PIDS_LIMIT,
  createCgroup,
  detectCgroups,
  listCgroups,
  openCgroup,
  removeStaleCgroups,
} from '../../../../src/runtime/cgroups'
import {parseV1Mounts} from '../../../../src/runtime/cgroups/detect-cgroups'

const MiB = 1024 ** 2
/** Above the kernel's PID_MAX_LIMIT: never a real process, so a stray kill() cannot hurt. */
const FAKE_PID = 4_194_399

const temps: string[] = []
after(() => {
  for (const dir of temps) fs.rmSync(dir, {recursive: true, force: true})
})

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pivot-cgroupfs-'))
  temps.push(dir)
  return dir
}

function write(file: string, text: string): void {
  fs.writeFileSync(file, text)
}

function read(file: string): string {
  return fs.readFileSync(file, 'utf8')
}

function assertCgroupError(error: unknown, code: string, message?: RegExp): true {
  assert.ok(error instanceof CgroupError, `expected a CgroupError, got ${String(error)}`)
  assert.equal(error.code, code, error.message)
  assert.ok(!error.message.includes('\n'), 'one line')
  if (message) assert.match(error.message, message)
  return true
}

/** Every file and directory under root, relative, sorted: to prove nothing was created. */
/** The cgroups (directories) directly below dir. */
function subdirs(dir: string): string[] {
  return fs
    .readdirSync(dir, {withFileTypes: true})
    .filter(e => e.isDirectory() && fs.existsSync(path.join(dir, e.name, 'cgroup.procs')))
    .map(e => e.name)
}

function snapshot(root: string): string[] {
  return (fs.readdirSync(root, {recursive: true}) as string[]).sort()
}

interface FakeKernel extends CgroupDirOps {
  mkdirs: string[]
  rmdirs: string[]
}

/**
 * The kernel side of mkdir/rmdir on cgroupfs. `controllersOf(dir)` says which controllers the
 * new cgroup has (v1: those of its hierarchy; v2: those enabled in the parent's subtree_control).
 */
function fakeKernel(
  controllersOf: (dir: string) => string[],
  files: (controller: string) => Record<string, string>,
  common: Record<string, string>,
): FakeKernel {
  const kernel: FakeKernel = {
    mkdirs: [],
    rmdirs: [],
    mkdir(dir) {
      fs.mkdirSync(dir) // EEXIST/ENOENT as the kernel gives them
      kernel.mkdirs.push(dir)
      const all: Record<string, string> = {...common}
      for (const controller of controllersOf(dir)) Object.assign(all, files(controller))
      for (const [name, content] of Object.entries(all)) {
        // A name ending in '/' stands for a control file that cannot be written (EISDIR).
        if (name.endsWith('/')) fs.mkdirSync(path.join(dir, name))
        else write(path.join(dir, name), content)
      }
    },
    rmdir(dir) {
      const entries = fs.readdirSync(dir, {withFileTypes: true}) // ENOENT as the kernel gives it
      if (entries.some(e => e.isDirectory() && fs.existsSync(path.join(dir, e.name, 'cgroup.procs')))) {
        throw Object.assign(new Error(`rmdir ${dir}: ENOTEMPTY`), {code: 'ENOTEMPTY'})
      }
      if (read(path.join(dir, 'cgroup.procs')).trim() !== '') {
        throw Object.assign(new Error(`rmdir ${dir}: EBUSY`), {code: 'EBUSY'})
      }
      fs.rmSync(dir, {recursive: true})
      kernel.rmdirs.push(dir)
    },
  }
  return kernel
}

// ---- v1 ----------------------------------------------------------------------------------------

interface V1Shape {
  /** Mount the cpu and cpuacct controllers together, as most distributions do. */
  cpuWithCpuacct?: boolean
  /** memory.memsw.* files (swap accounting on). Default true. */
  swap?: boolean
  /** Controllers not mounted at all. */
  missing?: string[]
  /** Files the fake kernel makes unwritable. */
  broken?: string[]
}

interface FakeV1 {
  options: CgroupOptions & {root: string; mountinfo: string}
  kernel: FakeKernel
  /** Controller -> the fake mount point of its hierarchy. */
  mount: Record<string, string>
}

/**
 * A hybrid host like this one: a tmpfs root with one directory per v1 hierarchy, a cgroup2
 * mount at unified/ without controllers, and a mountinfo listing them. The mount points are
 * deliberately not named after their controllers, so nothing can find them by guessing.
 */
function fakeV1(shape: V1Shape = {}): FakeV1 {
  const base = tempDir()
  const root = path.join(base, 'sys-fs-cgroup')
  fs.mkdirSync(root)
  const hierarchies: string[][] = [
    shape.cpuWithCpuacct ? ['cpu', 'cpuacct'] : ['cpu'],
    ...(shape.cpuWithCpuacct ? [] : [['cpuacct']]),
    ['cpuset'],
    ['memory'],
    ['devices'],
    ['freezer'],
    ['pids'],
  ].filter(h => !h.some(c => shape.missing?.includes(c)))
  const mount: Record<string, string> = {}
  const lines: string[] = [`25 1 8:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw`, `31 23 0:28 / ${root} rw,relatime - tmpfs tmpfs rw,mode=755`]
  let n = 32
  for (const controllers of hierarchies) {
    const dir = path.join(root, `h-${controllers.join('+')}`)
    fs.mkdirSync(dir)
    for (const c of controllers) mount[c] = dir
    lines.push(`${n} 31 0:${n} / ${dir} rw,nosuid,nodev,noexec,relatime shared:${n} - cgroup cgroup rw,${controllers.join(',')}`)
    n++
  }
  const systemd = path.join(root, 'h-systemd')
  fs.mkdirSync(systemd)
  lines.push(`${n++} 31 0:40 / ${systemd} rw,relatime - cgroup cgroup rw,xattr,name=systemd`)
  const unified = path.join(root, 'unified')
  fs.mkdirSync(unified)
  write(path.join(unified, 'cgroup.controllers'), 'hugetlb\n')
  lines.push(`${n++} 31 0:41 / ${unified} rw,relatime - cgroup2 cgroup2 rw,nsdelegate`)
  const mountinfo = path.join(base, 'mountinfo')
  write(mountinfo, lines.join('\n') + '\n')

  const swap = shape.swap ?? true
  const broken = new Set(shape.broken ?? [])
  const files = (controller: string): Record<string, string> => {
    const all: Record<string, string> =
      {
        pids: {'pids.max': 'max\n', 'pids.current': '0\n', 'pids.events': 'max 0\n'},
        memory: {
          'memory.limit_in_bytes': '9223372036854771712\n',
          'memory.usage_in_bytes': '0\n',
          'memory.max_usage_in_bytes': '0\n',
          ...(swap ? {'memory.memsw.limit_in_bytes': '9223372036854771712\n', 'memory.memsw.usage_in_bytes': '0\n'} : {}),
        },
        cpu: {'cpu.cfs_period_us': '100000\n', 'cpu.cfs_quota_us': '-1\n', 'cpu.shares': '1024\n'},
        cpuacct: {'cpuacct.usage': '0\n'},
        freezer: {'freezer.state': 'THAWED\n'},
      }[controller] ?? {}
    for (const name of Object.keys(all)) {
      if (broken.has(name)) {
        delete all[name]
        all[`${name}/`] = ''
      }
    }
    return all
  }
  const controllersOf = (dir: string) => Object.keys(mount).filter(c => dir.startsWith(mount[c] + path.sep))
  const kernel = fakeKernel(controllersOf, files, {'cgroup.procs': '', tasks: '', notify_on_release: '0\n'})
  return {options: {root, mountinfo, dirOps: kernel, hostCpus: 2}, kernel, mount}
}

describe('detectCgroups', () => {
  it('finds v1 hierarchies from mountinfo on a hybrid host, not by their names', () => {
    const fake = fakeV1()
    const host = detectCgroups(fake.options.root, fake.options.mountinfo)
    assert.equal(host.version, 1)
    assert.ok(host.version === 1)
    for (const c of ['pids', 'memory', 'cpu', 'cpuacct', 'freezer', 'cpuset']) assert.equal(host.mounts[c], fake.mount[c], c)
    assert.equal(host.mounts.hugetlb, undefined, 'the hybrid cgroup2 mount is not a v1 hierarchy')
    assert.equal(host.mounts['name=systemd'], undefined)
  })

  it('maps co-mounted controllers to one mount', () => {
    const fake = fakeV1({cpuWithCpuacct: true})
    const host = detectCgroups(fake.options.root, fake.options.mountinfo)
    assert.ok(host.version === 1)
    assert.equal(host.mounts.cpu, host.mounts.cpuacct)
    assert.match(host.mounts.cpu, /h-cpu\+cpuacct$/)
  })

  it('is v2 when the root has cgroup.controllers', () => {
    const fake = fakeV2()
    const host = detectCgroups(fake.options.root, '/nonexistent/mountinfo')
    assert.deepEqual(host, {version: 2, root: fake.options.root, controllers: ['cpuset', 'cpu', 'io', 'memory', 'hugetlb', 'pids', 'rdma', 'misc']})
  })

  it('fails with one line when there is nothing to find', () => {
    assert.throws(
      () => detectCgroups(tempDir(), '/nonexistent/mountinfo'),
      e => assertCgroupError(e, 'CGROUP_UNAVAILABLE'),
    )
  })

  it('parses mountinfo: escapes, bind mounts of a subtree, optional fields', () => {
    const mounts = parseV1Mounts(
      [
        '40 31 0:36 /docker/abc /mnt/bound\\040pids rw - cgroup cgroup rw,pids',
        '41 31 0:36 / /cg/my\\040pids rw shared:3 master:1 - cgroup cgroup rw,pids',
        '42 31 0:37 /docker/abc /cg/mem rw - cgroup cgroup rw,memory',
        '43 31 0:38 / /cg/cpu,cpuacct rw shared:9 - cgroup cgroup rw,cpu,cpuacct',
        '44 31 0:39 / /cg/sd rw - cgroup cgroup rw,xattr,release_agent=/x,name=systemd',
        '45 31 0:40 / /cg/unified rw - cgroup2 cgroup2 rw',
        '46 31 0:41 / /cg/pids-too rw - cgroup cgroup rw,pids',
        'garbage',
      ].join('\n'),
    )
    assert.equal(mounts.pids, '/cg/my pids', 'the mount of the hierarchy root wins, then the first')
    assert.equal(mounts.memory, '/cg/mem', 'a subtree mount is used when it is the only one')
    assert.equal(mounts.cpu, '/cg/cpu,cpuacct')
    assert.equal(mounts.cpuacct, '/cg/cpu,cpuacct')
    assert.equal(mounts['name=systemd'], undefined)
    assert.equal(mounts['release_agent=/x'], undefined)
  })
})

describe('createCgroup on v1', () => {
  it('creates pivot/<id> in the pids, memory, cpu and freezer hierarchies with the limits written', async () => {
    const fake = fakeV1()
    const cgroup = createCgroup('c1', {pids: 20, memory: 256 * MiB, cpus: 1.5}, fake.options)
    const dir = (c: string) => path.join(fake.mount[c], 'pivot', 'c1')
    assert.equal(cgroup.version, 1)
    assert.equal(cgroup.id, 'c1')
    assert.deepEqual(cgroup.paths, [dir('pids'), dir('memory'), dir('cpu'), dir('freezer')])
    assert.equal(read(path.join(dir('pids'), 'pids.max')), '20')
    assert.equal(read(path.join(dir('memory'), 'memory.limit_in_bytes')), String(256 * MiB))
    assert.equal(read(path.join(dir('memory'), 'memory.memsw.limit_in_bytes')), String(256 * MiB), 'swap cannot extend it')
    assert.equal(read(path.join(dir('cpu'), 'cpu.cfs_period_us')), '100000')
    assert.equal(read(path.join(dir('cpu'), 'cpu.cfs_quota_us')), '150000')
    assert.equal(read(path.join(dir('freezer'), 'freezer.state')), 'THAWED\n', 'untouched')
    assert.ok(!fs.existsSync(path.join(fake.mount.cpuacct, 'pivot')), 'no cgroup where none is needed')
    assert.ok(!fs.existsSync(path.join(fake.mount.cpuset, 'pivot')), 'cpuset would need cpus/mems copied')
    await cgroup.remove()
    for (const d of cgroup.paths) assert.ok(!fs.existsSync(d), d)
    for (const c of ['pids', 'memory', 'cpu', 'freezer']) assert.ok(fs.existsSync(path.join(fake.mount[c], 'pivot')), 'pivot/ stays for the others')
  })

  it('writes only the default pids limit when no limit is given', () => {
    const fake = fakeV1()
    const cgroup = createCgroup('c2', {}, fake.options)
    const dir = (c: string) => path.join(fake.mount[c], 'pivot', 'c2')
    assert.equal(read(path.join(dir('pids'), 'pids.max')), String(DEFAULT_PIDS_LIMIT))
    assert.equal(read(path.join(dir('memory'), 'memory.limit_in_bytes')), '9223372036854771712\n')
    assert.equal(read(path.join(dir('memory'), 'memory.memsw.limit_in_bytes')), '9223372036854771712\n')
    assert.equal(read(path.join(dir('cpu'), 'cpu.cfs_quota_us')), '-1\n')
    assert.equal(cgroup.paths.length, 4)
  })

  it('writes "max" for an unlimited pids limit', () => {
    const fake = fakeV1()
    createCgroup('c3', {pids: -1}, fake.options)
    assert.equal(read(path.join(fake.mount.pids, 'pivot', 'c3', 'pids.max')), 'max')
  })

  it('uses one directory for cpu,cpuacct co-mounted', () => {
    const fake = fakeV1({cpuWithCpuacct: true})
    const cgroup = createCgroup('c4', {cpus: 0.5}, fake.options)
    const cpuDir = path.join(fake.mount.cpu, 'pivot', 'c4')
    assert.match(cpuDir, /h-cpu\+cpuacct/)
    assert.equal(cgroup.paths.filter(p => p === cpuDir).length, 1)
    assert.equal(cgroup.paths.length, 4)
    assert.equal(read(path.join(cpuDir, 'cpu.cfs_quota_us')), '50000')
  })

  it('leaves memsw alone without swap accounting', () => {
    const fake = fakeV1({swap: false})
    createCgroup('c5', {memory: 64 * MiB}, fake.options)
    const dir = path.join(fake.mount.memory, 'pivot', 'c5')
    assert.equal(read(path.join(dir, 'memory.limit_in_bytes')), String(64 * MiB))
    assert.ok(!fs.existsSync(path.join(dir, 'memory.memsw.limit_in_bytes')), 'never creates a control file')
  })

  it('skips the default pids limit without a pids hierarchy, but refuses an explicit one', () => {
    const fake = fakeV1({missing: ['pids']})
    const cgroup = createCgroup('c6', {memory: 64 * MiB}, fake.options)
    assert.equal(cgroup.paths.length, 3)
    assert.deepEqual(cgroup.stats().pidsCurrent, undefined)
    const before = snapshot(fake.options.root)
    assert.throws(
      () => createCgroup('c7', {pids: 100}, fake.options),
      e => assertCgroupError(e, 'CGROUP_CONTROLLER_MISSING', /pids limit.*pids cgroup controller is not mounted/),
    )
    assert.deepEqual(snapshot(fake.options.root), before, 'nothing created')
  })

  it('refuses a memory or CPU limit without its controller, creating nothing', () => {
    for (const [missing, limits, name] of [
      ['memory', {memory: 64 * MiB}, /memory limit.*memory cgroup controller/],
      ['cpu', {cpus: 1}, /CPU limit.*cpu cgroup controller/],
    ] as const) {
      const fake = fakeV1({missing: [missing]})
      const before = snapshot(fake.options.root)
      assert.throws(
        () => createCgroup('c8', limits, fake.options),
        e => assertCgroupError(e, 'CGROUP_CONTROLLER_MISSING', name),
      )
      assert.deepEqual(snapshot(fake.options.root), before)
    }
  })

  it('validates limits and the id before creating anything', () => {
    const fake = fakeV1()
    const before = snapshot(fake.options.root)
    const cases: Array<[string, object, string]> = [
      ['ok', {memory: 1024}, 'CGROUP_BAD_MEMORY'],
      ['ok', {cpus: 3}, 'CGROUP_BAD_CPUS'], // the fake host has 2
      ['ok', {pids: 2.5}, 'CGROUP_BAD_PIDS'],
      ['../escape', {}, 'CGROUP_BAD_ID'],
      ['a/b', {}, 'CGROUP_BAD_ID'],
      ['', {}, 'CGROUP_BAD_ID'],
      ['.hidden', {}, 'CGROUP_BAD_ID'],
    ]
    for (const [id, limits, code] of cases) {
      assert.throws(
        () => createCgroup(id, limits, fake.options),
        e => assertCgroupError(e, code),
      )
    }
    assert.deepEqual(snapshot(fake.options.root), before)
  })

  it('removes what it created when a write fails', () => {
    const fake = fakeV1({broken: ['cpu.cfs_quota_us']})
    assert.throws(
      () => createCgroup('c9', {pids: 50, cpus: 1}, fake.options),
      e => assertCgroupError(e, 'CGROUP_WRITE_FAILED', /cpu\.cfs_quota_us.*100000.*EISDIR/),
    )
    for (const c of ['pids', 'memory', 'cpu', 'freezer']) {
      assert.deepEqual(subdirs(path.join(fake.mount[c], 'pivot')), [], c)
    }
    assert.equal(fake.kernel.rmdirs.length, 4)
  })

  it('refuses an id that exists, leaving the existing cgroup alone', () => {
    const fake = fakeV1()
    createCgroup('dup', {pids: 5}, fake.options)
    assert.throws(
      () => createCgroup('dup', {pids: 6}, fake.options),
      e => assertCgroupError(e, 'CGROUP_EXISTS'),
    )
    assert.equal(read(path.join(fake.mount.pids, 'pivot', 'dup', 'pids.max')), '5')
  })

  it('moves a process into every hierarchy', () => {
    const fake = fakeV1()
    const cgroup = createCgroup('c10', {}, fake.options)
    cgroup.addProcess(FAKE_PID)
    for (const dir of cgroup.paths) assert.equal(read(path.join(dir, 'cgroup.procs')), String(FAKE_PID))
    assert.throws(
      () => cgroup.addProcess(0),
      e => assertCgroupError(e, 'CGROUP_ADD_FAILED'),
    )
    assert.throws(
      () => cgroup.addProcess(1.5),
      e => assertCgroupError(e, 'CGROUP_ADD_FAILED'),
    )
    for (const dir of cgroup.paths) write(path.join(dir, 'cgroup.procs'), '')
  })

  it('reports an addProcess failure with the directory', () => {
    const fake = fakeV1()
    const cgroup = createCgroup('c11', {}, fake.options)
    fs.rmSync(path.join(cgroup.paths[1], 'cgroup.procs'))
    assert.throws(
      () => cgroup.addProcess(FAKE_PID),
      e => assertCgroupError(e, 'CGROUP_ADD_FAILED', /c11: ENOENT/),
    )
  })

  it('freezes, kills and thaws through the freezer', async () => {
    const fake = fakeV1()
    const cgroup = createCgroup('c12', {}, fake.options)
    const state = path.join(fake.mount.freezer, 'pivot', 'c12', 'freezer.state')
    await cgroup.killAll()
    // The fake cannot show the FROZEN in between (the integration test freezes for real).
    assert.equal(read(state), 'THAWED', 'written, and never left frozen')
  })

  it('freezes and thaws through freezer.state; no freezer hierarchy, no freeze', async () => {
    const fake = fakeV1()
    const cgroup = createCgroup('c15', {}, fake.options)
    const state = path.join(fake.mount.freezer, 'pivot', 'c15', 'freezer.state')
    assert.equal(cgroup.canFreeze(), true)
    await cgroup.freeze()
    assert.equal(read(state), 'FROZEN')
    cgroup.thaw()
    assert.equal(read(state), 'THAWED')
    const without = createCgroup('c16', {}, fakeV1({missing: ['freezer']}).options)
    assert.equal(without.canFreeze(), false)
    await assert.rejects(without.freeze(), e => assertCgroupError(e, 'CGROUP_UNAVAILABLE', /c16 has no freezer/))
  })

  it('reads stats', () => {
    const fake = fakeV1()
    const cgroup = createCgroup('c13', {}, fake.options)
    write(path.join(fake.mount.pids, 'pivot', 'c13', 'pids.current'), '7\n')
    write(path.join(fake.mount.memory, 'pivot', 'c13', 'memory.max_usage_in_bytes'), '123456\n')
    assert.deepEqual(cgroup.stats(), {pidsCurrent: 7, memoryPeak: 123456})
  })

  it('removes cgroups made inside it, and is idempotent', async () => {
    const fake = fakeV1()
    const cgroup = createCgroup('c14', {}, fake.options)
    fake.kernel.mkdir(path.join(cgroup.paths[0], 'nested'))
    await cgroup.remove()
    await cgroup.remove()
    for (const d of cgroup.paths) assert.ok(!fs.existsSync(d))
    const again = openCgroup('c14', fake.options)
    assert.deepEqual(again.paths, [])
    await again.remove()
  })

  it('removes a cgroup whose later hierarchy has a cgroup inside it (the first rmdirs succeed, then the careful way)', async () => {
    const fake = fakeV1()
    const cgroup = createCgroup('c17', {}, fake.options)
    const nested = path.join(cgroup.paths[1], 'nested')
    fake.kernel.mkdir(nested)
    await cgroup.remove()
    for (const d of cgroup.paths) assert.ok(!fs.existsSync(d), d)
    // pids went at once; memory's refusal led to its leaves first, then the rest.
    assert.deepEqual(fake.kernel.rmdirs.slice(-5), [cgroup.paths[0], nested, cgroup.paths[1], cgroup.paths[2], cgroup.paths[3]])
  })

  it('lists pivot cgroups and removes the stale ones', async () => {
    const fake = fakeV1({cpuWithCpuacct: true})
    for (const id of ['a', 'b', 'c']) createCgroup(id, {}, fake.options)
    // A cgroup left in only some hierarchies (a crash half-way through a remove) is listed too.
    fs.rmSync(path.join(fake.mount.pids, 'pivot', 'c'), {recursive: true})
    fs.writeFileSync(path.join(fake.mount.pids, 'pivot', 'not-a-cgroup'), '')
    assert.deepEqual(listCgroups(fake.options), ['a', 'b', 'c'])
    assert.deepEqual(await removeStaleCgroups(id => id === 'b', fake.options), ['a', 'c'])
    assert.deepEqual(listCgroups(fake.options), ['b'])
    for (const c of ['pids', 'memory', 'cpu', 'freezer']) {
      assert.ok(fs.existsSync(path.join(fake.mount[c], 'pivot', 'b')))
      assert.ok(!fs.existsSync(path.join(fake.mount[c], 'pivot', 'a')))
    }
  })

  it('lists nothing before pivot ever ran', () => {
    const fake = fakeV1()
    assert.deepEqual(listCgroups(fake.options), [])
  })
})

// ---- v2 ----------------------------------------------------------------------------------------

interface V2Shape {
  /** What the root's cgroup.controllers lists. */
  controllers?: string[]
  /** Already in the root's cgroup.subtree_control (systemd enables some). */
  enabled?: string[]
  swap?: boolean
  /** cgroup.kill (Linux 5.14+). Default true. */
  kill?: boolean
  broken?: string[]
}

interface FakeV2 {
  options: CgroupOptions & {root: string}
  kernel: FakeKernel
}

function fakeV2(shape: V2Shape = {}): FakeV2 {
  const root = path.join(tempDir(), 'cgroup2')
  fs.mkdirSync(root)
  write(path.join(root, 'cgroup.controllers'), (shape.controllers ?? ['cpuset', 'cpu', 'io', 'memory', 'hugetlb', 'pids', 'rdma', 'misc']).join(' ') + '\n')
  write(path.join(root, 'cgroup.subtree_control'), (shape.enabled ?? []).join(' ') + '\n')
  write(path.join(root, 'cgroup.procs'), '1\n')
  const swap = shape.swap ?? true
  const broken = new Set(shape.broken ?? [])
  const files = (controller: string): Record<string, string> => {
    const all: Record<string, string> =
      {
        pids: {'pids.max': 'max\n', 'pids.current': '0\n'},
        memory: {
          'memory.max': 'max\n',
          'memory.current': '0\n',
          'memory.peak': '0\n',
          ...(swap ? {'memory.swap.max': 'max\n', 'memory.swap.current': '0\n'} : {}),
        },
        cpu: {'cpu.max': 'max 100000\n', 'cpu.weight': '100\n'},
      }[controller] ?? {}
    for (const name of Object.keys(all)) {
      if (broken.has(name)) {
        delete all[name]
        all[`${name}/`] = ''
      }
    }
    return all
  }
  // The kernel writes subtree_control back as names; the module writes "+name": accept both.
  const controllersOf = (dir: string) =>
    read(path.join(path.dirname(dir), 'cgroup.subtree_control'))
      .split(/\s+/)
      .filter(Boolean)
      .map(c => c.replace(/^\+/, ''))
  const common: Record<string, string> = {
    'cgroup.procs': '',
    'cgroup.controllers': '',
    'cgroup.subtree_control': '',
    'cgroup.type': 'domain\n',
    'cgroup.freeze': '0\n',
  }
  // The fake cannot flip "frozen 1" when cgroup.freeze is written; without cgroup.events the
  // module takes the freeze as done (as on kernels that lack the file) instead of waiting.
  if (shape.kill ?? true) Object.assign(common, {'cgroup.kill': '', 'cgroup.events': 'populated 0\nfrozen 0\n'})
  const kernel = fakeKernel(controllersOf, files, common)
  return {options: {root, mountinfo: '/nonexistent/mountinfo', dirOps: kernel, hostCpus: 2}, kernel}
}

describe('createCgroup on v2', () => {
  it('enables pids, memory and cpu below the root and pivot/, then writes the limits', async () => {
    const fake = fakeV2()
    const {root} = fake.options
    const cgroup = createCgroup('c1', {pids: 20, memory: 256 * MiB, cpus: 1.5}, fake.options)
    const dir = path.join(root, 'pivot', 'c1')
    assert.equal(cgroup.version, 2)
    assert.deepEqual(cgroup.paths, [dir])
    assert.equal(read(path.join(root, 'cgroup.subtree_control')), '+pids +memory +cpu')
    assert.equal(read(path.join(root, 'pivot', 'cgroup.subtree_control')), '+pids +memory +cpu')
    assert.equal(read(path.join(dir, 'pids.max')), '20')
    assert.equal(read(path.join(dir, 'memory.max')), String(256 * MiB))
    assert.equal(read(path.join(dir, 'memory.swap.max')), '0', 'swap cannot extend it')
    assert.equal(read(path.join(dir, 'cpu.max')), '150000 100000')
    await cgroup.remove()
    assert.ok(!fs.existsSync(dir))
    assert.ok(fs.existsSync(path.join(root, 'pivot')))
  })

  it('writes only the default pids limit when no limit is given', () => {
    const fake = fakeV2()
    createCgroup('c2', {}, fake.options)
    const dir = path.join(fake.options.root, 'pivot', 'c2')
    assert.equal(read(path.join(dir, 'pids.max')), String(DEFAULT_PIDS_LIMIT))
    assert.equal(read(path.join(dir, 'memory.max')), 'max\n')
    assert.equal(read(path.join(dir, 'memory.swap.max')), 'max\n')
    assert.equal(read(path.join(dir, 'cpu.max')), 'max 100000\n')
  })

  it('does not rewrite subtree_control when the controllers are already enabled', () => {
    const fake = fakeV2({enabled: ['cpu', 'io', 'memory', 'pids']})
    createCgroup('c3', {}, fake.options)
    assert.equal(read(path.join(fake.options.root, 'cgroup.subtree_control')), 'cpu io memory pids\n')
  })

  it('enables only the missing ones', () => {
    const fake = fakeV2({enabled: ['memory']})
    createCgroup('c4', {}, fake.options)
    assert.equal(read(path.join(fake.options.root, 'cgroup.subtree_control')), '+pids +cpu')
  })

  it('uses what the kernel has: no pids controller means no default limit, an explicit one fails', () => {
    const fake = fakeV2({controllers: ['cpu', 'memory']})
    createCgroup('c5', {memory: 64 * MiB}, fake.options)
    const dir = path.join(fake.options.root, 'pivot', 'c5')
    assert.equal(read(path.join(fake.options.root, 'cgroup.subtree_control')), '+memory +cpu')
    assert.ok(!fs.existsSync(path.join(dir, 'pids.max')))
    assert.equal(read(path.join(dir, 'memory.max')), String(64 * MiB))
    const before = snapshot(fake.options.root)
    assert.throws(
      () => createCgroup('c6', {pids: 10}, fake.options),
      e => assertCgroupError(e, 'CGROUP_CONTROLLER_MISSING', /pids limit.*not in cgroup\.controllers/),
    )
    assert.deepEqual(snapshot(fake.options.root), before, 'nothing created')
  })

  it('refuses a memory or CPU limit the kernel cannot apply, creating nothing', () => {
    for (const [controllers, limits, code] of [
      [['pids', 'cpu'], {memory: 64 * MiB}, /memory/],
      [['pids', 'memory'], {cpus: 1}, /CPU limit.*cpu/],
    ] as const) {
      const fake = fakeV2({controllers: [...controllers]})
      const before = snapshot(fake.options.root)
      assert.throws(
        () => createCgroup('c7', limits, fake.options),
        e => assertCgroupError(e, 'CGROUP_CONTROLLER_MISSING', code),
      )
      assert.deepEqual(snapshot(fake.options.root), before)
    }
  })

  it('leaves memory.swap.max alone without swap accounting', () => {
    const fake = fakeV2({swap: false})
    createCgroup('c8', {memory: 64 * MiB}, fake.options)
    assert.ok(!fs.existsSync(path.join(fake.options.root, 'pivot', 'c8', 'memory.swap.max')))
  })

  it('removes what it created when a write fails', () => {
    const fake = fakeV2({broken: ['memory.max']})
    assert.throws(
      () => createCgroup('c9', {memory: 64 * MiB}, fake.options),
      e => assertCgroupError(e, 'CGROUP_WRITE_FAILED', /memory\.max.*EISDIR/),
    )
    assert.deepEqual(subdirs(path.join(fake.options.root, 'pivot')), [])
  })

  it('moves a process in with one write', () => {
    const fake = fakeV2()
    const cgroup = createCgroup('c10', {}, fake.options)
    cgroup.addProcess(FAKE_PID)
    assert.equal(read(path.join(cgroup.paths[0], 'cgroup.procs')), String(FAKE_PID))
    write(path.join(cgroup.paths[0], 'cgroup.procs'), '')
  })

  it('kills through cgroup.kill when the kernel has it', async () => {
    const fake = fakeV2()
    const cgroup = createCgroup('c11', {}, fake.options)
    await cgroup.killAll()
    assert.equal(read(path.join(cgroup.paths[0], 'cgroup.kill')), '1')
    assert.equal(read(path.join(cgroup.paths[0], 'cgroup.freeze')), '0\n', 'no freeze needed')
  })

  it('freezes, kills and thaws instead of cgroup.kill when told to', async () => {
    const fake = fakeV2()
    const cgroup = createCgroup('c15', {}, {...fake.options, withoutKillFile: true})
    // As the kernel says once every task has stopped: the freeze does not wait for its timeout.
    write(path.join(cgroup.paths[0], 'cgroup.events'), 'populated 0\nfrozen 1\n')
    await cgroup.killAll()
    assert.equal(read(path.join(cgroup.paths[0], 'cgroup.kill')), '', 'cgroup.kill untouched')
    assert.equal(read(path.join(cgroup.paths[0], 'cgroup.freeze')), '0', 'written, and thawed again')
  })

  it('freezes, kills and thaws without cgroup.kill', async () => {
    const fake = fakeV2({kill: false})
    const cgroup = createCgroup('c12', {}, fake.options)
    await cgroup.killAll()
    assert.equal(read(path.join(cgroup.paths[0], 'cgroup.freeze')), '0', 'written, and thawed again')
  })

  it('freezes and thaws through cgroup.freeze', async () => {
    const fake = fakeV2()
    const cgroup = createCgroup('c14', {}, fake.options)
    const events = path.join(cgroup.paths[0], 'cgroup.events')
    // What the kernel reports once every task has stopped; freeze() waits for it.
    write(events, 'populated 0\nfrozen 1\n')
    assert.equal(cgroup.canFreeze(), true)
    await cgroup.freeze()
    assert.equal(read(path.join(cgroup.paths[0], 'cgroup.freeze')), '1')
    cgroup.thaw()
    assert.equal(read(path.join(cgroup.paths[0], 'cgroup.freeze')), '0')
  })

  it('reads stats', () => {
    const fake = fakeV2()
    const cgroup = createCgroup('c13', {}, fake.options)
    write(path.join(cgroup.paths[0], 'pids.current'), '3\n')
    write(path.join(cgroup.paths[0], 'memory.peak'), '4096\n')
    assert.deepEqual(cgroup.stats(), {pidsCurrent: 3, memoryPeak: 4096})
  })

  it('lists pivot cgroups and removes the stale ones', async () => {
    const fake = fakeV2()
    for (const id of ['x', 'y', 'z']) createCgroup(id, {}, fake.options)
    assert.deepEqual(listCgroups(fake.options), ['x', 'y', 'z'])
    assert.deepEqual(await removeStaleCgroups(id => id !== 'y', fake.options), ['y'])
    assert.deepEqual(listCgroups(fake.options), ['x', 'z'])
  })

  it('accepts a root path where the API takes one', () => {
    const fake = fakeV2()
    assert.deepEqual(listCgroups(fake.options.root), [])
  })
})

describe('createCgroup for a user other than root (rootless)', () => {
  const withParent = <T>(value: string | undefined, fn: () => T): T => {
    const saved = process.env.PIVOT_CGROUP_PARENT
    if (value === undefined) delete process.env.PIVOT_CGROUP_PARENT
    else process.env.PIVOT_CGROUP_PARENT = value
    try {
      return fn()
    } finally {
      if (saved === undefined) delete process.env.PIVOT_CGROUP_PARENT
      else process.env.PIVOT_CGROUP_PARENT = saved
    }
  }

  it('refuses a limit without a delegated cgroup, in one line saying how to delegate, and creates nothing', () => {
    const fake = fakeV1()
    const before = snapshot(fake.options.root)
    withParent(undefined, () => {
      assert.throws(
        () => createCgroup('r1', {memory: 64 * MiB}, {...fake.options, rootless: true}),
        (e: unknown) =>
          assertCgroupError(
            e,
            'CGROUP_NOT_DELEGATED',
            /cannot apply the memory limit: .*no cgroup of its own; ask root to delegate one .*PIVOT_CGROUP_PARENT=NAME/,
          ),
      )
    })
    assert.deepEqual(snapshot(fake.options.root), before)
  })

  it('without a limit and without delegation: a manager of no directory (the default pids limit is skipped)', () => {
    const fake = fakeV1()
    const before = snapshot(fake.options.root)
    const cgroup = withParent(undefined, () => createCgroup('r2', {}, {...fake.options, rootless: true}))
    assert.deepEqual(cgroup.paths, [])
    cgroup.addProcess(FAKE_PID)
    assert.equal(cgroup.canFreeze(), false)
    assert.deepEqual(snapshot(fake.options.root), before)
  })

  it('places the cgroup in the delegated root where it is writable, and refuses a limit of a hierarchy without it', () => {
    const fake = fakeV1()
    for (const c of ['pids', 'memory', 'freezer']) fake.kernel.mkdir(path.join(fake.mount[c], 'deleg'))
    const cgroup = withParent('deleg', () => createCgroup('r3', {pids: 20, memory: 64 * MiB}, {...fake.options, rootless: true}))
    assert.deepEqual([...cgroup.paths].sort(), ['pids', 'memory', 'freezer'].map(c => path.join(fake.mount[c], 'deleg', 'r3')).sort())
    assert.equal(read(path.join(fake.mount.pids, 'deleg', 'r3', 'pids.max')).trim(), '20')
    assert.equal(read(path.join(fake.mount.memory, 'deleg', 'r3', 'memory.limit_in_bytes')).trim(), String(64 * MiB))
    const opened = withParent('deleg', () => openCgroup('r3', {...fake.options, rootless: true}))
    assert.deepEqual([...opened.paths].sort(), [...cgroup.paths].sort())
    assert.throws(
      () => withParent('deleg', () => createCgroup('r4', {cpus: 1}, {...fake.options, rootless: true})),
      (e: unknown) => assertCgroupError(e, 'CGROUP_NOT_DELEGATED', /\$PIVOT_CGROUP_PARENT=deleg is not a cgroup uid \d+ may write in the cpu hierarchy/),
    )
  })
})
