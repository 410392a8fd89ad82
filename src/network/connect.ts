import * as fs from 'node:fs'
import {isRunning} from '../common/process-identity'
import {bridgeExists, ensureBridge, NFT_TABLE, removeBridge} from './bridge'
import {CLONE_NEWNET} from '../sys/constants'
import {inNetns, runBatch, runTool, sys} from './host-tools'
import {NetworkError} from './network-error'
import {
  DEFAULT_NETWORK,
  STATE_DIR,
  listNetworks,
  lockNetworks,
  readLeases,
  readNetwork,
  removeLeaseFile,
  removeNetworkRecord,
  writeLease,
  type Lease,
  type NetworkRecord,
  type PortBinding,
} from './network-state'
import {ephemeralRange, hostPortFree, samePort} from './ports'
import {formatIPv4, hostRange, parseIPv4, parseSubnet} from './subnet'

export interface ConnectRequest {
  network: string
  container: string
  store: string
  owner: {pid: number; startTime: string}
  /** A process in the container's network namespace (the init, or the monitor of run -d). */
  nsPid: number
  names: string[]
  ports: PortBinding[]
  /** User networks: the container's /etc/hosts (bind-mounted), rewritten as members come and go. */
  hostsFile?: string
  /** The container's own /etc/hosts lines, once its address and gateway are known. */
  hostsBaseFor?: (ip: string, gateway: string) => string
  /** `start` of a stopped container: its former address, taken again when it is still free. */
  preferredIp?: string
}

/** The host end of a container's veth pair: `pivot` and 10 hex digits of its id (IFNAMSIZ is 16). */
export function vethName(container: string): string {
  return `pivot${container.slice(0, 10)}`
}

function elementKey(b: PortBinding): {map: string; key: string} {
  return b.hostIp === '' ? {map: 'ports_any', key: `${b.proto} . ${b.hostPort}`} : {map: 'ports_ip', key: `${b.hostIp} . ${b.proto} . ${b.hostPort}`}
}

function portElements(lease: Lease, op: 'add' | 'delete'): string[] {
  return lease.ports.map(b => {
    const {map, key} = elementKey(b)
    return op === 'add'
      ? `add element ip ${NFT_TABLE} ${map} { ${key} : ${lease.ip} . ${b.containerPort} }`
      : `delete element ip ${NFT_TABLE} ${map} { ${key} }`
  })
}

/** Deletes elements one by one, ignoring those already gone (a crash may have left some, not all). */
function deletePortElements(lease: Lease): void {
  for (const line of portElements(lease, 'delete')) runTool('nft', ['-f', '-'], line + '\n')
}

export function allLeases(): Lease[] {
  const bridges = new Set(listNetworks().map(n => n.bridge))
  return [...bridges].flatMap(readLeases)
}

/** Drops leases whose holder is gone (a SIGKILLed pivot, a killed monitor), with their port rules and veth. Lock held. */
export function reclaimStale(leases: Lease[]): Lease[] {
  const live: Lease[] = []
  const changed = new Set<string>()
  for (const l of leases) {
    if (isRunning(l.owner)) {
      live.push(l)
      continue
    }
    dropLease(l, true)
    changed.add(l.bridge)
  }
  for (const bridge of changed) rewriteHosts(live.filter(l => l.bridge === bridge))
  return live
}

/**
 * The veth goes with its namespace when the container's last process has exited: the kernel
 * tears the namespace down asynchronously, and an `ip link del` racing that teardown waits on
 * the same lock (10-130 ms measured under load), so a normal exit leaves it to the kernel.
 * `deleteVeth` (a stale lease: its namespace may be held by something else) deletes it.
 */
function dropLease(l: Lease, deleteVeth: boolean): void {
  deletePortElements(l)
  if (deleteVeth && bridgeExists(vethName(l.container))) runTool('ip', ['link', 'del', vethName(l.container)])
  removeLeaseFile(l)
}

/** Every member's /etc/hosts: its own lines, then each other member's address and names. */
function rewriteHosts(members: Lease[]): void {
  for (const m of members) {
    if (m.hostsFile === undefined || m.hostsBase === undefined) continue
    const others = members.filter(o => o.container !== m.container && o.names.length > 0).map(o => `${o.ip}\t${o.names.join(' ')}\n`)
    try {
      // In place (not a rename): the file is bind-mounted into the container, by inode.
      fs.writeFileSync(m.hostsFile, m.hostsBase + others.join(''))
    } catch {
      // Its container is being removed.
    }
  }
}

