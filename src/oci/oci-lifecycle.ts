import {spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {isPivotError} from '../errors'
import type {OciHook} from './oci-config'
import {OciError} from './oci-error'
import {isRunning, loadState, stateDir, stateJson, unmountHostMounts} from './oci-state'
import {currentStatus, openCgroupOf} from './runtime-cli'

/*
 * `start` and `delete`, apart from create's module: each is one short process per container on
 * containerd's path, so they load neither the config translation, the FFI nor (for a stopped
 * container with empty cgroups) the cgroup code.
 */

/** Runs a hook with the state on stdin; a non-zero exit or a timeout is an error. */
export function runHook(hook: OciHook, stateText: string, kind: string): void {
  const result = spawnSync(hook.path, (hook.args ?? [hook.path]).slice(1), {
    argv0: hook.args?.[0] ?? hook.path,
    env: Object.fromEntries((hook.env ?? []).map(e => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)])),
    input: stateText,
    stdio: ['pipe', 'inherit', 'inherit'],
    timeout: hook.timeout === undefined ? undefined : hook.timeout * 1000,
  })
  if (result.error) throw new OciError('OCI_HOOK_FAILED', `${kind} hook ${hook.path}: ${(result.error as NodeJS.ErrnoException).code ?? result.error.message}`)
  if (result.status !== 0) throw new OciError('OCI_HOOK_FAILED', `${kind} hook ${hook.path} exited with ${result.signal ?? `status ${result.status}`}`)
}

/** `start`: release the init blocked on the fifo, then the poststart hooks. */
export async function start(root: string, id: string): Promise<void> {
  const state = loadState(root, id)
  const status = currentStatus(root, state)
  if (status === 'stopped') throw new OciError('OCI_BAD_STATE', 'cannot start a container that has stopped')
  if (status !== 'created') throw new OciError('OCI_BAD_STATE', 'cannot start an already running container')
  const fifo = path.join(stateDir(root, id), 'exec.fifo')
  // Non-blocking: the open succeeds at once; the init, blocked opening it for writing, then
  // writes one byte. An init that died meanwhile never writes: poll for both.
  const fd = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK)
  try {
    const buf = Buffer.alloc(1)
    for (let waited = 0; ; waited++) {
      let n = 0
      try {
        n = fs.readSync(fd, buf, 0, 1, null)
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error
      }
      if (n === 1) break
      if (!isRunning(state)) throw new OciError('OCI_BAD_STATE', 'cannot start a container that has stopped')
      if (waited > 30_000) throw new OciError('OCI_BAD_STATE', 'the container init did not answer on its start fifo')
      await new Promise(resolve => setTimeout(resolve, waited < 100 ? 1 : 10))
    }
  } finally {
    fs.closeSync(fd)
    fs.rmSync(fifo, {force: true})
  }
  const text = JSON.stringify(stateJson(state, 'running'))
  for (const hook of state.hooks.poststart) {
    try {
      runHook(hook, text, 'poststart')
    } catch (error) {
      // runc: a failed poststart hook is reported; the container keeps running.
      process.stderr.write(`${(error as Error).message}\n`)
    }
  }
}

/** `delete [--force]`: stopped (or forced) containers only; poststop hooks; nothing left behind. */
export async function remove(root: string, id: string, force: boolean): Promise<void> {
  const state = loadState(root, id)
  const status = currentStatus(root, state)
  if (status === 'running' || status === 'paused') {
    if (!force) throw new OciError('OCI_BAD_STATE', `cannot delete container ${id} that is not stopped: ${status}`)
  }
  // The common case (a stopped container whose cgroups are empty, leaves of their own) is a rmdir
  // each; anything else (processes left, child cgroups, a container still running) goes through
  // the cgroup code, which kills and retries.
  if (status === 'stopped' && state.cgroup && removeEmptyCgroups(state.cgroupPaths)) delete state.cgroup
  const cgroup = openCgroupOf(state)
  if (status !== 'stopped') {
    try {
      process.kill(state.pid, 'SIGKILL')
    } catch {
      // gone
    }
    if (cgroup?.paths.length) await cgroup.killAll()
    // Not our child: wait until it is gone or a zombie its parent will reap.
    for (let i = 0; i < 5000 && isRunning(state); i++) await new Promise(resolve => setTimeout(resolve, 2))
  }
  try {
    await cgroup?.remove()
  } catch (error) {
    if (!isPivotError(error)) throw error
    throw new OciError('OCI_BAD_STATE', `cannot remove the cgroup of container ${id}: ${error.message}`)
  }
  for (const dir of [...state.extraCgroups].reverse()) rmdirQuiet(dir)
  if (state.hostMounts) unmountHostMounts(state.hostMounts)
  fs.rmSync(stateDir(root, id), {recursive: true, force: true})
  const text = JSON.stringify(stateJson(state, 'stopped'))
  for (const hook of state.hooks.poststop) {
    try {
      runHook(hook, text, 'poststop')
    } catch (error) {
      process.stderr.write(`${(error as Error).message}\n`)
    }
  }
}

/** rmdir of each cgroup directory; false (nothing more tried) at the first that will not go. */
function removeEmptyCgroups(paths: string[]): boolean {
  for (const dir of paths) {
    try {
      fs.rmdirSync(dir)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') return false
    }
  }
  return true
}

function rmdirQuiet(dir: string): void {
  try {
    fs.rmdirSync(dir)
  } catch {
    // busy or gone: delete --force retries
  }
}
