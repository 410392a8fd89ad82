import {NetworkError} from './network-error'
import type {PortBinding} from './network-state'
import {parseIPv4} from './subnet'

function badPort(spec: string, why: string): NetworkError {
  return new NetworkError('NET_BAD_PORT', `invalid port spec ${JSON.stringify(spec)}: ${why} (use [HOSTIP:][HOSTPORT:]CONTAINERPORT[/tcp|udp])`)
}

function portNumber(text: string, spec: string, what: string, zeroOk: boolean): number {
  if (!/^\d{1,5}$/.test(text))
    throw badPort(spec, `${what} ${JSON.stringify(text)} is not a port number${text.includes('-') ? ' (port ranges are not supported)' : ''}`)
  const n = Number(text)
  if (n > 65535 || (n === 0 && !zeroOk)) throw badPort(spec, `${what} ${n} is out of range (1-65535)`)
  return n
}

/**
 * docker's -p: `[HOSTIP:][HOSTPORT:]CONTAINERPORT[/PROTO]`. A missing or empty HOSTPORT is 0:
 * a free port is chosen when the container starts (as -P does).
 */
export function parsePortSpec(spec: string): PortBinding {
  let rest = spec
  let proto: 'tcp' | 'udp' = 'tcp'
  const slash = rest.lastIndexOf('/')
  if (slash !== -1) {
    const p = rest.slice(slash + 1).toLowerCase()
    if (p !== 'tcp' && p !== 'udp')
      throw badPort(spec, `unknown protocol ${JSON.stringify(rest.slice(slash + 1))}${p === 'sctp' ? ' (sctp is not supported)' : ''}`)
    proto = p
    rest = rest.slice(0, slash)
  }
  const parts = rest.split(':')
  if (parts.length > 3) throw badPort(spec, 'too many colons (IPv6 host addresses are not supported)')
  const containerPort = portNumber(parts[parts.length - 1], spec, 'container port', false)
  let hostPort = 0
  let hostIp = ''
  if (parts.length >= 2) {
    const hp = parts[parts.length - 2]
    if (hp !== '') hostPort = portNumber(hp, spec, 'host port', false)
  }
  if (parts.length === 3) {
    hostIp = parts[0]
    if (hostIp === '0.0.0.0') hostIp = ''
    else if (hostIp !== '' && parseIPv4(hostIp) === undefined) throw badPort(spec, `the host address ${JSON.stringify(parts[0])} is not an IPv4 address`)
  }
  return {hostIp, hostPort, containerPort, proto}
}

/** -P: every port the image EXPOSEs (`"80/tcp": {}`), each on a free host port. */
export function exposedPorts(exposed: Record<string, unknown> | undefined): PortBinding[] {
  return Object.keys(exposed ?? {}).map(key => {
    const [port, proto = 'tcp'] = key.split('/')
    if (proto !== 'tcp' && proto !== 'udp')
      throw new NetworkError('NET_BAD_PORT', `the image exposes ${JSON.stringify(key)}: only tcp and udp can be published`)
    return {hostIp: '', hostPort: 0, containerPort: portNumber(port, key, 'exposed port', false), proto}
  })
}

/** Where -P and `-p CONTAINERPORT` take host ports: $PIVOT_PORT_RANGE (LOW-HIGH), else docker's 32768-60999. */
export function ephemeralRange(env: NodeJS.ProcessEnv = process.env): {low: number; high: number} {
  const m = /^(\d+)-(\d+)$/.exec(env.PIVOT_PORT_RANGE?.trim() ?? '')
  if (m && Number(m[1]) >= 1 && Number(m[1]) <= Number(m[2]) && Number(m[2]) <= 65535) return {low: Number(m[1]), high: Number(m[2])}
  return {low: 32768, high: 60999}
}

/** Two bindings that would take the same host port: same protocol and port, and one address covers the other. */
export function samePort(a: PortBinding, b: PortBinding): boolean {
  return a.proto === b.proto && a.hostPort === b.hostPort && (a.hostIp === '' || b.hostIp === '' || a.hostIp === b.hostIp)
}

/**
 * docker ps's PORTS cell: `0.0.0.0:8080->80/tcp, 127.0.0.1:5353->53/udp`, sorted by container
 * port, then address, host port and protocol. Bindings whose host port equals the container port
 * on one address and protocol are grouped when consecutive (`0.0.0.0:80-81->80-81/tcp`) and come
 * first, the others after them, as docker's formatter does.
 */
export function displayPorts(bindings: readonly PortBinding[]): string {
  const sorted = [...bindings].sort(
    (a, b) => a.containerPort - b.containerPort || ip(a).localeCompare(ip(b)) || a.hostPort - b.hostPort || a.proto.localeCompare(b.proto),
  )
  type Group = {address: string; proto: string; first: number; last: number}
  const cell = (g: Group) => {
    const range = g.first === g.last ? `${g.first}` : `${g.first}-${g.last}`
    return `${g.address}:${range}->${range}/${g.proto}`
  }
  // A group cut by a gap is printed at once; the open ones at the end, in the order their
  // address and protocol first appeared.
  const closed: string[] = []
  const open = new Map<string, Group>()
  const mapped: string[] = []
  for (const b of sorted) {
    if (b.hostPort !== b.containerPort) {
      mapped.push(`${ip(b)}:${b.hostPort}->${b.containerPort}/${b.proto}`)
      continue
    }
    const key = `${ip(b)}/${b.proto}`
    const group = open.get(key)
    if (group && b.containerPort === group.last + 1) {
      group.last = b.containerPort
      continue
    }
    if (group) closed.push(cell(group))
    open.set(key, {address: ip(b), proto: b.proto, first: b.containerPort, last: b.containerPort})
  }
  return [...closed, ...[...open.values()].map(cell), ...mapped].join(', ')
}

function ip(b: PortBinding): string {
  return b.hostIp || '0.0.0.0'
}

/** docker's `pivot port` line: `80/tcp -> 0.0.0.0:8080`. */
export function formatBinding(b: PortBinding): string {
  return `${b.containerPort}/${b.proto} -> ${b.hostIp || '0.0.0.0'}:${b.hostPort}`
}

/** Whether a host process already listens on (or has bound) the port: tried by binding it for a moment. */
export async function hostPortFree(b: PortBinding): Promise<boolean> {
  const host = b.hostIp || '0.0.0.0'
  if (b.proto === 'udp') {
    const dgram = await import('node:dgram')
    return new Promise(resolve => {
      const s = dgram.createSocket('udp4')
      s.once('error', () => {
        s.close()
        resolve(false)
      })
      s.bind({port: b.hostPort, address: host, exclusive: true}, () => s.close(() => resolve(true)))
    })
  }
  const net = await import('node:net')
  return new Promise(resolve => {
    const s = net.createServer()
    s.once('error', () => resolve(false))
    s.listen({port: b.hostPort, host, exclusive: true}, () => s.close(() => resolve(true)))
  })
}
