import * as fs from 'node:fs'
import * as path from 'node:path'
import {isRoot} from '../common/user-dirs'
import type {Store} from '../store/store'
import {containerDir, readState, type ContainerState} from '../store/container-record'
import type {InitVolume} from './init-config'
import type {NetworkOptions} from './run-options'
import {RuntimeError} from './runtime-error'
import type {NetnsChoice, PendingInit} from './start-init'
import {processStartTime} from '../common/process-identity'

/**
 * The runtime's side of container networking (src/network does the bridges, leases and rules):
 * which namespace the init is born in, what the container's /etc/hosts and resolv.conf say, and
 * what its record keeps so that its exit, `rm` and `prune` give everything back.
 */
export type NetMode = {kind: 'host'} | {kind: 'none'} | {kind: 'network'; name: string} | {kind: 'container'; ref: string}

export function netMode(net: string): NetMode {
  if (net === 'host' || net === 'none') return {kind: net}
  if (net.startsWith('container:')) {
    const ref = net.slice('container:'.length)
    if (ref === '') throw new RuntimeError('RUN_BAD_FLAG', 'invalid --net container:: name the container (container:NAME or container:ID)')
    return {kind: 'container', ref}
  }
  if (net === 'default') return {kind: 'network', name: 'bridge'}
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$/.test(net))
    throw new RuntimeError('RUN_BAD_FLAG', `invalid --net ${JSON.stringify(net)}: use host, none, bridge, a network name or container:NAME`)
  return {kind: 'network', name: net}
}

/** For the early init spawn of `pivot run`: the namespace it is born in, when that needs no lookup. */
/**
 * A user other than root gets --net host and --net none only. A bridge, veth pairs and nft rules
 * are the host's: only root makes them. Another container's network namespace belongs to that
 * container's user namespace, which a new one cannot join.
 */
export function refuseRootlessNet(net: string | undefined): void {
  if (net === undefined || net === 'host' || net === 'none' || isRoot()) return
  throw new RuntimeError(
    'RUN_ROOTLESS_UNSUPPORTED',
    `--net ${net} needs root: as uid ${process.geteuid?.() ?? '?'} (rootless) pivot runs containers with --net host (the default) or --net none`,
  )
}

export function earlyNetns(net: string | undefined): NetnsChoice | undefined | 'later' {
  refuseRootlessNet(net)
  if (net === undefined || net === 'host' || net === 'none') return undefined
  return net.startsWith('container:') ? 'later' : 'new'
}

/** What the container's record keeps of its network. */
export type NetworkRecordOfContainer = NonNullable<ContainerState['network']>

export interface PlannedNetwork {
  mode: NetMode
  netns?: NetnsChoice
  initNet: 'host' | 'none' | 'joined'
  /** container: the other container's files, copied. */
  joined?: {id: string}
}

/** Checked before anything is made: an unknown network, a container: that does not run, flags that do not fit the mode. */
export function planNetwork(store: Store, net: string, options: NetworkOptions | undefined, resolve: (ref: string) => string): PlannedNetwork {
  const mode = netMode(net)
  const o = options
  const publishing = o !== undefined && (o.ports.length > 0 || o.publishAll)
  refuseRootlessNet(net)
  if (mode.kind === 'container') {
    if (publishing) throw new RuntimeError('RUN_BAD_FLAG', 'conflicting options: port publishing and the container type network mode')
    if (o && (o.dns.length > 0 || o.addHosts.length > 0))
      throw new RuntimeError('RUN_BAD_FLAG', 'conflicting options: --dns and --add-host and the container type network mode')
    let id: string
    try {
      id = resolve(mode.ref)
    } catch (error) {
      // docker run's failures are 125, whatever `docker inspect` would say.
      throw new RuntimeError('RUN_BAD_FLAG', `cannot join the network of container ${mode.ref}: ${(error as Error).message}`)
    }
    const state = readState(store, id)
    if (!state || state.status !== 'running' || state.pid === undefined)
      throw new RuntimeError('RUN_BAD_FLAG', `cannot join the network of container ${mode.ref}: it is not running`)
    return {mode, netns: {join: `/proc/${state.pid}/ns/net`}, initNet: 'joined', joined: {id}}
  }
  if (o && o.aliases.length > 0 && !(mode.kind === 'network' && mode.name !== 'bridge')) {
    throw new RuntimeError('RUN_BAD_FLAG', 'network-scoped aliases are supported only for containers on user-defined networks')
  }
  if (mode.kind === 'network') {
    const {readNetwork, DEFAULT_NETWORK} = require('../network/network-state') as typeof import('../network/network-state')
    if (mode.name !== DEFAULT_NETWORK && !readNetwork(mode.name)) {
      const {NetworkError} = require('../network/network-error') as typeof import('../network/network-error')
      throw new NetworkError('NET_NOT_FOUND', `network ${mode.name} not found (pivot network ls lists them)`)
    }
    return {mode, netns: 'new', initNet: 'joined'}
  }
  if (publishing) {
    try {
      fs.writeSync(2, `pivot: warning: published ports are discarded with --net ${mode.kind}\n`)
    } catch {
      // stderr closed
    }
  }
  return {mode, initNet: mode.kind}
}

