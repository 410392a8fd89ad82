import * as fs from 'node:fs'
import * as path from 'node:path'

/**
 * One file for the module graph of a compiled entry point (dist/src/cli/run.js, the container's
 * init, dist/src/cli/exec.js): `pivot run` starts two node processes, and each of them loaded ~20-60 small modules one
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
  const file = bundleFile(entry, early)
  const bundle = fs.statSync(file, {throwIfNoEntry: false})
  if (bundle === undefined) return undefined
  const source = fs.statSync(entry, {throwIfNoEntry: false})
  return source !== undefined && bundle.mtimeMs >= source.mtimeMs ? file : undefined
}

/**
 * From here on, this process takes the modules of `entry`'s bundle from it, when the bundle is
 * fresh; else nothing changes. Returns whether it does.
 */
export function useBundle(entry: string, early = false): boolean {
  const bundle = freshBundle(entry, early)
  if (bundle !== undefined) loadBundle(bundle)
  return bundle !== undefined
}

/** Where the V8 code cache of `bundle` lives: beside it (`run.bundle.js` -> `run.bundle.cache`). */
export function codeCacheFile(bundle: string): string {
  return bundle.replace(/\.js$/, '') + '.cache'
}

/**
 * Requires `bundle` as node would, compiled with its V8 code cache when there is one made from
 * this very file. Parsing and compiling the ~500 KiB of `pivot run`'s bundle (and, lazily, each
 * function it calls) was ~20 ms of the parent's CPU on every run; from the cache, V8 takes the
 * bytecode of every function the run that made it had compiled. There is no build step for it:
 * only a real run compiles what a run needs, so a process that found no usable cache writes one
 * at its exit (made from all it compiled by then), beside the bundle when it may (the install's
 * own directory: whoever can write there can change the code anyway; anywhere else a cache would
 * be code a less trusted user could plant for root). V8 checks its own version and flags and the
 * source's length only: the file starts with a line naming the bundle it was made from (inode,
 * size, mtime; a rebuild renames a new file into place), so a stale cache is never used.
 */
export function loadBundle(bundle: string): void {
  const vm = require('node:vm') as typeof import('node:vm')
  const Module = require('node:module') as typeof import('node:module') & {_cache: NodeJS.Dict<NodeModule>; _nodeModulePaths(dir: string): string[]}
  const st = fs.statSync(bundle)
  const key = `pivot code cache ${st.ino} ${st.size} ${st.mtimeMs}\n`
  const cacheFile = codeCacheFile(bundle)
  let cachedData: Buffer | undefined
  try {
    const data = fs.readFileSync(cacheFile)
    if (data.subarray(0, key.length).toString('latin1') === key) cachedData = data.subarray(key.length)
  } catch {
    // none yet
  }
  // The wrapper node's loader puts around a module, on the code's first line (line numbers stay).
  const source = `(function (exports, require, module, __filename, __dirname) { ${fs.readFileSync(bundle, 'utf8')}\n})`
  const script = new vm.Script(source, {filename: bundle, ...(cachedData ? {cachedData} : {})})
  const module = new Module(bundle, require.main)
  module.filename = bundle
  module.paths = Module._nodeModulePaths(path.dirname(bundle))
  Module._cache[bundle] = module
  const wrapper = script.runInThisContext() as (...args: unknown[]) => void
  wrapper.call(module.exports, module.exports, Module.createRequire(bundle), module, bundle, path.dirname(bundle))
  module.loaded = true
  if (cachedData === undefined || script.cachedDataRejected === true) process.once('exit', () => writeCodeCache(script, cacheFile, key))
}

