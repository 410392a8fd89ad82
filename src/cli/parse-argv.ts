import {CACHE_DIR_FLAG, type LeanCommand, type LeanFlag} from './command-table'

export interface LeanArgs {
  /** Values by long name: true for a boolean given, the string for a string flag, the strings in
   * order for a multiple one; absent when not given. */
  flags: Record<string, string | string[] | true>
  /** The required arguments, by name. */
  args: Record<string, string>
  /** --json was given. */
  json: boolean
}

/**
 * Parses a hot command's argv the way oclif would, but only when it is plain: known flags, each
 * at most once (`--name`, `-abc` for booleans; `--name VALUE` or `--name=VALUE` for strings), and
 * exactly the required arguments. Anything else (`--help`, `--`, an unknown or repeated flag, a
 * missing value, one argument too many...) returns undefined and the caller hands the whole argv
 * to oclif, so every error message and exit status stays oclif's own.
 */
export function parseLeanArgv(argv: readonly string[], spec: LeanCommand): LeanArgs | undefined {
  const flags = [...spec.flags, CACHE_DIR_FLAG, ...(spec.json ? [{name: 'json', kind: 'boolean' as const}] : [])]
  const byLong = new Map<string, LeanFlag>(flags.map(f => [f.name, f]))
  const byChar = new Map<string, LeanFlag>(flags.filter(f => f.char).map(f => [f.char!, f]))
  const out: LeanArgs = {flags: {}, args: {}, json: false}
  const positional: string[] = []
  const set = (flag: LeanFlag, value: string | true): boolean => {
    if (flag.kind === 'multiple') {
      out.flags[flag.name] = [...((out.flags[flag.name] as string[] | undefined) ?? []), value as string]
      return true
    }
    if (flag.name in out.flags) return false
    out.flags[flag.name] = value
    return true
  }
  // oclif reads every argument after a multiple flag's value as one more value of it, until the
  // next value flag: `--build-arg A=1 -q recipe.yaml` gives recipe.yaml to --build-arg.
  let greedy = false
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=')
      const flag = byLong.get(eq === -1 ? arg.slice(2) : arg.slice(2, eq))
      if (!flag) return undefined
      if (flag.kind === 'boolean') {
        if (eq !== -1 || !set(flag, true)) return undefined
        continue
      }
      // A value that looks like a flag is one to oclif ("expects a value").
      const value = eq === -1 ? argv[++i] : arg.slice(eq + 1)
      if (value === undefined || value === '' || value.startsWith('-') || !set(flag, value)) return undefined
      greedy = flag.kind === 'multiple'
      continue
    }
    if (arg.startsWith('-')) {
      if (arg.length < 2) return undefined
      const first = byChar.get(arg[1])
      if (first && first.kind !== 'boolean') {
        // `-t NAME` only; `-tNAME`, `-t=NAME` and groups ending in a value flag go to oclif.
        const value = argv[++i]
        if (arg.length !== 2 || value === undefined || value === '' || value.startsWith('-') || !set(first, value)) return undefined
        greedy = first.kind === 'multiple'
        continue
      }
      for (const c of arg.slice(1)) {
        const flag = byChar.get(c)
        if (!flag || flag.kind !== 'boolean' || !set(flag, true)) return undefined
      }
      continue
    }
    if (greedy) return undefined
    positional.push(arg)
  }
  if (positional.length !== spec.args.length) return undefined
  spec.args.forEach((name, i) => (out.args[name] = positional[i]))
  out.json = out.flags.json === true
  return out
}
