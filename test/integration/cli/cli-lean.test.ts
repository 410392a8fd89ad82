// bin/pivot's lean path (src/cli/dispatch.ts) against oclif, the path it replaces for `--version`,
// the root help, `images`, `ps` and `pull`: the same argv, run both ways on the same cache, must
// print the same stdout and stderr and exit with the same status; and the lean path must really
// run without loading oclif (else it saves nothing), while argv it does not take goes to oclif.
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {after, before, test} from 'node:test'
import {BUSYBOX_IMAGE, PIVOT_BIN, REPO_ROOT, pivot, tempDir} from '../../helpers/fixtures'

interface Outcome {
  status: number | null
  stdout: string
  stderr: string
}

const work = tempDir('pivot-cli-lean')
const cache = path.join(work, 'cache')
// Preloaded into bin/pivot: records at exit whether any part of oclif was loaded.
const probe = path.join(work, 'probe.js')
fs.writeFileSync(
  probe,
  `process.on('exit', () => require('node:fs').writeFileSync(process.env.PIVOT_TEST_PROBE_OUT,
    String(Object.keys(require.cache).some(f => f.includes('/node_modules/@oclif/')))))\n`,
)
const oclifCore = require.resolve('@oclif/core', {paths: [REPO_ROOT]})

function env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = {...process.env, PIVOT_CACHE_DIR: cache}
  delete e.NODE_EXTRA_CA_CERTS
  delete e.NODE_OPTIONS
  delete e.FORCE_COLOR
  return {...e, ...extra}
}

function outcome(r: ReturnType<typeof spawnSync>): Outcome {
  return {status: r.status, stdout: String(r.stdout), stderr: String(r.stderr)}
}

/** bin/pivot as users run it; also says whether oclif was loaded. */
function lean(args: string[]): Outcome & {oclifLoaded: boolean} {
  const out = path.join(work, 'probe.out')
  fs.rmSync(out, {force: true})
  const r = spawnSync(PIVOT_BIN, args, {cwd: REPO_ROOT, encoding: 'utf8', env: env({NODE_OPTIONS: `--require ${probe}`, PIVOT_TEST_PROBE_OUT: out})})
  return {...outcome(r), oclifLoaded: fs.readFileSync(out, 'utf8') === 'true'}
}

/** The same argv through oclif alone, as bin/pivot ran every command but `run` before the lean path. */
function viaOclif(args: string[]): Outcome {
  const script = `require(${JSON.stringify(oclifCore)}).execute({dir: ${JSON.stringify(PIVOT_BIN)}, args: process.argv.slice(1)})`
  return outcome(spawnSync(process.execPath, ['-e', script, '--', ...args], {cwd: REPO_ROOT, encoding: 'utf8', env: env()}))
}

/**
 * Ages as `ps` and `images` print them ("4 seconds ago", "Up 2 minutes") made alike, and the
 * table's column padding with them (an age of another length widens its column).
 */
function steadyAges(text: string): string {
  return text.replace(/\b(\d+|Less than a|About a|About an) (seconds?|minutes?|hours?)\b/g, '<age>').replace(/ {2,}/g, '  ')
}

/**
 * Both ways give the same result. Ages in `ps` and `images` ("4 seconds ago") may tick between
 * the two runs on a loaded machine: they are compared as `<age>`; everything else byte for byte.
 */
function same(args: string[], expectLean: boolean): Outcome {
  const a = lean(args)
  const b = viaOclif(args)
  assert.deepEqual({status: a.status, stdout: steadyAges(a.stdout), stderr: a.stderr}, {...b, stdout: steadyAges(b.stdout)}, `pivot ${args.join(' ')}`)
  assert.equal(a.oclifLoaded, !expectLean, `pivot ${args.join(' ')}: ${expectLean ? 'the lean path loaded oclif' : 'went around oclif'}`)
  return a
}

before(() => {
  assert.equal(pivot(['pull', '-q', BUSYBOX_IMAGE], {cacheDir: cache}).status, 0)
  const run = pivot(['run', '--name', `cli-lean-${process.pid}`, BUSYBOX_IMAGE, 'true'], {cacheDir: cache})
  assert.equal(run.status, 0, run.stderr)
})

after(() => {
  pivot(['prune'], {cacheDir: cache})
})

test('--version and the root help: the same text without oclif', () => {
  assert.match(same(['--version'], true).stdout, /^pivot\/\d+\.\d+\.\d+ linux-\S+ node-v\d+/)
  const help = same(['--help'], true)
  assert.match(help.stdout, /^COMMANDS$/m)
  assert.equal(same(['help'], true).stdout, help.stdout)
  assert.equal(same([], true).stdout, help.stdout)
})

test('images and ps, with and without --json: the same output without oclif', () => {
  const table = same(['images'], true)
  assert.match(table.stdout, /^localhost:5000\/pivot-test\/busybox:latest +[0-9a-f]{12} /m)
  const images = JSON.parse(same(['images', '--json'], true).stdout) as Array<{names: string[]}>
  assert.deepEqual(
    images.map(i => i.names),
    [[BUSYBOX_IMAGE]],
  )
  assert.match(same(['ps', '-a'], true).stdout, new RegExp(`Exited \\(0\\) .*cli-lean-${process.pid}$`, 'm'))
  assert.equal(same(['ps'], true).stdout.trim().split('\n').length, 1, 'ps: only the header, nothing runs')
  assert.equal((JSON.parse(same(['ps', '-a', '--json'], true).stdout) as unknown[]).length, 1)
  assert.deepEqual(JSON.parse(same(['ps', '--json'], true).stdout), [])
  assert.match(same(['ps', '-aq'], true).stdout, /^[0-9a-f]{12}\n$/)
  same(['images', '--cache-dir', cache], true)
  same(['ps', `--cache-dir=${cache}`, '--all'], true)
})

