import {PivotError} from '../errors'

/**
 * Errors of `pivot build`. Codes:
 * BUILD_RECIPE_NOT_FOUND, BUILD_RECIPE_INVALID (YAML, shape, values, `${X}` substitution),
 * BUILD_CONTEXT_NOT_FOUND, BUILD_COPY_OUTSIDE_CONTEXT, BUILD_COPY_NOT_FOUND, BUILD_COPY_UNSUPPORTED,
 * BUILD_USER_NOT_FOUND, BUILD_BASE_NOT_FOUND, BUILD_STEP_FAILED (exit status = the step's),
 * BUILD_INTERRUPTED (exit status 130).
 */
export class BuildError extends PivotError {}
