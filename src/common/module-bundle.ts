import * as fs from 'node:fs'
import * as path from 'node:path'

/**
 * One file for the module graph of a compiled entry point (dist/src/cli/run.js, the container's
 * init, dist/src/cli/exec.js, dist/src/cli/dispatch.js for `pivot build`): `pivot run` starts two node processes, and each of them loaded ~20-60 small modules one
 * by one (a resolution, a read and a compile each: ~0.3 ms a module on a quiet machine, more under
 * load), which was a large part of both critical paths (src/runtime/README.md, "Facts found here").
 *
 * The bundle is `ENTRY.bundle.js` beside the entry: the code of each module of the graph, taken
 * from it instead of from each file (see LOADER). Each module keeps its file name, directory,
 * resolution and its one entry in require.cache, whether it came from the bundle or not
 * (`instanceof PivotError` holds across both).
 *
 * What is bundled: every module reached from the entry by a relative `require` with a literal
 * path (tsc's imports and the code's lazy requires). What is not: packages (koffi, oclif), and
 * modules reached only through `import()` (tsc: `Promise.resolve().then(() => require(...))`):
 * by convention the heavy, rarely used paths (a pull), which would cost every run their parse,
 * and the modules the build names as left out (`without`: lazy requires of rare paths).
 *
 * Built after tsc by the build (src/runtime/monitor/build.sh, with `npm run build` and
 * test/run-all.sh). tsc rewrites every output it emits, so a bundle older than its entry is stale
 * (a `tsc -p .` since): it is not used, and the plain entry runs. A bundle is never required: no
 * bundle, the plain entry, same behaviour.
 */

/** Where the bundle of `entry` (a compiled .js file) lives; `early`: its early bundle (earlyModules). */
export function bundleFile(entry: string, early = false): string {
  return entry.replace(/\.js$/, '') + (early ? '.early' : '') + '.bundle.js'
}

/** The bundle of `entry` when there is one at least as new as the entry itself; else undefined. */
export function freshBundle(entry: string, early = false): string | undefined {
  return freshBundleStat(entry, early)?.file
}

function freshBundleStat(entry: string, early: boolean): {file: string; stat: fs.Stats} | undefined {
  const file = bundleFile(entry, early)
  const stat = fs.statSync(file, {throwIfNoEntry: false})
  if (stat === undefined) return undefined
  const source = fs.statSync(entry, {throwIfNoEntry: false})
  return source !== undefined && stat.mtimeMs >= source.mtimeMs ? {file, stat} : undefined
}

/**
 * From here on, this process takes the modules of `entry`'s bundle from it, when the bundle is
 * fresh; else nothing changes. Returns whether it does. With the bundle's code cache (the build's,
 * see writeCodeCache), V8 takes the compiled code from it instead of parsing the bundle.
 */
export function useBundle(entry: string, early = false): boolean {
  const bundle = freshBundleStat(entry, early)
  if (bundle === undefined) return false
  const cachedData = readCodeCache(codeCacheFile(entry, early), bundle.stat)
  if (cachedData === undefined) require(bundle.file)
  else runBundle(bundle.file, cachedData)
  return true
}

/** Where the V8 code cache of `entry`'s bundle (or early bundle) is, when the build made one. */
export function codeCacheFile(entry: string, early = false): string {
  return bundleFile(entry, early).replace(/\.js$/, '') + '.cache'
}

/**
 * The cache's first line names the bundle it was made from (its size and mtime): V8 checks only
 * its own version, its flags and the source's length, and would take the code of a rebuilt bundle
 * of the same length from a stale cache. The build writes the cache right after the bundle; a
 * bundle written since (a build without the cache step) has another mtime, and the cache is left.
 */
function codeCacheHeader(bundle: fs.Stats): string {
  return `pivot-code-cache ${bundle.size} ${bundle.mtimeMs}\n`
}

function readCodeCache(file: string, bundle: fs.Stats): Buffer | undefined {
  let data: Buffer
  try {
    data = fs.readFileSync(file)
  } catch {
    return undefined
  }
  const header = codeCacheHeader(bundle)
  return data.subarray(0, header.length).toString('latin1') === header ? data.subarray(header.length) : undefined
}