/**
 * Gives a container an address on `network` (its bridge made on first use), a veth pair into
 * its namespace with eth0 up, a default route through the bridge, and its published ports.
 * Everything under the network lock, so parallel starts never share an address or a port.
 * Throws a NetworkError and leaves nothing made when any step fails.
 */
export async function connectContainer(req: ConnectRequest): Promise<Lease> {
  const lock = await lockNetworks()
  let lease: Lease | undefined
  let made = false
  try {
    const rec = ensureBridge(req.network)
    const live = reclaimStale(allLeases())
    const ports = await choosePorts(req.ports, live, req.container)
    const ip = freeAddress(rec, live, req.preferredIp)
    lease = {
      ip,
      network: rec.name,
      bridge: rec.bridge,
      container: req.container,
      store: req.store,
      owner: req.owner,
      names: req.names,
      ports,
      hostsFile: req.hostsFile,
      hostsBase: req.hostsBaseFor?.(ip, rec.gateway),
    }
    // The lease first: a crash after it leaves a lease whose owner dies, which the next start or
    // prune reclaims with whatever of it was made.
    writeLease(lease)
    const veth = vethName(req.container)
    const prefix = parseSubnet(rec.subnet).bits
    made = true
    // One `ip` in the container's namespace makes the pair there and sends the host's end home
    // (fd 3 is the host's namespace); the bridge port and its link state are two ioctls here.
    // (Two `ip` batches, one per side, cost 5-90 ms more under load: each waits on the RTNL lock.)
    const hostNs = fs.openSync('/proc/thread-self/ns/net', 'r')
    try {
      inNetns(`/proc/${req.nsPid}/ns/net`, () =>
        runBatch(
          'ip',
          [
            `link add eth0 type veth peer name ${veth} netns /proc/self/fd/3`,
            'link set lo up',
            `addr add ${ip}/${prefix} dev eth0`,
            'link set eth0 up',
            `route add default via ${rec.gateway}`,
          ],
          `connecting the container to ${rec.bridge}`,
          hostNs,
        ),
      )
    } finally {
      fs.closeSync(hostNs)
    }
    sys.bridgeAddInterface(rec.bridge, veth)
    sys.interfaceUp(veth)
    if (ports.length > 0) runBatch('nft', portElements(lease, 'add'), 'publishing ports')
    if (req.hostsFile !== undefined) rewriteHosts([...live.filter(l => l.bridge === rec.bridge), lease])
    return lease
  } catch (error) {
    if (lease && made) dropLease(lease, true)
    else if (lease) removeLeaseFile(lease)
    throw error
  } finally {
    lock.release()
  }
}

/**
 * Releases a container's address, ports and veth (at its exit, rm, prune). Idempotent.
 * `hostNetns`: the inode of the namespace the container was connected from (netnsInode()). A
 * detached container's monitor lives in the container's namespace (it was born there, so its
 * init would be), and so does the cleanup it execs: the rules must be removed from the host's.
 */
export async function disconnectContainer(bridge: string, ip: string, container: string, hostNetns?: string): Promise<void> {
  const lock = await lockNetworks()
  try {
    const leases = readLeases(bridge)
    const mine = leases.find(l => l.ip === ip && l.container === container)
    if (mine) {
      const drop = () => dropLease(mine, false)
      if (hostNetns === undefined || netnsInode() === hostNetns) drop()
      else inNetns(findNetns(hostNetns), drop)
      rewriteHosts(leases.filter(l => l !== mine))
    }
  } finally {
    lock.release()
  }
}

/**
 * A stopped container's host-side veth, when its old namespace still lives: the kernel removes
 * the pair only once the namespace is gone, which is asynchronous after the last process's exit,
 * and never while a process born there (a --restart cleanup) is alive. A `start` removes it first.
 */
export function removeOldVeth(container: string): void {
  if (bridgeExists(vethName(container))) runTool('ip', ['link', 'del', vethName(container)])
}

/**
 * Moves the main thread (and so every child it spawns and socket it opens from now on) into the
 * namespace with that inode: a detached container's cleanup, born in the container's namespace,
 * connects the container again (--restart) from the host's.
 */
export function enterNetns(inode: string): void {
  if (netnsInode() === inode) return
  const fd = fs.openSync(findNetns(inode), 'r')
  try {
    sys.setns(fd, CLONE_NEWNET)
  } finally {
    fs.closeSync(fd)
  }
}