test('an unchanged re-pull: the same output without oclif, in every form', () => {
  assert.match(same(['pull', BUSYBOX_IMAGE], true).stdout, /^Pulled localhost:5000\/pivot-test\/busybox:latest \(sha256:/m)
  assert.equal(same(['pull', '-q', BUSYBOX_IMAGE], true).stdout, '')
  const json = JSON.parse(same(['pull', '--json', BUSYBOX_IMAGE], true).stdout) as {reused: boolean}
  assert.equal(json.reused, true)
})

test('an unchanged rebuild: the same output without oclif', () => {
  const recipe = path.join(work, 'recipe.yaml')
  fs.writeFileSync(recipe, `from: ${BUSYBOX_IMAGE}\nsteps:\n  - run: echo built > /built\n  - env: {LEAN: "1"}\n`)
  const tag = `cli-lean/rebuild:${process.pid}`
  assert.equal(pivot(['build', recipe, '-t', tag], {cacheDir: cache}).status, 0)
  assert.match(same(['build', recipe, '-t', tag], true).stdout, /^Step 1\/2: run: echo built > \/built \(cached\)$/m)
  assert.match(same(['build', '-q', recipe], true).stdout, /^sha256:[0-9a-f]{64}\n$/)
  // --json carries each step's seconds, which differ from run to run: compare the rest
  const a = lean(['build', '--json', recipe, '-t', tag])
  const b = viaOclif(['build', '--json', recipe, '-t', tag])
  assert.equal(a.oclifLoaded, false)
  const steady = (o: Outcome) => ({
    ...o,
    stdout: JSON.stringify({...JSON.parse(o.stdout), steps: JSON.parse(o.stdout).steps.map((s: {seconds: number}) => ({...s, seconds: 0}))}),
  })
  assert.deepEqual(steady({status: a.status, stdout: a.stdout, stderr: a.stderr}), steady(b))
  // a build-arg before the recipe: oclif gives it the recipe too (its flags are greedy), so oclif parses it
  same(['build', '--build-arg', 'A=1', recipe], false)
})

test('errors on the lean path: the same line or JSON document and status as oclif', () => {
  const missing = 'localhost:5000/pivot-test/no-such-image-cli-lean:1'
  const line = same(['pull', '-q', '--source', 'daemon', missing], true)
  assert.equal(line.status, 125)
  assert.match(line.stderr, /^pivot: image localhost:5000\/pivot-test\/no-such-image-cli-lean:1 not found[^\n]*\n$/)
  const json = same(['pull', '--json', '--source', 'daemon', missing], true)
  assert.equal(json.status, 125)
  assert.equal((JSON.parse(json.stdout) as {error: {code: string}}).error.code, 'DAEMON_IMAGE_NOT_FOUND')
  // From the registry (the default): its answer, exit 1 as docker pull.
  const fromRegistry = same(['pull', '--json', missing], true)
  assert.equal(fromRegistry.status, 1)
  assert.equal((JSON.parse(fromRegistry.stdout) as {error: {code: string}}).error.code, 'REGISTRY_NOT_FOUND')
})

test("a pull that fails before it reads the daemon's answer (sent ahead) still exits at once", () => {
  const file = path.join(work, 'not-a-dir')
  fs.writeFileSync(file, '')
  const started = Date.now()
  const r = pivot(['pull', '-q', '--cache-dir', path.join(file, 'cache'), BUSYBOX_IMAGE], {timeout: 30_000})
  assert.equal(r.status, 125, r.stderr)
  assert.match(r.stderr, /^pivot: .*not a directory/)
  assert.ok(Date.now() - started < 20_000, 'the unread pull kept the process alive')
})

test('a reader that stops early is no error, as with oclif', () => {
  for (const args of [['--help'], ['images'], ['ps', '-a']]) {
    // `true` has exited before pivot writes: its write fails with EPIPE.
    const script = `{ sleep 0.3; "$0" "$@"; echo "status $?" >&2; } | true`
    const r = spawnSync('bash', ['-c', script, PIVOT_BIN, ...args], {encoding: 'utf8', env: env()})
    assert.equal(r.stderr, 'status 0\n', args.join(' '))
  }
})

test('a bad flag goes to oclif: one line, exit 125, as before', () => {
  for (const args of [
    ['images', '--bogus'],
    ['images', '--json=1'],
    ['ps', '-x'],
    ['ps', '--all=false'],
    ['pull', '--foo', 'x'],
  ]) {
    const r = same(args, false)
    assert.equal(r.status, 125, args.join(' '))
    assert.equal(r.stdout, '', args.join(' '))
    assert.equal(r.stderr.split('\n').filter(Boolean).length, 1, `${args.join(' ')}: ${r.stderr}`)
    assert.match(r.stderr, /^pivot: /)
  }
  // A missing argument: oclif's path, docker's exit 1.
  assert.equal(same(['pull'], false).status, 1)
  // and what the lean path does not take at all
  same(['images', '--help'], false)
  same(['images', 'extra'], false)
})