export interface ConnectedNetwork {
  etcFiles?: {hosts: string; resolvConf: string}
  volumes: InitVolume[]
  record?: NetworkRecordOfContainer
}

/**
 * After the init (or monitor) is spawned in its namespace, before "go": the address, veth, route
 * and ports (src/network), and the container's network files.
 */
export async function connectNetwork(
  plan: PlannedNetwork,
  ctx: {
    store: Store
    id: string
    hostname: string
    name?: string
    detach: boolean
    init: PendingInit
    options?: NetworkOptions
    exposed?: Record<string, unknown>
  },
): Promise<ConnectedNetwork> {
  const o = ctx.options ?? {ports: [], publishAll: false, aliases: [], dns: [], addHosts: []}
  if (plan.mode.kind === 'container') {
    // docker shares the other container's hosts and resolv.conf too.
    const other = path.join(containerDir(ctx.store, plan.joined!.id), 'init', 'etc')
    const hostsFile = path.join(containerDir(ctx.store, plan.joined!.id), 'hosts')
    const read = (f: string) => fs.readFileSync(f, 'utf8')
    return {
      etcFiles: {hosts: read(fs.existsSync(hostsFile) ? hostsFile : path.join(other, 'hosts')), resolvConf: read(path.join(other, 'resolv.conf'))},
      volumes: [],
    }
  }
  if (plan.mode.kind !== 'network') {
    if (o.dns.length === 0 && o.addHosts.length === 0) return {volumes: []}
    return {etcFiles: hostModeFiles(plan.mode.kind, ctx.hostname, o), volumes: []}
  }
  const net = require('../network/connect') as typeof import('../network/connect')
  const etc = require('../network/etc-files') as typeof import('../network/etc-files')
  const {exposedPorts} = require('../network/ports') as typeof import('../network/ports')
  const {readNetwork} = require('../network/network-state') as typeof import('../network/network-state')
  // In a user namespace the network namespace is the init's, not its starter's (start-init.ts).
  const pid = ctx.init.containerPid ? await ctx.init.containerPid : ctx.init.child.pid
  if (pid === undefined) throw new RuntimeError('RUN_INIT_FAILED', "cannot start the container's init")
  const owner = ctx.detach ? {pid, startTime: processStartTime(pid) ?? ''} : {pid: process.pid, startTime: processStartTime(process.pid) ?? ''}
  const user = plan.mode.name !== 'bridge'
  const hostsFile = user ? path.join(containerDir(ctx.store, ctx.id), 'hosts') : undefined
  const ports = [...o.ports, ...(o.publishAll ? exposedPorts(ctx.exposed) : [])]
  // The own lines of /etc/hosts need the address, which the lease gives: written once it is known.
  const names = user ? [...(ctx.name ? [ctx.name] : []), ...o.aliases, ctx.id.slice(0, 12)] : []
  const rec = readNetwork(plan.mode.name)
  const gatewayHint = rec?.gateway ?? ''
  let base: string | undefined
  const lease = await net.connectContainer({
    network: plan.mode.name,
    container: ctx.id,
    store: path.resolve(ctx.store.root),
    owner,
    nsPid: pid,
    names,
    ports,
    hostsFile,
    hostsBaseFor: (ip, gateway) => (base = etc.bridgeHosts(ip, ctx.hostname, o.addHosts, gateway || gatewayHint)),
  })
  const gateway = readNetwork(plan.mode.name)?.gateway ?? gatewayHint
  const hosts = base ?? etc.bridgeHosts(lease.ip, ctx.hostname, o.addHosts, gateway)
  const resolvConf = etc.bridgeResolvConf(gateway, o.dns)
  return {
    etcFiles: {hosts, resolvConf},
    volumes: hostsFile ? [{source: hostsFile, target: '/etc/hosts', readOnly: false, kind: 'file'}] : [],
    record: {network: lease.network, bridge: lease.bridge, ip: lease.ip, gateway, ports: lease.ports, aliases: o.aliases, hostNetns: net.netnsInode()},
  }
}

/**
 * `start` (and `restart`, `--restart`) of a container that was on a bridge or a user network: its
 * namespace, veth and rules went with its exit, so the new monitor (`init`, born in a new
 * namespace) is connected again, as docker does: the same network, its former address when still
 * free, the same published host ports, its names. When the address changed, its own line of
 * /etc/hosts follows (the bind-mounted file of a user network, or the init layer's for the bridge).
 */
