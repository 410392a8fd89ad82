import {PivotError} from '../errors'

/**
 * Codes:
 * - UNPACK_CORRUPT         not a tar archive, bad header checksum or number, bad pax record, bad gzip
 * - UNPACK_TRUNCATED       the input ends inside an entry or before the end-of-archive marker
 * - UNPACK_HOSTILE_ENTRY   a name or link target with a NUL, longer than 4096 bytes, empty, a
 *                          whiteout that names nothing, an entry that would replace the root
 * - UNPACK_TOO_DEEP        a path of more than 1024 components
 * - UNPACK_UNSUPPORTED     sparse files, multi-volume archives, unknown entry types, zstd/xz/bzip2
 * - UNPACK_WRITE_FAILED    the file system refused an operation (ENOSPC, EPERM, a missing link target...)
 * - UNPACK_SOURCE_FAILED   the input stream itself failed
 * - UNPACK_ABORTED         the caller's AbortSignal fired
 * - UNPACK_ID_UNMAPPED     (a user other than root) an owner outside the ids of the user's namespace
 * - UNPACK_WORKER_FAILED   the unpack/pack child process died or broke its protocol
 * - UNPACK_PACK_FAILED     packing a directory failed (unreadable file, file changed while read)
 * - UNPACK_TAR_SPLIT       a layer's tar cannot be rebuilt from its tar-split and files (damaged
 *                          tar-split, a file changed or gone, a digest other than the layer's)
 */
export type UnpackErrorCode =
  | 'UNPACK_CORRUPT'
  | 'UNPACK_TRUNCATED'
  | 'UNPACK_HOSTILE_ENTRY'
  | 'UNPACK_TOO_DEEP'
  | 'UNPACK_UNSUPPORTED'
  | 'UNPACK_WRITE_FAILED'
  | 'UNPACK_SOURCE_FAILED'
  | 'UNPACK_ABORTED'
  | 'UNPACK_ID_UNMAPPED'
  | 'UNPACK_WORKER_FAILED'
  | 'UNPACK_PACK_FAILED'
  | 'UNPACK_TAR_SPLIT'

export class UnpackError extends PivotError {
  /** The archive entry (or packed path) the error is about, when there is one, as UTF-8 for display. */
  readonly entry?: string

  constructor(code: UnpackErrorCode, message: string, options: {entry?: string; cause?: unknown} = {}) {
    super(code, message, {cause: options.cause})
    if (options.entry !== undefined) this.entry = options.entry
  }
}

/** The worker processes report errors as JSON; this is the shape, and the way back to an UnpackError. */
export interface ErrorReport {
  code: UnpackErrorCode
  message: string
  entry?: string
}

export function toReport(error: UnpackError): ErrorReport {
  return {code: error.code as UnpackErrorCode, message: error.message, ...(error.entry === undefined ? {} : {entry: error.entry})}
}

export function fromReport(report: ErrorReport): UnpackError {
  return new UnpackError(report.code, report.message, report.entry === undefined ? {} : {entry: report.entry})
}
