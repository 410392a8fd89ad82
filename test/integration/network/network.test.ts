// Container networking (issue 13): --net bridge, -p/-P, pivot port, user networks with names
// and aliases, --net container:, parallel starts, port conflicts, bad input against docker's exit
// codes, egress NAT to a server in a namespace this test makes, and what each exit path leaves on
// the host (links, pivot's nftables table, leases): nothing, once the container is gone.
// Host ports 18000-18999 and 5360-5361 only; traffic only to loopback and to addresses this test made.
import {after, before, test} from 'node:test'
import assert from 'node:assert/strict'
import {execFileSync, spawn, spawnSync, type ChildProcess} from 'node:child_process'
import * as fs from 'node:fs'
import * as http from 'node:http'
import * as os from 'node:os'
import * as path from 'node:path'
import {BUSYBOX_IMAGE, DEBIAN_IMAGE, DOCKER_BIN, PIVOT_BIN, docker, pivot, tempDir} from '../../helpers/fixtures'
import {leftovers, seedImage} from '../../helpers/seed-image'

const B = BUSYBOX_IMAGE
const LEASES = '/run/pivot/network/leases'
const EXPOSE_IMAGE = 'pivot-test-network-expose:latest'
let cache: string

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

function p(args: string[], opts: {timeout?: number; env?: NodeJS.ProcessEnv} = {}) {
  return pivot(args, {cacheDir: cache, input: '', timeout: opts.timeout ?? 60_000, env: opts.env})
}

function ok(args: string[], env?: NodeJS.ProcessEnv): string {
  const r = p(args, {env})
  assert.equal(r.status, 0, `pivot ${args.join(' ')}: ${r.stderr}`)
  return r.stdout
}

/** What the network leaves on the host: pivot links, pivot's nft table, lease files. */
function netState(): {links: string[]; nft: string; leases: string[]} {
  const links = execFileSync('ip', ['-o', 'link', 'show'], {encoding: 'utf8'})
    .split('\n')
    .map(l => l.split(': ')[1]?.split('@')[0])
    .filter((n): n is string => n !== undefined && n.startsWith('pivot'))
    .sort()
  const nft = spawnSync('nft', ['list', 'table', 'ip', 'pivot'], {encoding: 'utf8'})
  let leases: string[] = []
  try {
    leases = fs.readdirSync(LEASES).flatMap(b => fs.readdirSync(path.join(LEASES, b)).map(f => `${b}/${f}`))
  } catch {
    // none yet
  }
  return {links, nft: nft.status === 0 ? nft.stdout : '', leases}
}

/** The elements of pivot's port maps (empty when the table is gone). */
function portElements(): string {
  const s = netState().nft
  return (s.match(/elements = \{[^}]*\}/g) ?? []).filter(e => / \. \d+ : /.test(e)).join('\n')
}

/** This host's first IPv4 address that is not loopback and not a pivot bridge. */
function hostAddress(): string {
  for (const [name, addrs] of Object.entries(os.networkInterfaces())) {
    if (name.startsWith('pivot')) continue
    const a = addrs?.find(x => x.family === 'IPv4' && !x.internal)
    if (a) return a.address
  }
  throw new Error('no non-loopback IPv4 address on this host')
}

/** GET from the host; the body, or the error code (ECONNREFUSED...). */
function get(url: string, timeoutMs = 5000): Promise<{status?: number; body?: string; error?: string}> {
  return new Promise(resolve => {
    const req = http.get(url, {timeout: timeoutMs, agent: false}, res => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', c => (body += c))
      res.on('end', () => resolve({status: res.statusCode, body}))
    })
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), {code: 'ETIMEDOUT'})))
    req.on('error', e => resolve({error: (e as NodeJS.ErrnoException).code ?? e.message}))
  })
}

async function until<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await check()
    if (v !== undefined) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(100)
  }
}

/** A detached busybox httpd serving /etc on port 80 (GET /hostname answers its hostname). */
function webServer(args: string[]): string {
  return ok(['run', '-d', ...args, B, 'httpd', '-f', '-p', '80', '-h', '/etc']).trim()
}

let baseline: ReturnType<typeof netState>

