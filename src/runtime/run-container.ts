import * as fs from 'node:fs'
import * as path from 'node:path'
import {containerEnv, checkHostname} from './container-config'
import {
  cgroupIdOf,
  configPath,
  containerDir,
  currentOwner,
  processStartTime,
  newContainerId,
  releaseName,
  removeContainer,
  writeState,
  type ContainerState,
  type MountRecord,
} from '../store/container-record'
import {writeJsonAtomic} from '../common/fs-util'
import {reserveName} from './container-name'
import type {InitConfig, InitFailure, InitVolume} from './init-config'
import {prepareInitLayer} from './init-layer'
import type {RunOptions, RunResult} from './run-options'
import {RuntimeError} from './runtime-error'
import {catchesSignal, exitStatus, forwardSignals} from './signals'
import {createCgroup, type CgroupManager} from './cgroups'
import {INIT_BIN, startInit, type PendingInit} from './start-init'
import {startMonitor} from './monitor/start-monitor'
import {securityConfig, type SecurityOptions} from './security/security-options'
import {lockGcShared} from '../store/gc-lock'
import {connectNetwork, planNetwork, releaseNetwork, type PlannedNetwork} from './container-network'
import {resolveMounts} from './mounts/resolve-mounts'
import {removeAnonymousVolumes} from './mounts/volumes'
import {rlimitNumber} from './ulimits'
import {hostId, type IdMaps} from '../userns/id-maps'
import {USERNS_STAGING, type UsernsSpec} from '../userns/spawn-in-userns'
import {isRoot} from '../common/user-dirs'
import {planContainer} from './rootfs/plan'
import {encodeInitMessage} from './rootfs/step-wire'

export {removeContainer} from '../store/container-record'

function rejectNul(what: string, value: string | undefined): void {
  if (value !== undefined && value.includes('\0')) throw new RuntimeError('RUN_BAD_FLAG', `${what} contains a NUL byte`)
}

/** Checks what would otherwise fail deep in the init (koffi cuts strings at NUL). */
function checkOptions(opts: RunOptions): void {
  if (opts.command.length === 0) throw new RuntimeError('RUN_NO_COMMAND', 'no command specified')
  opts.command.forEach((a, i) => rejectNul(`argument ${i}`, a))
  opts.env.forEach(e => rejectNul(`environment entry ${JSON.stringify(e.split('=')[0])}`, e))
  rejectNul('the working directory', opts.workdir)
  rejectNul('the user', opts.user)
  if (opts.hostname !== undefined) checkHostname(opts.hostname)
  for (const v of opts.volumes) {
    rejectNul('a volume source', v.source)
    rejectNul('a volume target', v.target)
    // The target names directories to make in the init layer: no `..` may lead out of it.
    if (!path.posix.isAbsolute(v.target) || path.posix.normalize(v.target) !== v.target || v.target === '/') {
      throw new RuntimeError('RUN_BAD_VOLUME', `invalid volume target ${JSON.stringify(v.target)}: use a normalised absolute path other than /`)
    }
    if (!path.isAbsolute(v.source)) throw new RuntimeError('RUN_BAD_VOLUME', `invalid volume source ${JSON.stringify(v.source)}: use an absolute path`)
  }
  if (!path.posix.isAbsolute(opts.workdir)) throw new RuntimeError('RUN_BAD_FLAG', `the working directory ${JSON.stringify(opts.workdir)} is not absolute`)
}

/**
 * Runs one container to its end (DESIGN.md, "Running a container"): record, init layer and
 * upper dir, cgroup, a PID namespace for the init, the config over fd 3, then waits, forwarding
 * signals; removes the cgroup and, with `remove`, the container. Throws a RuntimeError (exit
 * status 125/126/127 in `exitCode`) when the container could not start; the command's own
 * failure is not an error but RunResult.exitCode.
 *
 * With `keepUpper`, a container that ran is not removed (whatever `remove` says): the caller
 * commits `upperDir` and then calls removeContainer(). One that failed to start is removed.
 *
 * `prestarted`: an init from startInit() that the caller spawned early (src/cli/run.ts does, so its node
 * start overlaps this work); runContainer owns it from the call on, and abandons it on failure.
 */
