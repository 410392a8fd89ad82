import {spawn} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import type {Store} from '../../store/store'
import {exitPath, logPath} from '../../store/container-record'
import {RuntimeError} from '../runtime-error'
import {freshBundle} from '../../common/module-bundle'
import {runtimeDir, isRoot} from '../../common/user-dirs'
import {INIT_SCRIPT, abandonChild, spawnInNetns, type NetnsChoice, type PendingInit} from '../start-init'
import type {UsernsSpec} from '../../userns/spawn-in-userns'

/** dist/monitor/pivot-monitor, compiled from monitor.c by `npm run build`. */
export const MONITOR_BIN = path.resolve(__dirname, '..', '..', '..', 'monitor', 'pivot-monitor')
/** What the monitor execs once the container has exited (dist/src/runtime/monitor/cleanup.js). */
export const CLEANUP_SCRIPT = path.join(__dirname, 'cleanup.js')

/**
 * Where a detached container's monitor listens for `attach` clients (monitor.c, -a): under /run
 * (the user's runtime dir for a user other than root), not the cache, as a socket path must fit in
 * 108 bytes whatever the cache's path; named by the id's first 128 bits, which leaves a user's
 * runtime dir ~50 bytes.
 */
export function attachSocketPath(id: string): string {
  return path.join(runtimeDir('pivot/attach'), `${id.slice(0, 32)}.sock`)
}

/** sockaddr_un's sun_path: 108 bytes, the last one a NUL. */
const SOCKET_PATH_MAX = 107

/**
 * Starts the monitor of a detached container (monitor.c says what it does). The returned
 * PendingInit's child is the monitor, not the init: the init's pid comes as the first line on
 * the control socket (fd 3), which is otherwise the init's own, as in a foreground run.
 *
 * The monitor is in a session of its own with /dev/null for stdio, and is unref'd: `pivot run -d`
 * exits once the command runs, and the monitor lives on with the container.
 */
export function startMonitor(
  store: Store,
  id: string,
  netns?: NetnsChoice,
  tty = false,
  logRotation?: {maxSize: number; maxFile: number},
  attach: {stdin: boolean; waitClient?: boolean} = {stdin: false},
  remap?: UsernsSpec,
): PendingInit {
  try {
    fs.accessSync(MONITOR_BIN, fs.constants.X_OK)
  } catch {
    throw new RuntimeError(
      'RUN_NO_MONITOR',
      `the container monitor ${MONITOR_BIN} is not built: run \`npm run build\` (it needs a C compiler: apt-get install gcc libc6-dev)`,
    )
  }
  // A user other than root, or root's --userns remap (`remap`, run-container.ts usernsSetup): the
  // monitor runs the init through the user-namespace starter, whose channel (fd 5) it passes down;
  // pivot writes the maps and learns the init's pid there.
  const userns = remap || !isRoot() ? (require('../../userns') as typeof import('../../userns')) : undefined
  // A new network namespace is then the starter's to make, with the user namespace (as for a
  // foreground run, start-init.ts): one the monitor is born in would belong to the host's.
  const spec = userns ? (remap ? (netns === 'new' ? {...remap, newNetwork: true} : remap) : userns.userNamespaceSpec()) : undefined
  const socket = attachSocketPath(id)
  if (Buffer.byteLength(socket) > SOCKET_PATH_MAX) {
    throw new RuntimeError(
      'RUN_SETUP_FAILED',
      `the attach socket ${socket} is longer than a unix socket path may be (${SOCKET_PATH_MAX} bytes): use a shorter XDG_RUNTIME_DIR`,
    )
  }
  fs.mkdirSync(path.dirname(socket), {recursive: true, mode: 0o700})
  // With a network namespace of its own for the container, the monitor is born in it (it does
  // no networking) and its child, the init, inherits it.
  const child = spawnInNetns(spec?.newNetwork ? undefined : netns, () =>
    spawn(
      MONITOR_BIN,
      [
        ...(userns && spec ? ['-u', userns.USERNS_STARTER, '5', ...userns.starterOptions(spec).flatMap(o => ['-o', o])] : []),
        ...(tty ? ['-t'] : []),
        '-a',
        socket,
        ...(attach.stdin ? ['-i'] : []),
        ...(attach.waitClient ? ['-w'] : []),
        ...(logRotation ? ['-s', String(logRotation.maxSize), '-n', String(logRotation.maxFile)] : []),
        logPath(store, id),
        exitPath(store, id),
        process.execPath,
        freshBundle(INIT_SCRIPT) ?? INIT_SCRIPT,
        process.execPath,
        CLEANUP_SCRIPT,
        path.resolve(store.root),
        id,
      ],
      {detached: true, env: {}, stdio: userns ? ['ignore', 'ignore', 'ignore', 'pipe', 'ignore', 'pipe'] : ['ignore', 'ignore', 'ignore', 'pipe']},
    ),
  )
  const containerPid = userns && spec ? userns.driveStarter(child, (child.stdio as unknown[])[5] as import('node:net').Socket | null, spec) : undefined
  const exited = new Promise<{code: number | null; signal: NodeJS.Signals | null; error?: Error}>(resolve => {
    child.on('error', error => resolve({code: null, signal: null, error}))
    child.on('exit', (code, signal) => resolve({code, signal}))
  })
  child.unref()
  return {
    child,
    exited,
    // The init dies with the monitor (its parent-death signal).
    abandon: () => abandonChild(child),
    ...(containerPid ? {containerPid} : {}),
  }
}
