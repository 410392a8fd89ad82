/** A build argument's name (and an env name): letters, digits and _, not starting with a digit. */
export const ARG_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

/**
 * Replaces `${NAME}` with `lookup(NAME)` and `$$` with `$`. Any other `$` stays as it is, so a
 * shell step can still say `$HOME` or `$(date)`; `$${HOME}` reaches the shell as `${HOME}`.
 * `lookup` throws for an unknown name; `fail` for a malformed `${...}`.
 */
export function substituteArgs(value: string, lookup: (name: string) => string, fail: (message: string) => never): string {
  if (!value.includes('$')) return value
  let out = ''
  let i = 0
  while (i < value.length) {
    const dollar = value.indexOf('$', i)
    if (dollar < 0) {
      out += value.slice(i)
      break
    }
    out += value.slice(i, dollar)
    const next = value[dollar + 1]
    if (next === '$') {
      out += '$'
      i = dollar + 2
    } else if (next === '{') {
      const end = value.indexOf('}', dollar + 2)
      if (end < 0) fail(`unterminated "\${" (write "$$" for a literal "$")`)
      const name = value.slice(dollar + 2, end)
      if (!ARG_NAME.test(name)) fail(`bad substitution "\${${name}}": expected \${NAME} (write "$$" for a literal "$")`)
      out += lookup(name)
      i = end + 1
    } else {
      out += '$'
      i = dollar + 1
    }
  }
  return out
}