before(() => {
  cache = tempDir('pivot-network')
  seedImage(cache, B)
  seedImage(cache, DEBIAN_IMAGE)
  // Whatever an earlier run left is pivot's to clean (prune), then the host is the baseline.
  ok(['prune'])
  ok(['network', 'prune'])
  baseline = netState()
  assert.deepEqual(baseline.leases, [], 'no lease before the tests')
})

after(() => {
  p(['rm', '-f', 'net-web', 'net-db', 'net-other'])
  spawnSync(DOCKER_BIN, ['rmi', '-f', EXPOSE_IMAGE], {stdio: 'ignore'})
})

/** After the container(s) are gone and pivot prune ran: the host as it was. */
function assertClean(what: string): void {
  ok(['prune'])
  // A veth goes with its container's namespace, which the kernel tears down asynchronously.
  const deadline = Date.now() + 10_000
  while (netState().links.join() !== baseline.links.join() && Date.now() < deadline) spawnSync('sleep', ['0.1'])
  const now = netState()
  assert.deepEqual(now.links, baseline.links, `${what}: links`)
  assert.equal(now.nft, baseline.nft, `${what}: nft table`)
  assert.deepEqual(now.leases, [], `${what}: leases`)
  const left = leftovers(cache)
  assert.deepEqual({mounts: left.mounts, cgroups: left.cgroups}, {mounts: [], cgroups: []}, `${what}: mounts and cgroups`)
}

test('--net bridge: own address on pivot0, a default route, the host resolvers, /etc/hosts with its address', () => {
  const out = ok(['run', '--rm', '--net', 'bridge', '-h', 'box', B, 'sh', '-c', 'ip -4 -o addr show eth0; ip route; cat /etc/hosts /etc/resolv.conf'])
  const ip = /inet (10\.\d+\.\d+\.\d+)\/(\d+)/.exec(out)?.[1]
  assert.ok(ip, out)
  assert.match(out, /default via 10\.\d+\.\d+\.1 dev eth0/)
  assert.match(out, new RegExp(`${ip.replace(/\./g, '\\.')}\\tbox\\n`), 'its own address and hostname in /etc/hosts')
  const hostNs = /nameserver (\S+)/.exec(fs.readFileSync('/etc/resolv.conf', 'utf8'))?.[1]
  if (hostNs && !hostNs.startsWith('127.')) assert.match(out, new RegExp(`nameserver ${hostNs.replace(/\./g, '\\.')}`), 'the host resolver')
  assert.ok(netState().links.includes('pivot0'), 'the bridge stays between runs, as docker0 does')
  assert.deepEqual(netState().leases, [], 'the lease went with the container')
  assertClean('--rm run')
})

test('-p: a server in a container answers from the host loopback and the host address; pivot port; rules go with it', async () => {
  const host = hostAddress()
  const id = webServer(['--name', 'net-web', '--net', 'bridge', '-p', '18101:80', '-p', '127.0.0.1:18102:80', '-p', '18103:81/udp'])
  const short = id.slice(0, 12)
  const r1 = await until('the published port', async () => {
    const r = await get('http://127.0.0.1:18101/hostname')
    return r.status === 200 ? r : undefined
  })
  assert.equal(r1.body, `${short}\n`)
  assert.equal((await get(`http://${host}:18101/hostname`)).body, `${short}\n`, 'from the host address too')
  assert.equal((await get('http://127.0.0.1:18102/hostname')).body, `${short}\n`, '127.0.0.1:18102 published on loopback')
  assert.ok((await get(`http://${host}:18102/hostname`, 2000)).error, 'a port published on 127.0.0.1 only is not reachable on the host address')
  assert.equal(ok(['port', 'net-web']), '80/tcp -> 0.0.0.0:18101\n80/tcp -> 127.0.0.1:18102\n81/udp -> 0.0.0.0:18103\n')
  assert.equal(ok(['port', 'net-web', '81/udp']), '0.0.0.0:18103\n')
  // docker ps's PORTS cell: sorted by container port, then address.
  assert.match(ok(['ps']), / {3}0\.0\.0\.0:18101->80\/tcp, 127\.0\.0\.1:18102->80\/tcp, 0\.0\.0\.0:18103->81\/udp {3}net-web\n/)
  const none = p(['port', 'net-web', '82'])
  assert.equal(none.status, 1)
  assert.match(none.stderr, /^pivot: no public port '82\/tcp' published for net-web\n$/)
  assert.match(portElements(), /18101/)
  ok(['rm', '-f', 'net-web'])
  await until('the monitor cleanup', () => (netState().leases.length === 0 ? true : undefined))
  assert.equal(portElements(), '', 'no port rule once the container is gone')
  assert.ok((await get('http://127.0.0.1:18101/hostname', 2000)).error, 'the port is closed')
  assertClean('killed detached container')
})

