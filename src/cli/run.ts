/**
 * `pivot run` without oclif: bin/pivot calls main() directly, because loading oclif costs more
 * than the whole container start. Flags come from the same table as commands/run.ts (oclif, for
 * --help and the docs), whose run() calls main() too, so both entry points behave alike.
 *
 * The module graph of a run of a cached image stays small: the store, the reference parser, the
 * runtime, koffi. The puller (dockerode, tar) and oclif (for --help) are required only when used.
 */
import * as fs from 'node:fs'
import * as path from 'node:path'
import {isPivotError} from '../errors'
import {argCountError} from './arity'
import type {ResolvedImage} from '../images/resolve-image'
import type {Store} from '../store/store'
import {parseRunArgs, type RawRunFlags} from '../runtime/run-flags'
import type {ResourceLimits, RunOptions} from '../runtime/run-options'
import {RuntimeError} from '../runtime/runtime-error'
import type {PendingInit} from '../runtime/start-init'
import type {SecurityOptions} from '../runtime/security/security-options'
import {abortOnInterrupt} from '../common/interrupt'
import {useBundle} from '../common/module-bundle'
import {isRoot} from '../common/user-dirs'

// Only the modules above (small, no node:crypto or child_process) and start-init load before the
// init is spawned, from run.early.bundle.js when the build made it (bin/pivot loads it); the rest
// are required after, while the init starts on the other core.
const lazy = {
  store: () => require('../store/store') as typeof import('../store/store'),
  cacheRoot: () => require('../store/cache-root') as typeof import('../store/cache-root'),
  limits: () => require('../runtime/cgroups/parse-limits') as typeof import('../runtime/cgroups/parse-limits'),
  config: () => require('../runtime/container-config') as typeof import('../runtime/container-config'),
  resolveImage: () => require('../images/resolve-image') as typeof import('../images/resolve-image'),
}

/** Writes to fd 2 synchronously. Never process.stderr: for a pipe, libuv would make the file
 * description (shared with the container) non-blocking, and the container's writes could fail. */
function say(line: string): void {
  try {
    fs.writeSync(2, line.endsWith('\n') ? line : line + '\n')
  } catch {
    // stderr closed: nothing to do
  }
}

export async function main(argv: string[]): Promise<void> {
  let code: number
  try {
    code = await run(argv)
  } catch (error) {
    code = report(error)
  }
  process.exit(code)
}

function report(thrown: unknown): number {
  // A file system error on a read-only or damaged cache: its path and cause in one line.
  const error = (require('../store/store-error') as typeof import('../store/store-error')).describeFsError(thrown) ?? thrown
  if (isPivotError(error)) {
    say(`pivot: ${error.message}`)
    return error.exitCode
  }
  const e = error as Error
  say(`pivot: internal error: ${e?.stack ?? String(error)}`)
  return 125
}

