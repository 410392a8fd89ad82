import {PivotError} from '../errors'

/**
 * Errors of the OCI runtime mode (bin/pivot-runtime). Every one exits 1, as runc does (containerd
 * reads the message from the log file, not the status). Codes:
 * - OCI_BAD_ARGS        a flag or argument the runtime CLI does not take
 * - OCI_BAD_CONFIG      config.json missing, unreadable, or a value out of the spec
 * - OCI_UNSUPPORTED     a config.json field pivot does not implement (refused, never ignored)
 * - OCI_NOT_FOUND       no container with that id ("container does not exist", containerd's NotFound)
 * - OCI_EXISTS          create of an id already in use
 * - OCI_BAD_STATE       start/delete/pause... in a state that does not allow it ("container not running")
 * - OCI_CREATE_FAILED   the container's init failed before it was ready
 * - OCI_HOOK_FAILED     a hook exited non-zero or timed out
 */
export class OciError extends PivotError {
  constructor(code: string, message: string, options: {exitCode?: number; cause?: unknown} = {}) {
    super(code, message, {exitCode: options.exitCode ?? 1, cause: options.cause})
  }
}