test('port conflicts: another container, a host process, one address against all (exit 125, nothing made)', async () => {
  webServer(['--name', 'net-web', '--net', 'bridge', '-p', '127.0.0.1:18111:80'])
  const before = netState()
  for (const spec of ['18111:80', '127.0.0.1:18111:80']) {
    const r = p(['run', '--rm', '--net', 'bridge', '-p', spec, B, 'true'])
    assert.equal(r.status, 125, spec)
    assert.match(r.stderr, /^pivot: Bind for (0\.0\.0\.0|127\.0\.0\.1):18111 failed: port is already allocated \(by container [0-9a-f]{12}\)\n$/, spec)
  }
  const twice = p(['run', '--rm', '--net', 'bridge', '-p', '18112:80', '-p', '18112:81', B, 'true'])
  assert.equal(twice.status, 125)
  assert.match(twice.stderr, /port is already allocated/)
  // A host process listening on the port.
  const server = spawn(process.execPath, ['-e', "require('net').createServer().listen(18113, '0.0.0.0', () => console.log('up'))"], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  try {
    await new Promise<void>(resolve => server.stdout!.once('data', () => resolve()))
    const busy = p(['run', '--rm', '--net', 'bridge', '-p', '18113:80', B, 'true'])
    assert.equal(busy.status, 125)
    assert.match(busy.stderr, /^pivot: Bind for 0\.0\.0\.0:18113 failed: a host process already uses the port/)
  } finally {
    server.kill('SIGKILL')
  }
  const after = netState()
  assert.deepEqual(after.leases, before.leases, 'the refused runs left no lease')
  assert.equal(after.nft, before.nft, 'nor a rule')
  ok(['rm', '-f', 'net-web'])
  await until('the monitor cleanup', () => (netState().leases.length === 0 ? true : undefined))
  assertClean('port conflicts')
})

test("bad input: one line and docker's exit code, nothing made", () => {
  const cases: Array<{args: string[]; docker?: string[]; status: number; message: RegExp}> = [
    {
      args: ['run', '--rm', '--net', 'bridge', '-p', 'abc:80', B, 'true'],
      docker: ['run', '--rm', '-p', 'abc:80', B, 'true'],
      status: 125,
      message: /invalid port spec "abc:80": host port "abc" is not a port number/,
    },
    {
      args: ['run', '--rm', '--net', 'bridge', '-p', '18120:70000', B, 'true'],
      docker: ['run', '--rm', '-p', '18120:70000', B, 'true'],
      status: 125,
      message: /container port 70000 is out of range/,
    },
    {args: ['run', '--rm', '--net', 'bridge', '-p', '18120:80/sctpx', B, 'true'], status: 125, message: /unknown protocol "sctpx"/},
    {
      args: ['run', '--rm', '--net', 'nosuchnet-pivot', B, 'true'],
      docker: ['run', '--rm', '--net', 'nosuchnet-pivot', B, 'true'],
      status: 125,
      message: /^pivot: network nosuchnet-pivot not found/,
    },
    {
      args: ['run', '--rm', '--net', 'bridge', '--add-host', 'nocolon', B, 'true'],
      docker: ['run', '--rm', '--add-host', 'nocolon', B, 'true'],
      status: 125,
      message: /invalid --add-host "nocolon"/,
    },
    {args: ['run', '--rm', '--net', 'bridge', '--dns', 'x.y', B, 'true'], status: 125, message: /invalid --dns "x.y"/},
    {
      args: ['run', '--rm', '--net', 'bridge', '--network-alias', 'a', B, 'true'],
      status: 125,
      message: /aliases are supported only for containers on user-defined networks/,
    },
    {
      args: ['run', '--rm', '--net', 'container:nosuch-pivot', B, 'true'],
      docker: ['run', '--rm', '--net', 'container:nosuch-pivot', B, 'true'],
      status: 125,
      message: /^pivot: cannot join the network of container nosuch-pivot: /,
    },
    {
      args: ['network', 'rm', 'nosuchnet-pivot'],
      docker: ['network', 'rm', 'nosuchnet-pivot'],
      status: 1,
      message: /^pivot: no such network: nosuchnet-pivot\n$/,
    },
    {args: ['network', 'create', '--subnet', '10.260.0.0/24', 'x'], status: 1, message: /invalid subnet "10.260.0.0\/24"/},
  ]
  const before = netState()
  for (const c of cases) {
    const r = p(c.args)
    assert.equal(r.status, c.status, `${c.args.join(' ')}: ${r.stderr}`)
    assert.match(r.stderr, c.message, c.args.join(' '))
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`)
    if (c.docker) {
      const d = spawnSync(DOCKER_BIN, c.docker, {encoding: 'utf8', timeout: 60_000})
      assert.equal(r.status, d.status, `docker ${c.docker.join(' ')} exits ${d.status}: ${d.stderr}`)
    }
  }
  assert.deepEqual(netState().leases, before.leases)
  assert.equal(netState().nft, before.nft)
})

test('a subnet overlapping a host route, or another network, is refused; create, ls, inspect, rm', () => {
  const route = execFileSync('ip', ['-4', '-o', 'route', 'show', 'scope', 'link'], {encoding: 'utf8'})
    .split('\n')
    .map(l => l.split(' ')[0])
    .find(d => /^\d+\.\d+\.\d+\.\d+\/\d+$/.test(d) && !d.startsWith('10.2'))
  assert.ok(route, 'a host route to overlap')
  const overlap = p(['network', 'create', '--subnet', route, 'net-bad'])
  assert.equal(overlap.status, 1)
  assert.match(overlap.stderr, /^pivot: subnet .* overlaps the host route /)
  const id = ok(['network', 'create', '--subnet', '10.201.7.0/24', 'net-a']).trim()
  try {
    assert.match(id, /^[0-9a-f]{64}$/)
    const again = p(['network', 'create', '--subnet', '10.201.7.128/25', 'net-b'])
    assert.equal(again.status, 1)
    assert.match(again.stderr, /overlaps (network net-a's 10\.201\.7\.0\/24|the host route 10\.201\.7\.0\/24)/)
    const dup = p(['network', 'create', 'net-a'])
    assert.equal(dup.status, 1)
    assert.match(dup.stderr, /already exists/)
    assert.match(ok(['network', 'ls']), new RegExp(`${id.slice(0, 12)}\\s+net-a\\s+bridge\\s+local\\s+10\\.201\\.7\\.0/24`))
    const info = JSON.parse(ok(['network', 'inspect', 'net-a'])) as Array<{Name: string; IPAM: {Config: Array<{Subnet: string; Gateway: string}>}}>
    assert.deepEqual(info[0].IPAM.Config, [{Subnet: '10.201.7.0/24', Gateway: '10.201.7.1'}])
  } finally {
    assert.equal(ok(['network', 'rm', 'net-a']), 'net-a\n')
  }
  assertClean('network create/rm')
})

test('user network: members reach each other by name and alias as they come and go; rm while in use is refused', async () => {
  ok(['network', 'create', 'net-app'])
  try {
    const db = webServer(['--name', 'net-db', '--net', 'net-app', '--network-alias', 'database'])
    const out = ok([
      'run',
      '--rm',
      '--name',
      'net-client',
      '--net',
      'net-app',
      B,
      'sh',
      '-c',
      'for h in net-db database; do printf "GET /hostname HTTP/1.0\\r\\n\\r\\n" | nc -w 5 $h 80 | tail -1; done',
    ])
    assert.equal(out, `${db.slice(0, 12)}\n${db.slice(0, 12)}\n`)
    // glibc's resolver (Debian) finds the names too.
    const getent = ok(['run', '--rm', '--net', 'net-app', DEBIAN_IMAGE, 'getent', 'hosts', 'database'])
    assert.match(getent, /^10\.\d+\.\d+\.\d+\s+net-db database [0-9a-f]{12}\n$/)
    // A member that comes later is seen by the one already running.
    ok(['run', '-d', '--name', 'net-other', '--net', 'net-app', B, 'sleep', '60'])
    assert.match(ok(['exec', 'net-db', 'cat', '/etc/hosts']), /\tnet-other [0-9a-f]{12}\n/)
    ok(['rm', '-f', 'net-other'])
    await until("net-other to leave net-db's /etc/hosts", () => (ok(['exec', 'net-db', 'cat', '/etc/hosts']).includes('net-other') ? undefined : true))
    const busy = p(['network', 'rm', 'net-app'])
    assert.equal(busy.status, 1)
    assert.match(busy.stderr, /^pivot: network net-app is in use by 1 running container\(s\) \([0-9a-f]{12}\): stop them first\n$/)
    // Another network's containers do not resolve these names.
    const outside = p(['run', '--rm', '--net', 'bridge', B, 'ping', '-c1', '-W1', 'net-db'])
    assert.notEqual(outside.status, 0)
    // Nor reach them by address: networks are isolated from each other, as docker's are.
    const info = JSON.parse(ok(['network', 'inspect', 'net-app'])) as Array<{Containers: Record<string, {IPv4Address: string}>}>
    const dbIp = info[0].Containers[db].IPv4Address.split('/')[0]
    const fromBridge = p(['run', '--rm', '--net', 'bridge', B, 'sh', '-c', `printf "GET /hostname HTTP/1.0\\r\\n\\r\\n" | nc -w 2 ${dbIp} 80`])
    assert.equal(fromBridge.stdout, '', `net-db (${dbIp}) is not reachable from the default bridge`)
    const fromInside = ok(['run', '--rm', '--net', 'net-app', B, 'sh', '-c', `printf "GET /hostname HTTP/1.0\\r\\n\\r\\n" | nc -w 5 ${dbIp} 80 | tail -1`])
    assert.equal(fromInside, `${db.slice(0, 12)}\n`, 'but is from its own network')
  } finally {
    p(['rm', '-f', 'net-db', 'net-other'])
    await until("the monitors' cleanup", () => (netState().leases.length === 0 ? true : undefined))
    ok(['network', 'rm', 'net-app'])
  }
  assertClean('user network')
})

test("--net container:NAME shares that container's namespace: same address, its loopback", async () => {
  const id = webServer(['--name', 'net-web', '--net', 'bridge'])
  try {
    const own = ok(['exec', 'net-web', 'ip', '-4', '-o', 'addr', 'show', 'eth0'])
    const out = ok([
      'run',
      '--rm',
      '--net',
      'container:net-web',
      B,
      'sh',
      '-c',
      'ip -4 -o addr show eth0; printf "GET /hostname HTTP/1.0\\r\\n\\r\\n" | nc -w 5 127.0.0.1 80 | tail -1',
    ])
    const addr = (s: string) => /inet (\S+)/.exec(s)?.[1]
    assert.equal(addr(out), addr(own))
    assert.ok(out.endsWith(`${id.slice(0, 12)}\n`), out)
    assert.equal(netState().leases.length, 1, 'a container: run takes no lease of its own')
  } finally {
    ok(['rm', '-f', 'net-web'])
  }
  await until('the monitor cleanup', () => (netState().leases.length === 0 ? true : undefined))
  assertClean('container:')
})

test('parallel starts get distinct addresses', async () => {
  const env: NodeJS.ProcessEnv = {...process.env, PIVOT_CACHE_DIR: cache}
  delete env.NODE_EXTRA_CA_CERTS
  const runs = Array.from(
    {length: 6},
    () =>
      new Promise<{code: number | null; out: string; err: string}>(resolve => {
        const c = spawn(PIVOT_BIN, ['run', '--rm', '--net', 'bridge', B, 'sh', '-c', 'ip -4 -o addr show eth0; sleep 1'], {
          env,
          stdio: ['ignore', 'pipe', 'pipe'],
        })
        let out = ''
        let err = ''
        c.stdout.on('data', d => (out += d))
        c.stderr.on('data', d => (err += d))
        c.on('close', code => resolve({code, out, err}))
      }),
  )
  const results = await Promise.all(runs)
  const addrs = results.map(r => {
    assert.equal(r.code, 0, r.err)
    return /inet (\S+)/.exec(r.out)?.[1]
  })
  assert.equal(new Set(addrs).size, 6, `distinct: ${addrs.join(' ')}`)
  assertClean('parallel runs')
})

test('egress: masqueraded to a server in a namespace this test makes, as the host reaches it', async () => {
  const ns = `ntest-eg-${process.pid}`
  const run = (args: string[]) => execFileSync('ip', args, {stdio: 'pipe'})
  run(['netns', 'add', ns])
  let server: ChildProcess | undefined
  try {
    run(['link', 'add', 'ntesteg0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns])
    run(['addr', 'add', '10.252.9.1/24', 'dev', 'ntesteg0'])
    run(['link', 'set', 'ntesteg0', 'up'])
    run(['-n', ns, 'addr', 'add', '10.252.9.2/24', 'dev', 'eth0'])
    run(['-n', ns, 'link', 'set', 'eth0', 'up'])
    // The server answers with the address the connection came from.
    server = spawn(
      'ip',
      [
        'netns',
        'exec',
        ns,
        process.execPath,
        '-e',
        "require('http').createServer((q, s) => s.end(q.socket.remoteAddress)).listen(18130, '10.252.9.2', () => console.log('up'))",
      ],
      {stdio: ['ignore', 'pipe', 'inherit']},
    )
    await new Promise<void>(resolve => server!.stdout!.once('data', () => resolve()))
    const out = ok(['run', '--rm', '--net', 'bridge', B, 'sh', '-c', 'printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc -w 5 10.252.9.2 18130 | tail -1'])
    assert.equal(out, '10.252.9.1', "the server saw the host's address on that link: masqueraded")
  } finally {
    server?.kill('SIGKILL')
    spawnSync('ip', ['link', 'del', 'ntesteg0'])
    spawnSync('ip', ['netns', 'del', ns])
  }
  assertClean('egress')
})

test("-P publishes the image's EXPOSEd ports on free host ports", async () => {
  docker(['build', '-t', EXPOSE_IMAGE, '-'], {input: `FROM ${B}\nEXPOSE 80/tcp\n`})
  ok(['pull', '-q', EXPOSE_IMAGE])
  const env = {PIVOT_PORT_RANGE: '18900-18999'}
  const id = ok(['run', '-d', '--name', 'net-web', '--net', 'bridge', '-P', EXPOSE_IMAGE, 'httpd', '-f', '-p', '80', '-h', '/etc'], env).trim()
  try {
    const line = ok(['port', 'net-web'])
    const port = Number(/^80\/tcp -> 0\.0\.0\.0:(\d+)\n$/.exec(line)?.[1])
    assert.ok(port >= 18900 && port <= 18999, line)
    const r = await until('the published port', async () => {
      const x = await get(`http://127.0.0.1:${port}/hostname`)
      return x.status === 200 ? x : undefined
    })
    assert.equal(r.body, `${id.slice(0, 12)}\n`)
  } finally {
    ok(['rm', '-f', 'net-web'])
  }
  await until('the monitor cleanup', () => (netState().leases.length === 0 ? true : undefined))
  assertClean('-P')
})

