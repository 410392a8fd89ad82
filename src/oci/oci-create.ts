import {spawn, type ChildProcess} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {CLONE_NEWPID, O_CLOEXEC, O_PATH, S_IFIFO} from '../sys/constants'
import {KoffiSyscalls} from '../sys/koffi-syscalls'
import {isPivotError} from '../errors'
import type {OciBundleConfig, OciInitConfig} from './oci-config'
import {runHook} from './oci-lifecycle'
import {OciError} from './oci-error'
import {mountsAt, procStat, saveState, stateDir, stateJson, unmountHostMounts, withLock, type OciState} from './oci-state'

/** dist/src/oci/oci-init.js, next to this file once compiled. */
const INIT_SCRIPT = path.join(__dirname, 'oci-init.js')

export interface CreateOptions {
  bundle: string
  pidFile?: string
  consoleSocket?: string
  noPivot: boolean
  preserveFds: number
}

/**
 * `create`: validate config.json, make the state dir, the fifo and the cgroup, spawn the init
 * into its pid namespace and cgroup, wait until it says it is ready (or why it failed), run the
 * prestart/createRuntime hooks, write the pid file, exit. On any failure everything made so far
 * is taken down again (init killed, cgroup and state dir removed): nothing is left half-made.
 */
export async function create(root: string, id: string, options: CreateOptions): Promise<void> {
  const sys = new KoffiSyscalls()
  // The init (a node process: ~50 ms to boot) is started first, from a quick look at config.json's
  // pid namespace, and boots while the config is validated and the cgroup made; it does nothing
  // of the container before its config line comes. Any failure below kills it.
  let init = spawnEarly(options, sys)
  try {
    const {readBundleConfig, translateConfig} = require('./oci-config') as typeof import('./oci-config')
    const bundleConfig = translateConfig(readBundleConfig(options.bundle), options.bundle, (errno, rules, arches) => sys.seccompCompile(errno, rules, arches))
    if (options.noPivot) {
      // Accepted and without effect: pivot always uses pivot_root (runc's --no-pivot is for ramfs roots).
    }
    if (bundleConfig.init.process.terminal && !options.consoleSocket)
      throw new OciError('OCI_BAD_ARGS', 'cannot allocate tty if runc will detach without setting console socket')
    if (!bundleConfig.init.process.terminal && options.consoleSocket)
      throw new OciError('OCI_BAD_ARGS', 'cannot use console socket if runc will not detach or allocate tty')
    if (init && (bundleConfig.userNamespace !== null || JSON.stringify(init.pidNamespace) !== JSON.stringify(bundleConfig.pidNamespace))) {
      killInit(init)
      init = undefined
    }
    fs.mkdirSync(root, {recursive: true, mode: 0o711})
    await withLock(root, id, () => createLocked(root, id, options, bundleConfig, sys, init))
  } catch (error) {
    killInit(init)
    throw error
  }
}

interface InitChild {
  /** The init, or in a user namespace its starter (which exits once the init runs). */
  child: ChildProcess
  /** The init's host pid. */
  pid: Promise<number>
  /** When the init exits (undefined in a user namespace: the init is not our child there). */
  exited?: Promise<{code: number | null; signal: NodeJS.Signals | null}>
  pidNamespace: OciBundleConfig['pidNamespace']
}

function startInit(pidNamespace: OciBundleConfig['pidNamespace'], preserveFds: number, sys: KoffiSyscalls): InitChild {
  const child = spawnInit(pidNamespace, preserveFds, sys)
  // Listened to at once: it may exit while create is still busy elsewhere.
  const exited = new Promise<{code: number | null; signal: NodeJS.Signals | null}>(resolve => child.on('exit', (code, signal) => resolve({code, signal})))
  child.on('error', () => undefined)
  ;(child.stdio[3 + preserveFds] as import('node:net').Socket).on('error', () => undefined)
  return {child, pid: Promise.resolve(child.pid ?? 0), exited, pidNamespace}
}

/**
 * The init in the container's user namespace, through pivot's user-namespace starter (userns.c):
 * the namespaces config.json joins by path first (with the host's privileges), then the user
 * namespace (made, its maps written from here as root, or joined), and with it the new pid
 * namespace, so that namespace and every one the init makes after it belong to the user
 * namespace (/proc and sysfs can then be mounted inside). As root the maps are written directly
 * and /proc/PID/setgroups stays "allow": process.user.additionalGids need setgroups(2). The
 * starter exits once the init runs: like the plain init, it is then the caller's alone.
 */
