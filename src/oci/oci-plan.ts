import * as fs from 'node:fs'
import * as path from 'node:path'
import {
  CLONE_NEWNS,
  MNT_DETACH,
  MS_BIND,
  MS_NOEXEC,
  MS_NOSUID,
  MS_PRIVATE,
  MS_RDONLY,
  MS_REC,
  MS_REMOUNT,
  PR_CAP_AMBIENT,
  PR_SET_KEEPCAPS,
  PR_SET_NO_NEW_PRIVS,
  S_IFCHR,
  S_IFIFO,
  makedev,
} from '../sys/constants'
import type {Syscalls} from '../sys/syscalls'
import {SysError} from '../sys/sys-error'
import {describe, runStep, type Progress, type SetupFs} from '../runtime/rootfs/execute'
import {DEFAULT_DEV_LINKS, DEFAULT_DEVICES} from '../runtime/rootfs/plan'
import type {Step} from '../runtime/rootfs/steps'
import {RuntimeError} from '../runtime/runtime-error'
import {CAPABILITY_NAMES, capabilityMask} from '../runtime/security/capabilities'
import type {OciDevice, OciInitConfig, OciMount} from './oci-config'

const S_IFBLK = 0o060000
const CLONE_FS = 0x200
const PR_CAP_AMBIENT_RAISE = 2

/** The OCI mode's own setup ops; the rest are pivot's (runtime/rootfs/steps.ts). */
export type OciStep =
  | Step
  | {op: 'setrlimit'; resource: number; soft: string; hard: string}
  | {op: 'writeFile'; path: string; value: string}
  | {op: 'setnsPath'; path: string; flag: number}
  | {op: 'chroot'; path: string}
  | {op: 'ociMount'; root: string; mount: OciMount}
  /** bind: the host's node at the same path bound on an empty file (in a user namespace, as runc). */
  | {op: 'ociDevice'; root: string; device: OciDevice; bind?: boolean}
  | {op: 'ociLink'; root: string; target: string; name: string}
  | {op: 'consoleSocket'; socketFd: number; rows?: number; cols?: number}
  /** Tells create the container is set up, then blocks on the start fifo until `start` opens it. */
  | {op: 'waitStart'; controlFd: number; fifoFd: number}
  | {op: 'setIds'; uid: number; gid: number; groups: number[]}
  | {op: 'ambient'; caps: string[]}
  /** fds 3..3+count-1 (--preserve-fds) survive exec; every other fd above 2 does not. */
  | {op: 'keepFds'; count: number}

/**
 * The container's setup from its translated config.json, in runc's order where the spec fixes one
 * (namespaces, mounts, devices, pivot_root, sysctl, masked/read-only paths, readonly root, the
 * console, cwd, then the process's identity and walls last). pivot's hardening ops (masks,
 * bounding set, capabilities, seccomp, the exec guard) are reused as they are.
 */
