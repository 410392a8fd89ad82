/**
 * cgroups for containers and build steps, v1 and v2, detected at run time (never configured):
 * one CgroupManager interface, implemented by CgroupV1Manager and CgroupV2Manager; createCgroup
 * and openCgroup pick the one for this host.
 *
 *     v1  <mount of each of pids, memory, cpu, freezer>/pivot/<id>   (mounts from mountinfo)
 *     v2  <cgroup2 root>/pivot/<id>, with +pids +memory +cpu in the root's and pivot/'s
 *         cgroup.subtree_control
 *
 * Limits: pids.max (DEFAULT_PIDS_LIMIT unless told otherwise); memory as a hard limit with swap
 * held to it (v1 memory.memsw.limit_in_bytes = memory.limit_in_bytes, v2 memory.swap.max = 0;
 * docker instead allows as much swap again by default); cpus as a CFS quota per 100 ms period.
 * Flag values follow docker's syntax and rules, including "0" (and negative pids) = no limit.
 */
export {CgroupError} from './cgroup-error'
export {DEFAULT_PIDS_LIMIT, MAX_PIDS_LIMIT, MIN_CPUS, MIN_MEMORY, PIDS_UNLIMITED, parseCpus, parseMemory, parsePidsLimit} from './parse-limits'
export {detectCgroups} from './detect-cgroups'
export {createCgroup, openCgroup} from './create-cgroup'
export type {CgroupDirOps, CgroupManager, CgroupOptions, CgroupStats} from './cgroup-manager'
export {listCgroups, removeStaleCgroups} from './list-cgroups'
export type {CgroupWhere} from './list-cgroups'
