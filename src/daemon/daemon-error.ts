import {PivotError} from '../errors'

/**
 * Codes: DAEMON_UNREACHABLE (no daemon answers at the endpoint), DAEMON_BAD_HOST (DOCKER_HOST
 * unusable), DAEMON_IMAGE_NOT_FOUND (neither the daemon nor its registry has the image),
 * DAEMON_REGISTRY_UNREACHABLE (the daemon cannot reach the registry), DAEMON_PULL_FAILED (any
 * other pull failure, including an error event inside the progress stream), DAEMON_STREAM_FAILED
 * (a save/export stream broke), DAEMON_REQUEST_FAILED (any other API error).
 */
export class DaemonError extends PivotError {}
