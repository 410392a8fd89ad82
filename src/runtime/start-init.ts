import {spawn, type ChildProcess} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {CLONE_NEWNET, CLONE_NEWPID} from '../sys/constants'
import {RuntimeError} from './runtime-error'
import {setns, unshare} from '../sys/namespace-calls'
import type {UsernsSpec} from '../userns/spawn-in-userns'
import {isRoot} from '../common/user-dirs'

/**
 * Spawning the container's init, kept apart from the rest of the runtime so that `pivot run` can
 * load it (node:child_process and koffi's unshare and setns, nothing else) and start the init before it loads
 * anything more: the init's start (the fork of node, the exec, its run from a sealed copy: ~2-3 ms)
 * then overlaps the parent's own work.
 */

/**
 * The container's init (src/runtime/monitor/container-init.c), dist/monitor/pivot-init, built by
 * `npm run build`. Its one argument is the control socket's descriptor number.
 */
export const INIT_BIN = path.resolve(__dirname, '..', '..', 'monitor', 'pivot-init')
export const INIT_ARGS: readonly string[] = ['3']

// Only unshare and setns, not all of KoffiSyscalls: this module is on the way to the spawn.
const sys = {unshare, setns}

/**
 * A container init spawned and waiting for its config on fd 3. `pivot run` starts it as early as
 * it can, so that the init's start overlaps the parent's own work (it was a node start, ~20 ms,
 * before the init was C).
 */
export interface PendingInit {
  readonly child: ChildProcess
  readonly exited: Promise<{code: number | null; signal: NodeJS.Signals | null; error?: Error}>
  /** Makes it exit without running anything (it reads EOF on fd 3), and reaps it in the background. */
  abandon(): void
  /**
   * In a user namespace (startInit's `userns`): `child` is the starter (src/userns/userns.c), the
   * init's parent, which forwards signals and exits with the init's status; this is the init's
   * own host pid (the container's PID 1, for the cgroup and the record) once it runs with its
   * maps. Rejects when the namespace could not be made (a UsernsError saying why).
   */
  containerPid?: Promise<number>
}

/**
 * unshare(CLONE_NEWPID) on the main thread makes the next child it forks PID 1 of a new PID
 * namespace; libuv forks on the calling thread, so that child is the init. Joining our own PID
 * namespace again right after restores pid_for_children, so later children (another build step's
 * init, a pull's helpers) are not born into this container's namespace.
 *
 * `stdin`: docker's -i. Without it the container's stdin is /dev/null, so a container in a
 * `while read` loop cannot eat the loop's input; with it, pivot's own stdin ('inherit' only).
 */
export function startInit(stdio: 'inherit' | 'pipe', stdin = false, netns?: NetnsChoice, tty = false, userns?: UsernsSpec): PendingInit {
  // A user other than root has no other way to make namespaces: always its own user namespace.
  if (!userns && !isRoot()) userns = (require('../userns/user-maps') as typeof import('../userns/user-maps')).userNamespaceSpec()
  if (userns) return startInitInUserns(stdio, stdin, netns, tty, userns)
  const ownPidNs = fs.openSync('/proc/self/ns/pid', 'r')
  let child: ChildProcess
  try {
    sys.unshare(CLONE_NEWPID)
    try {
      child = spawnInNetns(netns, () =>
        spawn(INIT_BIN, INIT_ARGS, {
          // A clean environment: the command's comes from the plan.
          env: {},
          stdio: initStdio(stdio, stdin, tty),
        }),
      )
    } finally {
      sys.setns(ownPidNs, CLONE_NEWPID)
    }
  } finally {
    fs.closeSync(ownPidNs)
  }
  const exited = waitClose(child)
  return {
    child,
    exited,
    abandon: () => abandonChild(child),
  }
}

/** -t: fd 4 is the console channel (the pty's master comes out there), and the pty replaces stdio 0-2, so pivot's stdin is never the container's. */
function initStdio(stdio: 'inherit' | 'pipe', stdin: boolean, tty: boolean): import('node:child_process').StdioOptions {
  if (stdio === 'pipe') return ['ignore', 'pipe', 'pipe', 'pipe']
  return tty ? ['ignore', 'inherit', 'inherit', 'pipe', 'pipe'] : [stdin ? 'inherit' : 'ignore', 'inherit', 'inherit', 'pipe']
}

/**
 * The init as PID 1 of a PID namespace owned by a new user namespace: the starter (C, because
 * node cannot unshare a user namespace) clones it into both, and pivot writes the maps from
 * outside. The network namespace is still chosen here: the starter is born in it and the init
 * inherits it.
 */
function startInitInUserns(stdio: 'inherit' | 'pipe', stdin: boolean, netns: NetnsChoice | undefined, tty: boolean, userns: UsernsSpec): PendingInit {
  const {spawnInUserns} = require('../userns/spawn-in-userns') as typeof import('../userns/spawn-in-userns')
  let started: ReturnType<typeof spawnInUserns> | undefined
  // A new network namespace is the starter's to make, with the user namespace: one made here
  // would belong to the host's user namespace, where the container's root has no capability.
  const spec = netns === 'new' ? {...userns, newNetwork: true} : userns
  const child = spawnInNetns(netns === 'new' ? undefined : netns, () => {
    started = spawnInUserns(INIT_BIN, INIT_ARGS, {env: {}, stdio: initStdio(stdio, stdin, tty)}, spec)
    return started.child
  })
  return {child, exited: waitClose(child), abandon: () => abandonChild(child), containerPid: started!.ready}
}

/**
 * Where the init's network namespace comes from: 'new' (--net bridge or a user network: the
 * parent configures it from outside before "go"), the path of another container's (container:),
 * or undefined (the host's, or the init's own unshare for --net none).
 */
export type NetnsChoice = 'new' | {join: string}

/**
 * Spawns with the main thread in the chosen network namespace, then puts it back: the child is
 * born there (libuv forks on the calling thread; setns/unshare of a network namespace work in a
 * threaded process). The namespace lives as long as a process is in it: nothing to unmount.
 */
export function spawnInNetns(netns: NetnsChoice | undefined, spawnFn: () => ChildProcess): ChildProcess {
  if (netns === undefined) return spawnFn()
  const own = fs.openSync('/proc/thread-self/ns/net', 'r')
  try {
    if (netns === 'new') sys.unshare(CLONE_NEWNET)
    else {
      let target: number
      try {
        target = fs.openSync(netns.join, 'r')
      } catch (error) {
        throw new RuntimeError('RUN_SETUP_FAILED', `cannot join the network namespace ${netns.join}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`)
      }
      try {
        sys.setns(target, CLONE_NEWNET)
      } finally {
        fs.closeSync(target)
      }
    }
    try {
      return spawnFn()
    } finally {
      sys.setns(own, CLONE_NEWNET)
    }
  } finally {
    fs.closeSync(own)
  }
}

/** Closes our end of fd 3 (EOF: "no config is coming") and SIGKILLs the child. */
export function abandonChild(child: ChildProcess): void {
  ;(child.stdio[3] as import('node:net').Socket | null)?.destroy()
  try {
    child.kill('SIGKILL')
  } catch {
    // gone
  }
}

function waitClose(child: ChildProcess): Promise<{code: number | null; signal: NodeJS.Signals | null; error?: Error}> {
  return new Promise(resolve => {
    let error: Error | undefined
    child.on('error', e => {
      error = e
      if (child.pid === undefined) resolve({code: null, signal: null, error})
    })
    child.on('close', (code, signal) => resolve({code, signal, error}))
  })
}