export function planOciContainer(c: OciInitConfig, fds: {fifoFd: number; consoleFd?: number}): OciStep[] {
  const root = c.rootfs
  const p = c.process
  const steps: OciStep[] = []
  // rlimits first, as root: raising a hard limit needs CAP_SYS_RESOURCE, which the container may not keep.
  for (const r of p.rlimits) steps.push({op: 'setrlimit', resource: r.resource, soft: r.soft, hard: r.hard})
  if (p.oomScoreAdj !== undefined) steps.push({op: 'writeFile', path: '/proc/self/oom_score_adj', value: String(p.oomScoreAdj)})
  // setns of a mount namespace fails while the fs_struct is shared with Node's other threads.
  if (c.join.some(j => j.flag === CLONE_NEWNS)) steps.push({op: 'unshare', flags: CLONE_FS})
  for (const j of c.join) steps.push({op: 'setnsPath', path: j.path, flag: j.flag})
  if (c.unshareFlags !== 0) steps.push({op: 'unshare', flags: c.unshareFlags})
  // Nothing mounted below may propagate back to the host (see runtime/rootfs/plan.ts). Without a
  // mount namespace of its own the mounts are the caller's anyway: its propagation is left alone.
  if (c.mountNamespace) steps.push({op: 'mount', source: null, target: '/', fstype: null, flags: MS_REC | MS_PRIVATE, data: null})
  // The root as a mount of its own: pivot_root wants a mount point (and without a mount namespace,
  // every mount of the container is below it, so delete detaches them all at once).
  steps.push({op: 'mount', source: root, target: root, fstype: null, flags: MS_BIND | MS_REC, data: null})
  if (c.hostname) steps.push({op: 'sethostname', name: c.hostname})
  for (const m of c.mounts) steps.push({op: 'ociMount', root, mount: m})
  const devPaths = new Set(c.devices.map(d => d.path))
  for (const d of DEFAULT_DEVICES) {
    const devPath = `/dev/${d.name}`
    if (!devPaths.has(devPath))
      steps.push({op: 'ociDevice', root, device: {path: devPath, type: 'c', major: d.major, minor: d.minor, mode: 0o666, uid: 0, gid: 0}, bind: c.userns})
  }
  // A fifo needs no privilege: made even in a user namespace.
  for (const d of c.devices) steps.push({op: 'ociDevice', root, device: d, bind: c.userns && d.type !== 'p'})
  for (const l of DEFAULT_DEV_LINKS) steps.push({op: 'ociLink', root, target: l.target, name: `/dev/${l.name}`})
  steps.push({op: 'chdir', path: root})
  if (c.mountNamespace) {
    steps.push({op: 'pivotRoot', newRoot: '.', putOld: '.'})
    steps.push({op: 'umount2', target: '.', flags: MNT_DETACH})
  } else {
    // runc's choice there too: pivot_root would change the root of every process of the caller's
    // mount namespace.
    steps.push({op: 'chroot', path: '.'})
  }
  steps.push({op: 'chdir', path: '/'})
  if (c.rootfsPropagation !== 0) steps.push({op: 'mount', source: null, target: '/', fstype: null, flags: c.rootfsPropagation, data: null})
  for (const [k, v] of Object.entries(c.sysctl)) steps.push({op: 'writeFile', path: `/proc/sys/${k.replace(/\./g, '/')}`, value: v})
  for (const m of c.maskedPaths) steps.push({op: 'maskPath', path: m})
  for (const r of c.readonlyPaths) steps.push({op: 'readonlyPath', path: r})
  if (c.readonlyRoot) steps.push({op: 'mount', source: null, target: '/', fstype: null, flags: MS_BIND | MS_REMOUNT | MS_RDONLY, data: null})
  if (p.terminal && fds.consoleFd !== undefined)
    steps.push({op: 'consoleSocket', socketFd: fds.consoleFd, rows: p.consoleSize?.height, cols: p.consoleSize?.width})
  steps.push({op: 'workdir', path: p.cwd})
  steps.push({op: 'resolveCommand', command: p.args, env: p.env})
  steps.push({op: 'waitStart', controlFd: c.controlFd, fifoFd: fds.fifoFd})
  // The identity and walls, in runtime/rootfs/plan.ts's order and for its reasons.
  steps.push({op: 'capBounding', keep: capabilityMask(p.capabilities.bounding)})
  steps.push({op: 'prctl', option: PR_SET_KEEPCAPS, arg2: 1})
  steps.push({op: 'setIds', uid: p.uid, gid: p.gid, groups: p.additionalGids})
  steps.push({op: 'umask', mask: p.umask ?? 0o022})
  steps.push({op: 'resetSignals'})
  steps.push({op: 'keepFds', count: c.preserveFds})
  if (p.noNewPrivileges) steps.push({op: 'prctl', option: PR_SET_NO_NEW_PRIVS, arg2: 1})
  if (c.seccompFilter !== null) {
    if (!p.noNewPrivileges) steps.push({op: 'raiseEffective'})
    steps.push({op: 'seccomp', program: c.seccompFilter})
  }
  steps.push({op: 'prctl', option: PR_SET_KEEPCAPS, arg2: 0})
  steps.push({
    op: 'capabilities',
    effective: capabilityMask(p.capabilities.effective),
    permitted: capabilityMask(p.capabilities.permitted),
    inheritable: capabilityMask(p.capabilities.inheritable),
  })
  // The kernel raises an ambient capability only if it is permitted and inheritable; runc skips
  // (with a warning in its log) the others, and `runc spec`'s default asks for ambient ones with
  // an empty inheritable set: the same here, or that default config could not run.
  const ambient = p.capabilities.ambient.filter(c => p.capabilities.inheritable.includes(c) && p.capabilities.permitted.includes(c))
  if (ambient.length > 0) steps.push({op: 'ambient', caps: ambient})
  steps.push({op: 'exec'})
  return steps
}