/** Parses argv, makes sure the image is cached, runs it; returns the exit status. */
export async function run(argv: string[]): Promise<number> {
  const parsed = parseRunArgs(argv)
  if (parsed.help) return showHelp()
  if (parsed.image === undefined) throw argCountError('run')
  if (parsed.image.includes('\0')) throw new RuntimeError('RUN_BAD_FLAG', 'the image name contains a NUL byte')
  parsed.command.forEach((a, i) => {
    if (a.includes('\0')) throw new RuntimeError('RUN_BAD_FLAG', `argument ${i + 1} of the command contains a NUL byte`)
  })
  const f = parsed.flags
  const policy = (str(f.pull) ?? 'missing') as 'missing' | 'always' | 'never'
  const {startInit} = require('../runtime/start-init') as typeof import('../runtime/start-init')
  // Spawned first, before the flags are even checked: its node start (~20 ms) is the longest
  // step of a run and overlaps everything below. On any error it is abandoned: it has done
  // nothing yet (no namespace, no mount, no cgroup), it only waits for its config.
  const detach = f.detach === true
  const interactive = f.interactive === true
  const tty = f.tty === true
  // Only what decides how to spawn is loaded before the spawn: the tty check and the network
  // module (with the container records, node:crypto) only when a flag needs them.
  // -d -it attaches nothing now (`attach` later does, from its own terminal): docker runs it from anywhere.
  if (tty && !detach) (require('../runtime/lifecycle/tty') as typeof import('../runtime/lifecycle/tty')).checkTerminal(tty, interactive)
  // Detached: the monitor spawns the init, once the container's directory exists.
  // Its own network namespace (--net bridge or NAME) is made as it is spawned; container:NAME
  // needs a lookup first, so that init is spawned later.
  const net = str(f.net)
  const netns =
    net === undefined || net === 'host' || net === 'none'
      ? undefined
      : (require('../runtime/container-network') as typeof import('../runtime/container-network')).earlyNetns(net)
  // --userns remap: the init is spawned by runContainer, through the user-namespace starter.
  const remap = str(f.userns) === 'remap'
  let init: PendingInit | undefined = policy === 'always' || detach || netns === 'later' || remap ? undefined : startInit('inherit', interactive, netns, tty)
  // The rest of the run path's modules from one file (src/common/module-bundle.ts), loaded now
  // that the init starts on the other core: its parse is not on the way to the spawn.
  useBundle(__filename)
  try {
    const settings = checkFlags(f)
    const store = lazy.store().Store.open(lazy.cacheRoot().resolveCacheRoot(str(f['cache-dir'])))
    let resolved = policy === 'always' ? undefined : lookupImage(store, parsed.image)
    if (!resolved) {
      init?.abandon()
      init = undefined
      resolved = await pullImageFor(store, parsed.image, policy)
    }
    const config = resolved.image.config ?? {}
    const cfg = lazy.config()
    const options: RunOptions & SecurityOptions = {
      store,
      image: resolved.image,
      imageName: resolved.name ?? parsed.image,
      command: withInit(f.init === true, cfg.resolveCommand(config, parsed.command, str(f.entrypoint))),
      // docker -t sets TERM=xterm before the image's and the user's environment.
      env: cfg.mergeEnv(f.tty === true ? ['TERM=xterm'] : [], config.Env ?? [], settings.env),
      workdir: settings.workdir ?? (config.WorkingDir ? cfg.checkWorkdir(config.WorkingDir) : '/'),
      // docker: an empty -u is no -u (the image's user).
      user: settings.user || config.User || undefined,
      hostname: settings.hostname,
      name: settings.name,
      net: str(f.net) ?? 'host',
      network: settings.network,
      limits: settings.limits,
      volumes: f.init === true ? [{source: initBinary(), target: INIT_TARGET, readOnly: true}] : [],
      mounts: settings.mounts,
      ...(settings.shmSize !== undefined ? {shmSize: settings.shmSize} : {}),
      ...(settings.ulimits.length > 0 ? {ulimits: settings.ulimits} : {}),
      ...(settings.groupAdd.length > 0 ? {groupAdd: settings.groupAdd} : {}),
      ...(settings.cidFile !== undefined ? {cidFile: settings.cidFile} : {}),
      ...(settings.devices.length > 0 ? {devices: settings.devices} : {}),
      cgroupns: (str(f.cgroupns) ?? 'default') as 'private' | 'host' | 'default',
      ...(remap ? {userns: remapUserns()} : {}),
      runFlags: settings.runFlags,
      readOnlyRootfs: f['read-only'] === true,
      remove: f.rm === true,
      stdio: 'inherit',
      detach,
      interactive,
      tty,
      restartPolicy: settings.restartPolicy,
      logRotation: settings.logRotation,
      stopSignal:
        settings.stopSignal ?? (typeof (config as {StopSignal?: unknown}).StopSignal === 'string' ? (config as {StopSignal: string}).StopSignal : undefined),
      ...settings.security,
    }
    const {runContainer} = require('../runtime/run-container') as typeof import('../runtime/run-container')
    const pending = detach || netns === 'later' || remap ? undefined : (init ?? startInit('inherit', interactive, netns, tty))
    init = undefined // runContainer owns it now
    const result = await runContainer(options, pending)
    // docker run -d: the full id, once the command runs.
    if (detach) fs.writeSync(1, result.containerId + '\n')
    return result.exitCode
  } finally {
    init?.abandon()
  }
}

