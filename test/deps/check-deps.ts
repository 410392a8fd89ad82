/**
 * The dependency rule of pivot's code, written down here and nowhere else (docs/CONVENTIONS.md
 * points at it), and its check: test/run-all.sh runs this before the tests and fails the run on
 * a violation, printing one line per import that breaks the rule.
 *
 * A module (a folder under src/, or commands/) may import its own files and modules of a LOWER
 * layer, never a module of its own layer or above. So images and runtime, which are one layer,
 * do not import each other: where they need each other, the caller above passes what is needed
 * (e.g. commands/prune.ts hands pruneCache the runtime's pruneContainers), or the shared record
 * lives below both (the container record is the store's).
 *
 * Usage: node dist/test/deps/check-deps.js [ROOT]   (ROOT: the project, default the current dir)
 */
import * as fs from 'node:fs'
import * as path from 'node:path'

/** Bottom first. src/errors.ts counts as part of `common`. */
export const LAYERS: readonly (readonly string[])[] = [
  ['common'],
  ['sys'],
  ['userns'],
  ['store'],
  ['reference', 'daemon', 'registry', 'network'],
  ['unpack'],
  ['images', 'runtime'],
  ['build', 'oci'],
  ['cli'],
  ['commands'],
]

function layerOf(module: string): number {
  return LAYERS.findIndex(layer => layer.includes(module))
}

/** The module a project-relative file belongs to, or undefined for files outside src/ and commands/. */
export function moduleOf(file: string): string | undefined {
  const parts = file.split('/')
  if (parts[0] === 'commands') return 'commands'
  if (parts[0] !== 'src' || parts.length < 2) return undefined
  if (parts.length === 2) return parts[1] === 'errors.ts' ? 'common' : parts[1].replace(/\.ts$/, '')
  return parts[1]
}

function sourceFiles(root: string, dir: string): string[] {
  let entries: fs.Dirent[]
  try {
    entries = fs.readdirSync(path.join(root, dir), {withFileTypes: true})
  } catch {
    return []
  }
  const files: string[] = []
  for (const entry of entries) {
    const rel = `${dir}/${entry.name}`
    if (entry.isDirectory()) files.push(...sourceFiles(root, rel))
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) files.push(rel)
  }
  return files
}

/** Every relative module specifier of a file: static imports and re-exports, import(), require(). */
function relativeImports(text: string): Array<{specifier: string; line: number}> {
  // typescript is a devDependency; the check runs from the test command, never from pivot itself.
  const ts = require('typescript') as typeof import('typescript')
  const lineStarts: number[] = [0]
  for (let i = 0; i < text.length; i++) if (text[i] === '\n') lineStarts.push(i + 1)
  const lineOf = (pos: number) => {
    let line = 0
    while (line + 1 < lineStarts.length && lineStarts[line + 1] <= pos) line++
    return line + 1
  }
  return ts
    .preProcessFile(text, true, true)
    .importedFiles.filter(f => f.fileName.startsWith('./') || f.fileName.startsWith('../'))
    .map(f => ({specifier: f.fileName, line: lineOf(f.pos)}))
}

/** One line per violation (`file:line: ...`), sorted; empty when the code keeps the rule. */
export function checkDependencies(root: string): string[] {
  const problems: string[] = []
  for (const file of [...sourceFiles(root, 'src'), ...sourceFiles(root, 'commands')]) {
    const from = moduleOf(file)
    if (from === undefined) continue
    if (layerOf(from) < 0) {
      problems.push(`${file}:1: module "${from}" is in no layer of the dependency rule (test/deps/check-deps.ts): add it there`)
      continue
    }
    for (const {specifier, line} of relativeImports(fs.readFileSync(path.join(root, file), 'utf8'))) {
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), specifier))
      const to = moduleOf(target.endsWith('.ts') ? target : `${target}.ts`)
      if (to === undefined) {
        problems.push(`${file}:${line}: imports ${specifier}, outside src/ and commands/`)
        continue
      }
      if (to === from) continue
      const [fromLayer, toLayer] = [layerOf(from), layerOf(to)]
      if (toLayer < 0) problems.push(`${file}:${line}: imports ${specifier}: module "${to}" is in no layer of the dependency rule`)
      else if (toLayer >= fromLayer) {
        const why = toLayer === fromLayer ? 'the same layer' : 'a higher layer'
        problems.push(`${file}:${line}: ${from} imports ${to} (${specifier}), which is ${why}; the rule: ${LAYERS.map(l => l.join('/')).join(' -> ')}`)
      }
    }
  }
  return problems.sort()
}

if (require.main === module) {
  const root = path.resolve(process.argv[2] ?? '.')
  const problems = checkDependencies(root)
  for (const problem of problems) process.stderr.write(`check-deps: ${problem}\n`)
  if (problems.length > 0) process.exitCode = 1
}
