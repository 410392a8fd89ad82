import {PivotError} from '../errors'

/**
 * Errors of container networking (src/network). Codes:
 * - NET_BAD_PORT        an invalid -p/--publish spec or EXPOSE entry (125)
 * - NET_PORT_IN_USE     the host port is published by another container or a host process listens on it (125)
 * - NET_NOT_FOUND       --net NAME or `network rm NAME`: no such network (125 for run, 1 for network commands)
 * - NET_BAD_SUBNET      --subnet that is not an IPv4 CIDR, overlaps a host route or another network (125)
 * - NET_EXISTS          network create of a name that exists (1)
 * - NET_IN_USE          network rm of a network that running containers use (1)
 * - NET_BAD_FLAG        a network flag that does not fit the mode (--add-host, --dns, -p with --net host) (125)
 * - NET_NO_SUBNET       every subnet of the pool overlaps a host route (125)
 * - NET_TOOL_FAILED     `ip` or `nft` failed or is missing (125)
 * - NET_NEEDS_ROOT      network create by a user other than root (125)
 * - NET_NO_ADDRESS      the network's subnet has no free address left (125)
 */
export class NetworkError extends PivotError {}
