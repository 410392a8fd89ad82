import * as fs from 'node:fs'
import {randomBytes} from 'node:crypto'
import {runBatch, runTool} from './host-tools'
import {NetworkError} from './network-error'
import {DEFAULT_BRIDGE, DEFAULT_NETWORK, readNetwork, writeNetwork, type NetworkRecord} from './network-state'
import {formatIPv4, formatSubnet, gatewayOf, overlaps, parseIPv4, parseSubnet, pickSubnet, subnetPool, type Subnet} from './subnet'

/** pivot's one nftables table: every rule pivot makes is in it, and nothing of anyone else's is touched. */
export const NFT_TABLE = 'pivot'

/**
 * The table, made when the first bridge is: base chains of its own at the nat and raw hooks
 * (nftables runs every table's chains, so nothing is inserted into another's), and maps the
 * per-container rules are elements of, so adding or removing a container's ports is one element
 * operation, never a rule to find again by handle.
 *   guard        a packet from a container to 127.0.0.0/8 is dropped: route_localnet (below)
 *                would otherwise let a container reach the host's loopback services
 *                (CVE-2020-8558's shape). Before NAT, so DNAT'd loopback replies are not seen.
 *   prerouting,  published ports: a packet to a local address (fib ... type local) and a
 *   output       published (address,) protocol and port goes to the container's address and port;
 *                the output chain is for connections made on the host itself, 127.0.0.1 included.
 *   dns          a container's DNS query to its gateway goes to the host's loopback resolver
 *                (when /etc/resolv.conf names only loopback resolvers, as systemd-resolved does).
 *   forward,     networks are isolated from each other, as docker's are: a packet routed from one
 *   isolate      pivot bridge to another is dropped (isolate is rewritten whole, one rule per
 *                bridge, whenever a bridge comes or goes: no rule to find by handle).
 *   postrouting  egress masquerade for the bridges' subnets; and connections from the host's
 *                loopback to a published port get the bridge's address as source, or the
 *                container's reply could not be routed back.
 */
function tableScript(): string[] {
  return [
    `table ip ${NFT_TABLE} {`,
    '  set nets { type ipv4_addr; flags interval; }',
    '  map ports_any { type inet_proto . inet_service : ipv4_addr . inet_service; }',
    '  map ports_ip { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }',
    '  map dns { type ipv4_addr : ipv4_addr; }',
    '  chain guard { type filter hook prerouting priority raw; policy accept;',
    '    iifname "pivot*" ip daddr 127.0.0.0/8 drop',
    '  }',
    '  chain prerouting { type nat hook prerouting priority dstnat; policy accept;',
    '    iifname "pivot*" meta l4proto { tcp, udp } th dport 53 dnat ip to ip daddr map @dns',
    '    fib daddr type local dnat ip to ip daddr . meta l4proto . th dport map @ports_ip',
    '    fib daddr type local dnat ip to meta l4proto . th dport map @ports_any',
    '  }',
    '  chain output { type nat hook output priority -100; policy accept;',
    '    fib daddr type local dnat ip to ip daddr . meta l4proto . th dport map @ports_ip',
    '    fib daddr type local dnat ip to meta l4proto . th dport map @ports_any',
    '  }',
    '  chain forward { type filter hook forward priority filter; policy accept;',
    '    iifname "pivot*" oifname "pivot*" jump isolate',
    '  }',
    '  chain isolate {',
    '  }',
    '  chain postrouting { type nat hook postrouting priority srcnat; policy accept;',
    '    ip saddr @nets oifname != "pivot*" masquerade',
    '    ip saddr 127.0.0.0/8 oifname "pivot*" masquerade',
    '  }',
    '}',
  ]
}

export function bridgeExists(bridge: string): boolean {
  return fs.existsSync(`/sys/class/net/${bridge}`)
}

function tableExists(): boolean {
  return runTool('nft', ['list', 'table', 'ip', NFT_TABLE]).status === 0
}

/** Every IPv4 prefix the host routes (all tables), but those of `except`: what a new subnet must not overlap. */
export function hostRoutes(exceptBridge?: string): Subnet[] {
  const r = runTool('ip', ['-j', '-4', 'route', 'show', 'table', 'all'])
  if (r.status !== 0) throw new NetworkError('NET_TOOL_FAILED', `ip route: ${r.stderr.trim()}`)
  const out: Subnet[] = []
  for (const route of JSON.parse(r.stdout || '[]') as Array<{dst?: string; dev?: string; type?: string}>) {
    if (!route.dst || route.dst === 'default' || (exceptBridge !== undefined && route.dev === exceptBridge)) continue
    const [addr, bits] = route.dst.split('/')
    const base = parseIPv4(addr)
    if (base !== undefined) out.push({base, bits: bits === undefined ? 32 : Number(bits)})
  }
  return out
}

