import {test} from 'node:test'
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {bundleFile, bundledModules, codeCacheFile, earlyModules, freshBundle, writeBundle, writeCodeCache} from '../../../src/common/module-bundle'

const REPO = path.resolve(__dirname, '..', '..', '..', '..')

/**
 * A small graph in tsc's CommonJS shapes: static requires (double quotes), a lazy require (single
 * quotes), a directory's index.js, and an import() (tsc's `.then(() => __importStar(require(...)))`)
 * of a module that requires a bundled one back.
 */
function makeGraph(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pivot-bundle-'))
  const write = (name: string, text: string) => {
    fs.mkdirSync(path.dirname(path.join(dir, name)), {recursive: true})
    fs.writeFileSync(path.join(dir, name), text)
  }
  write(
    'lib/entry.js',
    `"use strict";
const __importStar = m => m;
const a = require("./a");
const shared = require("../shared");
exports.run = () => ({a: a.value, lazy: require('./lazy').value, dir: __dirname, file: __filename, strict: (function () { return this === undefined })()});
exports.cold = () => Promise.resolve().then(() => __importStar(require('./cold')));
exports.shared = shared;
`,
  )
  // tsc's \`import * as path from 'node:path'\` (esModuleInterop's helper, as tsc emits it).
  const star = `var __importStar = function (mod) { var r = {}; for (const k of Object.getOwnPropertyNames(mod)) if (k !== "default") Object.defineProperty(r, k, {enumerable: true, get: () => mod[k]}); r.default = mod; return r; };\n`
  write(
    'lib/a.js',
    `"use strict";\n${star}const path = __importStar(require("node:path"));\nexports.path = path;\nexports.value = 'a+' + require("./sub").value;\n`,
  )
  write('lib/sub/index.js', `"use strict";\nexports.value = 'sub';\n`)
  write('lib/lazy.js', `"use strict";\nexports.value = 'lazy';\n`)
  write(
    'shared.js',
    `"use strict";\n${star}const path = __importStar(require("node:path"));\nclass SharedError extends Error {}\nexports.SharedError = SharedError;\nexports.path = path;\n`,
  )
  write('lib/cold.js', `"use strict";\nconst {SharedError} = require("../shared");\nexports.make = () => new SharedError('x');\n`)
  return dir
}

test('bundledModules: relative requires, static and lazy, with index.js; not what only an import() reaches', () => {
  const dir = makeGraph()
  try {
    const files = bundledModules(path.join(dir, 'lib', 'entry.js')).map(f => path.relative(dir, f))
    assert.deepEqual(files, ['lib/entry.js', 'lib/a.js', 'lib/sub/index.js', 'shared.js', 'lib/lazy.js'])
  } finally {
    fs.rmSync(dir, {recursive: true, force: true})
  }
})

test('earlyModules: the static imports of the entry and of the roots, and theirs, no lazy require; its bundle, then the full one, share one instance of each module', () => {
  const dir = makeGraph()
  try {
    const entry = path.join(dir, 'lib', 'entry.js')
    const rel = (files: string[]) => files.map(f => path.relative(dir, f))
    assert.deepEqual(rel(earlyModules(entry, [])), ['lib/entry.js', 'lib/a.js', 'lib/sub/index.js', 'shared.js'])
    assert.deepEqual(rel(earlyModules(entry, [path.join(dir, 'lib', 'lazy.js')])), ['lib/entry.js', 'lib/a.js', 'lib/sub/index.js', 'shared.js', 'lib/lazy.js'])
    const early = writeBundle(entry, [], [])
    assert.equal(early.file, path.join(dir, 'lib', 'entry.early.bundle.js'))
    assert.equal(freshBundle(entry, true), early.file)
    assert.equal(freshBundle(entry), undefined, 'the full bundle is another file')
    writeBundle(entry)
    // Gone from disk: the entry (from the early bundle) requires it lazily through node's loader,
    // which takes the build's resolution of it and its code from the full bundle.
    fs.unlinkSync(path.join(dir, 'lib', 'lazy.js'))
    // As bin/pivot and src/cli/run.ts do: the early bundle, the entry, later the full bundle.
    const lib = JSON.stringify(path.join(REPO, 'dist', 'src', 'common', 'module-bundle.js'))
    const script = `
      const mb = require(${lib})
      mb.useBundle(${JSON.stringify(entry)}, true)
      const e = require(${JSON.stringify(entry)})
      const early = Object.keys(require.cache).filter(k => k.startsWith(${JSON.stringify(dir)})).map(k => k.slice(${dir.length + 1})).sort()
      mb.useBundle(${JSON.stringify(entry)})
      console.log(JSON.stringify({early, run: e.run().lazy, same: require(${JSON.stringify(path.join(dir, 'shared.js'))}) === e.shared}))`
    const out = JSON.parse(execFileSync(process.execPath, ['-e', script], {encoding: 'utf8'}))
    assert.deepEqual(out, {early: ['lib/a.js', 'lib/entry.early.bundle.js', 'lib/entry.js', 'lib/sub/index.js', 'shared.js'], run: 'lazy', same: true})
  } finally {
    fs.rmSync(dir, {recursive: true, force: true})
  }
})