function startUsernsInit(config: OciBundleConfig, preserveFds: number, passed: number[]): InitChild {
  const {spawnPlacedInUserns} = require('../userns/spawn-for-runtime') as typeof import('../userns/spawn-for-runtime')
  const userns = config.userNamespace!
  const preserved = Array.from({length: preserveFds}, (_, i) => 3 + i)
  const controlFd = 3 + preserveFds
  const stdio: import('node:child_process').StdioOptions = ['inherit', 'inherit', 'inherit', ...preserved, 'pipe', ...passed]
  const started = spawnPlacedInUserns(
    process.execPath,
    [INIT_SCRIPT, String(controlFd)],
    {env: {}, stdio},
    'maps' in userns ? {maps: userns.maps} : {maps: {uid: [], gid: []}, writer: 'none'},
    {
      joinUser: 'path' in userns ? userns.path : undefined,
      join: config.starterJoins,
      newPid: config.pidNamespace !== null && config.pidNamespace.path === undefined,
      detach: true,
    },
  )
  started.child.on('error', () => undefined)
  ;(started.child.stdio[controlFd] as import('node:net').Socket).on('error', () => undefined)
  return {child: started.child, pid: started.ready, pidNamespace: config.pidNamespace}
}

/** The init from config.json's pid namespace alone, or undefined when that cannot be read (create then reports why). */
function spawnEarly(options: CreateOptions, sys: KoffiSyscalls): InitChild | undefined {
  try {
    const spec = JSON.parse(fs.readFileSync(path.join(options.bundle, 'config.json'), 'utf8')) as {linux?: {namespaces?: {type?: string; path?: string}[]}}
    const namespaces = spec.linux?.namespaces
    // A user namespace's init is started once its maps are read (startUsernsInit).
    if (!Array.isArray(namespaces) || namespaces.some(ns => ns?.type === 'user')) return undefined
    const pid = namespaces.find(ns => ns?.type === 'pid')
    if (pid !== undefined && pid.path !== undefined) return undefined
    const init = startInit(pid === undefined ? null : {}, options.preserveFds, sys)
    return init.child.pid === undefined ? undefined : init
  } catch {
    return undefined
  }
}

function killInit(init: InitChild | undefined): void {
  if (init?.child.pid === undefined) return
  try {
    process.kill(init.child.pid, 'SIGKILL')
  } catch {
    // gone
  }
}

