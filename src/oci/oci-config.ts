import * as fs from 'node:fs'
import * as path from 'node:path'
import {
  MS_BIND,
  MS_DIRSYNC,
  MS_LAZYTIME,
  MS_MANDLOCK,
  MS_NOATIME,
  MS_NODEV,
  MS_NODIRATIME,
  MS_NOEXEC,
  MS_NOSUID,
  MS_PRIVATE,
  MS_RDONLY,
  MS_REC,
  MS_RELATIME,
  MS_SHARED,
  MS_SLAVE,
  MS_STRICTATIME,
  MS_SYNCHRONOUS,
  MS_UNBINDABLE,
  SCMP_ARCH_ARM,
  SCMP_ARCH_X32,
  SCMP_ARCH_X86,
} from '../sys/constants'
import type {SeccompArgCmp, SeccompRuleSpec} from '../sys/syscalls'
import {CAPABILITY_NAMES} from '../runtime/security/capabilities'
import {OciError} from './oci-error'

/**
 * The one validation pass of the OCI runtime mode: a bundle's config.json (runtime-spec 1.1) in,
 * the plain options pivot's init runs with out (OciInitConfig), or one OciError naming the field.
 * Every field is either translated or refused here: nothing reaches the init unread, so a field
 * pivot does not implement can never be silently ignored.
 */

/** One mount of config.json, resolved: flags split from the data string, propagation apart. */
export interface OciMount {
  destination: string
  /** Host path for binds (absolute, resolved against the bundle), the fs source otherwise. */
  source: string
  type: string
  bind: boolean
  /** MS_* flags of the mount call (MS_BIND|MS_REC for an rbind). */
  flags: number
  /** Flags a bind needs in a second remount call (ro, nosuid, nodev, noexec, atime ones). */
  remountFlags: number
  /** MS_SHARED/MS_SLAVE/MS_PRIVATE/MS_UNBINDABLE (|MS_REC), applied after the mount. */
  propagation: number[]
  data: string | null
  /** A bind of a file (the mount point is a file, not a directory). */
  fileBind: boolean
}

export interface OciDevice {
  path: string
  type: 'c' | 'b' | 'p'
  major: number
  minor: number
  mode: number
  uid: number
  gid: number
}

export interface OciRlimit {
  /** RLIMIT_* number. */
  resource: number
  soft: string
  hard: string
}

export interface OciProcess {
  args: string[]
  env: string[]
  cwd: string
  uid: number
  gid: number
  additionalGids: number[]
  umask?: number
  terminal: boolean
  consoleSize?: {height: number; width: number}
  capabilities: {bounding: string[]; effective: string[]; permitted: string[]; inheritable: string[]; ambient: string[]}
  rlimits: OciRlimit[]
  noNewPrivileges: boolean
  oomScoreAdj?: number
}

/** What the OCI init receives as its config (one JSON line on its control fd). */
export interface OciInitConfig {
  /** Absolute host path of the container's root. */
  rootfs: string
  readonlyRoot: boolean
  mounts: OciMount[]
  /** Namespaces to make (CLONE_* flags, pid excluded: the parent makes or joins that one). */
  unshareFlags: number
  /** Namespaces to join by path, in runc's order (all but mount first, mount last). */
  join: {path: string; flag: number}[]
  hostname?: string
  devices: OciDevice[]
  maskedPaths: string[]
  readonlyPaths: string[]
  sysctl: Record<string, string>
  /** MS_* propagation for / after pivot_root, or 0 (left rprivate). */
  rootfsPropagation: number
  /**
   * false: no mount namespace in linux.namespaces: as runc, the container's mounts are made in the
   * caller's mount namespace and its root is a chroot (delete takes them down again).
   */
  mountNamespace: boolean
  process: OciProcess
  /** base64 of the compiled BPF program, or null without linux.seccomp. */
  seccompFilter: string | null
  /**
   * The init runs in a user namespace (made or joined by create's starter, see oci-create.ts):
   * device nodes are bound from the host's /dev, as runc does there (mknod is not allowed).
   */
  userns: boolean
  /** Filled by create: the control fd number, the fifo, the console socket. */
  controlFd: number
  preserveFds: number
  fifo: string
  consoleSocket?: string
  /**
   * In a user namespace the init is an unprivileged host uid, which may reach neither the fifo in
   * the state root nor the caller's console socket: create passes them at these fds (the fifo
   * as an O_PATH descriptor, the socket connected).
   */
  fifoFd?: number
  consoleFd?: number
}

export interface OciHook {
  path: string
  args?: string[]
  env?: string[]
  timeout?: number
}

export interface OciHooks {
  prestart: OciHook[]
  createRuntime: OciHook[]
  poststart: OciHook[]
  poststop: OciHook[]
}

