import * as fs from 'node:fs'
import * as path from 'node:path'
import type {Recipe} from '../build/recipe'

/**
 * loadRecipe() with its result kept under `<cache root>/recipes/`, keyed by everything the
 * parse reads (the text, the file name and directory, the build arguments) and by the parser's
 * own code: loading the YAML library and parsing take most of an unchanged rebuild's own time
 * (~70% of its CPU here), and an unchanged rebuild parses the same text again and again.
 * Only valid recipes are kept; an unreadable or broken entry is parsed again and rewritten.
 * Each entry is a few kB; `rm -r <cache root>/recipes` loses nothing but the time saved.
 * `keep()` writes the entry: the caller calls it once the cache is open, so that a build failing
 * before (a bad tag, say) still leaves no cache behind.
 */
export function loadRecipeCached(file: string, buildArgs: Record<string, string>, cacheRoot: string): {recipe: Recipe; keep: () => void} {
  const nothing = () => undefined
  const absolute = path.resolve(file)
  let text: string
  try {
    // Bounded as loadRecipe reads it: `pivot build /dev/zero` must fail at once here too.
    text = parser().readBounded(absolute, file)
  } catch {
    return {recipe: parser().loadRecipe(file, buildArgs), keep: nothing} // reports the file as it always has
  }
  const {createHash} = require('node:crypto') as typeof import('node:crypto')
  const dir = path.join(cacheRoot, 'recipes')
  const key = createHash('sha256')
    .update(JSON.stringify([parserFingerprint(), file, path.dirname(absolute), text, Object.entries(buildArgs).sort()]))
    .digest('hex')
  const entry = path.join(dir, `${key}.json`)
  try {
    return {recipe: JSON.parse(fs.readFileSync(entry, 'utf8')) as Recipe, keep: nothing}
  } catch {
    // not kept yet (or unreadable): parse
  }
  const recipe = parser().parseRecipe(text, {file, dir: path.dirname(absolute), buildArgs})
  const keep = () => {
    try {
      fs.mkdirSync(dir, {recursive: true, mode: 0o700})
      const temp = `${entry}.${process.pid}.tmp`
      fs.writeFileSync(temp, JSON.stringify(recipe), {mode: 0o600})
      fs.renameSync(temp, entry)
    } catch {
      // a read-only cache still builds: only the next parse is not saved
    }
  }
  return {recipe, keep}
}

function parser(): typeof import('../build/recipe') {
  return require('../build/recipe') as typeof import('../build/recipe')
}

/**
 * The compiled files of src/build (the parser and whatever it uses there: name, size, mtime, as
 * make judges them) and the YAML library's version: a changed pivot never reads an older parse.
 * (A parser moved out of src/build must be named here.)
 */
function parserFingerprint(): string {
  const buildDir = path.dirname(require.resolve('../build/recipe'))
  const code = fs
    .readdirSync(buildDir)
    .filter(f => f.endsWith('.js'))
    .sort()
    .map(f => {
      const st = fs.statSync(path.join(buildDir, f))
      return `${f} ${st.size} ${st.mtimeMs}`
    })
  let yamlVersion = 'unknown'
  try {
    // dist/src/cli/ is three levels below the project root
    const pkg = path.resolve(__dirname, '..', '..', '..', 'node_modules', 'yaml', 'package.json')
    yamlVersion = (JSON.parse(fs.readFileSync(pkg, 'utf8')) as {version: string}).version
  } catch {
    // installed elsewhere: the code alone keys the entries
  }
  return [...code, yamlVersion].join('\0')
}