async function createLocked(
  root: string,
  id: string,
  options: CreateOptions,
  config: OciBundleConfig,
  sys: KoffiSyscalls,
  early: InitChild | undefined,
): Promise<void> {
  const dir = stateDir(root, id)
  try {
    fs.mkdirSync(dir, {mode: 0o711})
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new OciError('OCI_EXISTS', 'container with given ID already exists')
    throw error
  }
  let cgroup: import('../runtime/cgroups').CgroupManager | undefined
  const extraCgroups: string[] = []
  let child: ChildProcess | undefined
  let initPid: number | undefined
  // Descriptors create opens for an init in a user namespace (see below); closed here once it has them.
  const passed: number[] = []
  // Counted before the init mounts anything (it waits for its config line).
  const hostMounts = config.init.mountNamespace ? undefined : {path: config.init.rootfs, before: mountsAt(config.init.rootfs)}
  try {
    const fifo = path.join(dir, 'exec.fifo')
    sys.mknod(fifo, S_IFIFO | 0o600, 0n)

    const cgroupsPath = config.cgroupsPath ?? `pivot-runtime/${id}`
    const parent = path.posix.dirname(cgroupsPath) === '.' ? '' : path.posix.dirname(cgroupsPath)
    const name = path.posix.basename(cgroupsPath)
    const {createCgroup, detectCgroups} = require('../runtime/cgroups') as typeof import('../runtime/cgroups')
    const host = detectCgroups()
    if (config.deviceRules.length > 0 && host.version === 2) {
      throw new OciError(
        'OCI_UNSUPPORTED',
        'linux.resources.devices: device rules need the v1 devices cgroup; pivot does not apply them on cgroup v2 (BPF) yet',
      )
    }
    // No pids limit unless config.json sets one (0 = none): the spec's defaults, not pivot run's.
    const limits = {pids: config.resources.pids ?? 0, memory: config.resources.memory, cpus: config.resources.cpus}
    try {
      cgroup = createCgroup(name, limits, {parent})
    } catch (error) {
      if (!isPivotError(error) || error.code !== 'CGROUP_EXISTS') throw error
      // Left by a runtime killed mid-create, or a container deleted by another tool: an empty
      // cgroup of that name is taken over (emptied and made again), as runc joins it.
      const {openCgroup} = require('../runtime/cgroups') as typeof import('../runtime/cgroups')
      const stale = openCgroup(name, {parent})
      if (stale.paths.some(dir => fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').trim() !== '')) {
        throw new OciError('OCI_EXISTS', `the cgroup ${cgroupsPath} is in use by other processes`)
      }
      await stale.remove()
      cgroup = createCgroup(name, limits, {parent})
    }
    if (config.deviceRules.length > 0) {
      // runc's additions after config.json's rules: the default devices, ptys, and every device
      // linux.devices creates (mknod needs "m", the process "rw").
      const extra = [...DEFAULT_DEVICE_RULES, ...config.init.devices.filter(d => d.type !== 'p').map(d => `${d.type} ${d.major}:${d.minor} rwm`)].map(rule => ({
        allow: true,
        rule,
      }))
      extraCgroups.push(makeDevicesCgroup(cgroupsPath, [...config.deviceRules, ...extra]))
    }

    if (config.cpu) {
      if (host.version === 2)
        throw new OciError('OCI_UNSUPPORTED', 'linux.resources.cpu: shares, periods other than 100 ms and cpusets are applied on cgroup v1 only by pivot')
      extraCgroups.push(...applyCpu(cgroup.paths, cgroupsPath, config.cpu))
    }
    const init: OciInitConfig = {
      ...config.init,
      controlFd: 3 + options.preserveFds,
      preserveFds: options.preserveFds,
      fifo,
      consoleSocket: options.consoleSocket,
    }
    let started = early
    if (!started && config.userNamespace) {
      // The init runs as an unprivileged host uid there, which may not reach the state root (0700
      // as --root often is) or the caller's console socket: both are opened here and passed on, after
      // its control fd, as runc passes them to its init.
      passed.push(sys.open(fifo, O_PATH | O_CLOEXEC))
      init.fifoFd = 3 + options.preserveFds + passed.length
      if (init.process.terminal && options.consoleSocket) {
        passed.push(sys.unixConnect(options.consoleSocket))
        init.consoleFd = 3 + options.preserveFds + passed.length
      }
      started = startUsernsInit(config, options.preserveFds, passed)
    }
    started ??= startInit(config.pidNamespace, options.preserveFds, sys)
    child = started.child
    const exited = started.exited
    // In a user namespace this rejects with the starter's own reason (not built, maps refused...).
    const pid = await started.pid
    if (child.pid === undefined || pid === 0) throw new OciError('OCI_CREATE_FAILED', 'cannot start the container init')
    initPid = pid
    // In the cgroup before it runs anything of the container ("go" is the config line).
    cgroup.addProcess(pid)
    // The init reopens the fifo for writing as its own host uid (root inside a user namespace is
    // another host id, which a root-owned 0600 fifo would refuse): runc chowns it the same way.
    if (config.userNamespace) {
      const ids = hostIds(pid)
      fs.chownSync(fifo, ids.uid, ids.gid)
    }
    for (const dir of extraCgroups) fs.writeFileSync(path.join(dir, 'cgroup.procs'), String(pid))
    const control = child.stdio[3 + options.preserveFds] as import('node:net').Socket
    control.write(JSON.stringify(init) + '\n')
    const answer = await readAnswer(control, exited)
    if (!answer.ready) throw new OciError('OCI_CREATE_FAILED', answer.message)
    const stat = procStat(pid)
    if (!stat) throw new OciError('OCI_CREATE_FAILED', 'the container init exited before it was ready')
    const state: OciState = {
      id,
      pid,
      startTime: stat.startTime,
      bundle: options.bundle,
      rootfs: config.init.rootfs,
      created: new Date().toISOString(),
      annotations: config.annotations,
      ociVersion: config.ociVersion,
      cgroup: {parent, name},
      cgroupPaths: cgroup.paths,
      extraCgroups,
      hooks: config.hooks,
      seccompFilter: config.init.seccompFilter,
      ...(hostMounts ? {hostMounts} : {}),
    }
    saveState(root, state)
    const hookState = JSON.stringify(stateJson(state, 'created'))
    for (const hook of [...config.hooks.prestart, ...config.hooks.createRuntime]) runHook(hook, hookState, 'prestart/createRuntime')
    if (options.pidFile) {
      fs.writeFileSync(options.pidFile + '.tmp', String(pid))
      fs.renameSync(options.pidFile + '.tmp', options.pidFile)
    }
    // Our ends go: the init is now only the caller's (and, once we exit, its subreaper's).
    control.destroy()
    child.unref()
  } catch (error) {
    for (const victim of [child?.pid, initPid]) {
      if (victim === undefined) continue
      try {
        process.kill(victim, 'SIGKILL')
      } catch {
        // gone
      }
    }
    await cgroup?.remove().catch(() => undefined)
    for (const dir of extraCgroups.reverse()) rmdirQuiet(dir)
    if (hostMounts) {
      // Once the init is a zombie it mounts nothing more.
      for (let i = 0; i < 500 && child?.pid !== undefined && (procStat(child.pid)?.state ?? 'Z') !== 'Z'; i++) await new Promise(r => setTimeout(r, 2))
      unmountHostMounts(hostMounts)
    }
    fs.rmSync(dir, {recursive: true, force: true})
    throw error
  } finally {
    for (const fd of passed) sys.close(fd)
  }
}

/** A process's real uid and gid as the host sees them (/proc/PID/status is read in the reader's user namespace). */
function hostIds(pid: number): {uid: number; gid: number} {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN)
  const ids = {uid: field('Uid'), gid: field('Gid')}
  if (!Number.isInteger(ids.uid) || !Number.isInteger(ids.gid))
    throw new OciError('OCI_CREATE_FAILED', `cannot read the container init's ids from /proc/${pid}/status`)
  return ids
}

