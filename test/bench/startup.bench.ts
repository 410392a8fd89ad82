// How close each everyday command starts to Node's own floor, in one run on one machine:
//   - the commands that only read the cache (`--version`, `--help`, `images`, `ps`, with and
//     without --json) against `node -e 0` of the same run: goal at most 2x;
//   - an unchanged re-pull against `docker pull` of the same unchanged image (the daemon asks
//     the local registry, 127.0.0.1:5000), form for form: `pivot pull` against `docker pull`
//     (docker's default, with progress), `-q` against `-q`: goal at most 2x;
//   - the same cache-reading commands through oclif (bin/pivot's path before its lean dispatcher,
//     src/cli/dispatch.ts), to show what the lean path saves; docker's own commands for scale.
// Commands take turns round by round, so a noisy moment on a shared machine weighs on all alike.
// Not part of the suite: `npx tsc -p . && bash test/env/setup.sh && node dist/test/bench/startup.bench.js [runs]`
// (NODE_EXTRA_CA_CERTS and NODE_OPTIONS are removed from every command's environment).
import {spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {BUSYBOX_IMAGE, DOCKER_BIN, PIVOT_BIN, REPO_ROOT} from '../helpers/fixtures'
import {benchEnv} from './bench-env'

const RUNS = Number(process.argv[2] ?? 21)

interface Case {
  name: string
  argv: string[]
}

function main(): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pivot-bench-startup-'))
  const env = benchEnv({PIVOT_CACHE_DIR: path.join(dir, 'cache')})
  try {
    const setup = (argv: string[]) => {
      const r = spawnSync(argv[0], argv.slice(1), {env, encoding: 'utf8'})
      if (r.status !== 0) throw new Error(`${argv.join(' ')}: exit ${r.status}: ${r.stderr}`)
    }
    setup([DOCKER_BIN, 'pull', '-q', BUSYBOX_IMAGE])
    setup([PIVOT_BIN, 'pull', '-q', BUSYBOX_IMAGE])
    setup([PIVOT_BIN, 'run', '--name', `bench-startup-${process.pid}`, BUSYBOX_IMAGE, 'true'])
    // bin/pivot's oclif path, as it was before the lean dispatcher took these commands.
    const oclif = (...args: string[]) => [
      process.execPath,
      '-e',
      `require('@oclif/core').execute({dir: ${JSON.stringify(PIVOT_BIN)}, args: process.argv.slice(1)})`,
      '--',
      ...args,
    ]

    const cases: Case[] = [
      {name: 'node -e 0', argv: [process.execPath, '-e', '0']},
      {name: 'pivot --version', argv: [PIVOT_BIN, '--version']},
      {name: 'pivot --help', argv: [PIVOT_BIN, '--help']},
      {name: 'pivot images', argv: [PIVOT_BIN, 'images']},
      {name: 'pivot images --json', argv: [PIVOT_BIN, 'images', '--json']},
      {name: 'pivot ps -a', argv: [PIVOT_BIN, 'ps', '-a']},
      {name: 'pivot ps -a --json', argv: [PIVOT_BIN, 'ps', '-a', '--json']},
      {name: 'pivot pull (unchanged)', argv: [PIVOT_BIN, 'pull', BUSYBOX_IMAGE]},
      {name: 'pivot pull -q (unchanged)', argv: [PIVOT_BIN, 'pull', '-q', BUSYBOX_IMAGE]},
      {name: 'docker pull (up to date)', argv: [DOCKER_BIN, 'pull', BUSYBOX_IMAGE]},
      {name: 'docker pull -q (up to date)', argv: [DOCKER_BIN, 'pull', '-q', BUSYBOX_IMAGE]},
      {name: 'docker images', argv: [DOCKER_BIN, 'images']},
      {name: 'docker ps -a', argv: [DOCKER_BIN, 'ps', '-a']},
      {name: 'docker --help', argv: [DOCKER_BIN, '--help']},
      {name: 'oclif: pivot --version', argv: oclif('--version')},
      {name: 'oclif: pivot --help', argv: oclif('--help')},
      {name: 'oclif: pivot images', argv: oclif('images')},
      {name: 'oclif: pivot ps -a', argv: oclif('ps', '-a')},
      {name: 'oclif: pivot pull -q', argv: oclif('pull', '-q', BUSYBOX_IMAGE)},
    ]
    const times = cases.map(() => [] as number[])
    const WARMUP = 2
    for (let round = 0; round < RUNS + WARMUP; round++) {
      cases.forEach((c, i) => {
        const start = process.hrtime.bigint()
        const r = spawnSync(c.argv[0], c.argv.slice(1), {env, cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe']})
        const ms = Number(process.hrtime.bigint() - start) / 1e6
        if (r.status !== 0) throw new Error(`${c.name}: exit ${r.status}: ${r.stderr}`)
        if (round >= WARMUP) times[i].push(ms)
      })
    }
    const med = new Map<string, {median: number; min: number}>()
    cases.forEach((c, i) => {
      const s = times[i].sort((a, b) => a - b)
      med.set(c.name, {median: s[Math.floor(s.length / 2)], min: s[0]})
    })
    const m = (name: string) => med.get(name)!.median
    console.log(`medians over ${RUNS} rounds (min in brackets), ${os.cpus().length} CPUs, node ${process.version}, load ${os.loadavg()[0].toFixed(1)}:`)
    for (const c of cases) console.log(`  ${c.name.padEnd(30)} ${m(c.name).toFixed(1).padStart(7)} ms  [${med.get(c.name)!.min.toFixed(1)}]`)

    const goal = (label: string, a: number, b: number, max: number) =>
      console.log(`  ${label.padEnd(52)} ${(a / b).toFixed(2).padStart(5)}   goal <= ${max.toFixed(2)}: ${a / b <= max ? 'met' : 'MISSED'}`)
    console.log('\ncache-reading commands / node -e 0:')
    for (const name of ['pivot --version', 'pivot --help', 'pivot images', 'pivot images --json', 'pivot ps -a', 'pivot ps -a --json']) {
      goal(name, m(name), m('node -e 0'), 2)
    }
    console.log('\nunchanged re-pull / docker pull of the unchanged image, form for form:')
    goal('pivot pull / docker pull', m('pivot pull (unchanged)'), m('docker pull (up to date)'), 2)
    goal('pivot pull -q / docker pull -q', m('pivot pull -q (unchanged)'), m('docker pull -q (up to date)'), 2)
    console.log('\nwhat the lean path saves (oclif path - lean path):')
    for (const [lean, viaOclif] of [
      ['pivot --version', 'oclif: pivot --version'],
      ['pivot --help', 'oclif: pivot --help'],
      ['pivot images', 'oclif: pivot images'],
      ['pivot ps -a', 'oclif: pivot ps -a'],
      ['pivot pull -q (unchanged)', 'oclif: pivot pull -q'],
    ]) {
      console.log(`  ${lean.padEnd(30)} ${(m(viaOclif) - m(lean)).toFixed(1).padStart(7)} ms`)
    }
  } finally {
    spawnSync(PIVOT_BIN, ['prune'], {env, stdio: 'ignore'})
    fs.rmSync(dir, {recursive: true, force: true})
  }
}

main()