/**
 * The build's warm-up of run's code cache (src/common/module-bundle.ts, writeCodeCache), as exec's:
 * the functions a run calls compiled at build time, so that the cache holds them, as far as that
 * needs no root and makes nothing outside a temporary directory: argv and every flag check, the
 * cache's checks and the image lookup (up to --pull never's error: -d spawns no init), then
 * runContainer up to its record (signal handlers, the GC lock, the container's directory, its
 * removal), an init layer, the plan and its wire form, the seccomp filter's cache, a cgroup. Each
 * run compiled them on its way (src/runtime/README.md).
 */
export async function warmCodeCache(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(require('node:os').tmpdir() as string, 'pivot-warm-'))
  try {
    const cache = path.join(dir, 'cache')
    await run(['--cache-dir', cache, '--pull', 'never', '-d', '-e', 'A=1', 'pivot-warm-up', 'true']).catch(() => undefined)
    // An image without layers, and a --cidfile in a directory that does not exist: runContainer
    // takes its way up to the record and fails before the cgroup, then removes what it made.
    const store = lazy.store().Store.open(cache)
    const image = {id: `sha256:${'0'.repeat(64)}`, layers: [], config: {}} as unknown as RunOptions['image']
    const {runContainer} = require('../runtime/run-container') as typeof import('../runtime/run-container')
    const options = {store, image, command: ['true'], env: [], workdir: '/', net: 'host', limits: {}, volumes: [], readOnlyRootfs: false, remove: true}
    await runContainer({...options, stdio: 'inherit', seccomp: 'unconfined', cidFile: path.join(dir, 'missing', 'cid')}).catch(() => undefined)
    const {prepareInitLayer} = require('../runtime/init-layer') as typeof import('../runtime/init-layer')
    prepareInitLayer(path.join(dir, 'init'), {hostname: 'warm-up', net: 'host', mountTargets: [], imageLayers: [dir]})
    // The plan and its wire form, made at "go" on every run's critical path (~1 ms the first time).
    const {planContainer} = require('../runtime/rootfs/plan') as typeof import('../runtime/rootfs/plan')
    const {encodeInitMessage} = require('../runtime/rootfs/step-wire') as typeof import('../runtime/rootfs/step-wire')
    const tasks = path.join(dir, 'cgroup', 'pids', 'tasks')
    encodeInitMessage(
      planContainer({
        storeRoot: cache,
        lowerDirs: ['init', 'l/0'],
        upperDir: 'upper',
        workDir: 'work',
        rootfs: path.join(dir, 'rootfs'),
        hostname: 'warm-up',
        net: 'host',
        volumes: [],
        readOnlyRootfs: false,
        command: ['true'],
        env: ['PATH=/bin'],
        workdir: '/',
        noNewPrivileges: false,
        capabilities: ['CAP_CHOWN'],
        privileged: false,
        seccompFilter: 'AAAAAAAAAAA=',
        cgroup: {ns: 'host', version: 1, dirs: [{name: 'pids', hostDir: path.dirname(tasks)}]},
        joinCgroup: [tasks],
      }),
      process.pid,
    )
    // The default seccomp filter, made (by a stand-in for libseccomp) and then read from a cache
    // directory of its own, as a run reads /run/pivot/seccomp.
    const {securityConfig} = require('../runtime/security/security-options') as typeof import('../runtime/security/security-options')
    const libseccomp = {seccompCompile: () => Buffer.alloc(8)} as unknown as import('../sys').Syscalls
    for (let i = 0; i < 2; i++) securityConfig({seccomp: 'default'}, libseccomp, path.join(dir, 'seccomp'))
    // A v1 cgroup (this machine's kind) made and removed on plain directories that stand for the
    // hierarchies, and for the kernel's mkdir and rmdir there (the unit tests' way).
    const {createCgroup} = require('../runtime/cgroups') as typeof import('../runtime/cgroups')
    const hierarchies = ['pids', 'memory', 'cpu', 'freezer'].map(c => ({c, dir: path.join(dir, 'cgroup', c)}))
    for (const h of hierarchies) fs.mkdirSync(h.dir, {recursive: true})
    const mountinfo = path.join(dir, 'mountinfo')
    fs.writeFileSync(mountinfo, hierarchies.map((h, i) => `${30 + i} 1 0:${30 + i} / ${h.dir} rw - cgroup cgroup rw,${h.c}\n`).join(''))
    const dirOps = {
      mkdir: (d: string) => {
        fs.mkdirSync(d)
        for (const file of ['pids.max', 'cgroup.procs']) fs.writeFileSync(path.join(d, file), '')
      },
      rmdir: (d: string) => fs.rmSync(d, {recursive: true}),
    }
    await createCgroup('warm-up', {}, {root: path.join(dir, 'cgroup'), mountinfo, rootless: false, dirOps}).remove()
  } finally {
    fs.rmSync(dir, {recursive: true, force: true})
  }
}