type ModuleInternals = typeof import('node:module') & {
  new (id: string, parent?: NodeModule): NodeModule
  wrap(source: string): string
  _cache: Record<string, NodeModule>
  _nodeModulePaths(dir: string): string[]
}

/**
 * The bundle run as node's loader would require it (its own module object and require.cache
 * entry), compiled by vm.Script with `cachedData`: V8 ignores data it cannot use (another node,
 * other flags) and compiles the source as usual. Returns the script, for the build's cache.
 */
function runBundle(file: string, cachedData?: Buffer): import('node:vm').Script {
  const Module = require('node:module') as ModuleInternals
  const {Script} = require('node:vm') as typeof import('node:vm')
  const script = new Script(Module.wrap(fs.readFileSync(file, 'utf8')), {filename: file, cachedData})
  const bundle = new Module(file, module)
  bundle.filename = file
  bundle.paths = Module._nodeModulePaths(path.dirname(file))
  Module._cache[file] = bundle
  const wrapper = script.runInThisContext() as (...args: unknown[]) => void
  wrapper.call(bundle.exports, bundle.exports, (id: string) => bundle.require(id), bundle, file, path.dirname(file))
  bundle.loaded = true
  return script
}

/**
 * The module graph's files, entry first: relative literal requires, not those of an import().
 * `without`: modules left to node's loader, with what only they reach (the rare lazy paths of a
 * hot entry: a bundle's parse is paid in full by every process that loads it).
 */
export function bundledModules(entry: string, without: readonly string[] = []): string[] {
  return walk([entry], without, false)
}

/**
 * The modules of `entry`'s early bundle: what it needs before its first lazy step. The static
 * imports of `entry` and of `roots` (the modules it requires lazily on that early path), and
 * theirs, but no lazy require: tsc writes an import `require("...")` (double quotes), the source's
 * own lazy requires keep their single quotes (prettier's style). `pivot run` loads its early
 * bundle first, so that all it needs to spawn the init comes from one file and its code cache.
 */
export function earlyModules(entry: string, roots: readonly string[]): string[] {
  return walk([entry, ...roots], [], true)
}

function walk(starts: readonly string[], without: readonly string[], importsOnly: boolean): string[] {
  const found: string[] = []
  const seen = new Set<string>(without.map(f => path.resolve(f)))
  const visit = (file: string) => {
    if (seen.has(file)) return
    seen.add(file)
    found.push(file)
    for (const {target, lazy} of relativeRequires(file)) if (target.endsWith('.js') && !(importsOnly && lazy)) visit(target)
  }
  for (const start of starts) visit(path.resolve(start))
  return found
}

