import * as fs from 'node:fs'
import * as path from 'node:path'
import {BuildError} from './build-error'
import {ARG_NAME, substituteArgs} from './substitute-args'

/** A `run:` step: a shell string (run with `/bin/sh -c`) or an exec-form argv. */
export interface RunStep {
  kind: 'run'
  run: string | string[]
}

/** A `copy:` step: files or directories from the build context into the image. */
export interface CopyStep {
  kind: 'copy'
  /** Paths relative to the build context, as written (never absolute, never climbing out). */
  src: string[]
  /** As written: absolute, or relative to the working directory at that step. */
  dest: string
  /** Permission bits for the copied regular files (e.g. 0o755); undefined = the source's. */
  mode?: number
  /** `user[:group]`, names or numbers; undefined = 0:0. */
  owner?: string
}

export interface EnvStep {
  kind: 'env'
  env: Array<[string, string]>
}

export interface WorkdirStep {
  kind: 'workdir'
  /** As written: absolute, or relative to the working directory before it. */
  workdir: string
}

export type StepDefinition = RunStep | CopyStep | EnvStep | WorkdirStep

export interface RecipeStep {
  /** 1-based, as shown to users (`Step 2/5`). */
  index: number
  /** Where it is in the recipe (`steps[1]`), for error messages. */
  path: string
  /** One line for humans: `run: apt-get update`, `copy: a -> /b (mode 0755)`. */
  text: string
  def: StepDefinition
}

/** A validated recipe with its build arguments substituted. */
export interface Recipe {
  /** The recipe file as the user named it (used in messages). */
  file: string
  /** Absolute directory of the recipe: the default build context. */
  dir: string
  /** `scratch`, or an image name / id. */
  from: string
  /** Declared arguments and their defaults (null = must be given when used). */
  args: Record<string, string | null>
  /** Top-level env: in effect from the first step on, and in the image config. */
  env: Array<[string, string]>
  /** Top-level workdir: in effect from the first step on, and in the image config. */
  workdir?: string
  /** Image config only (steps run as root). */
  user?: string
  /** Image config only; null clears the base image's value. */
  entrypoint?: string[] | null
  cmd?: string[] | null
  labels?: Record<string, string>
  steps: RecipeStep[]
  /** `--build-arg` names that no `${NAME}` used (docker warns about these). */
  unusedArgs: string[]
}

export interface ParseOptions {
  /** The name used in messages (`images/x.yaml`). */
  file: string
  /** Absolute directory of the recipe. */
  dir: string
  /** `--build-arg` values. */
  buildArgs?: Record<string, string>
}

const TOP_KEYS = ['from', 'args', 'env', 'workdir', 'user', 'entrypoint', 'cmd', 'labels', 'steps']
const STEP_KEYS = ['run', 'copy', 'env', 'workdir']
const COPY_KEYS = ['src', 'dest', 'mode', 'owner']
const ENV_NAME = ARG_NAME
const OWNER = /^[A-Za-z0-9_][A-Za-z0-9_.-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]*)?$/
const OCTAL = /^0?[0-7]{3}$|^[0-7]{4}$/

/** Reads, parses, substitutes and validates a recipe file. */
export function loadRecipe(file: string, buildArgs: Record<string, string> = {}, cwd = process.cwd()): Recipe {
  const absolute = path.resolve(cwd, file)
  let text: string
  try {
    text = readBounded(absolute, file)
  } catch (error) {
    if (error instanceof BuildError) throw error
    const code = (error as NodeJS.ErrnoException).code
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory, not a recipe file' : (error as Error).message
    throw new BuildError('BUILD_RECIPE_NOT_FOUND', `${file}: ${why}`)
  }
  return parseRecipe(text, {file, dir: path.dirname(absolute), buildArgs})
}

/** A recipe is read whole (and parsed as YAML): cap it, so `pivot build /dev/zero` fails at once. */
export const MAX_RECIPE_BYTES = 1 << 20

/** The file's text, refused past MAX_RECIPE_BYTES whatever it is (a FIFO or /dev/zero has no size to check first). */
export function readBounded(absolute: string, file: string): string {
  const fd = fs.openSync(absolute, 'r')
  try {
    if (fs.fstatSync(fd).isDirectory()) throw Object.assign(new Error('EISDIR'), {code: 'EISDIR'})
    const buf = Buffer.allocUnsafe(MAX_RECIPE_BYTES + 1)
    let got = 0
    for (;;) {
      const n = fs.readSync(fd, buf, got, buf.length - got, null)
      if (n === 0) break
      got += n
      if (got > MAX_RECIPE_BYTES) {
        throw new BuildError('BUILD_RECIPE_INVALID', `${file}: the recipe is larger than ${MAX_RECIPE_BYTES} bytes (the limit for a recipe file)`)
      }
    }
    return buf.toString('utf8', 0, got)
  } finally {
    fs.closeSync(fd)
  }
}

