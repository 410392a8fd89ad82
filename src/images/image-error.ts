import {PivotError} from '../errors'

/**
 * Errors of the image commands (import, export, images, rmi, prune). Codes:
 * IMAGE_NOT_FOUND, IMAGE_EXISTS, IMAGE_FILE_NOT_FOUND, IMAGE_BAD_NAME, IMAGE_BAD_ARCHIVE,
 * IMAGE_IMPORT_FAILED, IMAGE_IN_USE, IMAGE_AMBIGUOUS, IMAGE_NO_INPUT, IMAGE_BAD_OUTPUT, IMAGE_EXPORT_FAILED,
 * IMAGE_PULL_FAILED, IMAGE_PUSH_FAILED.
 */
export class ImageError extends PivotError {}
