import {PivotError} from '../errors'

/**
 * Errors of the container runtime (`pivot run`, build's run steps, container records). Codes:
 * - RUN_BAD_FLAG          an unknown flag, a flag without its value, a bad value (exit 125)
 * - RUN_IMAGE_NOT_FOUND   the image is not in the cache and may not be pulled (125)
 * - RUN_NO_COMMAND        neither the arguments nor the image give a command (125)
 * - RUN_BAD_VOLUME        a -v that is malformed or whose source does not exist (125)
 * - RUN_NAME_IN_USE       --name taken by another container (125)
 * - RUN_SETUP_FAILED      the container's init failed before exec (125)
 * - RUN_CANNOT_INVOKE     the command exists but cannot be executed: EACCES, a directory (126)
 * - RUN_COMMAND_NOT_FOUND the command is not found in the container (127)
 * - RUN_BAD_USER          -u names a user or group the container does not have (125)
 * - RUN_INIT_FAILED       the init process died or spoke nonsense before exec (125)
 * - RUN_INTERRUPTED       a second SIGINT/SIGTERM came before the container started (130/137)
 * - RUN_PRUNE_FAILED      prune could not remove some containers (125)
 * - RUN_SECCOMP_UNAVAILABLE libseccomp is missing and the filter was not opted out of (125)
 * - RUN_ROOTLESS_UNSUPPORTED what needs root, asked by another user: bridge networks (125)
 * - RUN_NO_MONITOR        run -d: the container monitor is not built (125)
 * - CONTAINER_NOT_FOUND   no container has that name, id or id prefix (1, as docker)
 * - CONTAINER_AMBIGUOUS   an id prefix that several containers share (1)
 * - CONTAINER_RUNNING     rm of a running container without -f (1)
 * - CONTAINER_NOT_RUNNING kill of a container that is not running (1)
 * - CONTAINER_NO_LOGS     logs of a container whose output was not captured (foreground run) (1)
 * - CONTAINER_BAD_SIGNAL  kill -s/stop: an unknown signal name or number (1)
 * - CONTAINER_BAD_FLAG    a bad --tail/--since/-t value (125)
 * - CONTAINER_NOT_RESTARTABLE start of a container whose network namespace pivot cannot remake (1)
 * - CONTAINER_LOCKED      stop/rm/start waited two minutes for another command's hold on the container (125)
 */
export class RuntimeError extends PivotError {}

export const EXIT_CANNOT_INVOKE = 126
export const EXIT_NOT_FOUND = 127
