import {PivotError} from '../errors'

/** Codes: REFERENCE_INVALID. */
export class ReferenceError extends PivotError {}