export async function runContainer(opts: RunOptions & SecurityOptions, prestarted?: PendingInit): Promise<RunResult> {
  try {
    checkOptions(opts)
  } catch (error) {
    prestarted?.abandon()
    throw error
  }
  let init = prestarted
  let cgroup: CgroupManager | undefined
  const kill = {requested: false}
  // From the start, before anything exists: a Ctrl-C while the container is being made must end
  // in the same cleanup as one while it runs, not kill pivot halfway (default action).
  const stopForwarding = forwardSignals(
    {
      pid: () => init?.child.pid,
      killAll: () => {
        kill.requested = true
        init?.abandon()
        cgroup?.killAll().catch(() => undefined)
      },
    },
    // -t: the container has a terminal of its own; pivot's terminal no longer reaches it.
    {tty: opts.stdio === 'inherit' && isTty(0) && !opts.tty, pty: opts.tty === true},
  )
  const store = opts.store
  const storeRoot = path.resolve(store.root)
  const id = newContainerId()
  const hostname = opts.hostname ?? id.slice(0, 12)
  const dir = containerDir(store, id)
  const rel = (p: string) => path.join('containers', id, p)
  const keep = opts.keepUpper === true
  const layers = [...opts.image.layers].reverse()
  let started = false
  let security: ReturnType<typeof securityConfig>
  let netPlan: PlannedNetwork
  let mounts: ReturnType<typeof resolveMounts>
  // Shared GC lock from the check of the layers until the container record (which pins them) is
  // written: a concurrent prune cannot delete them in between (src/store/gc-lock.ts).
  let gc: {release(): void} | undefined
  try {
    gc = await lockGcShared(store)
    for (const digest of layers) {
      // Structure, ownership and the l/ link (put right when wrong): what the overlay will use.
      const problem = store.layerForRun(digest)
      if (problem !== undefined) throw missingLayer(store, opts.image, digest, problem, opts.imageName !== undefined)
    }
    // Before anything exists: a missing libseccomp fails the run without leaving a container.
    security = securityConfig(opts)
    netPlan = planNetwork(store, opts.net, opts.network, ref =>
      (require('./lifecycle/containers') as typeof import('./lifecycle/containers')).resolveContainer(store, ref),
    )
    mounts = resolveMounts(store, opts.mounts ?? [], opts.image.layers)
    if (opts.name !== undefined) reserveName(store, opts.name, id)
  } catch (error) {
    gc?.release()
    init?.abandon()
    stopForwarding()
    throw error
  }
  let created = false
  let succeeded = false
  const state: ContainerState = {
    id,
    name: opts.name,
    image: opts.image.id,
    imageName: opts.imageName,
    layers: opts.image.layers,
    command: opts.command,
    hostname,
    status: 'created',
    owner: currentOwner(),
    limits: opts.limits,
    remove: opts.remove,
    created: new Date().toISOString(),
    ...(opts.detach ? {detached: true} : {}),
    ...(opts.stopSignal ? {stopSignal: opts.stopSignal} : {}),
    workdir: opts.workdir,
    security: {capAdd: opts.capAdd, capDrop: opts.capDrop, privileged: opts.privileged, seccomp: opts.seccomp},
    ...(mounts.records.length > 0 ? {mounts: mounts.records} : {}),
    ...(opts.runFlags || opts.devices?.length
      ? {
          runFlags: {
            ...opts.runFlags,
            ...(opts.devices?.length
              ? {Devices: opts.devices.map(d => ({PathOnHost: d.source, PathInContainer: d.target, CgroupPermissions: d.permissions}))}
              : {}),
          },
        }
      : {}),
    ...(opts.tty ? {tty: true} : {}),
    ...(opts.interactive ? {interactive: true} : {}),
    ...(opts.restartPolicy && opts.restartPolicy.name !== 'no' ? {restartPolicy: opts.restartPolicy} : {}),
    ...(opts.logRotation ? {logRotation: opts.logRotation} : {}),
  }
  // Detached: once the monitor has the container, its cgroup and directory are the monitor's.
  const handover = {done: false}
  try {
    fs.mkdirSync(dir, {mode: 0o700})
    created = true
    // The record before the cgroup: prune counts a container with a record and a live owner as
    // live, so it never removes the cgroup of a container being made.
    writeState(store, state)
    gc.release()
    if (opts.cidFile !== undefined) writeCidFile(opts.cidFile, id)
    cgroup = createCgroup(cgroupIdOf(store, id), opts.limits)
    if (kill.requested) throw new RuntimeError('RUN_INTERRUPTED', 'interrupted before the container started', {exitCode: 130})
    const userns = opts.userns
      ? usernsSetup(
          opts.userns.maps,
          dir,
          layers.map(d => store.layerRootfs(d)),
          volumeSources(mounts.records),
        )
      : undefined
    if (userns) {
      state.runFlags = {...state.runFlags, UsernsMode: opts.userns!.mode}
      state.usernsMaps = opts.userns!.maps
    }
    init ??= opts.detach
      ? startMonitor(store, id, netPlan.netns, opts.tty, opts.logRotation, {stdin: opts.interactive === true}, userns?.spec)
      : startInit(opts.stdio, opts.interactive, netPlan.netns, opts.tty, userns?.spec)
    // Address, veth, route, ports: from outside the init's namespace, before "go".
    const net = await connectNetwork(netPlan, {
      store,
      id,
      hostname,
      name: opts.name,
      detach: opts.detach === true,
      init,
      options: opts.network,
      exposed: opts.image.config?.ExposedPorts,
    })
    if (net.record) {
      state.network = net.record
      writeState(store, state)
    }

    const cgroupns = opts.cgroupns !== undefined ? cgroupView(cgroup, opts.cgroupns) : undefined
    // For inspect's HostConfig.CgroupnsMode: the mode in force, docker's default resolved.
    if (cgroupns) state.runFlags = {...state.runFlags, CgroupnsMode: cgroupns.ns}
    const volumes: InitVolume[] = [
      ...opts.volumes.map(v => ({...v, kind: fs.statSync(v.source).isDirectory() ? ('dir' as const) : ('file' as const)})),
      ...(userns ? reachableVolumes(mounts.volumes, mounts.records, userns.staging) : mounts.volumes),
      ...(userns ? net.volumes.map(v => reachableFile(v, dir, userns.staging)) : net.volumes),
    ]
    prepareInitLayer(path.join(dir, 'init'), {
      hostname,
      net: netPlan.initNet === 'none' ? 'none' : 'host',
      etcFiles: net.etcFiles,
      mountTargets: volumes.map(v => ({target: v.target, kind: v.kind === 'file' ? 'file' : 'dir'})),
      workdir: opts.readOnlyRootfs ? opts.workdir : undefined,
      imageLayers: layers.map(d => store.layerRootfs(d)),
      ...(userns ? {dirMade: true} : {}),
    })
    fs.mkdirSync(path.join(dir, 'rootfs'), {mode: 0o755})
    // In a user namespace the init sees the container's directories where the starter bound them
    // (usernsSetup): the cache itself (0700) is out of its root's reach.
    const lowerDirs = userns ? userns.lowerDirs : [rel('init'), ...layers.map(d => path.join('l', store.layerShortName(d)))]
    const config: InitConfig = {
      storeRoot: userns ? userns.staging : storeRoot,
      lowerDirs,
      rootfs: userns ? path.join(userns.staging, 'rootfs') : path.join(storeRoot, 'containers', id, 'rootfs'),
      hostname,
      net: netPlan.initNet,
      volumes,
      readOnlyRootfs: opts.readOnlyRootfs,
      command: opts.command,
      env: containerEnv(opts.env, hostname),
      workdir: opts.workdir,
      user: opts.user,
      noNewPrivileges: opts.noNewPrivileges ?? false,
      ...(cgroupns ? {cgroup: cgroupns} : {}),
      ...(opts.shmSize !== undefined ? {shmSize: opts.shmSize} : {}),
      ...(opts.devices?.length ? {devices: opts.devices.map(d => ({source: d.source, target: d.target, type: d.type, major: d.major, minor: d.minor}))} : {}),
      ...(opts.ulimits?.length ? {rlimits: opts.ulimits.map(u => ({resource: rlimitNumber(u.name), soft: String(u.soft), hard: String(u.hard)}))} : {}),
      ...(opts.groupAdd?.length ? {groupAdd: opts.groupAdd} : {}),
      ...security,
      ...(opts.tty ? {tty: true} : {}),
      ...(userns
        ? {userns: {ttyGid: hostId(opts.userns!.maps.gid, 5) !== undefined, ...(netPlan.netns === 'new' ? {ownNetwork: true} : {})}}
        : rootlessUserns()),
    }
    if (opts.readOnlyRootfs) {
      // An overlay without an upper dir needs two lower dirs at least.
      if (lowerDirs.length < 2) {
        fs.mkdirSync(path.join(dir, 'empty'), {mode: 0o755})
        lowerDirs.push(rel('empty'))
      }
    } else if (userns) {
      config.upperDir = 'rw/upper'
      config.workDir = 'rw/work'
    } else {
      fs.mkdirSync(path.join(dir, 'upper'), {mode: 0o755})
      fs.mkdirSync(path.join(dir, 'work'), {mode: 0o700})
      config.upperDir = rel('upper')
      config.workDir = rel('work')
    }
    // For `pivot start`: the same init config again (the upper dir keeps what the first run
    // wrote); for `pivot exec`: the seccomp filter PID 1 loads, without compiling it again.
    writeJsonAtomic(configPath(store, id), config)
    started = true
    const result = opts.detach
      ? await runDetached(init, config, cgroup, state, store, kill, handover)
      : await runInit(init, opts, config, cgroup, state, store, kill)
    succeeded = true
    return {containerId: id, exitCode: result, upperDir: keep && config.upperDir ? path.join(storeRoot, config.upperDir) : undefined}
  } finally {
    gc.release()
    if (!started) init?.abandon()
    if (cgroup && !handover.done) {
      try {
        // remove() kills whatever is left first; the PID namespace died with its PID 1, so
        // normally nothing is, and the kill's freezer round trip is skipped.
        await cgroup.remove()
      } catch (error) {
        try {
          fs.writeSync(2, `pivot: warning: could not remove the container's cgroup: ${(error as Error).message}\n`)
        } catch {
          // stderr closed
        }
      }
    }
    if (!handover.done) await releaseNetwork(state.network, id)
    // With keepUpper the caller removes the container after its commit; but a container that
    // did not run has nothing to commit and no id reached the caller.
    if (handover.done) {
      // The monitor removes or records it when it exits.
    } else if (created && opts.remove && (!keep || !succeeded)) {
      removeContainer(store, id, opts.name ?? null)
      // docker run --rm takes the container's anonymous volumes with it.
      removeAnonymousVolumes(store, state.mounts)
    } else if (opts.name !== undefined && !created) releaseName(store, opts.name, id)
    stopForwarding()
  }
}

