import {createHash, randomBytes} from 'node:crypto'
import {bridgeExists, createBridge, hostRoutes, removeBridge} from './bridge'
import {NetworkError} from './network-error'
import {pruneNetworkState, reclaimStale, allLeases} from './connect'
import {
  DEFAULT_NETWORK,
  checkNetworkName,
  listNetworks,
  lockNetworks,
  readNetwork,
  removeNetworkRecord,
  writeNetwork,
  type Lease,
  type NetworkRecord,
} from './network-state'
import {formatIPv4, formatSubnet, gatewayOf, overlaps, parseSubnet, pickSubnet, subnetPool} from './subnet'
import {isRoot} from '../common/user-dirs'

/** Names docker reserves for its built-in networks. */
const PREDEFINED = ['bridge', 'host', 'none', 'default']

/**
 * `pivot network create NAME [--subnet CIDR]`: a bridge of its own (`pivotbr` and 8 hex digits of
 * the id), made now so that its subnet is routed and no later network or `ip` user takes it.
 */
export async function createNetwork(name: string, subnetText?: string): Promise<NetworkRecord> {
  if (!isRoot()) {
    // A bridge and its nft rules are the host's; rootless containers run with --net host or none.
    throw new NetworkError(
      'NET_NEEDS_ROOT',
      `networks need root: a bridge and its rules are the host's (as uid ${process.geteuid?.()}, use --net host or --net none)`,
    )
  }
  checkNetworkName(name)
  if (PREDEFINED.includes(name)) throw new NetworkError('NET_EXISTS', `network name ${name} is reserved for a pre-defined network`, {exitCode: 1})
  const lock = await lockNetworks()
  try {
    if (readNetwork(name)) throw new NetworkError('NET_EXISTS', `network with name ${name} already exists`, {exitCode: 1})
    const routes = hostRoutes()
    const others = listNetworks().map(n => parseSubnet(n.subnet))
    let subnet
    if (subnetText !== undefined) {
      // docker network create fails with status 1 (run's failures are 125).
      try {
        subnet = parseSubnet(subnetText)
      } catch (error) {
        throw new NetworkError('NET_BAD_SUBNET', (error as Error).message, {exitCode: 1})
      }
      const route = routes.find(r => overlaps(r, subnet!))
      if (route)
        throw new NetworkError(
          'NET_BAD_SUBNET',
          `subnet ${formatSubnet(subnet)} overlaps the host route ${formatSubnet(route)}: choose another (ip route shows the host's)`,
          {exitCode: 1},
        )
      const other = listNetworks().find(n => overlaps(parseSubnet(n.subnet), subnet!))
      if (other) throw new NetworkError('NET_BAD_SUBNET', `subnet ${formatSubnet(subnet)} overlaps network ${other.name}'s ${other.subnet}`, {exitCode: 1})
    } else {
      subnet = pickSubnet(subnetPool(), [...routes, ...others])
      if (!subnet)
        throw new NetworkError(
          'NET_NO_SUBNET',
          'every subnet of the pool (PIVOT_NETWORK_POOL, default 10.200.0.0/16) overlaps a host route or a network: give --subnet',
        )
    }
    const id = randomBytes(32).toString('hex')
    const rec: NetworkRecord = {
      name,
      id,
      bridge: `pivotbr${id.slice(0, 8)}`,
      subnet: formatSubnet(subnet),
      gateway: formatIPv4(gatewayOf(subnet)),
      created: new Date().toISOString(),
    }
    // The record first: a crash after it leaves a network `network rm` removes, not a bridge nobody knows.
    writeNetwork(rec)
    try {
      createBridge(rec)
    } catch (error) {
      removeNetworkRecord(name)
      if (bridgeExists(rec.bridge))
        removeBridge(
          rec,
          listNetworks().map(n => n.bridge),
        )
      throw error
    }
    return rec
  } finally {
    lock.release()
  }
}

/** A network by name, or by a unique prefix of its id (docker's order). */
export function findNetwork(ref: string): NetworkRecord {
  const byName = readNetwork(ref)
  if (byName) return byName
  if (/^[0-9a-f]{1,64}$/.test(ref)) {
    const hits = listNetworks().filter(n => n.id.startsWith(ref))
    if (hits.length === 1) return hits[0]
  }
  throw new NetworkError('NET_NOT_FOUND', `no such network: ${ref}`, {exitCode: 1})
}

export interface NetworkRow {
  id: string
  name: string
  driver: 'bridge' | 'host' | 'null'
  subnet?: string
  gateway?: string
  bridge?: string
}

/** `network ls`: docker's built-in three, then the user networks. The default bridge shows its subnet once it exists. */
export function networkRows(): NetworkRow[] {
  const def = readNetwork(DEFAULT_NETWORK)
  const fixed = (name: string) => createHash('sha256').update(`pivot network ${name}`).digest('hex')
  const rows: NetworkRow[] = [
    {id: def?.id ?? fixed('bridge'), name: 'bridge', driver: 'bridge', subnet: def?.subnet, gateway: def?.gateway, bridge: 'pivot0'},
    {id: fixed('host'), name: 'host', driver: 'host'},
    {id: fixed('none'), name: 'none', driver: 'null'},
  ]
  for (const n of listNetworks())
    if (n.name !== DEFAULT_NETWORK) rows.push({id: n.id, name: n.name, driver: 'bridge', subnet: n.subnet, gateway: n.gateway, bridge: n.bridge})
  return rows
}

/** The live leases of a network: its containers. */
export async function networkMembers(rec: NetworkRecord): Promise<Lease[]> {
  const lock = await lockNetworks()
  try {
    return reclaimStale(allLeases()).filter(l => l.bridge === rec.bridge)
  } finally {
    lock.release()
  }
}

/** `network rm`: refused while a container uses it (docker's "has active endpoints", exit 1). */
export async function removeNetwork(ref: string): Promise<NetworkRecord> {
  if (PREDEFINED.includes(ref)) throw new NetworkError('NET_IN_USE', `${ref} is a pre-defined network and cannot be removed`, {exitCode: 1})
  const lock = await lockNetworks()
  try {
    const rec = findNetwork(ref)
    const users = reclaimStale(allLeases()).filter(l => l.bridge === rec.bridge)
    if (users.length > 0) {
      throw new NetworkError(
        'NET_IN_USE',
        `network ${rec.name} is in use by ${users.length} running container(s) (${users.map(u => u.container.slice(0, 12)).join(', ')}): stop them first`,
        {exitCode: 1},
      )
    }
    dropNetwork(rec)
    return rec
  } finally {
    lock.release()
  }
}

/** A user network's bridge (and its rules, given the bridges that stay) and its record; under the lock. */
function dropNetwork(rec: NetworkRecord): void {
  removeBridge(
    rec,
    listNetworks()
      .filter(n => n.name !== rec.name)
      .map(n => n.bridge),
  )
  removeNetworkRecord(rec.name)
}

/** `network prune`: every user network no container uses; then what `pivot prune` does for the default bridge. */
export async function pruneNetworks(): Promise<string[]> {
  const removed: string[] = []
  const lock = await lockNetworks()
  try {
    const live = reclaimStale(allLeases())
    for (const rec of listNetworks()) {
      if (rec.name === DEFAULT_NETWORK || live.some(l => l.bridge === rec.bridge)) continue
      dropNetwork(rec)
      removed.push(rec.name)
    }
  } finally {
    lock.release()
  }
  await pruneNetworkState()
  return removed
}