/** The cache of all `script` compiled so far, written atomically; silently nothing where it may not. */
function writeCodeCache(script: import('node:vm').Script, file: string, key: string): void {
  const temp = `${file}.${process.pid}.tmp`
  try {
    fs.writeFileSync(temp, Buffer.concat([Buffer.from(key, 'latin1'), script.createCachedData()]), {mode: 0o644, flag: 'wx'})
    fs.renameSync(temp, file)
  } catch {
    fs.rmSync(temp, {force: true})
  }
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
    const source = fs.readFileSync(file, 'utf8')
    // `.then(() => __importStar(require(` is how tsc compiles import(); any other require( is an
    // import or a lazy require.
    for (const m of source.matchAll(/(\.then\(\(\) => __importStar\()?\brequire\((["'])(\.\.?\/[^"'\n]+)\2\)/g)) {
      if (m[1] !== undefined || (importsOnly && m[2] !== '"')) continue
      const target = resolveRelative(path.dirname(file), m[3], f => fs.statSync(f, {throwIfNoEntry: false})?.isFile() === true)
      if (target === undefined) throw new Error(`${file}: cannot resolve require('${m[3]}')`)
      if (target.endsWith('.js')) visit(target)
    }
  }
  for (const start of starts) visit(path.resolve(start))
  return found
}

/** Node's order for a relative request without a package: the file, FILE.js, FILE/index.js. */
function resolveRelative(dir: string, request: string, exists: (file: string) => boolean): string | undefined {
  const base = path.resolve(dir, request)
  return [base, base + '.js', path.join(base, 'index.js')].find(exists)
}

/**
 * The bundle's own code (plain JS, no imports; `sources` maps each module's path relative to the
 * bundle's directory to its code, wrapped as node wraps a module). A module keeps its file name,
 * directory, module object and its one entry in require.cache, as node's loader would make them.
 * What it saves: the read and compile of each file, and for a relative require of a bundled
 * module, node's resolution (a few stat calls and package.json lookups each).
 *
 * From the moment the bundle is required, node's loader also takes a bundled module's code from
 * it (the `.js` handler), so a process can load its bundle late: modules loaded before stay as
 * they are (require.cache has them), and their later requires come from the bundle. `pivot run`
 * does that, once the init is spawned, so that the bundle's parse is not on the way to the spawn.
 */
const LOADER = `
const Module = require('node:module')
const path = require('node:path')
const byFile = new Map(Object.entries(sources).map(([rel, fn]) => [path.join(__dirname, rel), fn]))
function bundled(dir, request) {
  if (!request.startsWith('./') && !request.startsWith('../')) return undefined
  const base = path.resolve(dir, request)
  for (const file of [base, base + '.js', path.join(base, 'index.js')]) if (byFile.has(file)) return file
  return undefined
}
function requireFor(module) {
  const dir = path.dirname(module.filename)
  const require = id => {
    const file = bundled(dir, id)
    return file === undefined ? module.require(id) : load(file, module)
  }
  require.resolve = (request, options) => Module._resolveFilename(request, module, false, options)
  require.cache = Module._cache
  require.main = process.mainModule
  return require
}
function run(module, filename) {
  byFile.get(filename).call(module.exports, module.exports, requireFor(module), module, filename, path.dirname(filename))
}
function load(file, parent) {
  const cached = Module._cache[file]
  if (cached) return cached.exports
  const module = new Module(file, parent)
  module.filename = file
  module.paths = Module._nodeModulePaths(path.dirname(file))
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
module.exports = load(path.join(__dirname, ENTRY), module)
`

/**
 * Writes the bundle of `entry` (atomically: a run starting meanwhile reads the old one or the new
 * one); with `early`, its early bundle of earlyModules(entry, early) instead.
 */
export function writeBundle(entry: string, without: readonly string[] = [], early?: readonly string[]): {file: string; modules: number; bytes: number} {
  const file = bundleFile(path.resolve(entry), early !== undefined)
  const dir = path.dirname(file)
  const modules = early !== undefined ? earlyModules(entry, early) : bundledModules(entry, without)
  const parts = ["'use strict'", 'const sources = {']
  for (const m of modules) {
    // The source first in the function body: tsc's "use strict" stays the body's directive.
    parts.push(`${JSON.stringify(path.relative(dir, m))}: function (exports, require, module, __filename, __dirname) {${fs.readFileSync(m, 'utf8')}\n},`)
  }
  parts.push('}', `const ENTRY = ${JSON.stringify(path.relative(dir, modules[0]))}`, LOADER)
  const text = parts.join('\n')
  const temp = `${file}.${process.pid}.tmp`
  fs.writeFileSync(temp, text, {mode: 0o644})
  fs.renameSync(temp, file)
  return {file, modules: modules.length, bytes: Buffer.byteLength(text)}
}

// `node dist/src/common/module-bundle.js ENTRY[,WITHOUT...]... [early:ENTRY,ROOT...]...`: the
// build's step (an entry, then the modules its bundle leaves out, comma-separated; or an entry's
// early bundle and the roots of its early path).
if (require.main === module) {
  for (const arg of process.argv.slice(2)) {
    const early = arg.startsWith('early:')
    const [entry, ...rest] = (early ? arg.slice('early:'.length) : arg).split(',')
    const {file, modules, bytes} = early ? writeBundle(entry, [], rest) : writeBundle(entry, rest)
    console.log(`bundled ${modules} modules, ${Math.round(bytes / 1024)} KiB: ${path.relative(process.cwd(), file)}`)
  }
}