/** A value quoted in a message, cut short: an 8 MB command must not be printed whole. */
export function shortText(text: string, max = 200): string {
  return text.length > max ? `${text.slice(0, max)}… (${text.length} characters)` : text
}

/** `K=V` flags to a map; a bare `K` takes the value of K in pivot's environment, as docker does. */
export function parseBuildArgs(flags: string[], env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const args: Record<string, string> = {}
  for (const flag of flags) {
    const eq = flag.indexOf('=')
    const name = eq < 0 ? flag : flag.slice(0, eq)
    if (!ARG_NAME.test(name)) {
      throw new BuildError('BUILD_RECIPE_INVALID', `--build-arg ${JSON.stringify(flag)}: expected NAME=VALUE, NAME made of letters, digits and _`)
    }
    const value = eq < 0 ? env[name] : flag.slice(eq + 1)
    if (value === undefined) throw new BuildError('BUILD_RECIPE_INVALID', `--build-arg ${name}: no value given and ${name} is not set in the environment`)
    if (value.includes('\0')) throw new BuildError('BUILD_RECIPE_INVALID', `--build-arg ${name}: the value contains a NUL byte`)
    args[name] = value
  }
  return args
}

/** Parses recipe text: YAML -> `${NAME}` substitution -> validation. Errors name the file and key. */
export function parseRecipe(text: string, options: ParseOptions): Recipe {
  const {file} = options
  const fail = (where: string, message: string): never => {
    throw new BuildError('BUILD_RECIPE_INVALID', `${file}: ${where ? `${where}: ` : ''}${message}`)
  }
  const raw = parseYaml(text, file)
  if (raw === null || raw === undefined) fail('', 'the recipe is empty (it needs at least `from:`)')
  if (!isMapping(raw)) fail('', `expected a mapping of keys (from, steps, ...), found ${describe(raw)}`)
  const doc = raw as Record<string, unknown>
  for (const key of Object.keys(doc)) {
    if (!TOP_KEYS.includes(key)) fail(key, `unknown key (expected one of ${TOP_KEYS.join(', ')})`)
  }

  // Arguments first: everything else is substituted with them.
  const args: Record<string, string | null> = {}
  if (doc.args !== undefined && doc.args !== null) {
    if (!isMapping(doc.args)) fail('args', `expected a mapping of NAME: default, found ${describe(doc.args)}`)
    for (const [name, value] of Object.entries(doc.args as Record<string, unknown>)) {
      if (!ARG_NAME.test(name)) fail(`args.${name}`, 'an argument name is made of letters, digits and _ and does not start with a digit')
      if (value === null) args[name] = null
      else args[name] = scalar(value, `args.${name}`, fail)
    }
  }
  const given = options.buildArgs ?? {}
  const used = new Set<string>()
  const lookup = (name: string, where: string): string => {
    if (Object.prototype.hasOwnProperty.call(given, name)) {
      used.add(name)
      return given[name]
    }
    if (Object.prototype.hasOwnProperty.call(args, name)) {
      const value = args[name]
      if (value === null) fail(where, `build argument \${${name}} has no default: pass --build-arg ${name}=...`)
      return value as string
    }
    return fail(where, `unknown build argument \${${name}} (pass --build-arg ${name}=..., or declare it under args:)`)
  }
  const sub = (value: string, where: string): string => {
    if (value.includes('\0')) fail(where, 'contains a NUL byte')
    return substituteArgs(
      value,
      name => lookup(name, where),
      message => fail(where, message),
    )
  }

  // from
  if (doc.from === undefined || doc.from === null) fail('from', 'required: a base image name, or scratch')
  if (typeof doc.from !== 'string') fail('from', `expected an image name or scratch, found ${describe(doc.from)}`)
  const from = sub(doc.from as string, 'from').trim()
  if (from === '') fail('from', 'expected an image name or scratch, found an empty string')

  const recipe: Recipe = {file, dir: options.dir, from, args, env: [], steps: [], unusedArgs: []}
  if (doc.env !== undefined && doc.env !== null) recipe.env = envMapping(doc.env, 'env', sub, fail)
  if (doc.workdir !== undefined && doc.workdir !== null) {
    const w = stringValue(doc.workdir, 'workdir', sub, fail)
    if (!w.startsWith('/')) fail('workdir', `expected an absolute path, found ${JSON.stringify(w)}`)
    recipe.workdir = path.posix.normalize(w)
  }
  if (doc.user !== undefined && doc.user !== null) {
    const u = stringValue(typeof doc.user === 'number' ? String(doc.user) : doc.user, 'user', sub, fail)
    if (!OWNER.test(u)) fail('user', `expected a user name or uid, optionally :group or :gid, found ${JSON.stringify(u)}`)
    recipe.user = u
  }
  if (doc.entrypoint !== undefined) recipe.entrypoint = commandValue(doc.entrypoint, 'entrypoint', sub, fail)
  if (doc.cmd !== undefined) recipe.cmd = commandValue(doc.cmd, 'cmd', sub, fail)
  if (doc.labels !== undefined && doc.labels !== null) {
    if (!isMapping(doc.labels)) fail('labels', `expected a mapping of label: value, found ${describe(doc.labels)}`)
    recipe.labels = {}
    for (const [key, value] of Object.entries(doc.labels as Record<string, unknown>)) {
      if (key === '') fail('labels', 'a label name cannot be empty')
      recipe.labels[key] = sub(scalar(value, `labels.${key}`, fail), `labels.${key}`)
    }
  }

  if (doc.steps !== undefined && doc.steps !== null) {
    if (!Array.isArray(doc.steps)) fail('steps', `expected a list of steps, found ${describe(doc.steps)}`)
    ;(doc.steps as unknown[]).forEach((item, i) => {
      const where = `steps[${i}]`
      const def = stepValue(item, where, sub, fail)
      recipe.steps.push({index: i + 1, path: where, text: stepText(def), def})
    })
  }
  recipe.unusedArgs = Object.keys(given)
    .filter(name => !used.has(name))
    .sort()
  return recipe
}