test('bundledModules without a module: neither it nor what only it reaches; writeBundle leaves it to node', () => {
  const dir = makeGraph()
  try {
    const entry = path.join(dir, 'lib', 'entry.js')
    const files = bundledModules(entry, [path.join(dir, 'lib', 'a.js')]).map(f => path.relative(dir, f))
    assert.deepEqual(files, ['lib/entry.js', 'shared.js', 'lib/lazy.js'])
    const {file, modules} = writeBundle(entry, [path.join(dir, 'lib', 'a.js')])
    assert.equal(modules, 3)
    const out = execFileSync(process.execPath, ['-e', `console.log(JSON.stringify(require(${JSON.stringify(file)}).run().a))`], {encoding: 'utf8'})
    assert.equal(JSON.parse(out), 'a+sub', 'a.js and sub/index.js came from their files')
  } finally {
    fs.rmSync(dir, {recursive: true, force: true})
  }
})

test('a bundle behaves as its entry: exports, __dirname, strict mode, one instance of a module shared with node loader', () => {
  const dir = makeGraph()
  try {
    const entry = path.join(dir, 'lib', 'entry.js')
    const {file, modules} = writeBundle(entry)
    assert.equal(file, path.join(dir, 'lib', 'entry.bundle.js'))
    assert.equal(modules, 5)
    // A fresh node: the bundle alone, then the import()ed module through node's own loader.
    const script = `
      const b = require(${JSON.stringify(file)})
      b.cold().then(cold => {
        const e = cold.make()
        console.log(JSON.stringify({
          run: b.run(),
          sameClass: e instanceof b.shared.SharedError,
          cached: Object.keys(require.cache).filter(k => k.startsWith(${JSON.stringify(dir)})).map(k => k.slice(${dir.length + 1})).sort(),
        }))
      })`
    const out = JSON.parse(execFileSync(process.execPath, ['-e', script], {encoding: 'utf8'}))
    assert.deepEqual(out.run, {a: 'a+sub', lazy: 'lazy', dir: path.join(dir, 'lib'), file: entry, strict: true})
    // Each \`import * as path\` of the bundle: one namespace, node:path's as tsc's helper makes it.
    const stars = `
      require(${JSON.stringify(file)})
      const a = require(${JSON.stringify(path.join(dir, 'lib', 'a.js'))}).path, shared = require(${JSON.stringify(path.join(dir, 'shared.js'))}).path
      console.log(JSON.stringify([a === shared, a.join('x', 'y'), a.default === require('node:path'), Object.keys(a).length > 10]))`
    assert.deepEqual(JSON.parse(execFileSync(process.execPath, ['-e', stars], {encoding: 'utf8'})), [true, 'x/y', true, true])
    assert.equal(out.sameClass, true, 'cold.js got the bundled shared.js, not a second copy')
    assert.deepEqual(out.cached, ['lib/a.js', 'lib/cold.js', 'lib/entry.bundle.js', 'lib/entry.js', 'lib/lazy.js', 'lib/sub/index.js', 'shared.js'])
  } finally {
    fs.rmSync(dir, {recursive: true, force: true})
  }
})

test('freshBundle: none, fresh, then stale once the entry is rewritten (as tsc rewrites every output)', () => {
  const dir = makeGraph()
  try {
    const entry = path.join(dir, 'lib', 'entry.js')
    assert.equal(freshBundle(entry), undefined)
    writeBundle(entry)
    assert.equal(freshBundle(entry), bundleFile(entry))
    const later = new Date(Date.now() + 5000)
    fs.utimesSync(entry, later, later)
    assert.equal(freshBundle(entry), undefined)
  } finally {
    fs.rmSync(dir, {recursive: true, force: true})
  }
})

/** Whether V8 in a fresh node takes `entry`'s code cache for its bundle (the cache's own first line is pivot's). */
function cacheAccepted(entry: string): boolean {
  const script = `
    const fs = require('node:fs'), vm = require('node:vm'), Module = require('node:module')
    const data = fs.readFileSync(${JSON.stringify(codeCacheFile(entry))})
    const source = Module.wrap(fs.readFileSync(${JSON.stringify(bundleFile(entry))}, 'utf8'))
    const s = new vm.Script(source, {filename: ${JSON.stringify(bundleFile(entry))}, cachedData: data.subarray(data.indexOf(10) + 1)})
    console.log(JSON.stringify(!s.cachedDataRejected))`
  return JSON.parse(execFileSync(process.execPath, ['-e', script], {encoding: 'utf8'})) as boolean
}