/**
 * The user namespace of a run (--userns remap): where the starter (src/userns/userns.c) puts the
 * container's directories in its private mount namespace, and the maps. pivot's cache is 0700
 * (its layers hold setuid binaries host users must not reach), so the container's root, an
 * unprivileged host uid, cannot walk to it: the starter mounts a tmpfs on USERNS_STAGING and binds
 * there the image's layers and the init layer idmapped (host uid N shows as N inside: images keep
 * their ownership, no chowned copy), and the upper and work dirs plainly (owned by the
 * container's root's host uid, so what the container writes lands as its mapped uids). None of
 * these mounts exists on the host, and all of them go with the container's last process.
 */
function usernsSetup(maps: IdMaps, dir: string, layerDirs: string[], volumeDirs: string[]): {spec: UsernsSpec; staging: string; lowerDirs: string[]} {
  const rootUid = hostId(maps.uid, 0)
  const rootGid = hostId(maps.gid, 0)
  if (rootUid === undefined || rootGid === undefined) throw new RuntimeError('RUN_BAD_FLAG', 'the user namespace maps no root (uid or gid 0)')
  fs.mkdirSync(path.join(dir, 'init'), {mode: 0o755})
  // overlay wants upper and work under one mount: both in rw/, bound as one; `upper` points
  // there for everything that reads a container's changes (diff, cp, commit).
  fs.mkdirSync(path.join(dir, 'rw'), {mode: 0o755})
  for (const [name, mode] of [
    ['upper', 0o755],
    ['work', 0o700],
  ] as const) {
    fs.mkdirSync(path.join(dir, 'rw', name), {mode})
    fs.chownSync(path.join(dir, 'rw', name), rootUid, rootGid)
  }
  fs.symlinkSync('rw/upper', path.join(dir, 'upper'))
  // A user network's /etc/hosts (net/hosts, reachableFile): bound from here, as the container dir is 0700.
  fs.mkdirSync(path.join(dir, 'net'), {mode: 0o755})
  const spec = remapSpec(maps, dir, layerDirs, volumeDirs)
  return {staging: spec.staging!, lowerDirs: remapLowers(layerDirs.length), spec}
}