/** --userns remap: pivot's range (src/userns/remap-range.ts); root only, being root's remapping. */
function remapUserns(): {mode: string; maps: import('../userns/id-maps').IdMaps} {
  if (!isRoot()) throw new RuntimeError('RUN_BAD_FLAG', '--userns remap needs root (it maps the container to host ids pivot owns)')
  const {remapRange, remapMaps} = require('../userns/remap-range') as typeof import('../userns/remap-range')
  return {mode: 'remap', maps: remapMaps(remapRange())}
}

function str(v: RawRunFlags[string]): string | undefined {
  return typeof v === 'string' ? v : undefined
}

function list(v: RawRunFlags[string]): string[] {
  return Array.isArray(v) ? v : []
}

interface Settings {
  limits: ResourceLimits
  security: SecurityOptions & {noNewPrivileges: boolean}
  env: string[]
  network: NonNullable<RunOptions['network']>
  mounts: NonNullable<RunOptions['mounts']>
  shmSize?: number
  ulimits: NonNullable<RunOptions['ulimits']>
  groupAdd: string[]
  cidFile?: string
  devices: NonNullable<RunOptions['devices']>
  stopSignal?: string
  runFlags: NonNullable<RunOptions['runFlags']>
  workdir?: string
  user?: string
  hostname?: string
  name?: string
  restartPolicy?: import('../store/container-record').RestartPolicy
  logRotation?: {maxSize: number; maxFile: number}
}

/** docker's json-file --log-opt: max-size (k, m, g: binary units) and max-file (at least 1, only with max-size). */
export function parseLogOpts(values: string[]): {maxSize: number; maxFile: number} | undefined {
  let maxSize: number | undefined
  let maxFile = 1
  for (const v of values) {
    const eq = v.indexOf('=')
    const key = eq === -1 ? v : v.slice(0, eq)
    const value = eq === -1 ? '' : v.slice(eq + 1)
    if (key === 'max-size') {
      const m = /^(\d+(?:\.\d+)?)\s*([kmg]?)i?b?$/i.exec(value.trim())
      if (!m) throw new RuntimeError('RUN_BAD_FLAG', `failed to initialize logging driver: invalid size: '${value}'`)
      maxSize = Math.floor(Number(m[1]) * 1024 ** ' kmg'.indexOf((m[2] || ' ').toLowerCase()))
    } else if (key === 'max-file') {
      if (!/^-?\d+$/.test(value)) throw new RuntimeError('RUN_BAD_FLAG', `failed to initialize logging driver: invalid max-file: '${value}'`)
      maxFile = Number(value)
      if (maxFile < 1) throw new RuntimeError('RUN_BAD_FLAG', 'failed to initialize logging driver: max-file cannot be less than 1')
    } else throw new RuntimeError('RUN_BAD_FLAG', `unknown log opt '${key}' for json-file log driver`)
  }
  // docker: max-file without max-size rotates nothing.
  return maxSize === undefined || maxSize <= 0 ? undefined : {maxSize, maxFile}
}