/** Everything create needs from config.json: the init's part, and the runtime's own. */
export interface OciBundleConfig {
  init: Omit<OciInitConfig, 'controlFd' | 'preserveFds' | 'fifo' | 'consoleSocket' | 'fifoFd' | 'consoleFd'>
  /** The pid namespace: new (undefined path), joined (path), or the host's (null). */
  pidNamespace: {path?: string} | null
  /**
   * The user namespace: made with these maps (host ids as `outside`), or joined by path; null
   * without one. With one, every namespace path (pid's too) is joined by the starter before the
   * user namespace is made, in `starterJoins` (init.join is then empty): runc's order, which joins
   * with the host's privileges and lets the user namespace own every namespace made after it.
   */
  userNamespace: {maps: import('../userns/id-maps').IdMaps} | {path: string} | null
  starterJoins: string[]
  cgroupsPath?: string
  resources: {pids?: number; memory?: number; cpus?: number}
  /** cpu knobs beyond `resources.cpus` (v1 only; see oci-create.ts applyCpu). */
  cpu?: {shares?: number; quota?: number; period?: number; cpus?: string; mems?: string}
  /** devices cgroup rules in order (v1 devices.allow/deny lines). */
  deviceRules: {allow: boolean; rule: string}[]
  hooks: OciHooks
  annotations: Record<string, string>
  /** The seccomp rules as compiled (the exec helper reuses the program from the state). */
  ociVersion: string
}

const RLIMITS: Record<string, number> = {
  RLIMIT_CPU: 0,
  RLIMIT_FSIZE: 1,
  RLIMIT_DATA: 2,
  RLIMIT_STACK: 3,
  RLIMIT_CORE: 4,
  RLIMIT_RSS: 5,
  RLIMIT_NPROC: 6,
  RLIMIT_NOFILE: 7,
  RLIMIT_MEMLOCK: 8,
  RLIMIT_AS: 9,
  RLIMIT_LOCKS: 10,
  RLIMIT_SIGPENDING: 11,
  RLIMIT_MSGQUEUE: 12,
  RLIMIT_NICE: 13,
  RLIMIT_RTPRIO: 14,
  RLIMIT_RTTIME: 15,
}

const NAMESPACES: Record<string, number> = {
  pid: 0x20000000,
  network: 0x40000000,
  mount: 0x00020000,
  ipc: 0x08000000,
  uts: 0x04000000,
  user: 0x10000000,
  cgroup: 0x02000000,
}

/** runc's mount option table: option -> [flags to set, flags to clear]. */
const MOUNT_FLAGS: Record<string, [number, number]> = {
  ro: [MS_RDONLY, 0],
  rw: [0, MS_RDONLY],
  nosuid: [MS_NOSUID, 0],
  suid: [0, MS_NOSUID],
  nodev: [MS_NODEV, 0],
  dev: [0, MS_NODEV],
  noexec: [MS_NOEXEC, 0],
  exec: [0, MS_NOEXEC],
  sync: [MS_SYNCHRONOUS, 0],
  async: [0, MS_SYNCHRONOUS],
  dirsync: [MS_DIRSYNC, 0],
  mand: [MS_MANDLOCK, 0],
  nomand: [0, MS_MANDLOCK],
  atime: [0, MS_NOATIME],
  noatime: [MS_NOATIME, 0],
  diratime: [0, MS_NODIRATIME],
  nodiratime: [MS_NODIRATIME, 0],
  relatime: [MS_RELATIME, 0],
  norelatime: [0, MS_RELATIME],
  strictatime: [MS_STRICTATIME, 0],
  nostrictatime: [0, MS_STRICTATIME],
  lazytime: [MS_LAZYTIME, 0],
  nolazytime: [0, MS_LAZYTIME],
  defaults: [0, 0],
}

const PROPAGATION: Record<string, number> = {
  private: MS_PRIVATE,
  rprivate: MS_PRIVATE | MS_REC,
  shared: MS_SHARED,
  rshared: MS_SHARED | MS_REC,
  slave: MS_SLAVE,
  rslave: MS_SLAVE | MS_REC,
  unbindable: MS_UNBINDABLE,
  runbindable: MS_UNBINDABLE | MS_REC,
}

type Json = Record<string, unknown>

function bad(field: string, why: string): never {
  throw new OciError('OCI_BAD_CONFIG', `config.json: ${field}: ${why}`)
}

function unsupported(field: string, why = 'is not supported by pivot'): never {
  throw new OciError('OCI_UNSUPPORTED', `config.json: ${field} ${why}`)
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** Fields of `obj` must be among `known`; anything else is refused by name. */
function onlyKnown(obj: Json, field: string, known: readonly string[]): void {
  for (const key of Object.keys(obj)) {
    if (!known.includes(key)) unsupported(field ? `${field}.${key}` : key)
  }
}

function strings(v: unknown, field: string): string[] {
  if (v === undefined || v === null) return []
  if (!Array.isArray(v) || v.some(s => typeof s !== 'string')) bad(field, 'must be an array of strings')
  return v as string[]
}

function integer(v: unknown, field: string, min = -Infinity, max = Infinity): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) bad(field, `must be an integer${min > -Infinity ? ` from ${min}` : ''}`)
  return v
}

