import {spawn} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import type {Store} from '../../store/store'
import {exitPath, logPath} from '../../store/container-record'
import {RuntimeError} from '../runtime-error'
import {runtimeDir, isRoot} from '../../common/user-dirs'
import {isAlive} from '../../common/process-identity'
import {INIT_ARGS, INIT_BIN, abandonChild, spawnInNetns, type NetnsChoice, type PendingInit} from '../start-init'
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
        INIT_BIN,
        ...INIT_ARGS,
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
    // The init dies with the monitor (its parent-death signal). A SIGKILLed monitor cannot remove
    // its attach socket: removed here once it is dead (not before: it may be between its unlink
    // and its bind), or `pivot run -d` failing after the monitor started leaves it behind.
    abandon: () => {
      abandonChild(child)
      if (child.pid !== undefined && waitGone(child.pid, 2000)) fs.rmSync(socket, {force: true})
    },
    ...(containerPid ? {containerPid} : {}),
  }
}

/** Waits (synchronously: abandon() is) until `pid` is a zombie or gone; false after `timeoutMs`. */
function waitGone(pid: number, timeoutMs: number): boolean {
  const sleeper = new Int32Array(new SharedArrayBuffer(4))
  for (const deadline = Date.now() + timeoutMs; isAlive(pid);) {
    if (Date.now() > deadline) return false
    Atomics.wait(sleeper, 0, 0, 2)
  }
  return true
}

/**
 * For `pivot prune` and `container prune`: removes the attach sockets no monitor listens on, of
 * every cache of this user (they all share the directory): a monitor killed by SIGKILL, whose
 * container's cache may be gone since, leaves its socket. A socket is kept while a pivot-monitor
 * process names it (-a PATH) on its command line, which it does from before its bind until it
 * unlinks the socket and execs its cleanup. Under an exclusive flock on the directory, which a
 * monitor holds shared from its unlink to its listen (monitor.c, listen_at): a monitor starting
 * meanwhile binds only after this sweep is over. Not a connect() probe: a `start -a` monitor
 * takes its first client for the one it waits for. Returns the paths removed.
 */
export function sweepAttachSockets(): string[] {
  const dir = runtimeDir('pivot/attach')
  let names: string[]
  try {
    names = fs.readdirSync(dir).filter(n => /^[0-9a-f]{32}\.sock$/.test(n))
  } catch {
    return []
  }
  if (names.length === 0) return []
  const {tryLockFile} = require('../../store/file-lock') as typeof import('../../store/file-lock')
  // Held by a monitor that is binding right now: the next prune sweeps.
  const lock = tryLockFile(dir, {directory: true})
  if (!lock) return []
  const removed: string[] = []
  try {
    const listening = monitorSockets()
    for (const name of names) {
      const socket = path.join(dir, name)
      if (listening.has(socket) || fs.lstatSync(socket, {throwIfNoEntry: false})?.isSocket() !== true) continue
      fs.rmSync(socket, {force: true})
      removed.push(socket)
    }
  } finally {
    lock.release()
  }
  return removed
}

/** The attach socket (-a PATH) of every pivot-monitor process there is, whichever checkout it came from. */
function monitorSockets(): Set<string> {
  const out = new Set<string>()
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    let args: string[]
    try {
      args = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0')
    } catch {
      continue // gone
    }
    if (path.basename(args[0]) !== 'pivot-monitor') continue
    // -a, not an -o value of the same spelling (the starter's options come before it).
    const at = args.findIndex((a, i) => a === '-a' && args[i - 1] !== '-o')
    if (at > 0 && args[at + 1]) out.add(path.resolve(args[at + 1]))
  }
  return out
}