/** docker's --restart: no, on-failure[:N], always, unless-stopped; its messages, status 125. */
export function parseRestartPolicy(value: string): import('../store/container-record').RestartPolicy {
  const colon = value.indexOf(':')
  const name = colon === -1 ? value : value.slice(0, colon)
  const count = colon === -1 ? undefined : value.slice(colon + 1)
  if (!['no', 'on-failure', 'always', 'unless-stopped'].includes(name)) throw new RuntimeError('RUN_BAD_FLAG', `invalid restart policy '${name}'`)
  if (count !== undefined && !/^\d+$/.test(count))
    throw new RuntimeError('RUN_BAD_FLAG', 'invalid restart policy format: maximum retry count must be an integer')
  if (count !== undefined && name !== 'on-failure') throw new RuntimeError('RUN_BAD_FLAG', `maximum retry count cannot be used with restart policy '${name}'`)
  return {name: name as 'no', maximumRetryCount: count === undefined ? 0 : Number(count)}
}

/** Every flag value checked before anything is created: bad input starts nothing and leaves nothing. */
export function checkFlags(f: RawRunFlags): Settings {
  const {parseCpus, parseMemory, parsePidsLimit} = lazy.limits()
  const {checkContainerName, checkHostname, checkUser, checkWorkdir, userEnv} = lazy.config()
  const limits: ResourceLimits = {}
  // Docker's meanings: --pids-limit 0 or below, --memory 0 and --cpus 0 are "no limit" (the
  // parse functions say so), which is also how a user lifts pivot's default pids limit.
  const pids = str(f['pids-limit'])
  if (pids !== undefined) {
    if (!/^[-+]?\d+$/.test(pids.trim())) {
      throw new RuntimeError('RUN_BAD_FLAG', `invalid --pids-limit ${JSON.stringify(pids)}: use a whole number (0 or -1 for no limit)`)
    }
    limits.pids = parsePidsLimit(pids)
  }
  const memory = str(f.memory)
  if (memory !== undefined) limits.memory = parseMemory(memory)
  const swap = str(f['memory-swap'])
  if (swap !== undefined) {
    limits.memorySwap = swap.trim() === '-1' ? -1 : parseMemory(swap)
    // Checked with the memory limit now, not when the cgroup is made.
    lazy.limits().resolveLimits({memory: limits.memory, memorySwap: limits.memorySwap})
  }
  const cpus = str(f.cpus)
  if (cpus !== undefined) limits.cpus = parseCpus(cpus)
  const name = str(f.name)
  if (name !== undefined) checkContainerName(name)
  const hostname = str(f.hostname)
  if (hostname !== undefined) checkHostname(hostname)
  const workdir = str(f.workdir)
  const user = str(f.user)
  if (user !== undefined) checkUser(user)
  // Capability names are checked here, before anything starts: a typo is an error, not a no-op.
  const {resolveCapabilities} = require('../runtime/security/capabilities') as typeof import('../runtime/security/capabilities')
  const {parseSecurityOpts} = require('../runtime/security/security-options') as typeof import('../runtime/security/security-options')
  const capAdd = list(f['cap-add'])
  const capDrop = list(f['cap-drop'])
  resolveCapabilities({capAdd, capDrop})
  const opts = parseSecurityOpts(list(f['security-opt']))
  const restart = str(f.restart)
  const restartPolicy = restart === undefined ? undefined : parseRestartPolicy(restart)
  if (restartPolicy && restartPolicy.name !== 'no') {
    if (f.rm === true) throw new RuntimeError('RUN_BAD_FLAG', 'Conflicting options: --restart and --rm')
    // Deliberate (README): a foreground container has no monitor that could start it again.
    if (f.detach !== true) throw new RuntimeError('RUN_BAD_FLAG', `--restart ${restart} needs -d: only a detached container's monitor can start it again`)
    // A bridge or user network is connected again at each restart; another container's
    // namespace cannot be given back.
    const net = str(f.net) ?? 'host'
    if (net.startsWith('container:'))
      throw new RuntimeError('RUN_BAD_FLAG', `--restart ${restart} with --net ${net}: a container that shares another's network namespace cannot be restarted`)
  }
  const logRotation = parseLogOpts(list(f['log-opt']))
  const network = networkFlags(f)
  const mounts = checkMountFlags(f)
  const runFlags: NonNullable<RunOptions['runFlags']> = {}
  const labels = parseLabels(list(f.label))
  if (Object.keys(labels).length > 0) runFlags.Labels = labels
  const shm = str(f['shm-size'])
  let shmSize: number | undefined
  if (shm !== undefined) {
    const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(shm.trim())
    if (!m) throw new RuntimeError('RUN_BAD_FLAG', `invalid argument ${JSON.stringify(shm)} for "--shm-size" flag: invalid size: '${shm}'`)
    const bytes = Math.floor(Number(m[1]) * {'': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4}[m[2].toLowerCase() as '' | 'k' | 'm' | 'g' | 't'])
    // docker: 0 is the default size.
    if (bytes > 0) shmSize = runFlags.ShmSize = bytes
  }
  const ulimits = (require('../runtime/ulimits') as typeof import('../runtime/ulimits')).parseUlimits(list(f.ulimit))
  if (ulimits.length > 0) runFlags.Ulimits = ulimits.map(u => ({Name: u.name, Soft: u.soft, Hard: u.hard}))
  const groupAdd = list(f['group-add'])
  for (const g of groupAdd) {
    if (g === '' || /[:\s/]/.test(g)) throw new RuntimeError('RUN_BAD_FLAG', `invalid --group-add ${JSON.stringify(g)}: a group name or a gid`)
  }
  if (groupAdd.length > 0) runFlags.GroupAdd = groupAdd
  const stopSignal = str(f['stop-signal'])
  if (stopSignal !== undefined) {
    try {
      ;(require('../runtime/lifecycle/containers') as typeof import('../runtime/lifecycle/containers')).parseSignal(stopSignal)
    } catch {
      throw new RuntimeError('RUN_BAD_FLAG', `Invalid signal: ${stopSignal}`)
    }
  }
  const stopTimeout = str(f['stop-timeout'])
  if (stopTimeout !== undefined) {
    if (!/^-?\d+$/.test(stopTimeout))
      throw new RuntimeError(
        'RUN_BAD_FLAG',
        `invalid argument ${JSON.stringify(stopTimeout)} for "--stop-timeout" flag: strconv.ParseInt: parsing ${JSON.stringify(stopTimeout)}: invalid syntax`,
      )
    runFlags.StopTimeout = Number(stopTimeout)
  }
  const cidFile = str(f.cidfile)
  if (cidFile !== undefined) checkCidFile(cidFile)
  const tmpfsFlags = list(f.tmpfs)
  if (f.init === true) runFlags.Init = true
  if (tmpfsFlags.length > 0) runFlags.Tmpfs = Object.fromEntries(tmpfsFlags.map(t => [t.split(':')[0], t.includes(':') ? t.slice(t.indexOf(':') + 1) : '']))
  const devices = list(f.device).map(parseDevice)
  return {
    logRotation,
    restartPolicy,
    mounts,
    devices,
    shmSize,
    ulimits,
    groupAdd,
    cidFile,
    stopSignal,
    runFlags,
    security: {capAdd, capDrop, privileged: f.privileged === true, seccomp: opts.seccomp, noNewPrivileges: opts.noNewPrivileges},
    limits,
    env: userEnv(list(f.env), list(f['env-file'])),
    network,
    workdir: workdir === undefined ? undefined : checkWorkdir(workdir),
    user,
    hostname,
    name,
  }
}

