import {PivotError} from '../errors'

/** Codes: REFERENCE_INVALID. */
export class ImageReferenceError extends PivotError {}