/** The inode of this thread's network namespace, as text. */
export function netnsInode(nsPath = '/proc/thread-self/ns/net'): string {
  return String(fs.statSync(nsPath, {bigint: true}).ino)
}

/** A /proc/PID/ns/net naming the namespace with that inode: PID 1's normally, else any process's. */
function findNetns(inode: string): string {
  const pids = ['1', ...fs.readdirSync('/proc').filter(p => /^\d+$/.test(p))]
  for (const pid of pids) {
    try {
      if (netnsInode(`/proc/${pid}/ns/net`) === inode) return `/proc/${pid}/ns/net`
    } catch {
      // gone, or not ours to see
    }
  }
  throw new NetworkError('NET_TOOL_FAILED', `the host network namespace (inode ${inode}) is gone`)
}

/**
 * For `pivot prune`: reclaims every lease whose holder is gone, then removes the default bridge
 * pivot0 when no container uses it (it stays between runs otherwise, as docker0 does, so a run
 * does not pay for making it), and pivot's nftables table with the last bridge. User networks'
 * bridges stay until `pivot network rm`.
 */
export async function pruneNetworkState(): Promise<void> {
  if (!fs.existsSync(STATE_DIR)) return
  const lock = await lockNetworks()
  try {
    const live = reclaimStale(allLeases())
    const def = readNetwork(DEFAULT_NETWORK)
    if (def && !live.some(l => l.bridge === def.bridge)) {
      removeBridge(
        def,
        listNetworks()
          .filter(n => n.name !== DEFAULT_NETWORK)
          .map(n => n.bridge),
      )
      removeNetworkRecord(DEFAULT_NETWORK)
    }
  } finally {
    lock.release()
  }
}

function freeAddress(rec: NetworkRecord, live: Lease[], preferred?: string): string {
  const used = new Set(live.filter(l => l.bridge === rec.bridge).map(l => parseIPv4(l.ip)))
  const {first, last} = hostRange(parseSubnet(rec.subnet))
  const wanted = preferred === undefined ? undefined : parseIPv4(preferred)
  if (wanted !== undefined && wanted >= first && wanted <= last && !used.has(wanted)) return formatIPv4(wanted)
  for (let n = first; n <= last; n++) if (!used.has(n)) return formatIPv4(n)
  throw new NetworkError('NET_NO_ADDRESS', `network ${rec.name} (${rec.subnet}) has no free address left`)
}

function portTaken(b: PortBinding, live: Lease[], mine: PortBinding[]): Lease | 'self' | undefined {
  if (mine.some(m => samePort(m, b))) return 'self'
  return live.find(l => l.ports.some(p => samePort(p, b)))
}

/** Host ports: given ones checked (another container's, or a host process's), missing ones chosen. */
async function choosePorts(wanted: PortBinding[], live: Lease[], container: string): Promise<PortBinding[]> {
  const out: PortBinding[] = []
  const {low, high} = ephemeralRange()
  for (const w of wanted) {
    if (w.hostPort !== 0) {
      const holder = portTaken(w, live, out)
      const where = `${w.hostIp || '0.0.0.0'}:${w.hostPort}${w.proto === 'udp' ? '/udp' : ''}`
      if (holder === 'self') throw new NetworkError('NET_PORT_IN_USE', `Bind for ${where} failed: port is already allocated (published twice by this run)`)
      if (holder)
        throw new NetworkError('NET_PORT_IN_USE', `Bind for ${where} failed: port is already allocated (by container ${holder.container.slice(0, 12)})`)
      if (!(await hostPortFree(w)))
        throw new NetworkError('NET_PORT_IN_USE', `Bind for ${where} failed: a host process already uses the port, or the address is not the host's`)
      out.push(w)
      continue
    }
    // Start at a point derived from the container id, so parallel runs rarely try the same port.
    const span = high - low + 1
    const start = parseInt(container.slice(0, 8), 16) % span
    let chosen: PortBinding | undefined
    for (let i = 0; i < span && !chosen; i++) {
      const candidate = {...w, hostPort: low + ((start + i) % span)}
      if (portTaken(candidate, live, out) === undefined && (await hostPortFree(candidate))) chosen = candidate
    }
    if (!chosen) throw new NetworkError('NET_PORT_IN_USE', `no free host port for ${w.containerPort}/${w.proto} in ${low}-${high}`)
    out.push(chosen)
  }
  return out
}

export {DEFAULT_NETWORK}