type Sub = (value: string, where: string) => string
type Fail = (where: string, message: string) => never

function parseYaml(text: string, file: string): unknown {
  const YAML = require('yaml') as typeof import('yaml')
  const doc = YAML.parseDocument(text, {uniqueKeys: true, prettyErrors: true, strict: true})
  const error = doc.errors[0]
  if (error) {
    const pos = error.linePos?.[0]
    const where = pos ? `${file}:${pos.line}:${pos.col}` : file
    const message = error.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')
    throw new BuildError('BUILD_RECIPE_INVALID', `${where}: invalid YAML: ${message}`)
  }
  try {
    return doc.toJS({maxAliasCount: 100})
  } catch (error) {
    throw new BuildError('BUILD_RECIPE_INVALID', `${file}: invalid YAML: ${(error as Error).message}`)
  }
}

function stepValue(item: unknown, where: string, sub: Sub, fail: Fail): StepDefinition {
  if (!isMapping(item)) {
    fail(where, `expected a step (a mapping with one of ${STEP_KEYS.join(', ')}), found ${describe(item)}`)
  }
  const keys = Object.keys(item as object)
  for (const key of keys) {
    if (!STEP_KEYS.includes(key)) fail(`${where}.${key}`, `unknown step kind (expected one of ${STEP_KEYS.join(', ')})`)
  }
  if (keys.length !== 1) fail(where, `a step has exactly one of ${STEP_KEYS.join(', ')}, found ${keys.length === 0 ? 'none' : keys.join(' and ')}`)
  const kind = keys[0] as StepDefinition['kind']
  const value = (item as Record<string, unknown>)[kind]
  const at = `${where}.${kind}`
  switch (kind) {
    case 'run': {
      if (typeof value === 'string') {
        const run = sub(value, at)
        if (run.trim() === '') fail(at, 'the command is empty')
        return {kind, run}
      }
      if (Array.isArray(value)) {
        if (value.length === 0) fail(at, 'the command is empty')
        return {kind, run: value.map((v, i) => stringValue(v, `${at}[${i}]`, sub, fail))}
      }
      return fail(at, `expected a shell command string or a list of arguments, found ${describe(value)}`)
    }
    case 'copy':
      return copyValue(value, at, sub, fail)
    case 'env': {
      const env = envMapping(value, at, sub, fail)
      if (env.length === 0) fail(at, 'expected at least one NAME: value')
      return {kind, env}
    }
    case 'workdir': {
      const w = stringValue(value, at, sub, fail)
      if (w === '') fail(at, 'expected a path, found an empty string')
      return {kind, workdir: w}
    }
  }
}

