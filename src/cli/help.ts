import {Help} from '@oclif/core'
import {GROUPS, resolveCommand, unknownHelpTopicError} from './command-grammar'

/**
 * oclif's help (package.json's oclif.helpClass) with docker's answers where a word names no
 * command: `pivot bogus --help` and `pivot network bogus --help` show the help of what the words
 * do name (the root's, the group's) and exit 0; `pivot help bogus` and `pivot help logs x` are
 * `unknown help topic: ...`, exit 1. oclif says "Command bogus not found." (exit 2) to both.
 */
export default class PivotHelp extends Help {
  async showHelp(argv: string[]): Promise<void> {
    const words = argv.filter(a => !a.startsWith('-'))
    const {path, rest} = resolveCommand(words)
    if (argv.includes('--help')) return super.showHelp(path)
    // `pivot help WORDS`, or oclif's main showing a topic typed alone.
    if (rest.length > 0) {
      // Not thrown: plugin-help's command would print it in oclif's style and exit 2.
      const error = unknownHelpTopicError(rest[0])
      process.stderr.write(`pivot: ${error.message}\n`)
      process.exitCode = error.exitCode
      return
    }
    // `pivot image` alone: docker prints a group's usage on stderr when no sub-command follows
    // (the group commands do so themselves: PivotCommand.showGroupHelp). oclif's main passes the
    // same argv as `pivot help image` (stdout, as docker's), so the typed argv tells them apart.
    const typed = process.argv.slice(2)
    if (typed.length === 1 && typed[0] === words[0] && Object.hasOwn(GROUPS, typed[0])) this.opts.sendToStderr = true
    return super.showHelp(path)
  }
}
