export {
  DEFAULT_DOMAIN,
  NAME_TOTAL_LENGTH_MAX,
  familiarName,
  formatReference,
  isValidTag,
  normalizeName,
  normalizeReference,
  parseReference,
} from './parse-reference'
export type {ImageReference, NormalizedReference} from './parse-reference'
export {ImageReferenceError} from './image-reference-error'