test('writeCodeCache: V8 takes it; useBundle runs the bundle from it as from the file, and leaves it once the bundle is rewritten', async () => {
  const dir = makeGraph()
  try {
    const entry = path.join(dir, 'lib', 'entry.js')
    writeBundle(entry)
    const {file} = await writeCodeCache(entry)
    assert.equal(file, path.join(dir, 'lib', 'entry.bundle.cache'))
    assert.equal(cacheAccepted(entry), true)
    const moduleBundle = path.join(REPO, 'dist', 'src', 'common', 'module-bundle.js')
    const script = `
      const used = require(${JSON.stringify(moduleBundle)}).useBundle(${JSON.stringify(entry)})
      const b = require(${JSON.stringify(entry)})
      console.log(JSON.stringify({used, run: b.run(), bundled: require.cache[${JSON.stringify(bundleFile(entry))}] !== undefined}))`
    const run = () => JSON.parse(execFileSync(process.execPath, ['-e', script], {encoding: 'utf8'}))
    assert.deepEqual(run(), {used: true, run: {a: 'a+sub', lazy: 'lazy', dir: path.join(dir, 'lib'), file: entry, strict: true}, bundled: true})
    // The danger: V8 checks the source's length only, and this rewrite keeps it. The cache names
    // the bundle it was made from, so the rewritten bundle's own code runs.
    const bundle = bundleFile(entry)
    const text = fs.readFileSync(bundle, 'utf8')
    fs.writeFileSync(bundle, text.replace("exports.value = 'lazy'", "exports.value = 'LAZY'"))
    assert.equal(fs.statSync(bundle).size, Buffer.byteLength(text))
    assert.equal(run().run.lazy, 'LAZY')
  } finally {
    fs.rmSync(dir, {recursive: true, force: true})
  }
})

/**
 * The bundles build.sh's module-bundle step writes, each as its list of modules (relative to
 * dist/), computed from that step's own arguments as module-bundle.js's command line reads them.
 */
function buildBundles(): Map<string, string[]> {
  const script = fs.readFileSync(path.join(REPO, 'src', 'runtime', 'monitor', 'build.sh'), 'utf8').replace(/\\\n/g, ' ')
  const lines = script.split('\n').filter(l => l.startsWith('node $L/common/module-bundle.js '))
  assert.ok(lines.length > 0, 'build.sh has its module-bundle steps')
  const args = lines.flatMap(l => l.replace(/>.*$/, '').trim().split(/\s+/).slice(2)).filter(a => a !== '--code-cache')
  const dist = path.join(REPO, 'dist')
  const real = (f: string) => path.join(dist, f.replace('$L/', 'src/'))
  const rel = (files: string[]) => files.map(f => path.relative(dist, f))
  const bundles = new Map<string, string[]>()
  for (const arg of args) {
    const early = arg.startsWith('early:')
    const [entry, ...rest] = (early ? arg.slice('early:'.length) : arg).split(',').map(real)
    const modules = early ? earlyModules(entry, rest) : bundledModules(entry, rest)
    bundles.set(path.relative(dist, bundleFile(entry, early)), rel(modules))
  }
  return bundles
}

test("pivot run's bundle has the run path and leaves the puller (an import()) to node's loader", () => {
  const files = bundledModules(path.join(REPO, 'dist', 'src', 'cli', 'run.js')).map(f => path.relative(path.join(REPO, 'dist'), f))
  assert.ok(files.includes('src/runtime/run-container.js'))
  assert.ok(files.includes('src/runtime/start-init.js'))
  assert.ok(!files.includes('src/images/pull-image.js'))
  // The bundles as the build (src/runtime/monitor/build.sh) makes them, from its own arguments
  // (`npm run test:unit` runs tsc alone: no bundle is built). exec's: the hot path, not the rare
  // lazy ones (-u's user lookup, a pre-config.json container's seccomp compile).
  const built = buildBundles()
  const execModules = built.get('src/cli/exec.bundle.js')!
  assert.ok(execModules.includes('src/runtime/lifecycle/exec.js') && execModules.includes('src/store/container-record.js'))
  assert.ok(!execModules.includes('src/runtime/user.js') && !execModules.includes('src/runtime/security/security-options.js'))
  // run's early bundle: what the spawn of the init needs, nothing more (bin/pivot loads it first).
  const early = built.get('src/cli/run.early.bundle.js')!
  assert.ok(early.includes('src/runtime/start-init.js') && early.includes('src/sys/namespace-calls.js'))
  assert.ok(!early.includes('src/sys/koffi-syscalls.js') && !early.includes('src/store/store.js'))
  // The plan is made at "go", after the spawn, by the full bundle.
  assert.ok(!early.includes('src/runtime/rootfs/plan.js') && built.get('src/cli/run.bundle.js')!.includes('src/runtime/rootfs/plan.js'))
})
