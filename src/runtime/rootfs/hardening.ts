import {PR_SET_KEEPCAPS, PR_SET_NO_NEW_PRIVS} from '../../sys/constants'
import type {InitConfig} from '../init-config'
import {capabilityMask} from '../security/capabilities'
import type {Step} from './steps'

/**
 * The container's hardening, each slot called by planContainer at the one place in the order
 * where it is correct (docs/security.md says what each wall stops, and which test proves it).
 * --privileged empties the path slots; the parent has then given every capability and no filter.
 */

/**
 * Docker's masked paths: what a container must not read (kernel memory, keyrings, timer and
 * scheduler internals that leak the host's activity) or write (ACPI, powercap, firmware).
 */
export const MASKED_PATHS: readonly string[] = [
  '/proc/asound',
  '/proc/acpi',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
]

/** Docker's read-only paths: /proc's writable knobs that act on the whole host (sysctl, sysrq, irq affinity...). */
export const READONLY_PATHS: readonly string[] = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger']

/**
 * Masked paths: a file gets /dev/null bound over it, a directory an empty read-only tmpfs. After
 * pivot_root, so the paths are the container's own /proc and /sys (fresh mounts: the image cannot
 * have put a symlink there), and after /dev, whose null device the masks use: the executor
 * checks that /dev/null is the character device 1:3 and binds it through the descriptor it
 * checked, so a wrong /dev/null fails the setup instead of turning a mask into a writable mount
 * of something else.
 */
export function maskedPathSteps(config: InitConfig): Step[] {
  if (config.privileged) return []
  return MASKED_PATHS.map(path => ({op: 'maskPath', path}))
}

/**
 * Read-only paths: bound onto themselves, then made read-only (the bind gets its own flags).
 * After the masks: none of them is under a masked path, and a read-only bind made first would
 * make no difference to a mask mounted over it later, but keeping docker's order keeps the
 * mount table alike.
 */
export function readonlyPathSteps(config: InitConfig): Step[] {
  if (config.privileged) return []
  return READONLY_PATHS.map(path => ({op: 'readonlyPath', path}))
}

/**
 * The bounding set: every capability the container is not given leaves it, for good (nothing
 * in the container, setuid root programs included, can get it back). Before the user switch:
 * PR_CAPBSET_DROP needs CAP_SETPCAP in the effective set, which a non-root uid no longer has.
 * KEEPCAPS then keeps the permitted set across setresuid to a non-root uid, for the two steps
 * after the switch that still need capabilities (loading the seccomp filter, and capset).
 */
export function boundingSetSteps(config: InitConfig): Step[] {
  return [
    {op: 'capBounding', keep: capabilityMask(config.capabilities)},
    {op: 'prctl', option: PR_SET_KEEPCAPS, arg2: 1},
  ]
}

/**
 * The container's capability sets: effective and permitted the container's, inheritable and
 * ambient empty (docker since 20.10.14, CVE-2022-24769). Last before exec, after the seccomp
 * filter: loading a filter without no_new_privs needs CAP_SYS_ADMIN, which most containers do not
 * keep (capset and prctl are in the filter's allow-list). For root, exec then gives the process
 * the bounding set; for a non-root uid the kernel clears permitted and effective at exec (no
 * file capabilities, no ambient ones): CapEff 0, as in docker.
 */
export function capabilitySteps(config: InitConfig): Step[] {
  const mask = capabilityMask(config.capabilities)
  return [
    {op: 'prctl', option: PR_SET_KEEPCAPS, arg2: 0},
    {op: 'capabilities', effective: mask, permitted: mask, inheritable: 0n},
  ]
}

/** PR_SET_NO_NEW_PRIVS. Before seccomp: without it, installing a filter needs CAP_SYS_ADMIN. */
export function noNewPrivilegesSteps(config: InitConfig): Step[] {
  return config.noNewPrivileges ? [{op: 'prctl', option: PR_SET_NO_NEW_PRIVS, arg2: 1}] : []
}

/**
 * The seccomp filter (compiled by the parent, see security/seccomp-profile.ts). As late as it can
 * be: once it is in place, every later call of the init must pass it too (the ones left are
 * capset, prctl and execve/execveat, all allowed). Loaded for the init's main thread only, the
 * one that execs; Node's other threads die with the exec. Without no_new_privs the kernel wants
 * CAP_SYS_ADMIN in the effective set, which the switch to a non-root uid cleared: it is raised
 * again from the permitted set that KEEPCAPS kept.
 */
export function seccompSteps(config: InitConfig): Step[] {
  if (config.seccompFilter === null) return []
  return [...(config.noNewPrivileges ? [] : [{op: 'raiseEffective'} as const]), {op: 'seccomp', program: config.seccompFilter}]
}
