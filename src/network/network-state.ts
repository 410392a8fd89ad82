import * as fs from 'node:fs'
import * as path from 'node:path'
import {lockFile, type HeldLock} from '../store/file-lock'
import {writeJsonAtomic} from '../common/fs-util'
import {runtimeDir} from '../common/user-dirs'
import {NetworkError} from './network-error'

/**
 * Host-wide network state, under /run/pivot/network (a user's runtime dir when not root; a tmpfs: it goes at reboot, as the bridges
 * and nftables rules it describes do). Not in the cache: a bridge, its subnet and its addresses
 * are the host's, shared by every cache (each test has its own), so two caches must not hand out
 * one address twice.
 *
 *   lock                      flock: every change of a network, its leases or pivot's nft table
 *   networks/<name>.json      a network: its bridge, subnet, gateway (`bridge` is the default one)
 *   leases/<bridge>/<ip>.json one container's address on a network, its published ports and names
 */
export const STATE_DIR = runtimeDir('pivot/network')

/** The default network's name (docker's) and its bridge. */
export const DEFAULT_NETWORK = 'bridge'
export const DEFAULT_BRIDGE = 'pivot0'

export interface NetworkRecord {
  name: string
  id: string
  bridge: string
  subnet: string
  gateway: string
  created: string
}

// The container record (the store's) carries its published ports, so the type lives there.
export type {PortBinding} from '../store/container-record'
import type {PortBinding} from '../store/container-record'

export interface Lease {
  ip: string
  network: string
  bridge: string
  container: string
  /** The cache the container belongs to (absolute). */
  store: string
  /** The process that holds the container (pivot run, or the monitor of run -d): the lease lives while it does. */
  owner: {pid: number; startTime: string}
  /** Names others on the network resolve to this address: its name, --network-alias, its hostname. */
  names: string[]
  ports: PortBinding[]
  /** The container's own /etc/hosts lines and where that file is, for rewriting as members come and go (user networks). */
  hostsFile?: string
  hostsBase?: string
}

export function statePath(...parts: string[]): string {
  return path.join(STATE_DIR, ...parts)
}

/** The exclusive network lock: creating bridges, leases, port rules, removing them. */
export async function lockNetworks(): Promise<HeldLock> {
  fs.mkdirSync(STATE_DIR, {recursive: true, mode: 0o700})
  return lockFile(statePath('lock'), {what: 'another pivot changing container networks'})
}

export function readNetwork(name: string): NetworkRecord | undefined {
  try {
    return JSON.parse(fs.readFileSync(statePath('networks', `${name}.json`), 'utf8')) as NetworkRecord
  } catch {
    return undefined
  }
}

export function writeNetwork(rec: NetworkRecord): void {
  fs.mkdirSync(statePath('networks'), {recursive: true, mode: 0o700})
  writeJsonAtomic(statePath('networks', `${rec.name}.json`), rec)
}

export function removeNetworkRecord(name: string): void {
  fs.rmSync(statePath('networks', `${name}.json`), {force: true})
}

export function listNetworks(): NetworkRecord[] {
  let names: string[]
  try {
    names = fs.readdirSync(statePath('networks'))
  } catch {
    return []
  }
  return names
    .filter(n => n.endsWith('.json'))
    .map(n => readNetwork(n.slice(0, -5)))
    .filter((r): r is NetworkRecord => r !== undefined)
    .sort((a, b) => a.name.localeCompare(b.name))
}

export function readLeases(bridge: string): Lease[] {
  const dir = statePath('leases', bridge)
  let files: string[]
  try {
    files = fs.readdirSync(dir)
  } catch {
    return []
  }
  const out: Lease[] = []
  for (const f of files) {
    if (!f.endsWith('.json')) continue
    try {
      out.push(JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as Lease)
    } catch {
      // Half-written by a killed pivot (writes are atomic, so this is a foreign file): skip it.
    }
  }
  return out
}

export function writeLease(lease: Lease): void {
  fs.mkdirSync(statePath('leases', lease.bridge), {recursive: true, mode: 0o700})
  writeJsonAtomic(statePath('leases', lease.bridge, `${lease.ip}.json`), lease)
}

export function removeLeaseFile(lease: Pick<Lease, 'bridge' | 'ip'>): void {
  fs.rmSync(statePath('leases', lease.bridge, `${lease.ip}.json`), {force: true})
  try {
    fs.rmdirSync(statePath('leases', lease.bridge))
  } catch {
    // Other leases remain.
  }
}

export function checkNetworkName(name: string): void {
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$/.test(name)) {
    throw new NetworkError('NET_BAD_FLAG', `invalid network name ${JSON.stringify(name)}: only [a-zA-Z0-9][a-zA-Z0-9_.-], at most 64 characters`)
  }
}