/** A remapped container's overlay lowers as the starter binds them under its staging dir: the init layer, then the layers (`l0`...). */
export function remapLowers(layerCount: number): string[] {
  return ['init', ...Array.from({length: layerCount}, (_, i) => `l${i}`)]
}

/**
 * The starter's part of usernsSetup, for the directories it made: what `start` of a remapped
 * container gives the starter again (its init config, config.json, names the same places).
 *
 * pivot's volumes (`volumeDirs`, from volumeSources) are bound idmapped too, on `v0`, `v1`...:
 * their files keep the container's view of ids on disk (root inside writes host-root-owned files,
 * uid 1000 writes 1000), so one volume shows the same owners to remapped containers and to others.
 */
export function remapSpec(maps: IdMaps, dir: string, layerDirs: string[], volumeDirs: string[]): UsernsSpec {
  const staging = USERNS_STAGING
  fs.mkdirSync(staging, {recursive: true, mode: 0o755})
  const lowers = remapLowers(layerDirs.length)
  return {
    maps,
    staging,
    idmapDirs: [
      ...[path.join(dir, 'init'), ...layerDirs].map((source, i) => ({source, target: path.join(staging, lowers[i])})),
      ...volumeDirs.map((source, i) => ({source, target: path.join(staging, `v${i}`)})),
    ],
    binds: [
      {source: path.join(dir, 'rw'), target: path.join(staging, 'rw')},
      ...(fs.existsSync(path.join(dir, 'net')) ? [{source: path.join(dir, 'net'), target: path.join(staging, 'net')}] : []),
    ],
    dirs: [path.join(staging, 'rootfs')],
  }
}

