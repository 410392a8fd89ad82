// Garbage collection racing with every reader of layers (issue 9, "Damage and loss"): prune runs
// while pull, import, build, run and export find layers in the cache and reference them. Each
// round starts them at the same moment, several rounds in a row. Before the GC lock and leases
// (src/store/gc-lock.ts), the first phase failed on most rounds: a pull that said "Pulled" left
// an image whose layers prune had deleted ("the cache is missing layer").
import {after, before, test} from 'node:test'
import assert from 'node:assert/strict'
import * as crypto from 'node:crypto'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {pivot, tempDir} from '../../helpers/fixtures'
import {buildLayeredImage, entriesOf, errorLine, failureProblem, pivotAsync, processesOfCache, removeDockerImage} from '../../helpers/concurrency'
import {leftovers} from '../../helpers/seed-image'

const ROUNDS = Number(process.env.PIVOT_RACE_ROUNDS ?? 4)
const IMAGE = 'localhost:5000/pivot-gc-race:gc'
const IMPORTED = 'pivot-test/gc-race-imported:gc'
// A race lost by the reader shows up as damage: never acceptable, even as one clean line.
const DAMAGE = [/missing layer/, /is not in the cache/, /no such file or directory/i, /ENOENT/]

let cache: string
let work: string

function ok(args: string[]): string {
  const r = pivot(args, {cacheDir: cache, timeout: 300_000})
  assert.equal(r.status, 0, `pivot ${args.join(' ')}: ${r.stderr}`)
  return r.stdout
}

before(() => {
  buildLayeredImage(IMAGE)
  cache = tempDir('pivot-gc-race-cache')
  work = tempDir('pivot-gc-race-work')
  ok(['pull', IMAGE])
  ok(['export', IMAGE, '-o', path.join(work, 'image.tar')])
})

after(() => {
  removeDockerImage(IMAGE)
})

/** Resolves once `cond()` holds (checked every 10 ms), or after 60 s whatever it says. */
async function until(cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 60_000
  while (!cond() && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 10))
}

function assertClean(results: Array<Parameters<typeof failureProblem>[0]>): void {
  const problems = results.map(r => failureProblem(r, DAMAGE)).filter((p): p is string => p !== undefined)
  assert.deepEqual(problems, [])
}

test('prune racing a re-pull and a re-import of cached layers: both images stay whole', async () => {
  for (let round = 0; round < ROUNDS; round++) {
    ok(['import', '--force', path.join(work, 'image.tar'), IMPORTED])
    ok(['rmi', IMAGE, IMPORTED])
    // The layers stay (rmi frees none); the pull and the import find them and reference them again.
    const results = await Promise.all([
      pivotAsync(['prune'], {cacheDir: cache}),
      pivotAsync(['pull', IMAGE], {cacheDir: cache}),
      pivotAsync(['import', path.join(work, 'image.tar'), IMPORTED], {cacheDir: cache}),
    ])
    assertClean(results)
    for (const r of results) assert.equal(r.status, 0, `round ${round}: pivot ${r.args.join(' ')}: ${r.stderr}`)
    for (const image of [IMAGE, IMPORTED]) {
      const run = pivot(['run', '--rm', '--pull', 'never', image, 'cat', '/l/f6'], {cacheDir: cache})
      assert.equal(run.status, 0, `round ${round}: ${image} was pulled or imported but does not run: ${run.stderr}`)
      assert.equal(run.stdout, `layer 6 of ${IMAGE}\n`)
    }
  }
})

