import {PivotError} from '../errors'

/** Codes: STORE_NOT_FOUND, STORE_EXISTS, STORE_CORRUPT, STORE_LOCKED, STORE_IN_USE. */
export class StoreError extends PivotError {}
