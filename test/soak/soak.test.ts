// The soak (issue 9, "Done when"): pull, rmi, prune, run, build, import and export in parallel on
// one cache for PIVOT_SOAK_SECONDS (default 180). Every operation must end with exit 0 or one
// clean `pivot: ...` line (no stack trace, no "internal error", no sign of a layer deleted under
// a reader); at the end every listed image runs, the final checks pass, and nothing is left on
// the host (mount, cgroup, process, tmp/ entry, lease).
import {after, before, test} from 'node:test'
import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {BUSYBOX_IMAGE, DEBIAN_IMAGE, pivot, tempDir} from '../helpers/fixtures'
import {buildLayeredImage, entriesOf, errorLine, failureProblem, pivotAsync, processesOfCache, removeDockerImage} from '../helpers/concurrency'
import {leftovers} from '../helpers/seed-image'

const SECONDS = Number(process.env.PIVOT_SOAK_SECONDS ?? 180)
const LAYERED = 'localhost:5000/pivot-gc-soak:gc'
const BUILT = [0, 1, 2].map(i => `pivot-test/soak-built:${i}`)
const IMPORTED = [0, 1, 2].map(i => `pivot-test/soak-imported:${i}`)
const NAMES = [BUSYBOX_IMAGE, LAYERED, DEBIAN_IMAGE, ...BUILT, ...IMPORTED]
// Damage a lost race leaves: never acceptable, even as a clean line.
const DAMAGE = [/missing layer/, /layer sha256:[0-9a-f]+ is not in the cache/, /no such file or directory/i, /ENOENT/]

/** Commands that must succeed on the cache once the soak is over (`check`: it verifies against its digests). */
const FINAL_COMMANDS: string[][] = [['images', '--json'], ['ps', '--all'], ['check']]

type Result = Awaited<ReturnType<typeof pivotAsync>>

let cache: string
let work: string

function ok(args: string[]): string {
  const r = pivot(args, {cacheDir: cache, timeout: 600_000})
  assert.equal(r.status, 0, `pivot ${args.join(' ')}: ${r.stderr}`)
  return r.stdout
}

before(() => {
  buildLayeredImage(LAYERED)
  cache = tempDir('pivot-soak-cache')
  work = tempDir('pivot-soak-work')
  for (const image of [BUSYBOX_IMAGE, LAYERED]) ok(['pull', image])
  ok(['export', BUSYBOX_IMAGE, '-o', path.join(work, 'busybox.tar')])
  ok(['export', LAYERED, '-o', path.join(work, 'layered.tar')])
  fs.writeFileSync(path.join(work, 'payload'), 'payload\n')
})

after(() => removeDockerImage(LAYERED))

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))
const pick = <T>(list: T[]): T => list[Math.floor(Math.random() * list.length)]

test(`soak: pull, rmi, prune, run, build, import and export at once for ${SECONDS} s`, {timeout: (SECONDS + 600) * 1000}, async t => {
  const deadline = Date.now() + SECONDS * 1000
  const results: Result[] = []
  const run = async (args: string[]) => {
    const r = await pivotAsync(args, {cacheDir: cache, timeout: 600_000})
    results.push(r)
    return r
  }
  const loop = async (body: (n: number) => Promise<unknown>) => {
    for (let n = 0; Date.now() < deadline; n++) await body(n)
  }
  const workers = [
    // The debian fixture is big: every fifth pull.
    loop(n => run(['pull', n % 5 === 4 ? DEBIAN_IMAGE : n % 2 === 0 ? BUSYBOX_IMAGE : LAYERED])),
    loop(async () => {
      await run(['rmi', pick(NAMES)])
      await sleep(500 + Math.random() * 1500)
    }),
    loop(async () => {
      await run(['prune'])
      await sleep(1000 + Math.random() * 2000)
    }),
    loop(() => run(['run', '--rm', '--pull', 'never', pick(NAMES), 'true'])),
    loop(() => run(['run', '--rm', '--pull', 'never', pick(NAMES), 'sh', '-c', 'echo soak > /tmp/x && cat /tmp/x'])),
    loop(async n => {
      // A few distinct step texts, so some builds come from the build cache and some run.
      const recipe = path.join(work, `recipe-${n % 4}.yaml`)
      const base = n % 2 === 0 ? BUSYBOX_IMAGE : LAYERED
      fs.writeFileSync(recipe, `from: ${base}\nsteps:\n  - run: echo ${n % 4} > /n\n  - copy: {src: payload, dest: /payload}\n`)
      await run(['build', '-t', BUILT[n % 3], recipe])
    }),
    loop(n => run(['import', '--force', path.join(work, n % 2 === 0 ? 'busybox.tar' : 'layered.tar'), IMPORTED[n % 3]])),
    loop(async n => {
      const tar = path.join(work, `export-${n}.tar`)
      const r = await run(['export', pick(NAMES), '-o', tar])
      if (r.status === 0) assert.ok(fs.statSync(tar).size > 10_000, `${tar} is too small`)
      fs.rmSync(tar, {force: true})
    }),
  ]
  await Promise.all(workers)

  // What happened, for whoever reads the log.
  const byCommand = new Map<string, {ok: number; failed: Map<string, number>}>()
  for (const r of results) {
    const entry = byCommand.get(r.args[0]) ?? {ok: 0, failed: new Map()}
    byCommand.set(r.args[0], entry)
    if (r.status === 0) entry.ok++
    else {
      const line = errorLine(r)
        .replace(/sha256:[0-9a-f]+|[0-9a-f]{12}/g, '<id>')
        .replace(/"[^"]*"/g, '"..."')
        .slice(0, 160)
      entry.failed.set(line, (entry.failed.get(line) ?? 0) + 1)
    }
  }
  for (const [command, {ok: n, failed}] of byCommand) {
    t.diagnostic(`${command}: ${n} ok${[...failed].map(([line, count]) => `; ${count}x ${line}`).join('')}`)
  }

  const problems = results.map(r => failureProblem(r, DAMAGE)).filter((p): p is string => p !== undefined)
  assert.deepEqual(problems.slice(0, 10), [], `${problems.length} operations broke the rules`)
  // Every kind of operation got through at least once: the soak exercised them all.
  for (const command of ['pull', 'rmi', 'prune', 'run', 'build', 'import', 'export']) {
    assert.ok((byCommand.get(command)?.ok ?? 0) > 0, `no ${command} succeeded`)
  }

  // Nothing left behind by the operations themselves (before any final prune could hide it).
  assert.deepEqual(leftovers(cache), {mounts: [], cgroups: [], containers: []})
  assert.deepEqual(entriesOf(cache, 'leases'), [])
  assert.deepEqual(processesOfCache(cache), [])

  // Every image the cache lists runs.
  const listed = JSON.parse(ok(['images', '--json'])) as Array<{id: string; names: string[]}>
  for (const image of listed) {
    const ref = image.names[0] ?? image.id
    const r = pivot(['run', '--rm', '--pull', 'never', ref, 'true'], {cacheDir: cache})
    assert.equal(r.status, 0, `${ref} is listed but does not run: ${r.stderr}`)
  }
  for (const args of FINAL_COMMANDS) ok(args)
  ok(['prune'])
  for (const args of FINAL_COMMANDS) ok(args)
  assert.deepEqual(leftovers(cache), {mounts: [], cgroups: [], containers: []})
})
