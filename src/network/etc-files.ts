import {hostResolvers} from './bridge'
import {NetworkError} from './network-error'
import {parseIPv4} from './subnet'

/** docker's --add-host HOST:IP (IPv4 here; `host-gateway` is the network's gateway, the host). */
export interface ExtraHost {
  host: string
  ip: string
}

export function parseAddHost(spec: string): ExtraHost {
  const at = spec.indexOf(':')
  const bad = (why: string) => new NetworkError('NET_BAD_FLAG', `invalid --add-host ${JSON.stringify(spec)}: ${why}`)
  if (at <= 0) throw bad('use HOST:IP')
  const host = spec.slice(0, at)
  const ip = spec.slice(at + 1)
  if (!/^[A-Za-z0-9_.-]{1,255}$/.test(host)) throw bad(`invalid host name ${JSON.stringify(host)}`)
  if (ip !== 'host-gateway' && parseIPv4(ip) === undefined) throw bad(`${JSON.stringify(ip)} is not an IPv4 address (or host-gateway)`)
  return {host, ip}
}

export function parseDns(ip: string): string {
  if (parseIPv4(ip) === undefined) throw new NetworkError('NET_BAD_FLAG', `invalid --dns ${JSON.stringify(ip)}: not an IPv4 address`)
  return ip
}

const LOCAL_LINES =
  '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n'

/** A bridged container's /etc/hosts, docker's layout: loopback names, --add-host, then its own address. */
export function bridgeHosts(ip: string, hostname: string, extra: ExtraHost[], gateway: string): string {
  const lines = extra.map(e => `${e.ip === 'host-gateway' ? gateway : e.ip}\t${e.host}\n`)
  return LOCAL_LINES + lines.join('') + `${ip}\t${hostname}\n`
}

/**
 * A bridged container's /etc/resolv.conf: --dns when given, else the host's resolvers. When the
 * host has only loopback ones (systemd-resolved's 127.0.0.53, a local dnsmasq), unreachable from
 * another namespace, the container asks its gateway, and pivot's nftables `dns` map sends those
 * queries on to the host's resolver (docker instead falls back to 8.8.8.8, or runs its own DNS).
 */
export function bridgeResolvConf(gateway: string, dns: string[], hostConf?: string): string {
  const {remote, loopback, rest} = hostResolvers(hostConf)
  let servers = dns
  let note = ''
  if (servers.length === 0) {
    servers = remote
    if (servers.length === 0 && loopback.length > 0) {
      servers = [gateway]
      note = `# pivot: the host's resolver ${loopback[0]} is on its loopback: queries to ${gateway} are forwarded to it\n`
    }
  }
  return note + rest.map(l => l + '\n').join('') + servers.map(s => `nameserver ${s}\n`).join('')
}
