import {PivotError} from '../../errors'

/**
 * Errors of the cgroups module. Codes:
 * - CGROUP_BAD_MEMORY, CGROUP_BAD_CPUS, CGROUP_BAD_PIDS  a limit the user gave is not valid
 * - CGROUP_BAD_ID              a cgroup id that is not a plain name
 * - CGROUP_UNAVAILABLE         no cgroup filesystem found at all
 * - CGROUP_CONTROLLER_MISSING  a limit was asked for but its controller is not available
 * - CGROUP_NOT_DELEGATED       a limit was asked for by a user other than root without a delegated cgroup
 * - CGROUP_EXISTS              a cgroup with this id already exists
 * - CGROUP_CREATE_FAILED       mkdir or enabling a controller failed
 * - CGROUP_WRITE_FAILED        writing a limit failed (the half-made cgroup was removed)
 * - CGROUP_ADD_FAILED          moving a process into the cgroup failed
 * - CGROUP_BUSY                processes would not die, or a directory would not go away
 */
export class CgroupError extends PivotError {}
