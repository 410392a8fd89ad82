import {spawn, type StdioOptions} from 'node:child_process'
import type * as net from 'node:net'
import {USERNS_STARTER, driveStarter, type UsernsProcess, type UsernsSpec} from './spawn-in-userns'

/**
 * Where the OCI runtime mode (src/oci) puts its container init, beyond what spawnInUserns does
 * for `pivot run` (userns.c's -u, -j, -P and -x say how).
 */
export interface StarterPlacement {
  /** Join this user namespace (e.g. /proc/PID/ns/user) instead of making one; `spec.writer` must be 'none'. */
  joinUser?: string
  /**
   * Namespaces (not user) joined by path, in this order, before the new user namespace is made
   * (after the joined one): with the host's privileges, so the host's own namespaces can be joined.
   */
  join?: string[]
  /** false: no new PID namespace: the program stays in ours, or in the one a `join` path entered. */
  newPid?: boolean
  /**
   * The starter exits once the program has exec'd and the program has no parent-death signal: it
   * outlives its caller and ends up the child of the caller's subreaper (a containerd shim).
   */
  detach?: boolean
}

/**
 * spawnInUserns for an OCI container's init: `program args` in a new user namespace with
 * `spec.maps` (or in the one `placement.joinUser` names), the other namespaces placed as
 * `placement` says. `ready` gives the program's host pid once it was released to exec.
 */
export function spawnPlacedInUserns(
  program: string,
  args: readonly string[],
  options: {env: NodeJS.ProcessEnv; stdio: StdioOptions},
  spec: UsernsSpec,
  placement: StarterPlacement,
): UsernsProcess {
  const given = Array.isArray(options.stdio) ? [...options.stdio] : [options.stdio, options.stdio, options.stdio]
  // The channel after the caller's descriptors, at 5 at least (spawn-in-userns.ts channelIndex).
  const index = Math.max(5, given.length)
  while (given.length < index) given.push('ignore')
  given.push('pipe')
  const starterArgs = [
    '-c',
    String(index),
    ...(placement.joinUser ? ['-u', placement.joinUser] : []),
    ...(placement.join ?? []).flatMap(p => ['-j', p]),
    ...(placement.newPid === false ? ['-P'] : []),
    ...(placement.detach ? ['-x'] : []),
    ...(spec.newNetwork ? ['-n'] : []),
    '--',
    program,
    ...args,
  ]
  const child = spawn(USERNS_STARTER, starterArgs, {env: options.env, stdio: given as StdioOptions})
  return {child, ready: driveStarter(child, child.stdio[index] as net.Socket | null, spec)}
}