/**
 * The init as PID 1 of a new pid namespace (unshare(CLONE_NEWPID) makes the next child its PID
 * 1; see runtime/start-init.ts), or in the namespace config.json names, or in ours. Its stdio is
 * ours (the caller's pipes or terminal), --preserve-fds pass as 3..3+N-1, the control socket after.
 */
function spawnInit(pidNamespace: OciBundleConfig['pidNamespace'], preserveFds: number, sys: KoffiSyscalls): ChildProcess {
  const preserved = Array.from({length: preserveFds}, (_, i) => 3 + i)
  const controlFd = 3 + preserveFds
  const spawnIt = () =>
    spawn(process.execPath, [INIT_SCRIPT, String(controlFd)], {
      env: {},
      stdio: ['inherit', 'inherit', 'inherit', ...preserved, 'pipe'],
    })
  if (pidNamespace === null) return spawnIt()
  const own = fs.openSync('/proc/self/ns/pid', 'r')
  try {
    if (pidNamespace.path) {
      let fd: number
      try {
        fd = fs.openSync(pidNamespace.path, 'r')
      } catch (error) {
        throw new OciError('OCI_BAD_CONFIG', `config.json: linux.namespaces: pid namespace ${pidNamespace.path}: ${(error as NodeJS.ErrnoException).code}`)
      }
      try {
        sys.setns(fd, CLONE_NEWPID)
      } finally {
        fs.closeSync(fd)
      }
    } else {
      sys.unshare(CLONE_NEWPID)
    }
    try {
      return spawnIt()
    } finally {
      sys.setns(own, CLONE_NEWPID)
    }
  } finally {
    fs.closeSync(own)
  }
}

async function readAnswer(
  control: import('node:net').Socket,
  exited: Promise<{code: number | null; signal: NodeJS.Signals | null}> | undefined,
): Promise<{ready: true} | {ready: false; message: string}> {
  let buffered = ''
  const line = new Promise<string | undefined>(resolve => {
    control.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8')
      const nl = buffered.indexOf('\n')
      if (nl !== -1) resolve(buffered.slice(0, nl))
    })
    control.on('close', () => resolve(undefined))
  })
  const first = await Promise.race([line, ...(exited ? [exited.then(() => undefined)] : [])])
  const text = first ?? (await Promise.race([line, new Promise<undefined>(r => setTimeout(() => r(undefined), 100))]))
  if (text === undefined) {
    // In a user namespace the init is not our child: its closed control socket says it is gone.
    if (!exited) return {ready: false, message: 'the container init exited before it was ready'}
    const how = await exited
    return {ready: false, message: `the container init exited before it was ready (${how.signal ?? `status ${how.code}`})`}
  }
  try {
    const parsed = JSON.parse(text) as {ready?: boolean; message?: string}
    if (parsed.ready) return {ready: true}
    return {ready: false, message: parsed.message ?? 'the container init failed'}
  } catch {
    return {ready: false, message: `the container init said: ${text}`}
  }
}

