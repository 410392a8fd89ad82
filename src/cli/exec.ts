import * as path from 'node:path'
import {isPivotError} from '../errors'
import {parseRunArgs, type RunFlagSpec} from '../runtime/run-flags'
import {argCountError} from './arity'
import type {ExecOptions} from '../runtime/lifecycle/exec'

/** exec's flags for parseRunArgs (docker's argv rules: flags until CONTAINER). commands/exec.ts declares the same for its help. */
export const EXEC_FLAGS: readonly RunFlagSpec[] = [
  {name: 'interactive', char: 'i', kind: 'boolean', description: ''},
  {name: 'tty', char: 't', kind: 'boolean', description: ''},
  {name: 'detach', char: 'd', kind: 'boolean', description: ''},
  {name: 'user', char: 'u', kind: 'string', description: ''},
  {name: 'privileged', kind: 'boolean', description: ''},
  {name: 'env', char: 'e', kind: 'multiple', description: ''},
  {name: 'workdir', char: 'w', kind: 'string', description: ''},
  {name: 'cache-dir', kind: 'string', description: ''},
]

/**
 * exec's argv by docker's rule (flags until CONTAINER, everything after it is the command),
 * checked, as execInContainer takes it. Both ways in use it: bin/pivot's fast path and the oclif
 * command (commands/exec.ts, for `pivot container exec`).
 */
export function parseExecArgs(argv: string[]): {help: true} | {help: false; container: string; cacheDir?: string; options: ExecOptions} {
  const parsed = parseRunArgs(argv, EXEC_FLAGS, 'exec')
  if (parsed.help) return {help: true}
  if (parsed.image === undefined || parsed.command.length === 0) throw argCountError('exec')
  const f = parsed.flags
  return {
    help: false,
    container: parsed.image,
    cacheDir: typeof f['cache-dir'] === 'string' ? f['cache-dir'] : undefined,
    options: {
      command: parsed.command,
      env: Array.isArray(f.env) ? f.env : [],
      workdir: typeof f.workdir === 'string' ? f.workdir : undefined,
      interactive: f.interactive === true,
      tty: f.tty === true,
      detach: f.detach === true,
      user: typeof f.user === 'string' ? f.user : undefined,
      privileged: f.privileged === true,
    },
  }
}

/**
 * `pivot exec` without oclif (bin/pivot's fast path, as for run): loading oclif costs more than
 * the whole exec. `--help` goes to oclif. Exits the process with the command's status.
 */
export async function main(argv: string[]): Promise<void> {
  let code: number
  try {
    const parsed = parseExecArgs(argv)
    if (parsed.help) {
      const {execute} = require('@oclif/core') as typeof import('@oclif/core')
      await execute({dir: path.resolve(__dirname, '..', '..', '..', 'bin', 'pivot'), args: ['exec', '--help']})
      return
    }
    code = await execParsed(parsed)
  } catch (error) {
    const e = (require('../store/store-error') as typeof import('../store/store-error')).describeFsError(error) ?? error
    if (!isPivotError(e)) throw error
    process.stderr.write(`pivot: ${e.message}\n`)
    code = e.exitCode
  }
  process.exit(code)
}

/** The exec of parseExecArgs' result: the store, then execInContainer. */
async function execParsed(parsed: {container: string; cacheDir?: string; options: ExecOptions}): Promise<number> {
  const {Store} = require('../store/store') as typeof import('../store/store')
  const {resolveCacheRoot} = require('../store/cache-root') as typeof import('../store/cache-root')
  const {execInContainer} = require('../runtime/lifecycle/exec') as typeof import('../runtime/lifecycle/exec')
  return await execInContainer(Store.open(resolveCacheRoot(parsed.cacheDir)), parsed.container, parsed.options)
}

/**
 * The build's warm-up of exec's code cache (src/common/module-bundle.ts, writeCodeCache): exec's
 * path run on an empty temporary cache, up to its "No such container", so that V8 compiles the
 * functions on it (the argv parser, the cache's checks, execInContainer...) at build time and
 * the cache holds them: each exec would compile them again (~1 ms).
 */
export async function warmCodeCache(): Promise<void> {
  const fs = require('node:fs') as typeof import('node:fs')
  const dir = fs.mkdtempSync(path.join(require('node:os').tmpdir() as string, 'pivot-warm-'))
  try {
    const parsed = parseExecArgs(['--cache-dir', path.join(dir, 'cache'), '-e', 'A=1', 'pivot-warm-up', 'true'])
    if (!parsed.help) await execParsed(parsed).catch(() => undefined)
  } finally {
    fs.rmSync(dir, {recursive: true, force: true})
  }
}
