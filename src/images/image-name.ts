import {ImageReferenceError, familiarName, normalizeReference} from '../reference'
import {ImageError} from './image-error'

/** The canonical store name of a user-typed NAME (`mybase` -> `docker.io/library/mybase:latest`). */
export function normaliseName(input: string, options: {allowDigest?: boolean} = {}): string {
  try {
    const ref = normalizeReference(input)
    if (ref.digest !== undefined && !options.allowDigest) {
      throw new ImageError('IMAGE_BAD_NAME', `invalid name ${JSON.stringify(input)}: a name cannot hold a digest`)
    }
    return ref.name
  } catch (error) {
    if (error instanceof ImageReferenceError) throw new ImageError('IMAGE_BAD_NAME', error.message)
    throw error
  }
}

/** The store name for `input`, or undefined when it is not a valid reference (e.g. a full image id). */
export function tryNormaliseName(input: string): string | undefined {
  try {
    return normalizeReference(input).name
  } catch {
    return undefined
  }
}

/** The short display form (`ubuntu:latest`); a stored name that no longer parses is shown as it is. */
export function displayName(name: string): string {
  try {
    return familiarName(name)
  } catch {
    return name
  }
}