/** The host directories of a container's pivot volumes, in the order remapSpec binds them (`v0`, `v1`...). */
export function volumeSources(records: readonly MountRecord[] | undefined): string[] {
  return (records ?? []).filter(r => r.Type === 'volume').map(r => r.Source)
}

/**
 * The init's volumes of a remapped container: pivot's volumes (in its 0700 cache) from where the
 * starter bound them idmapped under the staging dir; binds and tmpfs as they are.
 * (`volumes` and `records` are resolveMounts' parallel lists.)
 */
function reachableVolumes(volumes: readonly InitVolume[], records: readonly MountRecord[], staging: string): InitVolume[] {
  let n = 0
  return volumes.map((v, i) => (records[i].Type === 'volume' ? {...v, source: path.join(staging, `v${n++}`)} : v))
}

/**
 * A file of the container's own directory (a user network's hosts file, which the network code
 * rewrites in place) as the init of a remapped container can reach it: a hard link in net/, which
 * the starter binds under the staging dir. The same inode, so every later rewrite shows inside.
 */
function reachableFile(volume: InitVolume, dir: string, staging: string): InitVolume {
  if (path.resolve(path.dirname(volume.source)) !== path.resolve(dir)) return volume
  const name = path.basename(volume.source)
  const link = path.join(dir, 'net', name)
  fs.rmSync(link, {force: true})
  fs.linkSync(volume.source, link)
  fs.chmodSync(link, 0o644)
  return {...volume, source: path.join(staging, 'net', name)}
}