/** Reads BUNDLE/config.json: one error for a missing or malformed file. */
export function readBundleConfig(bundle: string): Json {
  const file = path.join(bundle, 'config.json')
  let text: string
  try {
    text = fs.readFileSync(file, 'utf8')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT') throw new OciError('OCI_BAD_CONFIG', `JSON specification file config.json not found`)
    throw new OciError('OCI_BAD_CONFIG', `cannot read ${file}: ${code ?? String(error)}`)
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (error) {
    throw new OciError('OCI_BAD_CONFIG', `config.json is not valid JSON: ${(error as Error).message}`)
  }
  if (!isObject(parsed)) bad('(top level)', 'must be a JSON object')
  return parsed
}

/** config.json -> what create runs. `compileSeccomp` turns spec rules into a BPF program. */
export function translateConfig(
  spec: Json,
  bundle: string,
  compileSeccomp: (defaultErrno: number, rules: SeccompRuleSpec[], arches: number[]) => Buffer,
): OciBundleConfig {
  onlyKnown(spec, '', ['ociVersion', 'root', 'mounts', 'process', 'hostname', 'domainname', 'hooks', 'annotations', 'linux'])
  if (typeof spec.ociVersion !== 'string') bad('ociVersion', 'is required (a string)')
  if (!/^1\.[0-2]\./.test(spec.ociVersion as string)) unsupported('ociVersion', `${JSON.stringify(spec.ociVersion)} is not a 1.0-1.2 version`)
  if (spec.domainname !== undefined && spec.domainname !== '') unsupported('domainname')

  // -- root
  if (!isObject(spec.root)) bad('root', 'is required')
  onlyKnown(spec.root, 'root', ['path', 'readonly'])
  if (typeof spec.root.path !== 'string' || spec.root.path === '') bad('root.path', 'is required')
  const rootfs = path.resolve(bundle, spec.root.path)
  let rootStat: fs.Stats | undefined
  try {
    rootStat = fs.statSync(rootfs)
  } catch {
    rootStat = undefined
  }
  if (!rootStat?.isDirectory()) bad('root.path', `${rootfs} is not a directory`)

  // -- process
  if (!isObject(spec.process)) unsupported('process', 'is missing: a container without a process cannot be started')
  const proc = translateProcess(spec.process)

  // -- linux
  const linux = spec.linux === undefined ? {} : spec.linux
  if (!isObject(linux)) bad('linux', 'must be an object')
  onlyKnown(linux, 'linux', [
    'namespaces',
    'uidMappings',
    'gidMappings',
    'devices',
    'cgroupsPath',
    'resources',
    'sysctl',
    'seccomp',
    'rootfsPropagation',
    'maskedPaths',
    'readonlyPaths',
    'mountLabel',
  ])
  if (linux.mountLabel !== undefined && linux.mountLabel !== '') unsupported('linux.mountLabel', '(SELinux) is not supported by pivot')

  let unshareFlags = 0
  const join: {path: string; flag: number}[] = []
  let pidNamespace: {path?: string} | null = null
  let userPath: string | undefined
  const seen = new Set<string>()
  for (const [i, ns] of (Array.isArray(linux.namespaces)
    ? linux.namespaces
    : linux.namespaces === undefined
      ? []
      : bad('linux.namespaces', 'must be an array')
  ).entries()) {
    const field = `linux.namespaces[${i}]`
    if (!isObject(ns)) bad(field, 'must be an object')
    onlyKnown(ns, field, ['type', 'path'])
    const type = ns.type as string
    const flag = NAMESPACES[type]
    if (flag === undefined) bad(`${field}.type`, `unknown namespace type ${JSON.stringify(type)}`)
    if (seen.has(type)) bad(field, `namespace type ${type} is given twice`)
    seen.add(type)
    if (ns.path !== undefined && (typeof ns.path !== 'string' || !path.isAbsolute(ns.path))) bad(`${field}.path`, 'must be an absolute path')
    if (type === 'user') userPath = (ns.path as string | undefined) || undefined
    else if (type === 'pid') pidNamespace = ns.path ? {path: ns.path as string} : {}
    else if (ns.path) join.push({path: ns.path as string, flag})
    else unshareFlags |= flag
  }
  // runc's rule (and message): masks and read-only binds made in the caller's mount namespace
  // would be the caller's to undo, not the container's walls.
  if (!seen.has('mount') && (strings(linux.maskedPaths, 'linux.maskedPaths').length > 0 || strings(linux.readonlyPaths, 'linux.readonlyPaths').length > 0))
    bad('linux.maskedPaths/readonlyPaths', 'unable to restrict sys entries without a private MNT namespace')
  // The mount namespace last: joining it changes the root the other paths are looked up in.
  join.sort((a, b) => Number(a.flag === NAMESPACES.mount) - Number(b.flag === NAMESPACES.mount))
  const userNamespace = translateUserNamespace(linux, seen.has('user'), userPath)
  let starterJoins: string[] = []
  if (userNamespace) {
    // A mount namespace shared with the caller could not be mounted in from the user namespace.
    if (!seen.has('mount')) unsupported('linux.namespaces', 'with a user namespace but no mount namespace is not supported by pivot')
    starterJoins = [...(pidNamespace?.path ? [pidNamespace.path] : []), ...join.map(j => j.path)]
    join.length = 0
  }

  let hostname: string | undefined
  if (spec.hostname !== undefined) {
    if (typeof spec.hostname !== 'string') bad('hostname', 'must be a string')
    hostname = spec.hostname
    if (hostname !== '' && !seen.has('uts')) bad('hostname', 'needs a uts namespace (linux.namespaces)')
  }

  const mounts = (Array.isArray(spec.mounts) ? spec.mounts : spec.mounts === undefined ? [] : bad('mounts', 'must be an array')).map((m, i) =>
    translateMount(m, `mounts[${i}]`, bundle),
  )

  const devices: OciDevice[] = []
  for (const [i, d] of (Array.isArray(linux.devices) ? linux.devices : []).entries()) {
    const field = `linux.devices[${i}]`
    if (!isObject(d)) bad(field, 'must be an object')
    onlyKnown(d, field, ['path', 'type', 'major', 'minor', 'fileMode', 'uid', 'gid'])
    if (typeof d.path !== 'string' || !path.posix.isAbsolute(d.path)) bad(`${field}.path`, 'must be an absolute path')
    if (d.type !== 'c' && d.type !== 'b' && d.type !== 'p' && d.type !== 'u') bad(`${field}.type`, 'must be c, b, u or p')
    devices.push({
      path: path.posix.normalize(d.path),
      type: d.type === 'u' ? 'c' : d.type,
      major: d.type === 'p' ? 0 : integer(d.major, `${field}.major`, 0),
      minor: d.type === 'p' ? 0 : integer(d.minor, `${field}.minor`, 0),
      mode: d.fileMode === undefined ? 0o666 : integer(d.fileMode, `${field}.fileMode`, 0, 0o7777),
      uid: d.uid === undefined ? 0 : integer(d.uid, `${field}.uid`, 0),
      gid: d.gid === undefined ? 0 : integer(d.gid, `${field}.gid`, 0),
    })
  }

  const sysctl: Record<string, string> = {}
  if (linux.sysctl !== undefined) {
    if (!isObject(linux.sysctl)) bad('linux.sysctl', 'must be an object')
    for (const [k, v] of Object.entries(linux.sysctl)) {
      if (typeof v !== 'string') bad(`linux.sysctl.${k}`, 'must be a string')
      if (!/^[A-Za-z0-9_.-]+$/.test(k) || k.includes('..')) bad(`linux.sysctl.${k}`, 'is not a sysctl name')
      if (!namespacedSysctl(k, seen)) unsupported(`linux.sysctl.${k}`, 'is not a sysctl of a namespace the container has its own of (refused like runc)')
      sysctl[k] = v
    }
  }

  let rootfsPropagation = 0
  if (linux.rootfsPropagation !== undefined && linux.rootfsPropagation !== '') {
    const p = PROPAGATION[linux.rootfsPropagation as string]
    if (p === undefined) bad('linux.rootfsPropagation', `unknown propagation ${JSON.stringify(linux.rootfsPropagation)}`)
    rootfsPropagation = p
  }

  let cgroupsPath: string | undefined
  if (linux.cgroupsPath !== undefined && linux.cgroupsPath !== '') {
    if (typeof linux.cgroupsPath !== 'string') bad('linux.cgroupsPath', 'must be a string')
    if (linux.cgroupsPath.includes(':'))
      unsupported('linux.cgroupsPath', `${JSON.stringify(linux.cgroupsPath)} is a systemd slice path: pivot runs without --systemd-cgroup`)
    const parts = linux.cgroupsPath.split('/').filter(Boolean)
    if (parts.length === 0 || parts.some(p => p === '.' || p === '..')) bad('linux.cgroupsPath', `${JSON.stringify(linux.cgroupsPath)} is not a cgroup path`)
    cgroupsPath = parts.join('/')
  }
  const {resources, deviceRules, cpu} = translateResources(linux.resources)

  let seccompFilter: string | null = null
  if (linux.seccomp !== undefined && linux.seccomp !== null) seccompFilter = translateSeccomp(linux.seccomp, compileSeccomp).toString('base64')

  const hooks = translateHooks(spec.hooks)
  const annotations: Record<string, string> = {}
  if (spec.annotations !== undefined) {
    if (!isObject(spec.annotations)) bad('annotations', 'must be an object')
    for (const [k, v] of Object.entries(spec.annotations)) {
      if (typeof v !== 'string') bad(`annotations.${k}`, 'must be a string')
      annotations[k] = v
    }
  }

  const root = spec.root as Json
  return {
    init: {
      rootfs,
      readonlyRoot: root.readonly === true,
      mounts,
      unshareFlags,
      join,
      hostname,
      devices,
      maskedPaths: strings(linux.maskedPaths, 'linux.maskedPaths'),
      readonlyPaths: strings(linux.readonlyPaths, 'linux.readonlyPaths'),
      sysctl,
      rootfsPropagation,
      mountNamespace: seen.has('mount'),
      process: proc,
      seccompFilter,
      userns: userNamespace !== null,
    },
    pidNamespace,
    userNamespace,
    starterJoins,
    cgroupsPath,
    resources,
    cpu,
    deviceRules,
    hooks,
    annotations,
    ociVersion: spec.ociVersion as string,
  }
}

/** The kernel's limit on the lines of a uid_map or gid_map (since Linux 4.15). */
const MAX_MAP_LINES = 340

/**
 * linux.uidMappings/gidMappings with the user namespace: maps for a new one (both required, uid
 * and gid 0 mapped: the init starts as root inside), none for one joined by path (it has its own).
 * Overlapping ranges are refused here by name rather than by the kernel's bare EINVAL.
 */
function translateUserNamespace(linux: Json, hasUser: boolean, userPath: string | undefined): OciBundleConfig['userNamespace'] {
  const given = (key: 'uidMappings' | 'gidMappings') => Array.isArray(linux[key]) && (linux[key] as unknown[]).length > 0
  if (!hasUser) {
    if (given('uidMappings') || given('gidMappings'))
      bad('linux.uidMappings/gidMappings', 'user namespace mappings are given, but linux.namespaces has no user namespace')
    return null
  }
  if (userPath !== undefined) {
    if (given('uidMappings') || given('gidMappings'))
      unsupported('linux.uidMappings/gidMappings', 'with a user namespace path are not supported by pivot (the joined namespace has its own maps)')
    return {path: userPath}
  }
  const maps = {uid: translateMap(linux.uidMappings, 'linux.uidMappings'), gid: translateMap(linux.gidMappings, 'linux.gidMappings')}
  return {maps}
}

function translateMap(v: unknown, field: string): {inside: number; outside: number; count: number}[] {
  if (v === undefined || v === null || (Array.isArray(v) && v.length === 0)) bad(field, 'a new user namespace needs uid and gid mappings')
  if (!Array.isArray(v)) bad(field, 'must be an array')
  if (v.length > MAX_MAP_LINES) bad(field, `has ${v.length} entries: the kernel takes ${MAX_MAP_LINES} at most`)
  const map = v.map((m, i) => {
    const at = `${field}[${i}]`
    if (!isObject(m)) bad(at, 'must be an object')
    onlyKnown(m, at, ['containerID', 'hostID', 'size'])
    const count = integer(m.size, `${at}.size`, 1, 2 ** 32 - 1)
    const inside = integer(m.containerID, `${at}.containerID`, 0, 2 ** 32 - 1 - count)
    const outside = integer(m.hostID, `${at}.hostID`, 0, 2 ** 32 - 1 - count)
    return {inside, outside, count}
  })
  for (let i = 0; i < map.length; i++) {
    for (let j = 0; j < i; j++) {
      const a = map[i]!
      const b = map[j]!
      if (a.inside < b.inside + b.count && b.inside < a.inside + a.count) bad(field, `entries ${j} and ${i} overlap inside the container`)
      if (a.outside < b.outside + b.count && b.outside < a.outside + a.count) bad(field, `entries ${j} and ${i} overlap on the host`)
    }
  }
  if (!map.some(m => m.inside === 0)) bad(field, 'must map id 0 (the container init starts as root in its user namespace)')
  return map
}

/** runc's rule: only sysctls the container's own namespaces scope (ipc, net, uts). */
function namespacedSysctl(name: string, namespaces: Set<string>): boolean {
  if (
    name.startsWith('fs.mqueue.') ||
    ['kernel.msgmax', 'kernel.msgmnb', 'kernel.msgmni', 'kernel.sem', 'kernel.shmall', 'kernel.shmmax', 'kernel.shmmni', 'kernel.shm_rmid_forced'].includes(
      name,
    )
  ) {
    return namespaces.has('ipc')
  }
  if (name.startsWith('net.')) return namespaces.has('network')
  if (name === 'kernel.hostname' || name === 'kernel.domainname') return namespaces.has('uts')
  return false
}

export function translateProcess(p: Json): OciProcess {
  onlyKnown(p, 'process', [
    'terminal',
    'consoleSize',
    'user',
    'args',
    'env',
    'cwd',
    'capabilities',
    'rlimits',
    'noNewPrivileges',
    'oomScoreAdj',
    'apparmorProfile',
    'selinuxLabel',
  ])
  const args = strings(p.args, 'process.args')
  if (args.length === 0) bad('process.args', 'must name the command to run')
  if (typeof p.cwd !== 'string' || !path.posix.isAbsolute(p.cwd)) bad('process.cwd', 'must be an absolute path')
  for (const s of [...args, ...strings(p.env, 'process.env'), p.cwd]) if (s.includes('\0')) bad('process', 'a string holds a NUL byte')
  if (p.selinuxLabel !== undefined && p.selinuxLabel !== '') unsupported('process.selinuxLabel', '(SELinux) is not supported by pivot')
  // Like runc: a profile is applied only where AppArmor is enabled. Here it is not, so it has no
  // meaning; where it is, pivot cannot apply it and refuses.
  if (p.apparmorProfile !== undefined && p.apparmorProfile !== '' && appArmorEnabled())
    unsupported('process.apparmorProfile', '(AppArmor) is not supported by pivot')
  const user = isObject(p.user) ? p.user : bad('process.user', 'is required')
  onlyKnown(user, 'process.user', ['uid', 'gid', 'umask', 'additionalGids'])
  const caps = p.capabilities === undefined ? {} : isObject(p.capabilities) ? p.capabilities : bad('process.capabilities', 'must be an object')
  onlyKnown(caps, 'process.capabilities', ['bounding', 'effective', 'permitted', 'inheritable', 'ambient'])
  const capSet = (name: string) => {
    const names = strings(caps[name], `process.capabilities.${name}`)
    for (const n of names) if (!CAPABILITY_NAMES.includes(n)) bad(`process.capabilities.${name}`, `unknown capability ${JSON.stringify(n)}`)
    return names
  }
  const rlimits: OciRlimit[] = []
  const seenRlimit = new Set<string>()
  for (const [i, r] of (Array.isArray(p.rlimits) ? p.rlimits : p.rlimits === undefined ? [] : bad('process.rlimits', 'must be an array')).entries()) {
    const field = `process.rlimits[${i}]`
    if (!isObject(r)) bad(field, 'must be an object')
    onlyKnown(r, field, ['type', 'soft', 'hard'])
    const resource = RLIMITS[r.type as string]
    if (resource === undefined) bad(`${field}.type`, `unknown rlimit ${JSON.stringify(r.type)}`)
    if (seenRlimit.has(r.type as string)) bad(field, `rlimit ${r.type as string} is given twice`)
    seenRlimit.add(r.type as string)
    const soft = integer(r.soft, `${field}.soft`, 0)
    const hard = integer(r.hard, `${field}.hard`, 0)
    if (soft > hard) bad(field, 'soft is above hard')
    rlimits.push({resource, soft: rlimitValue(soft), hard: rlimitValue(hard)})
  }
  let consoleSize: {height: number; width: number} | undefined
  if (isObject(p.consoleSize))
    consoleSize = {height: integer(p.consoleSize.height, 'process.consoleSize.height', 0), width: integer(p.consoleSize.width, 'process.consoleSize.width', 0)}
  return {
    args,
    env: strings(p.env, 'process.env'),
    cwd: p.cwd,
    uid: integer(user.uid, 'process.user.uid', 0, 0xfffffffe),
    gid: integer(user.gid, 'process.user.gid', 0, 0xfffffffe),
    additionalGids: (Array.isArray(user.additionalGids) ? user.additionalGids : []).map((g, i) => integer(g, `process.user.additionalGids[${i}]`, 0)),
    umask: user.umask === undefined ? undefined : integer(user.umask, 'process.user.umask', 0, 0o777),
    terminal: p.terminal === true,
    consoleSize,
    capabilities: {
      bounding: capSet('bounding'),
      effective: capSet('effective'),
      permitted: capSet('permitted'),
      inheritable: capSet('inheritable'),
      ambient: capSet('ambient'),
    },
    rlimits,
    noNewPrivileges: p.noNewPrivileges === true,
    oomScoreAdj: p.oomScoreAdj === undefined ? undefined : integer(p.oomScoreAdj, 'process.oomScoreAdj', -1000, 1000),
  }
}

/** JSON numbers lose RLIM_INFINITY's (2^64-1) low bits: anything that large means unlimited. */
function rlimitValue(v: number): string {
  return v >= 2 ** 64 - 4096 ? '18446744073709551615' : String(BigInt(v))
}

function appArmorEnabled(): boolean {
  try {
    return fs.readFileSync('/sys/module/apparmor/parameters/enabled', 'utf8').trim() === 'Y'
  } catch {
    return false
  }
}

function translateMount(m: unknown, field: string, bundle: string): OciMount {
  if (!isObject(m)) bad(field, 'must be an object')
  onlyKnown(m, field, ['destination', 'source', 'type', 'options'])
  if (typeof m.destination !== 'string' || !path.posix.isAbsolute(m.destination)) bad(`${field}.destination`, 'must be an absolute path')
  const options = strings(m.options, `${field}.options`)
  const type = typeof m.type === 'string' ? m.type : 'none'
  let bind = type === 'bind'
  let flags = 0
  let clear = 0
  const propagation: number[] = []
  const data: string[] = []
  for (const o of options) {
    if (o === 'bind' || o === 'rbind') {
      bind = true
      flags |= MS_BIND | (o === 'rbind' ? MS_REC : 0)
    } else if (MOUNT_FLAGS[o]) {
      flags |= MOUNT_FLAGS[o][0]
      clear |= MOUNT_FLAGS[o][1]
    } else if (PROPAGATION[o] !== undefined) {
      propagation.push(PROPAGATION[o])
    } else if (o === 'remount' || o === 'tmpcopyup' || o.startsWith('idmap') || o.startsWith('ridmap') || o === 'rro' || (o.startsWith('rr') && o !== 'rro')) {
      unsupported(`${field}.options`, `option ${JSON.stringify(o)} is not supported by pivot`)
    } else {
      data.push(o)
    }
  }
  flags &= ~clear
  if (bind) flags |= MS_BIND
  const source = typeof m.source === 'string' ? m.source : type
  let hostSource = source
  let fileBind = false
  if (bind) {
    hostSource = path.resolve(bundle, source)
    let st: fs.Stats
    try {
      st = fs.statSync(hostSource)
    } catch (error) {
      bad(`${field}.source`, `${hostSource}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`)
    }
    fileBind = !st.isDirectory()
  }
  if (type === 'cgroup' && !bind) {
    // The host's hierarchy, read-only, in place of runc's per-controller binds of the
    // container's own cgroups (what docker and containerd ask for on a v1 host).
    return {
      destination: path.posix.normalize(m.destination),
      source: '/sys/fs/cgroup',
      type: 'bind',
      bind: true,
      flags: MS_BIND | MS_REC,
      remountFlags: MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
      propagation,
      data: null,
      fileBind: false,
    }
  }
  const remountFlags = bind ? flags & ~(MS_BIND | MS_REC) : 0
  return {
    destination: path.posix.normalize(m.destination),
    source: hostSource,
    type,
    bind,
    flags: bind ? flags & (MS_BIND | MS_REC) : flags,
    remountFlags,
    propagation,
    data: data.length > 0 ? data.join(',') : null,
    fileBind,
  }
}

function translateResources(r: unknown): {resources: OciBundleConfig['resources']; deviceRules: OciBundleConfig['deviceRules']; cpu?: OciBundleConfig['cpu']} {
  const resources: OciBundleConfig['resources'] = {}
  const deviceRules: OciBundleConfig['deviceRules'] = []
  let cpuExtra: OciBundleConfig['cpu']
  if (r === undefined || r === null) return {resources, deviceRules}
  if (!isObject(r)) bad('linux.resources', 'must be an object')
  // docker and containerd send sections they leave unset as empty objects or zeros.
  for (const key of Object.keys(r)) if (!['devices', 'pids', 'memory', 'cpu'].includes(key) && isUnset(r[key])) delete r[key]
  onlyKnown(r, 'linux.resources', ['devices', 'pids', 'memory', 'cpu'])
  if (r.pids !== undefined) {
    if (!isObject(r.pids)) bad('linux.resources.pids', 'must be an object')
    onlyKnown(r.pids, 'linux.resources.pids', ['limit'])
    if (r.pids.limit !== undefined) resources.pids = integer(r.pids.limit, 'linux.resources.pids.limit')
  }
  if (r.memory !== undefined) {
    if (!isObject(r.memory)) bad('linux.resources.memory', 'must be an object')
    for (const key of Object.keys(r.memory)) {
      if (key === 'limit' || isUnset(r.memory[key])) continue
      // Zero-valued knobs docker and containerd send are "not set".
      if (key === 'swappiness' || key === 'disableOOMKiller' || key === 'swap') {
        if (key === 'swap' && r.memory.swap === r.memory.limit) continue
        if (key === 'disableOOMKiller' && r.memory[key] === false) continue
        if (key !== 'swap' && r.memory[key] === undefined) continue
      }
      unsupported(`linux.resources.memory.${key}`, 'is not supported by pivot (only limit, with swap held to it)')
    }
    if (r.memory.limit !== undefined) resources.memory = integer(r.memory.limit, 'linux.resources.memory.limit')
  }
  if (r.cpu !== undefined) {
    if (!isObject(r.cpu)) bad('linux.resources.cpu', 'must be an object')
    for (const key of Object.keys(r.cpu)) if (!['quota', 'period', 'shares', 'cpus', 'mems'].includes(key) && isUnset(r.cpu[key])) delete r.cpu[key]
    onlyKnown(r.cpu, 'linux.resources.cpu', ['quota', 'period', 'shares', 'cpus', 'mems'])
    const c = r.cpu
    const quota = c.quota === undefined || c.quota === 0 || c.quota === -1 ? undefined : integer(c.quota, 'linux.resources.cpu.quota', 1000)
    const period = c.period === undefined || c.period === 0 ? undefined : integer(c.period, 'linux.resources.cpu.period', 1000, 1_000_000)
    // containerd and docker send the default shares (1024 / 0): the kernel's default too.
    const shares = c.shares === undefined || c.shares === 0 || c.shares === 1024 ? undefined : integer(c.shares, 'linux.resources.cpu.shares', 2, 262144)
    const cpus =
      c.cpus === undefined || c.cpus === ''
        ? undefined
        : /^[0-9,-]+$/.test(c.cpus as string)
          ? (c.cpus as string)
          : bad('linux.resources.cpu.cpus', 'must be a cpu list such as 0-3,5')
    const mems =
      c.mems === undefined || c.mems === ''
        ? undefined
        : /^[0-9,-]+$/.test(c.mems as string)
          ? (c.mems as string)
          : bad('linux.resources.cpu.mems', 'must be a node list such as 0')
    if (period !== undefined && quota === undefined) unsupported('linux.resources.cpu.period', 'without a quota is not supported by pivot')
    if (quota !== undefined && (period ?? 100_000) === 100_000 && shares === undefined && cpus === undefined && mems === undefined) {
      resources.cpus = quota / 100_000
    } else if (quota !== undefined || shares !== undefined || cpus !== undefined || mems !== undefined) {
      cpuExtra = {shares, quota, period: quota === undefined ? undefined : (period ?? 100_000), cpus, mems}
    }
  }
  for (const [i, d] of (Array.isArray(r.devices) ? r.devices : []).entries()) {
    const field = `linux.resources.devices[${i}]`
    if (!isObject(d)) bad(field, 'must be an object')
    onlyKnown(d, field, ['allow', 'type', 'major', 'minor', 'access'])
    const type = d.type === undefined ? 'a' : (d.type as string)
    if (!['a', 'b', 'c'].includes(type)) bad(`${field}.type`, 'must be a, b or c')
    const num = (v: unknown, f: string) => (v === undefined || v === null || v === -1 ? '*' : String(integer(v, f, 0)))
    const access = d.access === undefined ? 'rwm' : (d.access as string)
    if (!/^[rwm]{1,3}$/.test(access)) bad(`${field}.access`, 'must be made of r, w and m')
    deviceRules.push({
      allow: d.allow === true,
      rule: type === 'a' ? `a *:* ${access}` : `${type} ${num(d.major, `${field}.major`)}:${num(d.minor, `${field}.minor`)} ${access}`,
    })
  }
  return {resources, deviceRules, cpu: cpuExtra}
}

/** null, 0, false, '', or an object/array of only such values: a knob nobody set. */
function isUnset(v: unknown): boolean {
  if (v === null || v === undefined || v === 0 || v === false || v === '') return true
  if (Array.isArray(v)) return v.every(isUnset)
  if (isObject(v)) return Object.values(v).every(isUnset)
  return false
}

const SECCOMP_OPS: Record<string, SeccompArgCmp['op']> = {SCMP_CMP_EQ: 'eq', SCMP_CMP_NE: 'ne', SCMP_CMP_MASKED_EQ: 'maskedEq'}
const SECCOMP_ARCHES: Record<string, number | 'native'> = {
  SCMP_ARCH_X86_64: process.arch === 'x64' ? 'native' : -1,
  SCMP_ARCH_X86: SCMP_ARCH_X86,
  SCMP_ARCH_X32: SCMP_ARCH_X32,
  SCMP_ARCH_AARCH64: process.arch === 'arm64' ? 'native' : -1,
  SCMP_ARCH_ARM: SCMP_ARCH_ARM,
}

/**
 * The spec's seccomp JSON through pivot's libseccomp compiler, which takes an ERRNO default and
 * ALLOW/ERRNO rules (what docker's, containerd's and runtime-tools' profiles use). Any other
 * action, flag or operator is refused by name.
 */
function translateSeccomp(s: unknown, compile: (defaultErrno: number, rules: SeccompRuleSpec[], arches: number[]) => Buffer): Buffer {
  if (!isObject(s)) bad('linux.seccomp', 'must be an object')
  onlyKnown(s, 'linux.seccomp', ['defaultAction', 'defaultErrnoRet', 'architectures', 'flags', 'syscalls'])
  if (s.defaultAction !== 'SCMP_ACT_ERRNO')
    unsupported('linux.seccomp.defaultAction', `${JSON.stringify(s.defaultAction)} is not supported by pivot (SCMP_ACT_ERRNO only)`)
  if (Array.isArray(s.flags) && s.flags.length > 0) unsupported('linux.seccomp.flags')
  const defaultErrno = s.defaultErrnoRet === undefined ? 1 : integer(s.defaultErrnoRet, 'linux.seccomp.defaultErrnoRet', 0, 4095)
  const arches: number[] = []
  for (const a of strings(s.architectures, 'linux.seccomp.architectures')) {
    const token = SECCOMP_ARCHES[a]
    if (token === undefined || token === -1) unsupported('linux.seccomp.architectures', `${JSON.stringify(a)} is not supported by pivot on ${process.arch}`)
    if (token !== 'native') arches.push(token)
  }
  const rules: SeccompRuleSpec[] = []
  for (const [i, r] of (Array.isArray(s.syscalls) ? s.syscalls : []).entries()) {
    const field = `linux.seccomp.syscalls[${i}]`
    if (!isObject(r)) bad(field, 'must be an object')
    onlyKnown(r, field, ['names', 'action', 'errnoRet', 'args', 'comment', 'includes', 'excludes'])
    if ((isObject(r.includes) && Object.keys(r.includes).length > 0) || (isObject(r.excludes) && Object.keys(r.excludes).length > 0))
      unsupported(`${field}.includes/excludes`)
    let errno: number | undefined
    if (r.action === 'SCMP_ACT_ERRNO') errno = r.errnoRet === undefined ? 1 : integer(r.errnoRet, `${field}.errnoRet`, 0, 4095)
    else if (r.action !== 'SCMP_ACT_ALLOW')
      unsupported(`${field}.action`, `${JSON.stringify(r.action)} is not supported by pivot (SCMP_ACT_ALLOW, SCMP_ACT_ERRNO)`)
    const args: SeccompArgCmp[] = []
    for (const [j, a] of (Array.isArray(r.args) ? r.args : []).entries()) {
      if (!isObject(a)) bad(`${field}.args[${j}]`, 'must be an object')
      const op = SECCOMP_OPS[a.op as string]
      if (!op) unsupported(`${field}.args[${j}].op`, `${JSON.stringify(a.op)} is not supported by pivot`)
      args.push({
        index: integer(a.index, `${field}.args[${j}].index`, 0, 5),
        op,
        value: BigInt(integer(a.value, `${field}.args[${j}].value`, 0)),
        valueTwo: a.valueTwo === undefined ? undefined : BigInt(integer(a.valueTwo, `${field}.args[${j}].valueTwo`, 0)),
      })
    }
    for (const name of strings(r.names, `${field}.names`)) rules.push({name, errno, args})
  }
  return compile(defaultErrno, rules, arches)
}

function translateHooks(h: unknown): OciHooks {
  const hooks: OciHooks = {prestart: [], createRuntime: [], poststart: [], poststop: []}
  if (h === undefined || h === null) return hooks
  if (!isObject(h)) bad('hooks', 'must be an object')
  for (const [kind, list] of Object.entries(h)) {
    if (!Array.isArray(list)) bad(`hooks.${kind}`, 'must be an array')
    if (kind === 'createContainer' || kind === 'startContainer') {
      if (list.length > 0) unsupported(`hooks.${kind}`, "(hooks run inside the container's namespaces) is not supported by pivot")
      continue
    }
    if (!(kind in hooks)) unsupported(`hooks.${kind}`)
    for (const [i, hook] of list.entries()) {
      const field = `hooks.${kind}[${i}]`
      if (!isObject(hook)) bad(field, 'must be an object')
      onlyKnown(hook, field, ['path', 'args', 'env', 'timeout'])
      if (typeof hook.path !== 'string' || !path.isAbsolute(hook.path)) bad(`${field}.path`, 'must be an absolute path')
      hooks[kind as keyof OciHooks].push({
        path: hook.path,
        args: strings(hook.args, `${field}.args`),
        env: strings(hook.env, `${field}.env`),
        timeout: hook.timeout === undefined ? undefined : integer(hook.timeout, `${field}.timeout`, 1),
      })
    }
  }
  return hooks
}