test('rmi and prune racing a run, an export and a build that found the image: each works or says the image is gone', async () => {
  // One base per round, imported up front: build-cache records pin a base's layers for good once
  // a build used it, and the old rule kept whatever was younger than the oldest process in flight.
  const {execFileSync} = await import('node:child_process')
  const bases: string[] = []
  for (let round = 0; round < ROUNDS; round++) {
    const tar = path.join(work, `base-${round}.tar`)
    fs.copyFileSync(path.join(work, 'image.tar'), tar)
    fs.writeFileSync(path.join(work, 'round'), `${round} ${crypto.randomBytes(8).toString('hex')}\n`)
    execFileSync('tar', ['-rf', tar, '-C', work, 'round'])
    bases.push(`pivot-test/gc-race-base:${round}`)
    ok(['import', tar, bases[round]])
  }
  await new Promise(resolve => setTimeout(resolve, 2500))
  // A copy of many files first: committing it takes a few seconds, during which the build alone
  // references its base (until the step's build-cache record, which pins the base for good).
  const many = path.join(work, 'many')
  fs.mkdirSync(many)
  for (let i = 0; i < 2_000; i++) fs.writeFileSync(path.join(many, `f${i}`), `${i}\n`)
  const recipe = path.join(work, 'recipe.yaml')
  for (let round = 0; round < ROUNDS; round++) {
    const base = bases[round]
    // A new file each round, so the copy step is not taken from the build cache.
    fs.writeFileSync(path.join(many, 'round'), `${round}\n`)
    fs.writeFileSync(recipe, `from: ${base}\nsteps:\n  - copy: {src: many, dest: /many}\n  - run: cat /l/f1 /round > /both\n`)
    const tar = path.join(work, `export-${round}.tar`)
    const results = await Promise.all([
      pivotAsync(['run', '--rm', '--pull', 'never', base, 'cat', '/round'], {cacheDir: cache}),
      pivotAsync(['export', base, '-o', tar], {cacheDir: cache}),
      pivotAsync(['build', '-t', `pivot-test/gc-race-built:${round}`, recipe], {cacheDir: cache}),
      // The removal starts once the build has found its base (its staging dir appears right
      // after), so it lands while the build references the base in memory only. --force: the
      // run may still be going, and a plain rmi refuses an image a running container uses.
      until(() => entriesOf(cache, 'tmp').some(e => e.endsWith('-build')))
        .then(() => pivotAsync(['rmi', '--force', base], {cacheDir: cache}))
        .then(async rmi => [rmi, await pivotAsync(['prune'], {cacheDir: cache})]),
    ]).then(r => r.flat())
    assertClean(results)
    const [run, exp, build, rmi, prune] = results
    assert.equal(rmi.status, 0, rmi.stderr)
    assert.equal(prune.status, 0, prune.stderr)
    // The reader got there first (and then works), or the image was gone when it looked.
    if (run.status === 0) assert.match(run.stdout, new RegExp(`^${round} `))
    else assert.match(errorLine(run), /no such image|was removed \(pivot rmi, then pivot prune\)/)
    if (exp.status === 0) assert.ok(fs.statSync(tar).size > 10_000)
    else assert.match(errorLine(exp), /no such image/)
    // The build found its base before the removal began: it must finish, and its image run.
    assert.equal(build.status, 0, `round ${round}: ${build.stderr}`)
    const built = pivot(['run', '--rm', '--pull', 'never', `pivot-test/gc-race-built:${round}`, 'cat', '/both'], {cacheDir: cache})
    assert.equal(built.status, 0, built.stderr)
    assert.match(built.stdout, new RegExp(`^layer 1 of ${IMAGE}\n${round} `))
  }
})

test('after the races: nothing leaked, and every image left runs', () => {
  for (const image of JSON.parse(ok(['images', '--json'])) as Array<{id: string; names: string[]}>) {
    const r = pivot(['run', '--rm', '--pull', 'never', image.names[0] ?? image.id, 'true'], {cacheDir: cache})
    assert.equal(r.status, 0, `${image.names[0] ?? image.id}: ${r.stderr}`)
  }
  assert.deepEqual(leftovers(cache), {mounts: [], cgroups: [], containers: []})
  assert.deepEqual(entriesOf(cache, 'leases'), [])
  assert.deepEqual(processesOfCache(cache), [])
})