/**
 * A user other than root runs every container in its own user namespace (startInit and the
 * monitor make it): the init's plan is then that of a user namespace (overlay userxattr, /sys
 * bound without a new network namespace, devpts without gid 5 when a single-id map lacks it).
 */
function rootlessUserns(): Pick<InitConfig, 'userns'> {
  if (isRoot()) return {}
  const {hostId, userNamespaceSpec} = require('../userns') as typeof import('../userns')
  return {userns: {ttyGid: hostId(userNamespaceSpec().maps.gid, 5) !== undefined}}
}

/** Puts the init in the cgroup (or has it join on v1), says go, waits; returns the exit status or throws the init's failure. */
async function runInit(
  init: PendingInit,
  opts: RunOptions,
  config: InitConfig,
  cgroup: CgroupManager,
  state: ContainerState,
  store: RunOptions['store'],
  kill: {requested: boolean},
): Promise<number> {
  const child = init.child
  const exited = init.exited
  if (opts.stdio === 'pipe') {
    child.stdout?.on('data', (chunk: Buffer) => opts.onOutput?.(chunk, 'stdout'))
    child.stderr?.on('data', (chunk: Buffer) => opts.onOutput?.(chunk, 'stderr'))
  }
  let pid = child.pid
  if (pid === undefined) {
    const {error} = await exited
    if ((error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
      throw new RuntimeError(
        'RUN_INIT_FAILED',
        `the container's init ${INIT_BIN} is not built: run \`npm run build\` (it needs a C compiler: apt-get install gcc libc6-dev)`,
      )
    }
    throw new RuntimeError('RUN_INIT_FAILED', `cannot start the container's init: ${error?.message ?? 'unknown error'}`)
  }
  // In a user namespace the child is the starter: the container's PID 1 is its child.
  if (init.containerPid) {
    try {
      pid = await init.containerPid
    } catch (error) {
      init.abandon()
      await exited
      throw error
    }
  }
  // In the cgroup before the command runs, so that it and everything it forks are counted and
  // limited: moved now, or on v1 by the init's own first step (initJoins).
  const joins = initJoins(cgroup, init)
  try {
    if (kill.requested) throw new RuntimeError('RUN_INTERRUPTED', 'killed before the container started', {exitCode: 137})
    if (!joins) cgroup.addProcess(pid)
  } catch (error) {
    init.abandon()
    await exited
    if (kill.requested) return 137
    throw error
  }
  const control = child.stdio[3] as import('node:net').Socket
  // As without a pty: a second Ctrl-C that PID 1 ignores (it has no SIGINT handler, e.g. `sleep`
  // as PID 1) kills the container, so the user is never stuck in it.
  let strikes = 0
  const interrupted = () => {
    if (!catchesSignal(pid, 2) && ++strikes >= 2) {
      kill.requested = true
      cgroup.killAll().catch(() => undefined)
    }
  }
  const hold = config.tty
    ? (require('./lifecycle/tty') as typeof import('./lifecycle/tty')).holdConsole(
        child.stdio[4] as import('node:net').Socket,
        pid,
        opts.interactive === true,
        interrupted,
      )
    : undefined
  try {
    return await waitInit(init, opts, {...config, ...(joins ? {joinCgroup: joins} : {})}, state, store, kill, control, hold)
  } finally {
    hold?.close()
  }
}

async function waitInit(
  init: PendingInit,
  opts: RunOptions,
  config: InitConfig,
  state: ContainerState,
  store: RunOptions['store'],
  kill: {requested: boolean},
  control: import('node:net').Socket,
  hold: import('./lifecycle/tty').ConsoleHold | undefined,
): Promise<number> {
  const pid = (init.containerPid ? await init.containerPid : undefined) ?? init.child.pid!
  const exited = init.exited
  let reply = ''
  control.setEncoding('utf8')
  control.on('data', (chunk: string) => (reply += chunk))
  control.on('error', () => undefined)
  // "go": the setup, planned here, for the C init to carry out (its first step joins the cgroup on v1).
  control.write(encodeInitMessage(planContainer(config), process.pid))
  state.status = 'running'
  state.pid = pid
  state.started = new Date().toISOString()
  writeState(store, state)

  const {code, signal} = await exited
  // The pty's last output, before pivot's own exit (the kernel closed the slave with the namespace).
  if (hold) await Promise.race([hold.done, new Promise(resolve => setTimeout(resolve, 2000))])
  const status = exitStatus(code, signal)
  const failure = parseFailure(reply)
  state.status = 'exited'
  delete state.pid
  state.finished = new Date().toISOString()
  state.exitCode = failure ? failure.exitCode : status
  if (!opts.remove || opts.keepUpper) writeState(store, state)
  if (failure && !kill.requested) throw new RuntimeError(failure.code, failure.message, {exitCode: failure.exitCode})
  return status
}

/**
 * A layer of the image is not in the cache. When the image record is gone too, the image was
 * removed (rmi, then prune) while this run was starting: say so, rather than call the cache damaged.
 * (`recorded`: the image came from the cache by name or id; a build step's image has no record.)
 */
function missingLayer(store: RunOptions['store'], image: RunOptions['image'], digest: string, problem: string, recorded: boolean): RuntimeError {
  let record: unknown
  try {
    record = store.readImage(image.id)
  } catch {
    record = undefined
  }
  if (record === undefined && recorded) {
    return new RuntimeError(
      'RUN_IMAGE_NOT_FOUND',
      `image ${image.id.slice(7, 19)} was removed (pivot rmi, then pivot prune) while the container was being created`,
    )
  }
  return new RuntimeError('RUN_IMAGE_NOT_FOUND', `layer ${digest} of image ${image.id} is missing or damaged in the cache (${problem}): pull the image again`)
}

/**
 * run -d: the monitor reports the init's pid; the init goes into the cgroup (on v1 it joins itself, after "go"); the record names the
 * monitor as owner (a killed monitor shows the container as dead); then "go", and the wait is only
 * for the exec (EOF on fd 3) or the init's failure. Returns 0: the container runs on.
 */
export async function runDetached(
  init: PendingInit,
  config: InitConfig,
  cgroup: CgroupManager,
  state: ContainerState,
  store: RunOptions['store'],
  kill: {requested: boolean},
  handover: {done: boolean},
): Promise<number> {
  const monitor = init.child
  const control = monitor.stdio[3] as import('node:net').Socket
  let text = ''
  let onData: () => void = () => undefined
  control.setEncoding('utf8')
  control.on('data', (chunk: string) => {
    text += chunk
    onData()
  })
  control.on('error', () => undefined)
  const closed = new Promise<void>(resolve => control.on('close', () => resolve()))
  const pidLine = new Promise<string | undefined>(resolve => {
    onData = () => {
      if (text.includes('\n')) resolve(text.slice(0, text.indexOf('\n')))
    }
    void closed.then(() => resolve(text.includes('\n') ? text.slice(0, text.indexOf('\n')) : undefined))
  })
  const line = await pidLine
  let pid = line === undefined ? NaN : Number(line)
  // Rootless: the monitor's child is the user-namespace starter; the container's PID 1 (for the
  // record, exec and stop) comes from the starter's channel.
  if (init.containerPid && Number.isInteger(pid) && pid > 0) {
    try {
      pid = await init.containerPid
    } catch (error) {
      init.abandon()
      throw error
    }
  }
  if (!Number.isInteger(pid) || pid <= 0 || monitor.pid === undefined) {
    const {error, code} = await Promise.race([
      init.exited,
      new Promise<{code: null; error: undefined}>(r => setTimeout(() => r({code: null, error: undefined}), 1000)),
    ])
    throw new RuntimeError('RUN_INIT_FAILED', `cannot start the container's monitor: ${error?.message ?? `it exited with status ${code ?? '?'}`}`)
  }
  const joins = initJoins(cgroup, init)
  try {
    if (kill.requested) throw new RuntimeError('RUN_INTERRUPTED', 'killed before the container started', {exitCode: 137})
    if (!joins) cgroup.addProcess(pid)
    state.status = 'running'
    state.pid = pid
    state.owner = {pid: monitor.pid, startTime: processStartTime(monitor.pid) ?? ''}
    state.started = new Date().toISOString()
    writeState(store, state)
  } catch (error) {
    init.abandon()
    throw error
  }
  // From "go" on the monitor records the end and cleans up, whatever happens here.
  handover.done = true
  control.write(encodeInitMessage(planContainer({...config, ...(joins ? {joinCgroup: joins} : {})}), monitor.pid))
  await closed
  const failure = parseFailure(text.slice(text.indexOf('\n') + 1))
  if (failure) throw new RuntimeError(failure.code, failure.message, {exitCode: failure.exitCode})
  return 0
}

/**
 * cgroup v1: the `tasks` files the init joins as its first step (InitConfig.joinCgroup says why),
 * instead of the parent's move of the whole process before "go". Undefined where the parent moves
 * it: v2 (a domain cgroup takes whole processes only), and an init in a user namespace (a
 * starter's child, `containerPid`), which may not write the host's cgroup files.
 */
function initJoins(cgroup: CgroupManager, init: PendingInit): string[] | undefined {
  return cgroup.version === 1 && !init.containerPid ? cgroup.paths.map(p => path.join(p, 'tasks')) : undefined
}

/**
 * The container's cgroup as it will see it (InitConfig.cgroup): docker's default namespace mode
 * for the host's cgroup version, and the mount name of each hierarchy the cgroup has a directory
 * in (`<mount>/pivot/<id>`: the mount's last component, `memory` or `cpu,cpuacct`).
 */
function cgroupView(cgroup: CgroupManager, mode: 'private' | 'host' | 'default'): NonNullable<InitConfig['cgroup']> {
  const ns = mode === 'default' ? (cgroup.version === 2 ? 'private' : 'host') : mode
  return {ns, version: cgroup.version, dirs: cgroup.paths.map(p => ({name: path.basename(path.dirname(path.dirname(p))), hostDir: p}))}
}

/** docker's --cidfile: created exclusively (a file that appeared since the flags were checked is an error). */
function writeCidFile(file: string, id: string): void {
  try {
    fs.writeFileSync(file, id, {flag: 'wx', mode: 0o644})
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'EEXIST') throw new RuntimeError('RUN_BAD_FLAG', `container ID file found, make sure the other container isn't running or delete ${file}`)
    throw new RuntimeError('RUN_BAD_FLAG', `failed to create the container ID file: ${(error as Error).message}`)
  }
}

function parseFailure(reply: string): InitFailure | undefined {
  const line = reply.split('\n').find(l => l.trim() !== '')
  if (!line) return undefined
  try {
    const f = JSON.parse(line) as InitFailure
    return typeof f.message === 'string' && typeof f.exitCode === 'number' ? f : undefined
  } catch {
    return {code: 'RUN_INIT_FAILED', message: `container init: ${line}`, exitCode: 125}
  }
}

function isTty(fd: number): boolean {
  try {
    return require('node:tty').isatty(fd) as boolean
  } catch {
    return false
  }
}
