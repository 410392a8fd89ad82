import {constants} from 'node:os'
import {PivotError} from '../errors'

const errnoNames = new Map<number, string>()
for (const [name, value] of Object.entries(constants.errno)) {
  // Several names share a number (EAGAIN/EWOULDBLOCK); keep the first, the one strerror uses.
  if (!errnoNames.has(value)) errnoNames.set(value, name)
}

export function errnoName(errno: number): string {
  return errnoNames.get(errno) ?? `errno ${errno}`
}

/**
 * A libc call that failed. Carries the call, its arguments and the errno name, so a message such
 * as `mount("overlay", "/x", ...) failed: EINVAL` can be shown as it is and tested against.
 */
export class SysError extends PivotError {
  readonly call: string
  readonly args: unknown[]
  readonly errno: number
  readonly errnoName: string

  constructor(call: string, args: unknown[], errno: number) {
    const name = errnoName(errno)
    super('SYS_CALL_FAILED', `${call}(${args.map(formatArg).join(', ')}) failed: ${name}`)
    this.call = call
    this.args = args
    this.errno = errno
    this.errnoName = name
  }
}

/** A string with a NUL byte would be cut short by C: refuse it before it reaches FFI. */
export class SysArgumentError extends PivotError {
  constructor(call: string, what: string) {
    super('SYS_BAD_ARGUMENT', `${call}: ${what} contains a NUL byte`)
  }
}

function formatArg(arg: unknown): string {
  if (typeof arg === 'string') return JSON.stringify(arg)
  if (typeof arg === 'bigint') return `0x${arg.toString(16)}`
  if (typeof arg === 'number') return Number.isInteger(arg) && arg > 255 ? `0x${arg.toString(16)}` : String(arg)
  if (Array.isArray(arg)) return `[${arg.map(formatArg).join(', ')}]`
  return String(arg)
}

export function rejectNul(call: string, what: string, value: string | null | undefined): void {
  if (value != null && value.includes('\0')) throw new SysArgumentError(call, what)
}

/** A shared library pivot needs is not installed (e.g. libseccomp.so.2). The message says which package to install. */
export class SysLibraryError extends PivotError {
  constructor(library: string, why: string, remedy: string) {
    super('SYS_LIBRARY_MISSING', `${library} cannot be loaded (${why}): ${remedy}`)
  }
}

/** The checks before an exec: the path, every argument and every environment entry. */
export function rejectNulExec(call: string, path: string, argv: string[], envp: string[]): void {
  rejectNul(call, 'path', path)
  argv.forEach((a, i) => rejectNul(call, `argv[${i}]`, a))
  envp.forEach((e, i) => rejectNul(call, `envp[${i}]`, e))
}

/** A path kept as raw bytes (names need not be UTF-8) may not hold a NUL either. */
export function rejectNulBytes(call: string, path: Buffer): void {
  if (path.includes(0)) throw new SysArgumentError(call, 'path')
}
