import {NetworkError} from './network-error'

/** An IPv4 prefix: the network address as a 32-bit number and the prefix length. */
export interface Subnet {
  base: number
  bits: number
}

export function parseIPv4(text: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text)
  if (!m) return undefined
  const text4 = m.slice(1)
  if (text4.some(p => (p.length > 1 && p.startsWith('0')) || Number(p) > 255)) return undefined
  const parts = text4.map(Number)
  return ((parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]) >>> 0
}

export function formatIPv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.')
}

function mask(bits: number): number {
  return bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0
}

/** `10.1.2.0/24`; a host part that is not zero is refused (docker says the same). */
export function parseSubnet(text: string): Subnet {
  const bad = (why: string) => new NetworkError('NET_BAD_SUBNET', `invalid subnet ${JSON.stringify(text)}: ${why}`)
  const m = /^([0-9.]+)\/(\d{1,2})$/.exec(text)
  if (!m) throw bad('use an IPv4 CIDR such as 10.210.0.0/24')
  const base = parseIPv4(m[1])
  const bits = Number(m[2])
  if (base === undefined || bits > 32) throw bad('use an IPv4 CIDR such as 10.210.0.0/24')
  if (bits < 8 || bits > 28) throw bad('the prefix length must be between /8 and /28')
  if ((base & ~mask(bits)) >>> 0 !== 0) throw bad(`the host part is not zero (did you mean ${formatIPv4((base & mask(bits)) >>> 0)}/${bits}?)`)
  return {base, bits}
}

export function formatSubnet(s: Subnet): string {
  return `${formatIPv4(s.base)}/${s.bits}`
}

export function overlaps(a: Subnet, b: Subnet): boolean {
  const bits = Math.min(a.bits, b.bits)
  return ((a.base ^ b.base) & mask(bits)) >>> 0 === 0
}

export function contains(s: Subnet, ip: number): boolean {
  return ((s.base ^ ip) & mask(s.bits)) >>> 0 === 0
}

/** The first address of the subnet after the network address: the bridge's (the containers' gateway). */
export function gatewayOf(s: Subnet): number {
  return s.base + 1
}

/** Addresses containers may get: after the gateway, before the broadcast address. */
export function hostRange(s: Subnet): {first: number; last: number} {
  return {first: s.base + 2, last: s.base + 2 ** (32 - s.bits) - 2}
}

/**
 * The pool the default bridge and `network create` without --subnet take /24s from:
 * $PIVOT_NETWORK_POOL (comma-separated CIDRs), else 10.200.0.0/16. Not docker's 172.17.0.0/16
 * and 172.18+ (a host that also runs docker keeps its networks), nor podman's 10.88.0.0/16.
 */
export function subnetPool(env: NodeJS.ProcessEnv = process.env): Subnet[] {
  const text = env.PIVOT_NETWORK_POOL?.trim() || '10.200.0.0/16'
  return text.split(',').map(t => {
    try {
      return parseSubnet(t.trim())
    } catch (error) {
      throw new NetworkError('NET_BAD_SUBNET', `PIVOT_NETWORK_POOL: ${(error as Error).message}`)
    }
  })
}

/** The first /24 (or the pool entry itself when smaller) of the pool that overlaps nothing in `taken`. */
export function pickSubnet(pool: readonly Subnet[], taken: readonly Subnet[]): Subnet | undefined {
  for (const p of pool) {
    const size = Math.max(p.bits, 24)
    for (let base = p.base; contains(p, base); base += 2 ** (32 - size)) {
      const candidate = {base: base >>> 0, bits: size}
      if (!taken.some(t => overlaps(t, candidate))) return candidate
      if (base + 2 ** (32 - size) > 0xffffffff) break
    }
  }
  return undefined
}