/** Each relative literal require of `file` (not an import()'s), with the file it resolves to. */
function relativeRequires(file: string): Array<{request: string; target: string; lazy: boolean}> {
  const found: Array<{request: string; target: string; lazy: boolean}> = []
  const source = fs.readFileSync(file, 'utf8')
  // `.then(() => __importStar(require(` is how tsc compiles import(); any other require( is an
  // import or a lazy require.
  for (const m of source.matchAll(/(\.then\(\(\) => __importStar\()?\brequire\((["'])(\.\.?\/[^"'\n]+)\2\)/g)) {
    if (m[1] !== undefined) continue
    const target = resolveRelative(path.dirname(file), m[3], f => fs.statSync(f, {throwIfNoEntry: false})?.isFile() === true)
    if (target === undefined) throw new Error(`${file}: cannot resolve require('${m[3]}')`)
    found.push({request: m[3], target, lazy: m[2] === "'"})
  }
  return found
}

/** Node's order for a relative request without a package: the file, FILE.js, FILE/index.js. */
function resolveRelative(dir: string, request: string, exists: (file: string) => boolean): string | undefined {
  const base = path.resolve(dir, request)
  return [base, base + '.js', path.join(base, 'index.js')].find(exists)
}

/**
 * The bundle's own code (plain JS, no imports; `sources` maps each module's path relative to the
 * directory BASE (relative to the bundle's: the modules' common one) to its code, wrapped as node
 * wraps a module, and to where its relative requires of bundled modules lead, resolved by the
 * build: a require costs a lookup, not a path.resolve. Those path operations, ~100 in `pivot
 * exec`, made V8 optimise node's normalizeString, ~6 ms of CPU in each exec. A module keeps its file name,
 * directory, module object and its one entry in require.cache, as node's loader would make them.
 * What it saves: the read and compile of each file, and for a relative require of a bundled
 * module, node's resolution (a few stat calls and package.json lookups each).
 *
 * From the moment the bundle is required, node's loader also takes a bundled module's code from
 * it (the `.js` handler), so a process can load its bundle late: modules loaded before stay as
 * they are (require.cache has them), and their later requires come from the bundle. `pivot run`
 * does that, once the init is spawned, so that the bundle's parse is not on the way to the spawn.
 * Such a module's require of a bundled module still goes through node's resolution, whose
 * answer is the build's (`_resolveFilename` below): a lookup instead of ~4 stat calls and
 * package.json reads each, ~1 ms for the ~10 modules `pivot run` requires after its early bundle.
 */
const LOADER = `
const Module = require('node:module')
const path = require('node:path')
const stars = new Map()
function __pivotBundleStar(importStar, id) {
  if (!stars.has(id)) stars.set(id, importStar(require(id)))
  return stars.get(id)
}
const root = path.resolve(__dirname, BASE)
const prefix = root.endsWith('/') ? root : root + '/'
const byFile = new Map(Object.entries(sources).map(([rel, [fn, deps]]) => [prefix + rel, {fn, deps}]))
const pathsByDir = new Map()
function nodeModulePaths(dir) {
  if (!pathsByDir.has(dir)) pathsByDir.set(dir, Module._nodeModulePaths(dir))
  return pathsByDir.get(dir).slice()
}
function requireFor(module) {
  const {deps} = byFile.get(module.filename)
  const require = id => (Object.hasOwn(deps, id) ? load(prefix + deps[id], module) : module.require(id))
  require.resolve = (request, options) => Module._resolveFilename(request, module, false, options)
  require.cache = Module._cache
  require.main = process.mainModule
  return require
}
function run(module, filename) {
  byFile.get(filename).fn.call(module.exports, module.exports, requireFor(module), module, filename, path.dirname(filename))
}
function load(file, parent) {
  const cached = Module._cache[file]
  if (cached) return cached.exports
  const module = new Module(file, parent)
  module.filename = file
  module.paths = nodeModulePaths(path.dirname(file))
  Module._cache[file] = module
  try {
    run(module, file)
  } catch (error) {
    delete Module._cache[file]
    throw error
  }
  module.loaded = true
  return module.exports
}
const plain = Module._extensions['.js']
Module._extensions['.js'] = function (module, filename) {
  if (!byFile.has(filename)) return plain.call(this, module, filename)
  run(module, filename)
}
const resolveFilename = Module._resolveFilename
Module._resolveFilename = function (request, parent, ...rest) {
  const entry = parent && parent.filename !== undefined ? byFile.get(parent.filename) : undefined
  return entry !== undefined && Object.hasOwn(entry.deps, request) ? prefix + entry.deps[request] : resolveFilename.call(this, request, parent, ...rest)
}
module.exports = load(prefix + ENTRY, module)
`

/**
 * Writes the V8 code cache of `entry`'s bundle (written just before), beside it: what `pivot
 * exec` saves with it is the parse of the whole bundle and the compile of each module's top level
 * and of the functions on its path (~3 ms of ~40, src/runtime/README.md). Made here, at build
 * time, by running the bundle and every module of it in this process (their top levels only
 * define things), then the entry's `warmCodeCache` when it has one (what it calls gets compiled),
 * so the cache holds what they compiled. Never written at run time: dist may be read-only or
 * shared by several users.
 */
export async function writeCodeCache(entry: string, without: readonly string[] = [], early?: readonly string[]): Promise<{file: string; bytes: number}> {
  const bundle = bundleFile(path.resolve(entry), early !== undefined)
  const stat = fs.statSync(bundle)
  const script = runBundle(bundle)
  // Through the bundle's loader (runBundle installed it): each module of the bundle, compiled.
  for (const m of early !== undefined ? earlyModules(entry, early) : bundledModules(entry, without)) require(m)
  const warm = (require(path.resolve(entry)) as {warmCodeCache?: () => Promise<void>}).warmCodeCache
  // Only an optimisation: a warm-up that fails (no writable temp dir) leaves the cache what it compiled.
  if (typeof warm === 'function') await warm().catch(() => undefined)
  const data = Buffer.concat([Buffer.from(codeCacheHeader(stat), 'latin1'), script.createCachedData()])
  const file = codeCacheFile(path.resolve(entry), early !== undefined)
  const temp = `${file}.${process.pid}.tmp`
  fs.writeFileSync(temp, data, {mode: 0o644})
  fs.renameSync(temp, file)
  return {file, bytes: data.length}
}

/**
 * Writes the bundle of `entry` (atomically: a run starting meanwhile reads the old one or the new
 * one); with `early`, its early bundle of earlyModules(entry, early) instead.
 */
export function writeBundle(entry: string, without: readonly string[] = [], early?: readonly string[]): {file: string; modules: number; bytes: number} {
  const file = bundleFile(path.resolve(entry), early !== undefined)
  const dir = path.dirname(file)
  const modules = early !== undefined ? earlyModules(entry, early) : bundledModules(entry, without)
  const bundled = new Set(modules)
  let base = path.dirname(modules[0])
  while (!modules.every(m => m.startsWith(base + path.sep))) base = path.dirname(base)
  const parts = ["'use strict'", 'const sources = {']
  for (const m of modules) {
    const deps: Record<string, string> = {}
    for (const {request, target} of relativeRequires(m)) if (bundled.has(target)) deps[request] = path.relative(base, target)
    // tsc's `import * as fs` builds a namespace of getters over all of node:fs (~100) in each
    // module that has one: one per builtin for the whole bundle (made by the first module's own
    // helper, so the same object), ~1.5 ms of `pivot exec`'s CPU and much of its garbage.
    const source = fs.readFileSync(m, 'utf8').replace(/\b__importStar\(require\("(node:[\w/]+)"\)\)/g, '__pivotBundleStar(__importStar, "$1")')
    // The source first in the function body: tsc's "use strict" stays the body's directive.
    const fn = `function (exports, require, module, __filename, __dirname) {${source}\n}`
    parts.push(`${JSON.stringify(path.relative(base, m))}: [${fn}, ${JSON.stringify(deps)}],`)
  }
  parts.push('}', `const BASE = ${JSON.stringify(path.relative(dir, base) || '.')}`, `const ENTRY = ${JSON.stringify(path.relative(base, modules[0]))}`, LOADER)
  const text = parts.join('\n')
  const temp = `${file}.${process.pid}.tmp`
  fs.writeFileSync(temp, text, {mode: 0o644})
  fs.renameSync(temp, file)
  return {file, modules: modules.length, bytes: Buffer.byteLength(text)}
}

// `node dist/src/common/module-bundle.js [--code-cache] ENTRY[,WITHOUT...]... [early:ENTRY,ROOT...]...`:
// the build's step (an entry, then the modules its bundle leaves out, comma-separated; or an
// entry's early bundle and the roots of its early path). --code-cache: each bundle's code cache
// too (writeCodeCache: it loads the bundle's modules into this process, so one such entry per
// process, or only such entries).
if (require.main === module) {
  void (async () => {
    const args = process.argv.slice(2)
    const codeCache = args[0] === '--code-cache'
    for (const arg of codeCache ? args.slice(1) : args) {
      const early = arg.startsWith('early:') ? arg.slice('early:'.length).split(',').slice(1) : undefined
      const [entry, ...without] = (early ? arg.slice('early:'.length) : arg).split(',')
      const {file, modules, bytes} = early ? writeBundle(entry, [], early) : writeBundle(entry, without)
      console.log(`bundled ${modules} modules, ${Math.round(bytes / 1024)} KiB: ${path.relative(process.cwd(), file)}`)
      if (codeCache) {
        const cache = early ? await writeCodeCache(entry, [], early) : await writeCodeCache(entry, without)
        console.log(`code cache, ${Math.round(cache.bytes / 1024)} KiB: ${path.relative(process.cwd(), cache.file)}`)
      }
    }
  })().catch((error: unknown) => {
    console.error(error)
    process.exit(1)
  })
}
