import {RuntimeError} from '../runtime-error'

/**
 * Linux capabilities by number (include/uapi/linux/capability.h), as docker names them. The
 * index is the bit: CAP_SYS_ADMIN is bit 21 of /proc/<pid>/status's CapEff.
 */
export const CAPABILITY_NAMES: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
  'CAP_PERFMON',
  'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
]

/**
 * Docker's default set (moby's oci/caps DefaultCapabilities), which is also the OCI runtime
 * spec's example: CapEff 00000000a80425fb for a root process.
 */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
]

const BY_NAME = new Map(CAPABILITY_NAMES.map((name, bit) => [name, bit]))

/**
 * "Every capability" (--privileged, --cap-add ALL): those this process may still hold, i.e. its
 * bounding set, which the container's init inherits. That is docker's "every capability the
 * kernel has" on an ordinary host, and still works where pivot itself runs with fewer (inside
 * another container or a restricted VM), where asking for more would fail at capset.
 */
export function knownCapabilities(bounding: bigint = readBoundingSet()): string[] {
  return capabilityNames(bounding)
}

/** The names of the capabilities whose bits are set in `mask`. */
export function capabilityNames(mask: bigint): string[] {
  return CAPABILITY_NAMES.filter((_, bit) => (mask >> BigInt(bit)) & 1n)
}

function readBoundingSet(): bigint {
  try {
    const status = (require('node:fs') as typeof import('node:fs')).readFileSync('/proc/self/status', 'utf8')
    const hex = /^CapBnd:\s*([0-9a-f]+)$/m.exec(status)?.[1]
    if (hex) return BigInt(`0x${hex}`)
  } catch {
    // no /proc: assume every capability
  }
  return (1n << BigInt(CAPABILITY_NAMES.length)) - 1n
}

/**
 * A --cap-add/--cap-drop value as docker reads it: case-insensitive, with or without the CAP_
 * prefix, or ALL. Unknown names are an error (one line, exit 125), never silently ignored: a
 * typo in --cap-drop would otherwise leave the capability in place.
 */
export function normalizeCapability(value: string, flag: '--cap-add' | '--cap-drop'): string {
  const upper = value.trim().toUpperCase()
  if (upper === 'ALL') return 'ALL'
  const name = upper.startsWith('CAP_') ? upper : `CAP_${upper}`
  if (!BY_NAME.has(name)) {
    throw new RuntimeError('RUN_BAD_FLAG', `invalid ${flag} ${JSON.stringify(value)}: unknown capability (see 'pivot run --help')`)
  }
  return name
}

export interface CapabilityOptions {
  capAdd?: readonly string[]
  capDrop?: readonly string[]
  privileged?: boolean
}

/**
 * The container's capabilities, by docker's rules (moby's caps.TweakCapabilities):
 * --privileged gets every capability (see knownCapabilities), whatever the other flags say; --cap-add ALL
 * starts from every capability minus --cap-drop; --cap-drop ALL starts from nothing plus
 * --cap-add; otherwise the default set minus --cap-drop plus --cap-add. Sorted by bit.
 */
export function resolveCapabilities(options: CapabilityOptions, bounding?: bigint): string[] {
  if (options.privileged) return knownCapabilities(bounding)
  const add = (options.capAdd ?? []).map(v => normalizeCapability(v, '--cap-add'))
  const drop = (options.capDrop ?? []).map(v => normalizeCapability(v, '--cap-drop'))
  let caps: string[]
  if (add.includes('ALL')) caps = knownCapabilities(bounding).filter(c => !drop.includes(c))
  else if (drop.includes('ALL')) caps = add
  else caps = [...DEFAULT_CAPABILITIES.filter(c => !drop.includes(c)), ...add]
  // Sorted by bit; an explicit --cap-add of one pivot does not hold stays, and fails at capset
  // with a message, rather than silently missing.
  const wanted = new Set(caps.filter(c => c !== 'ALL'))
  return CAPABILITY_NAMES.filter(c => wanted.has(c))
}

/** The capability names as a bit mask (the form capset and /proc/<pid>/status use). */
export function capabilityMask(names: readonly string[]): bigint {
  let mask = 0n
  for (const name of names) {
    const bit = BY_NAME.get(name)
    if (bit === undefined) throw new RuntimeError('RUN_SETUP_FAILED', `unknown capability ${name}`)
    mask |= 1n << BigInt(bit)
  }
  return mask
}