/** Runs an OCI plan: its own ops here, pivot's through runStep. Errors as executeSteps gives them. */
export function executeOciSteps(steps: readonly OciStep[], sys: Syscalls, setupFs: SetupFs): void {
  const progress: Progress = {}
  for (const step of steps) {
    try {
      runOciStep(step, sys, setupFs, progress)
    } catch (error) {
      if (error instanceof RuntimeError) throw error
      throw new RuntimeError('RUN_SETUP_FAILED', `container setup failed: ${step.op}: ${describe(error)}`, {cause: error})
    }
  }
}

function runOciStep(step: OciStep, sys: Syscalls, setupFs: SetupFs, progress: Progress): void {
  switch (step.op) {
    case 'setrlimit':
      sys.setrlimit(step.resource, BigInt(step.soft), BigInt(step.hard))
      return
    case 'writeFile':
      fs.writeFileSync(step.path, step.value)
      return
    case 'setnsPath': {
      const fd = fs.openSync(step.path, 'r')
      try {
        sys.setns(fd, step.flag)
      } finally {
        fs.closeSync(fd)
      }
      return
    }
    case 'ociMount':
      mountOne(step.root, step.mount, sys)
      return
    case 'ociDevice':
      if (step.bind) bindDevice(step.root, step.device, sys)
      else makeDevice(step.root, step.device, sys)
      return
    case 'chroot':
      sys.chroot(step.path)
      return
    case 'ociLink': {
      const at = inRoot(step.root, step.name)
      if (fs.lstatSync(at, {throwIfNoEntry: false}) === undefined) fs.symlinkSync(step.target, at)
      return
    }
    case 'consoleSocket': {
      // The pty is the container's own (its devpts, after pivot_root); the master goes to the
      // caller over the console socket, the slave becomes stdio and the controlling terminal.
      const {master, slave} = sys.openPty('/dev/ptmx', '/dev/pts')
      if (step.rows && step.cols) sys.setWindowSize(master, step.rows, step.cols)
      sys.sendFd(step.socketFd, master, '/dev/ptmx')
      sys.close(master)
      sys.close(step.socketFd)
      sys.setsid()
      for (const fd of [0, 1, 2]) sys.dup2(slave, fd)
      sys.close(slave)
      sys.setControllingTerminal(0)
      return
    }
    case 'waitStart': {
      fs.writeSync(step.controlFd, '{"ready":true}\n')
      fs.closeSync(step.controlFd)
      // Opening a fifo for writing blocks until a reader opens it: `start` does.
      const fd = fs.openSync(`/proc/self/fd/${step.fifoFd}`, 'w')
      fs.writeSync(fd, '0')
      fs.closeSync(fd)
      sys.close(step.fifoFd)
      return
    }
    case 'setIds':
      sys.setgroups(step.groups)
      sys.setresgid(step.gid)
      sys.setresuid(step.uid)
      return
    case 'ambient':
      for (const name of step.caps) sys.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAPABILITY_NAMES.indexOf(name))
      return
    case 'keepFds':
      sys.cloexecFrom(3 + step.count)
      for (let fd = 0; fd < 3 + step.count; fd++) sys.setCloexec(fd, false)
      return
    default:
      runStep(step, sys, setupFs, progress)
  }
}

/**
 * `inside` under `root` with every symlink on the way resolved as the container would see it
 * (an absolute link restarts at root, `..` stops at root): a hostile rootfs cannot point a mount
 * or a device outside itself. Missing components are left as they are.
 */
