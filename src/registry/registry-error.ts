import {PivotError} from '../errors'

/**
 * Errors of the registry client. Codes: REGISTRY_UNREACHABLE (nothing answers at the registry's
 * address, or it does not speak the distribution API), REGISTRY_UNAUTHORIZED (credentials missing
 * or refused), REGISTRY_DENIED (authenticated, but not allowed), REGISTRY_NOT_FOUND (unknown
 * repository, tag or digest), REGISTRY_NO_PLATFORM (the index has no manifest for the platform),
 * REGISTRY_BAD_CONTENT (a manifest, config or blob that is malformed, of an unknown media type,
 * or whose digest or size is not what it should be), REGISTRY_TOO_LARGE (a manifest, config,
 * layer count or manifest size beyond pivot's bounds; layers beyond the free disk are an ImageError,
 * exit 125, like any full disk),
 * REGISTRY_SERVER_ERROR (a 5xx, or any other unexpected answer), REGISTRY_BAD_CREDENTIALS (a
 * credentials file or helper that cannot be read or run), REGISTRY_BAD_PLATFORM (an unreadable
 * --platform).
 *
 * Exit status 1, as `docker pull` and `docker login` exit when the registry refuses them; pivot's own
 * failures keep 125.
 */
export class RegistryError extends PivotError {
  /** The HTTP status of the registry's answer, when the error is one (a push retries a 5xx). */
  readonly status?: number

  constructor(code: RegistryErrorCode, message: string, options: {exitCode?: number; cause?: unknown; status?: number} = {}) {
    super(code, message, {exitCode: options.exitCode ?? 1, cause: options.cause})
    if (options.status !== undefined) this.status = options.status
  }
}

export type RegistryErrorCode =
  | 'REGISTRY_UNREACHABLE'
  | 'REGISTRY_UNAUTHORIZED'
  | 'REGISTRY_DENIED'
  | 'REGISTRY_NOT_FOUND'
  | 'REGISTRY_NO_PLATFORM'
  | 'REGISTRY_BAD_CONTENT'
  | 'REGISTRY_TOO_LARGE'
  | 'REGISTRY_SERVER_ERROR'
  | 'REGISTRY_BAD_CREDENTIALS'
  | 'REGISTRY_BAD_PLATFORM'