test('cleanup after a SIGKILLed pivot run: the lease and rules stay until pivot prune, then nothing', async () => {
  const env: NodeJS.ProcessEnv = {...process.env, PIVOT_CACHE_DIR: cache}
  delete env.NODE_EXTRA_CA_CERTS
  const child = spawn(PIVOT_BIN, ['run', '--net', 'bridge', '-p', '18140:80', B, 'httpd', '-f', '-p', '80', '-h', '/etc'], {env, stdio: 'ignore'})
  await until('the published port', async () => ((await get('http://127.0.0.1:18140/hostname')).status === 200 ? true : undefined))
  assert.equal(netState().leases.length, 1)
  child.kill('SIGKILL')
  await new Promise(resolve => child.once('close', resolve))
  // The container died with it (its parent-death signal): its veth went with its namespace.
  await until('the container to die', async () => ((await get('http://127.0.0.1:18140/hostname', 1000)).error ? true : undefined))
  assert.equal(netState().leases.length, 1, 'the lease of the killed run is still there')
  assert.match(portElements(), /18140/, 'and its rule')
  assertClean('SIGKILLed pivot run, then prune')
  // A killed container (its process SIGKILLed from the host) ends its own run normally.
  const id = webServer(['--name', 'net-web', '--net', 'bridge', '-p', '18141:80'])
  const pid = JSON.parse(fs.readFileSync(path.join(cache, 'containers', id, 'state.json'), 'utf8')).pid as number
  process.kill(pid, 'SIGKILL')
  await until('the monitor cleanup', () => (netState().leases.length === 0 ? true : undefined))
  assert.equal(portElements(), '')
  ok(['rm', 'net-web'])
  assertClean('killed container')
})