export async function reconnectNetwork(store: Store, state: ContainerState, init: PendingInit): Promise<NetworkRecordOfContainer> {
  const old = state.network!
  const net = require('../network/connect') as typeof import('../network/connect')
  const {readNetwork, DEFAULT_NETWORK} = require('../network/network-state') as typeof import('../network/network-state')
  if (old.network !== DEFAULT_NETWORK && !readNetwork(old.network)) {
    const {NetworkError} = require('../network/network-error') as typeof import('../network/network-error')
    throw new NetworkError('NET_NOT_FOUND', `network ${old.network} not found: container ${state.id.slice(0, 12)} cannot be connected to it again`, {
      exitCode: 1,
    })
  }
  // --userns remap: the namespace is the init's, made by its starter (start-monitor.ts).
  const pid = init.containerPid ? await init.containerPid : init.child.pid
  if (pid === undefined) throw new RuntimeError('RUN_INIT_FAILED', "cannot start the container's monitor")
  const dir = containerDir(store, state.id)
  const user = old.network !== DEFAULT_NETWORK
  const hostsFile = user ? path.join(dir, 'hosts') : path.join(dir, 'init', 'etc', 'hosts')
  let current = ''
  try {
    current = fs.readFileSync(hostsFile, 'utf8')
  } catch {
    // made by an older pivot: written afresh below
  }
  // The container's own lines end with its address and hostname; other members' lines follow.
  const own = `${old.ip}	${state.hostname}
`
  const cut = current.indexOf(own)
  const baseFor = (ip: string) => (cut === -1 ? current : current.slice(0, cut) + `${ip}\t${state.hostname}\n`)
  net.removeOldVeth(state.id)
  const lease = await net.connectContainer({
    network: old.network,
    container: state.id,
    store: path.resolve(store.root),
    owner: {pid, startTime: processStartTime(pid) ?? ''},
    nsPid: pid,
    names: user ? [...(state.name ? [state.name] : []), ...old.aliases, state.id.slice(0, 12)] : [],
    ports: old.ports,
    hostsFile: user ? hostsFile : undefined,
    hostsBaseFor: ip => baseFor(ip),
    preferredIp: old.ip,
  })
  const gateway = readNetwork(old.network)?.gateway ?? old.gateway
  // In place: the file is bind-mounted by inode (user networks; connectContainer wrote it).
  if (!user && lease.ip !== old.ip) fs.writeFileSync(hostsFile, baseFor(lease.ip))
  if (gateway !== old.gateway) {
    // A network made again (prune, then a new bridge) may have another subnet: its resolver too.
    const resolv = path.join(dir, 'init', 'etc', 'resolv.conf')
    try {
      fs.writeFileSync(resolv, fs.readFileSync(resolv, 'utf8').replaceAll(`nameserver ${old.gateway}\n`, `nameserver ${gateway}\n`))
    } catch {
      // no resolv.conf of pivot's (a volume over /etc)
    }
  }
  return {network: lease.network, bridge: lease.bridge, ip: lease.ip, gateway, ports: lease.ports, aliases: old.aliases, hostNetns: net.netnsInode()}
}

/** --dns / --add-host with --net host or none: the host's files (or loopback only) plus them. */
function hostModeFiles(kind: 'host' | 'none', hostname: string, o: NetworkOptions): {hosts: string; resolvConf: string} {
  const read = (f: string, fallback: string) => {
    try {
      return fs.readFileSync(f, 'utf8')
    } catch {
      return fallback
    }
  }
  const local = '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n'
  let hosts = kind === 'host' ? read('/etc/hosts', local) : local
  if (!hosts.endsWith('\n')) hosts += '\n'
  hosts += o.addHosts.map(h => `${h.ip === 'host-gateway' ? '127.0.0.1' : h.ip}\t${h.host}\n`).join('') + `127.0.1.1\t${hostname}\n`
  const resolvConf =
    o.dns.length > 0
      ? o.dns.map(d => `nameserver ${d}\n`).join('')
      : kind === 'host'
        ? read('/etc/resolv.conf', '')
        : '# pivot: --net none has only loopback: no DNS\n'
  return {hosts, resolvConf}
}

/** Gives the address, ports and veth back (the container's exit, rm, prune). Never throws. */
export async function releaseNetwork(record: NetworkRecordOfContainer | undefined, id: string): Promise<void> {
  if (!record) return
  try {
    const {disconnectContainer} = require('../network/connect') as typeof import('../network/connect')
    await disconnectContainer(record.bridge, record.ip, id, record.hostNetns)
  } catch (error) {
    try {
      fs.writeSync(2, `pivot: warning: could not release the container's network address ${record.ip}: ${(error as Error).message}\n`)
    } catch {
      // stderr closed
    }
  }
}
