// Container networking against docker's, in one run on one machine (issue 13):
//   - start cost: `pivot run --rm --net bridge IMG true` against `docker run --rm IMG true` on a
//     daemon with its bridge (docker's default mode); also pivot's --net host and none beside it;
//   - `-p` throughput: wrk from the host against a busybox httpd in a container published with
//     -p, through pivot's DNAT (nftables) and through docker's -p (docker-proxy, the userland
//     proxy docker uses for connections from the host's loopback);
// each printed as a ratio. The suite's daemon runs --bridge=none, so this starts a second one
// with a bridge (test/env/network.sh: its own socket, data root, exec root, bridge
// pivottestdock0 on 10.250.0.0/24, --iptables=false) and stops it at the end.
// Not part of the suite: `npx tsc -p . && node dist/test/bench/network.bench.js [runs] [seconds]`
// as root after test/env/setup.sh (wrk from Debian); NODE_EXTRA_CA_CERTS is unset for every command.
import {execFileSync, spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {BUSYBOX_IMAGE, DOCKER_BIN, PIVOT_BIN, REPO_ROOT} from '../helpers/fixtures'
import {seedImage} from '../helpers/seed-image'
import {benchEnv} from './bench-env'

const RUNS = Number(process.argv[2] ?? 20)
const SECONDS = Number(process.argv[3] ?? 5)
const NAME = 'pivot-network-bench'

interface Result {
  name: string
  median: number
  min: number
}

/** Median wall time of each command in ms; the commands take turns round by round. */
function measure(commands: Array<{name: string; argv: string[]; env: NodeJS.ProcessEnv}>): Result[] {
  const times = commands.map(() => [] as number[])
  for (let round = 0; round < RUNS + 2; round++) {
    commands.forEach((c, i) => {
      const t = process.hrtime.bigint()
      const r = spawnSync(c.argv[0], c.argv.slice(1), {env: c.env, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8'})
      const ms = Number(process.hrtime.bigint() - t) / 1e6
      if (r.status !== 0) throw new Error(`${c.argv.join(' ')} exited ${r.status ?? r.signal}: ${r.stderr}`)
      if (round >= 2) times[i].push(ms)
    })
  }
  return commands.map((c, i) => {
    const s = times[i].sort((a, b) => a - b)
    return {name: c.name, median: s[Math.floor(s.length / 2)], min: s[0]}
  })
}

/** Requests per second wrk gets from `url` (2 threads, 16 connections). */
function wrk(url: string): number {
  const out = execFileSync('wrk', ['-t2', '-c16', `-d${SECONDS}s`, url], {encoding: 'utf8'})
  const m = /Requests\/sec:\s+([\d.]+)/.exec(out)
  if (!m) throw new Error(`wrk said: ${out}`)
  return Number(m[1])
}

async function waitHttp(url: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (spawnSync('curl', ['-fsS', '-o', '/dev/null', '--max-time', '1', url]).status === 0) return
    await new Promise(r => setTimeout(r, 100))
  }
  throw new Error(`${url} did not answer`)
}

async function main(): Promise<void> {
  const dockerHost = execFileSync('bash', [path.join(REPO_ROOT, 'test', 'env', 'network.sh'), 'start'], {encoding: 'utf8'}).trim()
  const denv = benchEnv({DOCKER_HOST: dockerHost})
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'pivot-network-bench-'))
  const penv = benchEnv({PIVOT_CACHE_DIR: cache})
  try {
    // The fixture into the second daemon (it has no registry access of its own to rely on).
    execFileSync('bash', ['-c', `${DOCKER_BIN} save ${BUSYBOX_IMAGE} | DOCKER_HOST=${dockerHost} ${DOCKER_BIN} load -q`], {env: benchEnv(), stdio: 'ignore'})
    seedImage(cache, BUSYBOX_IMAGE)
    // pivot0 made once, as docker's bridge exists before its runs.
    spawnSync(PIVOT_BIN, ['run', '--rm', '--net', 'bridge', BUSYBOX_IMAGE, 'true'], {env: penv})

    const starts = measure([
      {name: 'pivot run --rm --net bridge', argv: [PIVOT_BIN, 'run', '--rm', '--net', 'bridge', BUSYBOX_IMAGE, 'true'], env: penv},
      {name: 'docker run --rm (bridge)', argv: [DOCKER_BIN, 'run', '--rm', BUSYBOX_IMAGE, 'true'], env: denv},
      {name: 'pivot run --rm --net host', argv: [PIVOT_BIN, 'run', '--rm', '--net', 'host', BUSYBOX_IMAGE, 'true'], env: penv},
      {name: 'pivot run --rm --net none', argv: [PIVOT_BIN, 'run', '--rm', '--net', 'none', BUSYBOX_IMAGE, 'true'], env: penv},
      {name: 'docker run --rm --network none', argv: [DOCKER_BIN, 'run', '--rm', '--network', 'none', BUSYBOX_IMAGE, 'true'], env: denv},
    ])
    console.log(`start cost, ${RUNS} runs each, medians [min] (load ${os.loadavg()[0].toFixed(1)}):`)
    for (const r of starts) console.log(`  ${r.name.padEnd(32)} ${r.median.toFixed(1).padStart(7)} ms [${r.min.toFixed(1)}]`)
    const ratio = (a: string, b: string) => {
      const x = starts.find(r => r.name === a)!
      const y = starts.find(r => r.name === b)!
      return (x.median / y.median).toFixed(2)
    }
    console.log(`  ratio pivot bridge / docker bridge: ${ratio('pivot run --rm --net bridge', 'docker run --rm (bridge)')}`)
    console.log(`  ratio pivot none / docker none:     ${ratio('pivot run --rm --net none', 'docker run --rm --network none')}`)
    console.log(`  pivot bridge - pivot none: ${(starts[0].median - starts[3].median).toFixed(1)} ms (the network's own cost)`)

    // -p throughput: the same busybox httpd serving a 1 KiB file, on 127.0.0.1.
    const www = fs.mkdtempSync(path.join(os.tmpdir(), 'pivot-network-bench-www-'))
    fs.writeFileSync(path.join(www, 'index.html'), 'x'.repeat(1024))
    fs.chmodSync(www, 0o755)
    const server = ['httpd', '-f', '-p', '80', '-h', '/www']
    execFileSync(PIVOT_BIN, ['run', '-d', '--name', NAME, '--net', 'bridge', '-p', '18801:80', '-v', `${www}:/www:ro`, BUSYBOX_IMAGE, ...server], {
      env: penv,
      stdio: 'ignore',
    })
    execFileSync(DOCKER_BIN, ['run', '-d', '--name', NAME, '-p', '18802:80', '-v', `${www}:/www:ro`, BUSYBOX_IMAGE, ...server], {env: denv, stdio: 'ignore'})
    try {
      await waitHttp('http://127.0.0.1:18801/')
      await waitHttp('http://127.0.0.1:18802/')
      const host = Object.entries(os.networkInterfaces())
        .flatMap(([n, a]) => (n.startsWith('pivot') || n.startsWith('docker') ? [] : (a ?? [])))
        .find(a => a.family === 'IPv4' && !a.internal)?.address
      const rows: Array<[string, number, number]> = []
      for (const addr of ['127.0.0.1', ...(host ? [host] : [])]) {
        // Alternate, twice each, so load drifts weigh on both.
        const p1 = wrk(`http://${addr}:18801/`)
        const d1 = wrk(`http://${addr}:18802/`)
        const p2 = wrk(`http://${addr}:18801/`)
        const d2 = wrk(`http://${addr}:18802/`)
        rows.push([addr, (p1 + p2) / 2, (d1 + d2) / 2])
      }
      console.log(`-p throughput (wrk -t2 -c16, ${SECONDS} s x2 each, busybox httpd, 1 KiB):`)
      for (const [addr, pv, dv] of rows) {
        console.log(
          `  from ${addr.padEnd(10)} pivot (nftables DNAT) ${pv.toFixed(0).padStart(7)} req/s   docker (docker-proxy) ${dv.toFixed(0).padStart(7)} req/s   ratio ${(pv / dv).toFixed(2)}`,
        )
      }
    } finally {
      spawnSync(PIVOT_BIN, ['rm', '-f', NAME], {env: penv})
      spawnSync(DOCKER_BIN, ['rm', '-f', NAME], {env: denv})
      fs.rmSync(www, {recursive: true, force: true})
    }
  } finally {
    spawnSync(PIVOT_BIN, ['prune'], {env: penv})
    fs.rmSync(cache, {recursive: true, force: true})
    execFileSync('bash', [path.join(REPO_ROOT, 'test', 'env', 'network.sh'), 'stop'], {stdio: 'inherit'})
  }
}

main().catch(error => {
  console.error(error)
  process.exit(1)
})