function copyValue(value: unknown, at: string, sub: Sub, fail: Fail): CopyStep {
  if (!isMapping(value)) fail(at, `expected a mapping with src and dest (and optional mode, owner), found ${describe(value)}`)
  const copy = value as Record<string, unknown>
  for (const key of Object.keys(copy)) {
    if (!COPY_KEYS.includes(key)) fail(`${at}.${key}`, `unknown key (expected one of ${COPY_KEYS.join(', ')})`)
  }
  if (copy.src === undefined || copy.src === null) fail(`${at}.src`, 'required: a path in the build context, or a list of them')
  const srcList = Array.isArray(copy.src) ? copy.src : [copy.src]
  if (srcList.length === 0) fail(`${at}.src`, 'expected at least one path')
  const src = srcList.map((s, i) => {
    const where = Array.isArray(copy.src) ? `${at}.src[${i}]` : `${at}.src`
    const p = stringValue(s, where, sub, fail)
    if (p === '') fail(where, 'expected a path in the build context, found an empty string')
    if (p.startsWith('/')) fail(where, `${JSON.stringify(p)} is absolute: sources are paths inside the build context`)
    const normal = path.posix.normalize(p)
    if (normal === '..' || normal.startsWith('../')) fail(where, `${JSON.stringify(p)} is outside the build context`)
    return p
  })
  if (copy.dest === undefined || copy.dest === null) fail(`${at}.dest`, 'required: where the files go in the image')
  const dest = stringValue(copy.dest, `${at}.dest`, sub, fail)
  if (dest === '') fail(`${at}.dest`, 'expected a path, found an empty string')
  if (src.length > 1 && !dest.endsWith('/'))
    fail(`${at}.dest`, `with several sources the destination is a directory: write it with a trailing slash (${JSON.stringify(dest + '/')})`)
  const step: CopyStep = {kind: 'copy', src, dest}
  if (copy.mode !== undefined && copy.mode !== null) {
    if (typeof copy.mode !== 'string' || !OCTAL.test(sub(copy.mode, `${at}.mode`))) {
      fail(`${at}.mode`, `expected an octal string like "0755", found ${typeof copy.mode === 'string' ? JSON.stringify(copy.mode) : describe(copy.mode)}`)
    }
    step.mode = parseInt(sub(copy.mode as string, `${at}.mode`), 8)
  }
  if (copy.owner !== undefined && copy.owner !== null) {
    const owner = stringValue(typeof copy.owner === 'number' ? String(copy.owner) : copy.owner, `${at}.owner`, sub, fail)
    if (!OWNER.test(owner)) fail(`${at}.owner`, `expected user[:group] (names or numbers) like "app" or "1000:1000", found ${JSON.stringify(owner)}`)
    step.owner = owner
  }
  return step
}

function envMapping(value: unknown, at: string, sub: Sub, fail: Fail): Array<[string, string]> {
  if (!isMapping(value)) fail(at, `expected a mapping of NAME: value, found ${describe(value)}`)
  return Object.entries(value as Record<string, unknown>).map(([name, v]) => {
    if (!ENV_NAME.test(name)) fail(`${at}.${name}`, 'a variable name is made of letters, digits and _ and does not start with a digit')
    return [name, sub(scalar(v, `${at}.${name}`, fail), `${at}.${name}`)]
  })
}

function commandValue(value: unknown, at: string, sub: Sub, fail: Fail): string[] | null {
  if (value === null) return null
  if (typeof value === 'string') return ['/bin/sh', '-c', sub(value, at)]
  if (Array.isArray(value)) return value.map((v, i) => stringValue(v, `${at}[${i}]`, sub, fail))
  return fail(at, `expected a list of arguments, a shell command string, or null, found ${describe(value)}`)
}

function stringValue(value: unknown, at: string, sub: Sub, fail: Fail): string {
  if (typeof value !== 'string') fail(at, `expected a string, found ${describe(value)}`)
  return sub(value as string, at)
}

/** Strings as they are; numbers and booleans as YAML wrote them (`3`, `true`): env values are text. */
function scalar(value: unknown, at: string, fail: Fail): string {
  if (typeof value === 'string') return value
  if (typeof value === 'number' || typeof value === 'boolean') return String(value)
  return fail(at, `expected a string, found ${describe(value)}`)
}

function isMapping(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date) && !(value instanceof Map) && !(value instanceof Set)
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return 'nothing'
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'object') return 'a mapping'
  if (typeof value === 'string') return `the string ${shortText(JSON.stringify(value))}`
  return `the ${typeof value} ${String(value)}`
}

/** The one-line form of a step for progress lines and errors (a multi-line script shows its first line). */
export function stepText(def: StepDefinition): string {
  return shortText(fullStepText(def))
}

function fullStepText(def: StepDefinition): string {
  switch (def.kind) {
    case 'run':
      if (Array.isArray(def.run)) return `run: ${JSON.stringify(def.run).replace(/","/g, '", "')}`
      {
        const lines = def.run.trim().split('\n')
        return `run: ${lines[0].trim()}${lines.length > 1 ? ' ...' : ''}`
      }
    case 'copy': {
      const extra = [def.mode !== undefined ? `mode ${def.mode.toString(8).padStart(4, '0')}` : '', def.owner !== undefined ? `owner ${def.owner}` : ''].filter(
        Boolean,
      )
      return `copy: ${def.src.join(' ')} -> ${def.dest}${extra.length ? ` (${extra.join(', ')})` : ''}`
    }
    case 'env':
      return `env: ${def.env.map(([k, v]) => `${k}=${v}`).join(' ')}`
    case 'workdir':
      return `workdir: ${def.workdir}`
  }
}