/** The host's resolvers from /etc/resolv.conf, split into loopback ones and the others. */
export function hostResolvers(text?: string): {remote: string[]; loopback: string[]; rest: string[]} {
  let conf = text
  if (conf === undefined) {
    try {
      conf = fs.readFileSync('/etc/resolv.conf', 'utf8')
    } catch {
      conf = ''
    }
  }
  const remote: string[] = []
  const loopback: string[] = []
  const rest: string[] = []
  for (const line of conf.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line)
    if (m) {
      const ip = m[1]
      if (ip.startsWith('127.') || ip === '::1') loopback.push(ip)
      else if (parseIPv4(ip) !== undefined) remote.push(ip)
      // IPv6 resolvers: containers have no IPv6 here.
    } else if (/^\s*(search|domain|options)\s/.test(line)) rest.push(line.trim())
  }
  return {remote, loopback, rest}
}

/**
 * Makes the network's bridge (and pivot's table with the first one) when it is missing; the
 * caller holds the network lock. The default network is recorded on first use with a subnet from
 * the pool that no host route overlaps.
 */
export function ensureBridge(name: string): NetworkRecord {
  let rec = readNetwork(name)
  if (rec && bridgeExists(rec.bridge)) return rec
  if (!rec) {
    if (name !== DEFAULT_NETWORK) throw new NetworkError('NET_NOT_FOUND', `network ${name} not found (pivot network ls lists them)`)
    const subnet = pickSubnet(subnetPool(), hostRoutes(DEFAULT_BRIDGE))
    if (!subnet) throw new NetworkError('NET_NO_SUBNET', 'every subnet of the pool (PIVOT_NETWORK_POOL, default 10.200.0.0/16) overlaps a host route')
    rec = {
      name,
      id: randomBytes(32).toString('hex'),
      bridge: DEFAULT_BRIDGE,
      subnet: formatSubnet(subnet),
      gateway: formatIPv4(gatewayOf(subnet)),
      created: new Date().toISOString(),
    }
  } else {
    // Recorded, but its bridge is gone (deleted by hand): its subnet must still be free.
    const subnet = parseSubnet(rec.subnet)
    const clash = hostRoutes(rec.bridge).find(r => overlaps(r, subnet))
    if (clash)
      throw new NetworkError(
        'NET_BAD_SUBNET',
        `network ${name}'s subnet ${rec.subnet} now overlaps the host route ${formatSubnet(clash)}: pivot network rm ${name}`,
      )
  }
  createBridge(rec)
  writeNetwork(rec)
  return rec
}

export function createBridge(rec: NetworkRecord): void {
  const subnet = parseSubnet(rec.subnet)
  if (!tableExists()) runBatch('nft', tableScript(), 'creating the nftables table ip pivot')
  runBatch(
    'ip',
    [`link add ${rec.bridge} type bridge`, `addr add ${rec.gateway}/${subnet.bits} dev ${rec.bridge}`, `link set ${rec.bridge} up`],
    `creating the bridge ${rec.bridge}`,
  )
  // route_localnet: a connection from the host's 127.0.0.1 to a published port is DNAT'd to the
  // container and leaves through the bridge with a loopback source (masqueraded after routing);
  // the kernel drops such packets as martians unless the outgoing interface allows it. Per
  // interface, so it goes with the bridge. The guard chain keeps containers off 127.0.0.0/8.
  fs.writeFileSync(`/proc/sys/net/ipv4/conf/${rec.bridge}/route_localnet`, '1')
  // Containers reach what the host reaches only when the host forwards; docker turns it on too.
  if (fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim() !== '1') fs.writeFileSync('/proc/sys/net/ipv4/ip_forward', '1')
  const lines = [`add element ip ${NFT_TABLE} nets { ${rec.subnet} }`]
  const {remote, loopback} = hostResolvers()
  if (remote.length === 0 && loopback.length > 0 && loopback[0].startsWith('127.'))
    lines.push(`add element ip ${NFT_TABLE} dns { ${rec.gateway} : ${loopback[0]} }`)
  runBatch('nft', lines, `adding ${rec.bridge}'s subnet to nftables`)
  syncIsolation()
}

/** The isolate chain for the bridges that exist now. */
function syncIsolation(): void {
  let bridges: string[]
  try {
    bridges = fs.readdirSync('/sys/class/net').filter(n => (n === DEFAULT_BRIDGE || n.startsWith('pivotbr')) && bridgeExists(`${n}/bridge`))
  } catch {
    bridges = []
  }
  runBatch(
    'nft',
    [`flush chain ip ${NFT_TABLE} isolate`, ...bridges.map(b => `add rule ip ${NFT_TABLE} isolate iifname "${b}" oifname != "${b}" drop`)],
    'isolating the networks',
  )
}

/** Removes a bridge and its table entries; the table itself when no pivot bridge is left. Caller holds the lock. */
export function removeBridge(rec: NetworkRecord, otherBridges: readonly string[]): void {
  if (bridgeExists(rec.bridge)) runBatch('ip', [`link del ${rec.bridge}`], `removing the bridge ${rec.bridge}`)
  if (!tableExists()) return
  if (otherBridges.some(bridgeExists)) {
    runTool('nft', ['-f', '-'], `delete element ip ${NFT_TABLE} nets { ${rec.subnet} }\n`)
    runTool('nft', ['-f', '-'], `delete element ip ${NFT_TABLE} dns { ${rec.gateway} }\n`)
    syncIsolation()
  } else runBatch('nft', [`delete table ip ${NFT_TABLE}`], 'removing the nftables table ip pivot')
}
