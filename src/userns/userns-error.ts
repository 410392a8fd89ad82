import {PivotError} from '../errors'

/**
 * Errors of user namespaces (src/userns): ranges, maps, the starter. Codes (exit 125):
 * - USERNS_NO_RANGE      no subordinate range for the user in /etc/subuid or /etc/subgid
 * - USERNS_RANGE_SMALL   the range is smaller than what is needed
 * - USERNS_RANGE_OVERLAP pivot's default range overlaps another entry of /etc/subuid or /etc/subgid
 * - USERNS_NO_HELPER     newuidmap/newgidmap (Debian: uidmap) or pivot-userns is missing
 * - USERNS_MAP_FAILED    writing the uid/gid maps failed
 * - USERNS_FAILED        the starter failed before the program ran (RUN_USERNS_FAILED on the wire)
 */
export class UsernsError extends PivotError {}
