/**
 * Which words name a pivot command, and docker's answer when they do not. docker's CLI (28.x,
 * /usr/local/bin/docker here; the 20.10 client prints a group's whole usage and no error) says
 *
 *   docker: unknown command: docker network bogus
 *
 *   Usage:  docker network
 *
 *   Run 'docker network --help' for more information
 *
 * and exits 1 (at the top level without the Usage block); a flag it does not know before any
 * command is exit 125. pivot prints the same lines with its own name. Every way in answers from
 * here: bin/pivot's lean path (dispatch.ts), oclif's command_not_found hook, the group commands
 * (network, volume, container) and the help (help.ts).
 */
import {CliError} from './cli-error'
import {SUMMARIES} from './command-table'

/** `pivot container SUB`: the commands docker also names under `container` (prune is container's own). */
export const CONTAINER_COMMANDS: Readonly<Record<string, string>> = {
  ls: 'ps',
  list: 'ps',
  ps: 'ps',
  run: 'run',
  exec: 'exec',
  attach: 'attach',
  logs: 'logs',
  start: 'start',
  stop: 'stop',
  restart: 'restart',
  kill: 'kill',
  rm: 'rm',
  wait: 'wait',
  inspect: 'inspect',
  top: 'top',
  stats: 'stats',
  pause: 'pause',
  unpause: 'unpause',
  rename: 'rename',
}

interface Group {
  /** docker's usage line for the group in these errors (cobra's Use: docker's volume alone says COMMAND). */
  usage: string
  subcommands: readonly string[]
}

/** The commands that take a sub-command; `image` is an oclif topic, its sub-commands are commands/image/*. */
export const GROUPS: Readonly<Record<string, Group>> = {
  container: {usage: 'container', subcommands: [...Object.keys(CONTAINER_COMMANDS), 'prune']},
  image: {
    usage: 'image',
    subcommands: Object.keys(SUMMARIES)
      .filter(id => id.startsWith('image '))
      .map(id => id.slice('image '.length)),
  },
  network: {usage: 'network', subcommands: ['create', 'ls', 'list', 'inspect', 'rm', 'remove', 'prune']},
  volume: {usage: 'volume COMMAND', subcommands: ['create', 'ls', 'list', 'inspect', 'rm', 'remove', 'prune']},
}

/** A first word pivot knows: a command or a group. */
export function isCommandWord(word: string): boolean {
  return Object.hasOwn(SUMMARIES, word) || Object.hasOwn(GROUPS, word)
}

/**
 * The command `words` name (`['network', 'ls']`, `['logs']`; empty when the first word is none)
 * and the words after it: a group's word that is not one of its sub-commands stays in `rest`.
 */
export function resolveCommand(words: readonly string[]): {path: string[]; rest: string[]} {
  const [first, second] = words
  if (first === undefined || !isCommandWord(first)) return {path: [], rest: [...words]}
  const group = GROUPS[first]
  if (group !== undefined && second !== undefined && group.subcommands.includes(second)) return {path: [first, second], rest: words.slice(2)}
  return {path: [first], rest: words.slice(1)}
}

/** Throws docker's error when `sub` is not one of `group`'s sub-commands. */
export function checkSubcommand(group: string, sub: string): void {
  if (!GROUPS[group].subcommands.includes(sub)) throw unknownCommandError(group, sub)
}

/** How the group's errors end: its usage line (none at the top level) and where its help is. */
function trailer(group: string | undefined): string {
  if (group === undefined) return "\n\nRun 'pivot --help' for more information"
  return `\n\nUsage:  pivot ${GROUPS[group].usage}\n\nRun 'pivot ${group} --help' for more information`
}

/** `pivot GROUP WORD` (or `pivot WORD` without a group) where WORD is no command. */
export function unknownCommandError(group: string | undefined, word: string): CliError {
  const typed = group === undefined ? word : `${group} ${word}`
  return new CliError('CLI_UNKNOWN_COMMAND', `unknown command: pivot ${typed}${trailer(group)}`, {exitCode: 1})
}

/**
 * A flag before any command (`pivot --bogus`), or a group's flag before its sub-command where the
 * group has none (`pivot container -x`). docker's first line has no `docker: ` before it; pivot's
 * errors all begin with its name.
 */
export function unknownFlagError(group: string | undefined, flag: string): CliError {
  const words = flag.startsWith('--') ? `unknown flag: ${flag.split('=')[0]}` : `unknown shorthand flag: '${flag[1]}' in ${flag}`
  const usage = group === undefined ? "\n\nUsage:  pivot [OPTIONS] COMMAND [ARG...]\n\nRun 'pivot --help' for more information" : trailer(group)
  return new CliError('CLI_UNKNOWN_FLAG', `${words}${usage}`, {exitCode: 125})
}

/** `pivot help WORD...` where WORD is not a command or one of its group's. */
export function unknownHelpTopicError(word: string): CliError {
  return new CliError('CLI_UNKNOWN_HELP_TOPIC', `unknown help topic: ${word}`, {exitCode: 1})
}

/**
 * The error for an argv that names no command: its first word is unknown, or a group's first word
 * is not one of the group's sub-commands. A flag before that word is the level's error (125), as
 * docker parses a level's flags before it looks for the next command; a flag after it is not
 * (docker's 125 there): the unknown word is the cause to name, and the flag may be one of the
 * command the user meant (`pivot imagse --digests`). Never with --help (that shows help: help.ts).
 */
export function noCommandError(argv: readonly string[]): CliError {
  const group = Object.hasOwn(GROUPS, argv[0]) ? argv[0] : undefined
  const args = group === undefined ? argv : argv.slice(1)
  const at = args.findIndex(a => !a.startsWith('-') || a === '-')
  const flag = args.slice(0, at === -1 ? args.length : at).find(a => a !== '--')
  if (flag !== undefined) return unknownFlagError(group, flag)
  return unknownCommandError(group, args[at] ?? '')
}
