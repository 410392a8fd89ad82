/**
 * The one base class for every error pivot reports to a user. Each module (store, unpack, sys,
 * runtime...) has its own subclass with a stable `code`, so the CLI can print one line and choose
 * an exit status without parsing messages, and `--json` output can carry the code.
 */
export class PivotError extends Error {
  /** Stable, machine-readable code, e.g. `STORE_NOT_FOUND`. */
  readonly code: string
  /** Exit status the CLI uses for this error (125 = pivot itself failed, docker's convention). */
  readonly exitCode: number

  constructor(code: string, message: string, options: {exitCode?: number; cause?: unknown} = {}) {
    super(message, options.cause === undefined ? undefined : {cause: options.cause})
    this.name = new.target.name
    this.code = code
    this.exitCode = options.exitCode ?? 125
  }
}

export function isPivotError(e: unknown): e is PivotError {
  return e instanceof PivotError
}
