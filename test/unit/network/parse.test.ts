// Port specs, subnets, the pool and the network files: pure functions, no root.
import assert from 'node:assert/strict'
import {test} from 'node:test'
import {bridgeHosts, bridgeResolvConf, parseAddHost} from '../../../src/network/etc-files'
import {displayPorts, ephemeralRange, exposedPorts, formatBinding, parsePortSpec, samePort} from '../../../src/network/ports'
import {formatSubnet, overlaps, parseIPv4, parseSubnet, pickSubnet, subnetPool} from '../../../src/network/subnet'

test('-p specs as docker reads them', () => {
  assert.deepEqual(parsePortSpec('8080:80'), {hostIp: '', hostPort: 8080, containerPort: 80, proto: 'tcp'})
  assert.deepEqual(parsePortSpec('127.0.0.1:8080:80/udp'), {hostIp: '127.0.0.1', hostPort: 8080, containerPort: 80, proto: 'udp'})
  assert.deepEqual(parsePortSpec('80'), {hostIp: '', hostPort: 0, containerPort: 80, proto: 'tcp'})
  assert.deepEqual(parsePortSpec('127.0.0.1::80'), {hostIp: '127.0.0.1', hostPort: 0, containerPort: 80, proto: 'tcp'})
  assert.deepEqual(parsePortSpec('0.0.0.0:1:2/TCP'), {hostIp: '', hostPort: 1, containerPort: 2, proto: 'tcp'})
  for (const [spec, why] of [
    ['abc', /container port "abc"/],
    ['80:0', /container port 0 is out of range/],
    ['70000:80', /host port 70000 is out of range/],
    ['8000-8010:80', /port ranges are not supported/],
    ['1.2.3:80:80', /host address "1.2.3"/],
    ['80/sctp', /sctp is not supported/],
    ['::1:80:80', /too many colons/],
  ] as const) {
    assert.throws(
      () => parsePortSpec(spec),
      (e: Error & {code?: string}) => e.code === 'NET_BAD_PORT' && why.test(e.message),
      spec,
    )
  }
  assert.equal(formatBinding(parsePortSpec('127.0.0.1:8080:80')), '80/tcp -> 127.0.0.1:8080')
})

test('one host port: a specific address collides with every address, tcp and udp do not', () => {
  const any = parsePortSpec('8080:80')
  assert.ok(samePort(any, parsePortSpec('127.0.0.1:8080:81')))
  assert.ok(!samePort(parsePortSpec('127.0.0.1:8080:80'), parsePortSpec('127.0.0.2:8080:80')))
  assert.ok(!samePort(any, parsePortSpec('8080:80/udp')))
})

test("-P takes the image's ExposedPorts; the range from PIVOT_PORT_RANGE", () => {
  assert.deepEqual(exposedPorts({'80/tcp': {}, '53/udp': {}, '8080': {}}).map(formatBinding), [
    '8080/tcp -> 0.0.0.0:0',
    '80/tcp -> 0.0.0.0:0',
    '53/udp -> 0.0.0.0:0',
  ])
  assert.throws(() => exposedPorts({'80/sctp': {}}), /only tcp and udp/)
  assert.deepEqual(ephemeralRange({PIVOT_PORT_RANGE: '18900-18999'}), {low: 18900, high: 18999})
  assert.deepEqual(ephemeralRange({PIVOT_PORT_RANGE: '9-1'}), {low: 32768, high: 60999})
})

test('subnets: parsing, overlap, and the pool skips what the host routes', () => {
  assert.equal(parseIPv4('10.0.0.256'), undefined)
  assert.equal(parseIPv4('010.0.0.1'), undefined)
  assert.equal(formatSubnet(parseSubnet('10.210.0.0/24')), '10.210.0.0/24')
  assert.throws(() => parseSubnet('10.210.0.1/24'), /host part is not zero \(did you mean 10\.210\.0\.0\/24\?\)/)
  assert.throws(() => parseSubnet('10.210.0.0/30'), /between \/8 and \/28/)
  assert.ok(overlaps(parseSubnet('10.0.0.0/8'), parseSubnet('10.200.3.0/24')))
  assert.ok(!overlaps(parseSubnet('10.200.2.0/24'), parseSubnet('10.200.3.0/24')))
  const pool = subnetPool({})
  assert.equal(formatSubnet(pool[0]), '10.200.0.0/16')
  assert.equal(formatSubnet(pickSubnet(pool, [])!), '10.200.0.0/24')
  assert.equal(formatSubnet(pickSubnet(pool, [parseSubnet('10.200.0.0/23'), {base: parseIPv4('10.200.2.7')!, bits: 32}])!), '10.200.3.0/24')
  assert.equal(pickSubnet(pool, [parseSubnet('10.0.0.0/8')]), undefined)
  assert.throws(() => subnetPool({PIVOT_NETWORK_POOL: '10.1.0.0/33'}), /PIVOT_NETWORK_POOL/)
})

test("the network files: docker's hosts layout, the host resolvers or the gateway forwarder", () => {
  const hosts = bridgeHosts('10.200.0.5', 'box', [parseAddHost('db:10.1.2.3'), parseAddHost('host.docker.internal:host-gateway')], '10.200.0.1')
  assert.match(hosts, /^127\.0\.0\.1\tlocalhost\n/)
  assert.ok(hosts.endsWith('10.1.2.3\tdb\n10.200.0.1\thost.docker.internal\n10.200.0.5\tbox\n'), hosts)
  assert.throws(() => parseAddHost('db'), /use HOST:IP/)
  assert.throws(() => parseAddHost('db:1.2.3'), /not an IPv4 address/)
  assert.equal(bridgeResolvConf('10.200.0.1', [], 'nameserver 10.9.9.9\nsearch corp\n'), 'search corp\nnameserver 10.9.9.9\n')
  assert.equal(
    bridgeResolvConf('10.200.0.1', [], 'nameserver 127.0.0.53\noptions edns0\n'),
    "# pivot: the host's resolver 127.0.0.53 is on its loopback: queries to 10.200.0.1 are forwarded to it\noptions edns0\nnameserver 10.200.0.1\n",
  )
  assert.equal(bridgeResolvConf('10.200.0.1', ['10.8.8.8'], 'nameserver 127.0.0.53\n'), 'nameserver 10.8.8.8\n')
})

test("ps's PORTS cell as docker's formatter draws it", () => {
  const b = (hostIp: string, hostPort: number, containerPort: number, proto: 'tcp' | 'udp' = 'tcp') => ({hostIp, hostPort, containerPort, proto})
  assert.equal(displayPorts([]), '')
  assert.equal(displayPorts([b('', 8080, 80)]), '0.0.0.0:8080->80/tcp')
  assert.equal(displayPorts([b('127.0.0.1', 5353, 53, 'udp'), b('', 8080, 80)]), '127.0.0.1:5353->53/udp, 0.0.0.0:8080->80/tcp')
  // Same host and container port: consecutive ones grouped, and listed before the mapped ones.
  assert.equal(
    displayPorts([b('', 9000, 90), b('', 81, 81), b('', 80, 80), b('', 83, 83)]),
    '0.0.0.0:80-81->80-81/tcp, 0.0.0.0:83->83/tcp, 0.0.0.0:9000->90/tcp',
  )
  assert.equal(displayPorts([b('', 80, 80), b('', 80, 80, 'udp')]), '0.0.0.0:80->80/tcp, 0.0.0.0:80->80/udp')
})