/** -p, -P, --network-alias, --dns, --add-host: parsed here, so bad input starts nothing. */
function networkFlags(f: RawRunFlags): NonNullable<RunOptions['network']> {
  const ports = list(f.publish)
  const dns = list(f.dns)
  const addHosts = list(f['add-host'])
  const aliases = list(f['network-alias'])
  if (ports.length === 0 && dns.length === 0 && addHosts.length === 0 && aliases.length === 0)
    return {ports: [], publishAll: f['publish-all'] === true, aliases, dns, addHosts: []}
  const {parsePortSpec} = require('../network/ports') as typeof import('../network/ports')
  const etc = require('../network/etc-files') as typeof import('../network/etc-files')
  const {checkNetworkName} = require('../network/network-state') as typeof import('../network/network-state')
  aliases.forEach(a => checkNetworkName(a))
  return {ports: ports.map(parsePortSpec), publishAll: f['publish-all'] === true, aliases, dns: dns.map(etc.parseDns), addHosts: addHosts.map(etc.parseAddHost)}
}

/** Where --init's binary is bound in the container: docker's path for its tini. */
const INIT_TARGET = '/sbin/docker-init'

/** dist/monitor/docker-init (init.c, built static by src/runtime/monitor/build.sh). */
function initBinary(): string {
  const bin = path.resolve(__dirname, '..', '..', 'monitor', 'docker-init')
  if (!fs.existsSync(bin))
    throw new RuntimeError('RUN_NO_MONITOR', `--init: ${bin} is not built (run sh src/runtime/monitor/build.sh; it needs gcc and libc6-dev)`)
  return bin
}

