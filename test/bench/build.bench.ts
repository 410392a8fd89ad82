// `pivot build` of images/debian-ci.yaml when nothing changed (every step cached), end to end as
// a user runs it, next to `docker build` of the equivalent Dockerfile rebuilt from its cache, form
// for form: `pivot build` against `docker build` (both print their steps), `-q` against `-q`.
// docker 20.10 without buildx here: its default builder is the legacy one (DOCKER_BUILDKIT=0 only
// says so explicitly). Also the `node -e 0` floor and `pivot --version`. Goal: an unchanged
// rebuild at most a cached `docker build`. Also prints the first (cold) build of each.
// Not part of the suite: `npx tsc -p . && bash test/env/setup.sh && node dist/test/bench/build.bench.js [runs]`
// (it runs the build's bundle step, src/runtime/monitor/build.sh, first).
import {execFileSync, spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {benchEnv} from './bench-env'

const RUNS = Number(process.argv[2] ?? 11)
const ROOT = path.resolve(__dirname, '..', '..', '..')
const PIVOT = path.join(ROOT, 'bin', 'pivot')
const DOCKER = fs.existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker'
const BASE = 'localhost:5000/pivot-test/debian:bookworm'

const DOCKERFILE = `FROM ${BASE}
ENV LANG=C.UTF-8
RUN useradd --create-home --uid 1000 --user-group --shell /bin/bash ci
RUN rm /etc/motd
COPY --chown=ci:ci debian-ci/ci-info.sh /usr/local/bin/ci-info
COPY --chown=ci debian-ci/gitconfig /home/ci/.gitconfig
ENV CI=true CI_HOME=/home/ci
RUN install -d -o ci -g ci -m 0755 /home/ci/work
WORKDIR /home/ci/work
USER ci
CMD ["/bin/bash"]
`

function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv): number {
  const start = process.hrtime.bigint()
  const r = spawnSync(cmd, args, {env, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8'})
  const ms = Number(process.hrtime.bigint() - start) / 1e6
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}${r.stdout}`)
  return ms
}

function median(cmd: string, args: string[], env: NodeJS.ProcessEnv): {median: number; min: number; max: number} {
  const times: number[] = []
  for (let i = 0; i < RUNS + 2; i++) {
    const ms = timed(cmd, args, env)
    if (i >= 2) times.push(ms) // two warm-up runs
  }
  times.sort((a, b) => a - b)
  return {median: times[Math.floor(times.length / 2)], min: times[0], max: times[times.length - 1]}
}

function main(): void {
  // The build's bundle step first (as run.bench): `tsc` alone leaves `pivot build`'s bundle stale,
  // and pivot would run its plain modules.
  execFileSync('sh', [path.join(ROOT, 'src', 'runtime', 'monitor', 'build.sh')], {stdio: 'ignore'})
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pivot-bench-build-'))
  const tag = `pivot-bench/debian-ci:${process.pid}`
  const env = benchEnv({PIVOT_CACHE_DIR: path.join(dir, 'cache'), DOCKER_BUILDKIT: '0'})
  try {
    timed(PIVOT, ['pull', BASE], env)
    const pivotCold = timed(PIVOT, ['build', 'images/debian-ci.yaml', '-t', 'bench/debian-ci'], env)
    const check = spawnSync(PIVOT, ['build', 'images/debian-ci.yaml', '-t', 'bench/debian-ci', '--json'], {env, cwd: ROOT, encoding: 'utf8'})
    const steps = (JSON.parse(check.stdout) as {steps: Array<{cached: boolean}>}).steps
    if (!steps.every(s => s.cached)) throw new Error('the rebuild ran steps: the bench would not measure a cached rebuild')

    const context = path.join(dir, 'docker-context')
    fs.mkdirSync(context)
    fs.writeFileSync(path.join(context, 'Dockerfile'), DOCKERFILE)
    fs.cpSync(path.join(ROOT, 'images', 'debian-ci'), path.join(context, 'debian-ci'), {recursive: true, preserveTimestamps: true})
    const dockerCold = timed(DOCKER, ['build', '-q', '--no-cache', '-t', tag, context], env)

    const floor = median(process.execPath, ['-e', '0'], env)
    const version = median(PIVOT, ['--version'], env)
    const pivotWarm = median(PIVOT, ['build', 'images/debian-ci.yaml', '-t', 'bench/debian-ci'], env)
    const pivotQuiet = median(PIVOT, ['build', '-q', 'images/debian-ci.yaml', '-t', 'bench/debian-ci'], env)
    const pivotJson = median(PIVOT, ['build', 'images/debian-ci.yaml', '-t', 'bench/debian-ci', '--json'], env)
    const dockerWarm = median(DOCKER, ['build', '-t', tag, context], env)
    const dockerQuiet = median(DOCKER, ['build', '-q', '-t', tag, context], env)

    const row = (name: string, t: {median: number; min: number; max: number}) =>
      `${name.padEnd(44)} ${t.median.toFixed(0).padStart(6)} ms  (min ${t.min.toFixed(0)}, max ${t.max.toFixed(0)})`
    console.log(`unchanged rebuild of images/debian-ci.yaml (7 steps, all cached), median of ${RUNS}:`)
    console.log(row('node -e 0', floor))
    console.log(row('pivot --version', version))
    console.log(row('pivot build images/debian-ci.yaml', pivotWarm))
    console.log(row('pivot build images/debian-ci.yaml -q', pivotQuiet))
    console.log(row('pivot build images/debian-ci.yaml --json', pivotJson))
    console.log(row('docker build (default builder, cached)', dockerWarm))
    console.log(row('docker build -q (cached)', dockerQuiet))
    const ratio = (label: string, a: number, b: number) => console.log(`${label.padEnd(44)} ${(a / b).toFixed(2)}   goal <= 1.00: ${a <= b ? 'met' : 'MISSED'}`)
    ratio('pivot build / docker build (cached)', pivotWarm.median, dockerWarm.median)
    ratio('pivot build -q / docker build -q (cached)', pivotQuiet.median, dockerQuiet.median)
    console.log(`first build: pivot ${pivotCold.toFixed(0)} ms, docker --no-cache ${dockerCold.toFixed(0)} ms (ratio ${(pivotCold / dockerCold).toFixed(2)})`)
    console.log(`target (unchanged rebuild under 1 s): ${pivotWarm.median < 1000 ? 'met' : 'MISSED'}`)
  } finally {
    spawnSync(DOCKER, ['rmi', tag], {stdio: 'ignore'})
    fs.rmSync(dir, {recursive: true, force: true})
  }
}

main()
