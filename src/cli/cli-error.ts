import {PivotError} from '../errors'

/**
 * The CLI's own errors: what the user typed is not a command line pivot takes. Codes:
 * CLI_ARG_COUNT (a wrong number of arguments, exit 1: arity.ts), CLI_UNKNOWN_COMMAND (a word that
 * names no command or sub-command, exit 1), CLI_UNKNOWN_HELP_TOPIC (`pivot help WORD`, exit 1),
 * CLI_UNKNOWN_FLAG (a flag before any command, exit 125): command-grammar.ts.
 */
export class CliError extends PivotError {}
