// pivot-runtime (the OCI runtime mode) against runc, in one run on one machine:
//   - `ctr run --rm IMG true` through a private containerd, --runc-binary pivot-runtime vs runc;
//   - create + start + delete of one bundle (process `true`), pivot-runtime vs runc;
//   - `node -e 0` and `pivot-runtime --version` as the floor a Node runtime cannot go under.
// The cases take turns round by round, so a noisy moment on a shared machine weighs on all alike.
// Goal (issue 15): create+start+delete within 3x runc's. Not part of the suite:
//   npx tsc -p . && bash test/env/setup.sh && env -u NODE_EXTRA_CA_CERTS node dist/test/bench/oci-runtime.bench.js [rounds]
import {spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {BUSYBOX_IMAGE} from '../helpers/fixtures'
import {RUNC_BIN, RUNTIME_BIN, containerdConfig, makeBundle, savedBusybox, startContainerd} from '../helpers/oci'
import {benchEnv} from './bench-env'

const ROUNDS = Number(process.argv[2] ?? 15)

function timed(fn: () => void): number {
  const t = process.hrtime.bigint()
  fn()
  return Number(process.hrtime.bigint() - t) / 1e6
}

// stdio ignored: the container inherits create's, and a pipe would stay open while it lives.
function must(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, {env: benchEnv(), stdio: 'ignore'})
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status}`)
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

async function main(): Promise<void> {
  const work = fs.mkdtempSync('/tmp/pivot-bench-oci-')
  const bundle = makeBundle(c => (c.process.args = ['true']))
  const containerd = await startContainerd(containerdConfig())
  const roots = {runc: path.join(work, 'runc-root'), pivot: path.join(work, 'pivot-root')}
  try {
    if (containerd.ctr(['image', 'import', savedBusybox(work)], {timeout: 120_000}).status !== 0) throw new Error('ctr image import failed')
    let n = 0
    const lifecycle = (bin: string, root: string) => () => {
      const id = `bench-oci-${n++}`
      must(bin, ['--root', root, 'create', '--bundle', bundle, id])
      must(bin, ['--root', root, 'start', id])
      // `true` exits at once; delete needs it stopped.
      for (let i = 0; i < 1000; i++) {
        const s = spawnSync(bin, ['--root', root, 'state', id], {env: benchEnv(), encoding: 'utf8'})
        if (s.stdout.includes('"stopped"')) break
      }
      must(bin, ['--root', root, 'delete', id])
    }
    const ctrRun = (bin: string) => () => {
      const r = containerd.ctr(['run', '--rm', '--runc-binary', bin, BUSYBOX_IMAGE, `bench-ctr-${n++}`, 'true'])
      if (r.status !== 0) throw new Error(`ctr run: ${r.stderr}`)
    }
    const cases: [string, () => void][] = [
      ['node -e 0', () => must(process.execPath, ['-e', '0'])],
      ['pivot-runtime --version', () => must(RUNTIME_BIN, ['--version'])],
      ['runc --version', () => must(RUNC_BIN, ['--version'])],
      ['create+start+delete: pivot-runtime', lifecycle(RUNTIME_BIN, roots.pivot)],
      ['create+start+delete: runc', lifecycle(RUNC_BIN, roots.runc)],
      ['ctr run --rm: pivot-runtime', ctrRun(RUNTIME_BIN)],
      ['ctr run --rm: runc', ctrRun(RUNC_BIN)],
    ]
    const times = new Map<string, number[]>(cases.map(([name]) => [name, []]))
    for (const [, fn] of cases) fn() // warm caches once
    for (let round = 0; round < ROUNDS; round++) for (const [name, fn] of cases) times.get(name)!.push(timed(fn))
    const med = (name: string) => median(times.get(name)!)
    console.log(`${ROUNDS} rounds, median ms:`)
    for (const [name] of cases) console.log(`  ${name.padEnd(38)} ${med(name).toFixed(1).padStart(8)}`)
    console.log(`ratios (pivot / runc):`)
    console.log(`  create+start+delete   ${(med('create+start+delete: pivot-runtime') / med('create+start+delete: runc')).toFixed(2)}x  (goal <= 3x)`)
    console.log(`  ctr run --rm          ${(med('ctr run --rm: pivot-runtime') / med('ctr run --rm: runc')).toFixed(2)}x`)
    console.log(`  floor: node -e 0 is ${med('node -e 0').toFixed(1)} ms; create+start+delete starts node 4 times (+1 for the init)`)
  } finally {
    await containerd.stop()
    fs.rmSync(work, {recursive: true, force: true})
    fs.rmSync(bundle, {recursive: true, force: true})
  }
}

main().catch(error => {
  console.error(error)
  process.exitCode = 1
})