test('start, restart and --restart connect a stopped bridge or user-network container again: its address, its ports, its names', async () => {
  const serves = (port: number, short: string) =>
    until(`the server on ${port}`, async () => ((await get(`http://127.0.0.1:${port}/hostname`, 2000)).body === `${short}\n` ? true : undefined))
  const ipOf = (name: string) => ok(['exec', name, 'sh', '-c', 'ip -4 -o addr show eth0']).split(/\s+/)[3]
  const id = webServer(['--name', 'net-web', '--net', 'bridge', '-p', '5360:80'])
  const short = id.slice(0, 12)
  await serves(5360, short)
  const before = ipOf('net-web')
  ok(['stop', '-t', '1', 'net-web'])
  assert.equal((await get('http://127.0.0.1:5360/hostname', 2000)).error !== undefined, true, 'nothing published while stopped')
  assert.equal(ok(['start', 'net-web']), 'net-web\n')
  await serves(5360, short)
  assert.equal(ipOf('net-web'), before, 'its address again, as it was free')
  assert.match(ok(['ps']), / 0\.0\.0\.0:5360->80\/tcp {3}net-web\n/)
  ok(['restart', '-t', '1', 'net-web'])
  await serves(5360, short)
  assert.match(ok(['exec', 'net-web', 'cat', '/etc/hosts']), new RegExp(`^${before.split('/')[0].replace(/\./g, '\\.')}\\t${short}$`, 'm'))

  // A user network: --restart always brings it back connected; the other member finds it by name.
  ok(['network', 'create', 'net-restart'])
  try {
    ok(['run', '-d', '--name', 'net-other', '--net', 'net-restart', B, 'sleep', '120'])
    ok(['run', '-d', '--name', 'net-db', '--net', 'net-restart', '-p', '5361:80', '--restart', 'always', B, 'sh', '-c', 'httpd -p 80 -h /etc; sleep 2; exit 3'])
    await until('a restart', () => (ok(['inspect', '-f', '{{.RestartCount}}', 'net-db']).trim() !== '0' ? true : undefined))
    const db = ok(['inspect', '-f', '{{.Id}}', 'net-db']).trim()
    await serves(5361, db.slice(0, 12))
    await until('net-db by name from its network', () => (p(['exec', 'net-other', 'ping', '-c', '1', '-W', '1', 'net-db']).status === 0 ? true : undefined))
    ok(['rm', '-f', 'net-db', 'net-other'])
  } finally {
    p(['rm', '-f', 'net-db', 'net-other'])
    p(['network', 'rm', 'net-restart'])
  }

  // container: shares a namespace that went with its exit: refused, with the reason.
  const joiner = ok(['run', '-d', '--net', 'container:net-web', B, 'true']).trim()
  ok(['wait', joiner])
  const again = p(['start', joiner])
  assert.equal(again.status, 1)
  assert.match(
    again.stderr,
    /^pivot: container [0-9a-f]{12} cannot be started again: it shared the network namespace of another container \(--net container:\).*\n$/,
  )
  const policy = p(['run', '-d', '--restart', 'always', '--net', 'container:net-web', B, 'true'])
  assert.equal(policy.status, 125)
  assert.match(policy.stderr, /^pivot: --restart always with --net container:net-web: .*cannot be restarted\n$/)
  ok(['rm', '-f', 'net-web', joiner])
  await until('the monitor cleanup', () => (netState().leases.length === 0 ? true : undefined))
  assertClean('start/restart on networks')
})
