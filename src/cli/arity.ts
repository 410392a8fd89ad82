import {CliError} from './cli-error'

/**
 * How many positional arguments each command takes, in docker's terms, and the one error a wrong
 * count gives. docker (cobra) checks the count after the flags: an unknown flag is exit 125, a
 * wrong count exit 1 with `"docker logs" requires exactly 1 argument.`, `See 'docker logs --help'.`
 * and a usage block (docker 20.10, /usr/bin/docker here); pivot prints the first two on one line
 * with its own name (pivot's rule: one line per error), and exits 1.
 * Every way into a command uses this: PivotCommand.init for oclif's commands, bin/pivot's fast
 * paths for run and exec (src/cli/run.ts, exec.ts), and the sub-commands of volume and network.
 */
export interface Arity {
  min: number
  /** Undefined: no upper bound. */
  max?: number
  /** docker's SetInterspersed(false): the first positional argument ends pivot's flags, and
   * everything after it is the command's (run's command, top's ps options). */
  stopsAtFirst?: boolean
}

/** Keyed by the command as typed (`volume create`, `image inspect`); every command in SUMMARIES but help.
 * A group (container, network, volume) takes none: alone, it shows its usage as docker's do. */
export const ARITY: Readonly<Record<string, Arity>> = {
  attach: {min: 1, max: 1},
  build: {min: 1, max: 1},
  check: {min: 0, max: 0},
  commit: {min: 1, max: 2},
  container: {min: 0, stopsAtFirst: true},
  'container prune': {min: 0, max: 0},
  cp: {min: 2, max: 2},
  diff: {min: 1, max: 1},
  exec: {min: 2, stopsAtFirst: true},
  export: {min: 1, max: 1},
  history: {min: 1, max: 1},
  'image inspect': {min: 1},
  images: {min: 0, max: 0},
  import: {min: 2, max: 2},
  inspect: {min: 1},
  kill: {min: 1},
  load: {min: 0, max: 0},
  login: {min: 0, max: 1},
  logout: {min: 0, max: 1},
  logs: {min: 1, max: 1},
  network: {min: 0},
  'network create': {min: 1, max: 1},
  'network ls': {min: 0, max: 0},
  'network inspect': {min: 1},
  'network rm': {min: 1},
  'network prune': {min: 0, max: 0},
  pause: {min: 1},
  port: {min: 1, max: 2},
  prune: {min: 0, max: 0},
  ps: {min: 0, max: 0},
  pull: {min: 1, max: 1},
  push: {min: 1, max: 1},
  rename: {min: 2, max: 2},
  restart: {min: 1},
  rm: {min: 1},
  rmi: {min: 1},
  run: {min: 1, stopsAtFirst: true},
  save: {min: 1},
  start: {min: 1},
  stats: {min: 0},
  stop: {min: 1},
  tag: {min: 2, max: 2},
  top: {min: 1, stopsAtFirst: true},
  unpause: {min: 1},
  version: {min: 0, max: 0},
  volume: {min: 0},
  'volume create': {min: 0, max: 1},
  'volume ls': {min: 0, max: 0},
  'volume inspect': {min: 1},
  'volume rm': {min: 1},
  'volume prune': {min: 0, max: 0},
  wait: {min: 1},
}

/** A wrong number of arguments: exit 1, as docker. Code CLI_ARG_COUNT. */
export class ArgCountError extends CliError {
  constructor(message: string) {
    super('CLI_ARG_COUNT', message, {exitCode: 1})
  }
}

/** docker's words (cli/required.go) for `command`'s rule, e.g. `"pivot logs" requires exactly 1 argument.` */
export function arityWords(command: string, a: Arity): string {
  const n = (k: number) => `${k} argument${k === 1 ? '' : 's'}`
  const name = `"pivot ${command}"`
  if (a.max === 0) return `${name} accepts no arguments.`
  if (a.max === undefined) return `${name} requires at least ${n(a.min)}.`
  if (a.min === a.max) return `${name} requires exactly ${n(a.min)}.`
  if (a.min === 0) return `${name} requires at most ${n(a.max)}.`
  return `${name} requires at least ${a.min} and at most ${n(a.max)}.`
}

/** Throws ArgCountError when `count` positional arguments break `command`'s rule (a command not in ARITY: no rule). */
export function checkArgCount(command: string, count: number, rule: Arity | undefined = ARITY[command]): void {
  if (rule === undefined || (count >= rule.min && (rule.max === undefined || count <= rule.max))) return
  throw argCountError(command, rule)
}

/** The error for a wrong count of `command`'s arguments (by default its rule in ARITY). */
export function argCountError(command: string, rule: Arity = ARITY[command]): ArgCountError {
  return new ArgCountError(`${arityWords(command, rule)} See 'pivot ${command} --help'.`)
}

/** What checkCommandArgs reads of an oclif command class. */
export interface CommandShape {
  flags?: Record<string, FlagShape>
  baseFlags?: Record<string, FlagShape>
  enableJsonFlag?: boolean
}

/**
 * Checks argv's count of positional arguments against `rule`, reading the flags of the oclif
 * command class `command` declares; an argv with a flag it does not know is left to its parser.
 * `name` is the command as typed (`logs`, or `container logs` through the management command).
 */
export function checkCommandArgs(name: string, rule: Arity, command: CommandShape, argv: readonly string[]): void {
  const flags = {...command.baseFlags, ...command.flags, ...(command.enableJsonFlag ? {json: {type: 'boolean'}} : {})}
  const count = countPositionals(argv, flags, rule.stopsAtFirst)
  if (count !== undefined) checkArgCount(name, count, rule)
}

export interface FlagShape {
  /** oclif's flag types: 'boolean' takes no value, 'option' one. */
  type: string
  char?: string
  allowNo?: boolean
}

/**
 * The number of positional arguments in argv, reading flags as oclif does (`--name VALUE`,
 * `--name=VALUE`, `-n VALUE`, `-nVALUE`, `-abc`, `--` ends the flags), or undefined when argv has
 * a flag the command does not know (then the parser's own error, exit 125, is the one to give,
 * as docker reports the unknown flag first).
 */
export function countPositionals(argv: readonly string[], flags: Readonly<Record<string, FlagShape>>, stopsAtFirst = false): number | undefined {
  const byChar = new Map(Object.values(flags).flatMap(f => (f.char ? [[f.char, f] as const] : [])))
  let count = 0
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === '--') return count + argv.length - i - 1
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=')
      const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq)
      const flag = flags[name] ?? (name.startsWith('no-') && flags[name.slice(3)]?.allowNo ? flags[name.slice(3)] : undefined)
      // oclif takes no value for a boolean (`--all=false` is its error).
      if (flag === undefined || (flag.type === 'boolean' && eq !== -1)) return undefined
      if (flag.type !== 'boolean' && eq === -1) i++
      continue
    }
    if (arg.startsWith('-') && arg.length > 1) {
      for (let c = 1; c < arg.length; c++) {
        const flag = byChar.get(arg[c])
        if (flag === undefined) return undefined
        if (flag.type !== 'boolean') {
          // The rest of the group, or the next argument, is its value.
          if (c === arg.length - 1) i++
          break
        }
      }
      continue
    }
    count++
    if (stopsAtFirst) return count + argv.length - i - 1
  }
  return count
}