function withInit(init: boolean, command: string[]): string[] {
  return init ? [INIT_TARGET, '--', ...command] : command
}

/** -v, --mount and --tmpfs in docker's order, checked (syntax, duplicate targets); nothing is made yet. */
function checkMountFlags(f: RawRunFlags): NonNullable<RunOptions['mounts']> {
  const spec = require('../runtime/mounts/mount-spec') as typeof import('../runtime/mounts/mount-spec')
  const mounts = [...list(f.volume).map(spec.parseVolumeFlag), ...list(f.mount).map(spec.parseMountFlag), ...list(f.tmpfs).map(spec.parseTmpfsFlag)]
  ;(require('../runtime/mounts/resolve-mounts') as typeof import('../runtime/mounts/resolve-mounts')).checkDuplicateTargets(mounts)
  return mounts
}

/**
 * `--device SRC[:DST][:PERMS]` as docker reads it; the node is looked at now (symlinks followed,
 * as docker does) and the init checks it is still that device when it binds it.
 */
function parseDevice(spec: string): NonNullable<RunOptions['devices']>[number] {
  const parts = spec.split(':')
  if (parts.length > 3 || parts[0] === '')
    throw new RuntimeError('RUN_BAD_FLAG', `invalid argument ${JSON.stringify(spec)} for "--device" flag: bad format for path: ${spec}`)
  const source = parts[0]
  let target = source
  let permissions = 'rwm'
  const isMode = (m: string) => /^[rwm]{1,3}$/.test(m) && new Set(m).size === m.length
  if (parts.length === 2) {
    if (isMode(parts[1])) permissions = parts[1]
    else target = parts[1]
  } else if (parts.length === 3) {
    target = parts[1]
    if (!isMode(parts[2])) throw new RuntimeError('RUN_BAD_FLAG', `bad mode specified: ${parts[2]}`)
    permissions = parts[2]
  }
  for (const p of [source, target]) if (!path.posix.isAbsolute(p)) throw new RuntimeError('RUN_BAD_FLAG', `${p} is not an absolute path`)
  const gathering = `error gathering device information while adding custom device ${JSON.stringify(source)}`
  let st: fs.BigIntStats
  let real: string
  try {
    real = fs.realpathSync(source)
    st = fs.statSync(real, {bigint: true})
  } catch {
    // docker's status for a missing node, odd as it is.
    throw new RuntimeError('RUN_BAD_FLAG', `${gathering}: no such file or directory`, {exitCode: 127})
  }
  if (!st.isCharacterDevice() && !st.isBlockDevice()) throw new RuntimeError('RUN_BAD_FLAG', `${gathering}: not a device node`)
  const normal = path.posix.normalize(target)
  if (!normal.startsWith('/dev/') || normal === '/dev/') {
    throw new RuntimeError('RUN_BAD_FLAG', `--device ${spec}: pivot binds devices under /dev only (${normal} is outside it)`)
  }
  const rdev = st.rdev
  const major = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn))
  const minor = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn))
  return {source: real, target: normal, type: st.isBlockDevice() ? 'block' : 'char', major, minor, permissions}
}

