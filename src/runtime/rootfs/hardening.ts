import {PR_SET_NO_NEW_PRIVS} from '../../sys/constants'
import type {InitConfig} from '../init-config'
import type {Step} from './steps'

/**
 * Slots for the container's hardening, each called by planContainer at the one place in the
 * order where it is correct. They return no steps yet (but no_new_privs when asked for); the
 * hardening pass fills them in, adding ops to steps.ts and executeSteps when it needs new calls.
 */

/**
 * Masked paths (/proc/kcore, /proc/keys, /proc/timer_list, /sys/firmware...: /dev/null or an
 * empty read-only tmpfs bound over them). After pivot_root, so the paths are the container's
 * own /proc and /sys and not anything the image put there.
 */
export function maskedPathSteps(_config: InitConfig): Step[] {
  return []
}

/** Read-only paths (/proc/sys, /proc/sysrq-trigger, /proc/irq, /proc/bus): bind + remount ro. After the masks. */
export function readonlyPathSteps(_config: InitConfig): Step[] {
  return []
}

/**
 * Dropping capabilities from the bounding set (PR_CAPBSET_DROP). Before the user switch: the
 * drop needs CAP_SETPCAP, which a non-root uid no longer has.
 */
export function boundingSetSteps(_config: InitConfig): Step[] {
  return []
}

/** The container's capability sets (capset, ambient). After the user switch, which clears them for a non-root uid. */
export function capabilitySteps(_config: InitConfig): Step[] {
  return []
}

/** PR_SET_NO_NEW_PRIVS. Before seccomp: without it, installing a filter needs CAP_SYS_ADMIN. */
export function noNewPrivilegesSteps(config: InitConfig): Step[] {
  return config.noNewPrivileges ? [{op: 'prctl', option: PR_SET_NO_NEW_PRIVS, arg2: 1}] : []
}

/**
 * The seccomp filter. Last before exec: once it is in place, every later syscall of the init
 * (setresuid, prctl, ...) would have to be allowed by the container's profile too.
 */
export function seccompSteps(_config: InitConfig): Step[] {
  return []
}
