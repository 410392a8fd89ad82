/**
 * bin/pivot's lean path for the commands people type most (`images`, `ps`, `pull`, `push`, `build`,
 * `--version`, the root `--help`) and for a first word that is no command: loading oclif costs ~100 ms here, four times a node start,
 * more than any of these commands' own work when nothing changed. dispatch() answers
 * synchronously whether it takes argv; when it does not (any other command, `--help` of a
 * command, an argv that is not plain: see parse-argv.ts), bin/pivot runs oclif as before, so
 * every error message, exit status and help text not produced here is oclif's own. What is
 * produced here is checked against oclif's output by test/integration/cli/cli-lean.test.ts.
 */
import {format} from 'node:util'
import {isPivotError} from '../errors'
import {describeFsError} from '../store/store-error'
import {isCommandWord, noCommandError} from './command-grammar'
import {LEAN_COMMANDS} from './command-table'
import {parseLeanArgv, type LeanArgs} from './parse-argv'

/** Runs argv without oclif and returns true, or returns false (then nothing has been printed). */
export function dispatch(argv: readonly string[]): boolean {
  // oclif reads these (content type, debug output); leave them to it.
  if (process.env.PIVOT_CONTENT_TYPE !== undefined || process.env.PIVOT_DEBUG !== undefined || process.env.DEBUG !== undefined) return false
  // As oclif does (its command.js): a reader that stops early (`pivot images | head -1`) is no
  // error. Harmless when oclif runs after all: it adds the same listener.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error?.code === 'EPIPE') return
    throw error
  })
  // `-v` too, as docker's (package.json's oclif.additionalVersionFlags).
  if (argv[0] === '--version' || argv[0] === '-v') {
    const {userAgent} = require('./root-help') as typeof import('./root-help')
    const agent = userAgent()
    if (agent === undefined) return false
    process.stdout.write(agent + '\n')
    return true
  }
  if (argv.length === 0 || (argv.length === 1 && (argv[0] === '--help' || argv[0] === 'help'))) {
    const {rootHelp} = require('./root-help') as typeof import('./root-help')
    const help = rootHelp()
    if (help === undefined) return false
    process.stdout.write(help)
    return true
  }
  // A first word that names no command (`pivot bogus`, `pivot --bogus`): docker's error, as oclif's
  // command_not_found hook gives it, without loading oclif. With --help, docker shows the root
  // help: oclif's help class does (help.ts).
  if (!isCommandWord(argv[0]) && !argv.includes('--help')) {
    report(noCommandError(argv), false)
    return true
  }
  const id = argv[0]
  if (!Object.hasOwn(LEAN_COMMANDS, id)) return false
  const parsed = parseLeanArgv(argv.slice(1), LEAN_COMMANDS[id])
  if (!parsed) return false
  runCommand(id, parsed).then(
    result => {
      if (parsed.json && result) printJson(result)
    },
    error => report(error, parsed.json),
  )
  return true
}

async function runCommand(id: string, a: LeanArgs): Promise<unknown> {
  const cacheDir = a.flags['cache-dir'] as string | undefined
  switch (id) {
    case 'images':
      return (require('./images') as typeof import('./images')).images({cacheDir, json: a.json, digests: a.flags.digests === true})
    case 'ps':
      return (require('./ps') as typeof import('./ps')).ps({
        cacheDir,
        json: a.json,
        all: a.flags.all === true,
        quiet: a.flags.quiet === true,
        noTrunc: a.flags['no-trunc'] === true,
        filter: (a.flags.filter as string[] | undefined) ?? [],
      })
    case 'build':
      return (require('./build') as typeof import('./build')).build(a.args.recipe, {
        cacheDir,
        json: a.json,
        tag: a.flags.tag as string | undefined,
        noCache: a.flags['no-cache'] === true,
        buildArg: (a.flags['build-arg'] as string[] | undefined) ?? [],
        context: a.flags.context as string | undefined,
        pull: a.flags.pull === true,
        quiet: a.flags.quiet === true,
      })
    case 'pull':
      return (require('./pull') as typeof import('./pull')).pull(a.args.image, {
        cacheDir,
        json: a.json,
        flat: a.flags.flat === true,
        quiet: a.flags.quiet === true,
        source: a.flags.source as string | undefined,
        platform: a.flags.platform as string | undefined,
        maxConcurrentDownloads: a.flags['max-concurrent-downloads'] as string | undefined,
      })
    case 'push':
      return (require('./push') as typeof import('./push')).push(a.args.image, {
        cacheDir,
        json: a.json,
        quiet: a.flags.quiet === true,
        format: a.flags.format as string | undefined,
      })
    default:
      throw new Error(`no lean command ${id}`)
  }
}

/** oclif's Command.logJson without a theme: two-space JSON and a newline, through util.format as oclif's ux.stdout. */
function printJson(value: unknown): void {
  process.stdout.write(format(JSON.stringify(value, null, 2)) + '\n')
}

/** As PivotCommand.catch: one line (or the JSON error document), the error's exit status. */
function report(error: unknown, json: boolean): void {
  // A file system error nothing above turned into a PivotError (a read-only or damaged cache).
  const err = (describeFsError(error) ?? error) as Error
  const code = isPivotError(err) ? err.code : 'INTERNAL'
  const message = isPivotError(err) ? err.message : `internal error: ${err?.stack ?? err?.message ?? String(error)}`
  if (json) printJson({error: {code, message}})
  else process.stderr.write(`pivot: ${message}\n`)
  process.exitCode = isPivotError(err) ? err.exitCode : 125
}

/**
 * Run by the build when it makes the code cache of `pivot build`'s bundle (src/common/module-bundle.ts,
 * writeCodeCache): a build of a small scratch recipe in a temp cache, then its unchanged rebuild,
 * so that the functions on that path are compiled at build time and kept in the cache instead of
 * being compiled by every rebuild. Its output goes where the build step's goes (nowhere).
 */
export async function warmCodeCache(): Promise<void> {
  const fs = require('node:fs') as typeof import('node:fs')
  const path = require('node:path') as typeof import('node:path')
  const dir = fs.mkdtempSync(path.join(require('node:os').tmpdir() as string, 'pivot-warm-'))
  try {
    fs.writeFileSync(path.join(dir, 'file'), 'warm\n')
    const recipe = path.join(dir, 'recipe.yaml')
    fs.writeFileSync(recipe, 'from: scratch\nsteps:\n  - copy: {src: file, dest: /file}\n  - env: {A: "1"}\n  - workdir: /w\n')
    const flags = {cacheDir: path.join(dir, 'cache'), json: false, tag: 'pivot-warm-up', noCache: false, buildArg: [], pull: false, quiet: false}
    const {build} = require('./build') as typeof import('./build')
    for (let i = 0; i < 2; i++) await build(recipe, flags)
  } finally {
    fs.rmSync(dir, {recursive: true, force: true})
  }
}