/** --label KEY[=VALUE] (docker: KEY alone is an empty value). */
function parseLabels(specs: readonly string[]): Record<string, string> {
  const labels: Record<string, string> = {}
  for (const l of specs) {
    const eq = l.indexOf('=')
    const key = eq === -1 ? l : l.slice(0, eq)
    if (key.trim() === '')
      throw new RuntimeError('RUN_BAD_FLAG', `invalid argument ${JSON.stringify(l)} for "-l, --label" flag: invalid label '${l}': empty name`)
    labels[key] = eq === -1 ? '' : l.slice(eq + 1)
  }
  return labels
}

/** docker's --cidfile checks, before anything starts: the file must not exist, its directory must. */
function checkCidFile(file: string): void {
  if (fs.existsSync(file)) {
    throw new RuntimeError('RUN_BAD_FLAG', `container ID file found, make sure the other container isn't running or delete ${file}`)
  }
  const dir = path.dirname(path.resolve(file))
  if (!fs.statSync(dir, {throwIfNoEntry: false})?.isDirectory()) {
    // docker's status for it, odd as it is.
    throw new RuntimeError('RUN_BAD_FLAG', `failed to create the container ID file: open ${file}: no such file or directory`, {exitCode: 127})
  }
}

/** The cached image, or undefined when it is not in the cache. */
function lookupImage(store: Store, arg: string): ResolvedImage | undefined {
  try {
    return lazy.resolveImage().resolveImage(store, arg)
  } catch (error) {
    if (isPivotError(error) && error.code === 'IMAGE_NOT_FOUND') return undefined
    throw error
  }
}

/** The image pulled (policy always, or missing and not cached), or the error of --pull never. */
async function pullImageFor(store: Store, arg: string, policy: 'missing' | 'always' | 'never'): Promise<ResolvedImage> {
  if (policy === 'never') {
    // Escaped (a name with a newline or an escape sequence is still one inert line), not quoted.
    throw new RuntimeError('RUN_IMAGE_NOT_FOUND', `no such image: ${JSON.stringify(arg)} (it is not in the cache, and --pull never forbids pulling it)`)
  }
  // A name that cannot be a reference is an error of its own, not an image to look for.
  ;(require('../reference') as typeof import('../reference')).normalizeReference(arg)
  if (policy === 'missing') say(`Unable to find image '${arg}' locally`)
  await pull(store, arg)
  const found = lookupImage(store, arg)
  if (!found) throw new RuntimeError('RUN_IMAGE_NOT_FOUND', `no such image: ${JSON.stringify(arg)}`)
  return found
}

/** Pulls with plain progress lines on stderr, like docker run does. Loads dockerode: only here. */
async function pull(store: Store, arg: string): Promise<void> {
  const [{pullImage}, {createProgress}, {Writable}] = await Promise.all([import('../images/pull-image'), import('./progress'), import('node:stream')])
  const toStderr = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      say(chunk.toString())
      callback()
    },
  })
  const progress = createProgress('plain', toStderr, toStderr)
  const interrupt = abortOnInterrupt()
  try {
    await pullImage(store, arg, {onProgress: progress.onProgress, signal: interrupt.signal})
    await progress.finish()
  } catch (error) {
    await progress.finish(error).catch(() => undefined)
    throw error
  } finally {
    interrupt.release()
  }
}

/** `pivot run --help`: oclif renders commands/run.ts's help, built from the same flag table. */
async function showHelp(): Promise<number> {
  const {execute} = require('@oclif/core') as typeof import('@oclif/core')
  await execute({dir: path.resolve(__dirname, '..', '..', '..', 'bin', 'pivot'), args: ['run', '--help']})
  return 0
}