const DEFAULT_DEVICE_RULES = [
  'c 1:3 rwm',
  'c 1:5 rwm',
  'c 1:7 rwm',
  'c 1:8 rwm',
  'c 1:9 rwm',
  'c 5:0 rwm',
  'c 5:1 rwm',
  'c 5:2 rwm',
  'c 136:* rwm',
  'c 10:200 rwm',
]

/**
 * The cpu knobs pivot's CgroupManager does not write (v1): cpu.shares, a CFS period other than
 * 100 ms, and a cpuset cgroup at cgroupsPath (whose new levels get their parent's cpus and mems
 * first: an empty cpuset takes no task). Returns the cpuset directory when it made one.
 */
function applyCpu(paths: string[], cgroupsPath: string, cpu: NonNullable<OciBundleConfig['cpu']>): string[] {
  const write = (dir: string, file: string, value: string) => {
    try {
      fs.writeFileSync(path.join(dir, file), value)
    } catch (error) {
      throw new OciError('OCI_CREATE_FAILED', `cannot set ${file} to ${value} in ${dir}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`)
    }
  }
  const cpuDir = paths.find(p => fs.existsSync(path.join(p, 'cpu.shares')))
  if ((cpu.shares !== undefined || cpu.quota !== undefined) && cpuDir === undefined)
    throw new OciError('OCI_UNSUPPORTED', 'linux.resources.cpu: the cpu cgroup controller is not mounted on this host')
  if (cpu.shares !== undefined) write(cpuDir!, 'cpu.shares', String(cpu.shares))
  if (cpu.quota !== undefined) {
    // The period first: the kernel checks a quota against the period in force.
    write(cpuDir!, 'cpu.cfs_period_us', String(cpu.period ?? 100_000))
    write(cpuDir!, 'cpu.cfs_quota_us', String(cpu.quota))
  }
  if (cpu.cpus === undefined && cpu.mems === undefined) return []
  const {parseV1Mounts} = require('../runtime/cgroups/detect-cgroups') as typeof import('../runtime/cgroups/detect-cgroups')
  const mount = parseV1Mounts(fs.readFileSync('/proc/self/mountinfo', 'utf8')).cpuset
  if (mount === undefined) throw new OciError('OCI_UNSUPPORTED', 'linux.resources.cpu.cpus/mems: the cpuset cgroup controller is not mounted on this host')
  let dir = mount
  for (const part of cgroupsPath.split('/')) {
    const parent = dir
    dir = path.join(dir, part)
    if (!fs.existsSync(dir)) {
      fs.mkdirSync(dir)
      for (const file of ['cpuset.cpus', 'cpuset.mems']) {
        if (fs.readFileSync(path.join(dir, file), 'utf8').trim() === '') write(dir, file, fs.readFileSync(path.join(parent, file), 'utf8').trim())
      }
    }
  }
  try {
    if (cpu.cpus !== undefined) write(dir, 'cpuset.cpus', cpu.cpus)
    if (cpu.mems !== undefined) write(dir, 'cpuset.mems', cpu.mems)
  } catch (error) {
    rmdirQuiet(dir)
    throw error
  }
  return [dir]
}

/** v1 devices cgroup: everything denied, then config.json's rules in order (what runc writes). */
function makeDevicesCgroup(cgroupsPath: string, rules: OciBundleConfig['deviceRules']): string {
  const {parseV1Mounts} = require('../runtime/cgroups/detect-cgroups') as typeof import('../runtime/cgroups/detect-cgroups')
  const mount = parseV1Mounts(fs.readFileSync('/proc/self/mountinfo', 'utf8')).devices
  if (mount === undefined) throw new OciError('OCI_UNSUPPORTED', 'linux.resources.devices: the devices cgroup controller is not mounted on this host')
  const dir = path.join(mount, cgroupsPath)
  fs.mkdirSync(dir, {recursive: true})
  try {
    fs.writeFileSync(path.join(dir, 'devices.deny'), 'a')
    for (const r of rules) fs.writeFileSync(path.join(dir, r.allow ? 'devices.allow' : 'devices.deny'), r.rule)
  } catch (error) {
    rmdirQuiet(dir)
    throw new OciError('OCI_CREATE_FAILED', `cannot set the device rules in ${dir}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`)
  }
  return dir
}

function rmdirQuiet(dir: string): void {
  try {
    fs.rmdirSync(dir)
  } catch {
    // busy or gone: delete --force retries
  }
}
