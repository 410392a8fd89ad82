import {Command, Flags} from '@oclif/core'
import {isPivotError} from '../errors'
import {Store, describeFsError, resolveCacheRoot} from '../store'
import {ARITY, checkCommandArgs, type CommandShape} from './arity'

/**
 * The base of every command but the `run` fast path: the global `--cache-dir` flag, and errors
 * rendered as one line (`pivot: ...`, or `{"error": {code, message}}` with --json) with the
 * error's own exit status instead of oclif's stack-trace style.
 */
export abstract class PivotCommand extends Command {
  static baseFlags = {
    'cache-dir': Flags.string({
      description: 'cache root [default: $PIVOT_CACHE_DIR, else the project cache/ (root) or $XDG_DATA_HOME/pivot]',
      helpGroup: 'GLOBAL',
    }),
  }

  /** The command as typed (`volume`, `image inspect`): oclif's id with its topic separator. */
  protected get commandName(): string {
    return (this.id ?? '').replaceAll(':', ' ')
  }

  /**
   * docker's order: an unknown flag is the parser's error (125, from this.parse in run()); a wrong
   * number of arguments is exit 1 with docker's words (src/cli/arity.ts), checked here once for
   * every command before its run() starts.
   */
  async init(): Promise<void> {
    await super.init()
    const rule = ARITY[this.commandName]
    if (rule === undefined) return
    checkCommandArgs(this.commandName, rule, this.ctor as unknown as CommandShape, this.argv)
  }

  /** A group (`pivot network`) without a sub-command: docker prints the group's usage on stderr and exits 0. */
  protected async showGroupHelp(): Promise<void> {
    const {loadHelpClass} = await import('@oclif/core')
    const Help = await loadHelpClass(this.config)
    await new Help(this.config, {sendToStderr: true}).showHelp([this.id ?? ''])
  }

  protected openStore(cacheDir: string | undefined): Store {
    return Store.open(resolveCacheRoot(cacheDir))
  }

  protected async catch(err: Error & {exitCode?: number; oclif?: {exit?: number}; code?: string}): Promise<unknown> {
    if (!isPivotError(err) && err.oclif && err.code !== 'EEXIT') {
      // A flag or argument error (oclif's parser and lexer): one line, as docker prints "unknown flag",
      // and docker's status for it, instead of oclif's message plus the whole usage text.
      const [first, ...rest] = err.message.split('\n').filter(l => l.trim() && !l.startsWith('See more help'))
      const head = first.trim()
      const detail = rest.length > 0 ? `${head.endsWith(':') ? ' ' : ': '}${rest.map(l => l.trim().replace(/\s+/g, ' ')).join(', ')}` : ''
      process.stderr.write(`pivot: ${head}${detail} (see 'pivot ${this.id} --help')\n`)
      process.exitCode = 125
      return undefined
    }
    // this.exit() keeps oclif's handling.
    if (!isPivotError(err) && err.oclif) return super.catch(err)
    // A file system error nothing above turned into a PivotError (a read-only or damaged cache):
    // one line with its path and cause, not a stack trace.
    err = describeFsError(err) ?? err
    const code = isPivotError(err) ? err.code : 'INTERNAL'
    const message = isPivotError(err) ? err.message : `internal error: ${err.stack ?? err.message}`
    if (this.jsonEnabled()) this.logJson({error: {code, message}})
    else process.stderr.write(`pivot: ${message}\n`)
    process.exitCode = isPivotError(err) ? err.exitCode : 125
    return undefined
  }
}