export function inRoot(root: string, inside: string): string {
  const parts = inside.split('/').filter(Boolean)
  let resolved: string[] = []
  let links = 0
  while (parts.length > 0) {
    const part = parts.shift()!
    if (part === '.') continue
    if (part === '..') {
      resolved.pop()
      continue
    }
    const candidate = path.join(root, ...resolved, part)
    const st = fs.lstatSync(candidate, {throwIfNoEntry: false})
    if (st?.isSymbolicLink()) {
      if (++links > 40) throw new RuntimeError('RUN_SETUP_FAILED', `container setup failed: too many symlinks in ${inside}`)
      const target = fs.readlinkSync(candidate)
      if (target.startsWith('/')) resolved = []
      parts.unshift(...target.split('/').filter(Boolean))
      continue
    }
    resolved.push(part)
  }
  return path.join(root, ...resolved)
}

function mkdirUnder(root: string, dir: string): void {
  let at = root
  for (const part of path.relative(root, dir).split('/').filter(Boolean)) {
    at = path.join(at, part)
    try {
      fs.mkdirSync(at, 0o755)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    }
  }
}

function mountOne(root: string, m: OciMount, sys: Syscalls): void {
  const target = inRoot(root, m.destination)
  if (m.fileBind) {
    mkdirUnder(root, path.dirname(target))
    if (!fs.existsSync(target)) fs.closeSync(fs.openSync(target, 'a', 0o644))
  } else {
    mkdirUnder(root, target)
  }
  if (m.bind) {
    sys.mount(m.source, target, null, m.flags, null)
    // A bind takes its own flags only on a second, remount call.
    if (m.remountFlags !== 0) sys.mount(null, target, null, MS_BIND | MS_REMOUNT | m.remountFlags, null)
  } else {
    try {
      sys.mount(m.source, target, m.type, m.flags, m.data)
    } catch (error) {
      // sysfs in the host's network namespace: runc falls back to a read-only rbind of /sys.
      if (m.type === 'sysfs' && error instanceof SysError && error.errnoName === 'EPERM') {
        sys.mount('/sys', target, null, MS_BIND | MS_REC, null)
        sys.mount(null, target, null, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC, null)
      } else throw error
    }
  }
  for (const p of m.propagation) sys.mount(null, target, null, p, null)
}

/**
 * In a user namespace mknod is refused: the host's node at the device's path is bound on an empty
 * file instead, which keeps the host's owner and mode (it is the host's node: never chown or chmod
 * it from here). A host without that node is a clear error, as with runc.
 */
function bindDevice(root: string, d: OciDevice, sys: Syscalls): void {
  const host = fs.statSync(d.path, {throwIfNoEntry: false})
  const want = d.type === 'b' ? S_IFBLK : S_IFCHR
  if (!host || (host.mode & 0o170000) !== want || host.rdev !== Number(makedev(d.major, d.minor)))
    throw new RuntimeError(
      'RUN_SETUP_FAILED',
      `container setup failed: ${d.path}: in a user namespace devices are bound from the host, which has no ${d.type} ${d.major}:${d.minor} there`,
    )
  const target = inRoot(root, d.path)
  mkdirUnder(root, path.dirname(target))
  try {
    fs.unlinkSync(target)
  } catch {
    // not there
  }
  fs.closeSync(fs.openSync(target, 'w', 0o600))
  sys.mount(d.path, target, null, MS_BIND, null)
}

function makeDevice(root: string, d: OciDevice, sys: Syscalls): void {
  const target = inRoot(root, d.path)
  mkdirUnder(root, path.dirname(target))
  const type = d.type === 'b' ? S_IFBLK : d.type === 'p' ? S_IFIFO : S_IFCHR
  try {
    fs.unlinkSync(target)
  } catch {
    // not there
  }
  sys.mknod(target, type | (d.mode & 0o7777), makedev(d.major, d.minor))
  fs.chownSync(target, d.uid, d.gid)
  // mknod applies the umask.
  fs.chmodSync(target, d.mode & 0o7777)
}
