import {spawn} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import type {Store} from '../../store/store'
import {cgroupIdOf, configPath} from '../../store/container-record'
import {RuntimeError} from '../runtime-error'
import {containerStatus, resolveContainer} from './containers'

/** dist/monitor/pivot-exec, compiled from src/runtime/monitor/exec.c by `npm run build`. */
export const EXEC_BIN = path.resolve(__dirname, '..', '..', '..', 'monitor', 'pivot-exec')

export interface ExecOptions {
  command: string[]
  /** -e KEY=VALUE (KEY alone: from pivot's environment), over PID 1's environment. */
  env: string[]
  /** -w: absolute; default: the directory PID 1 started in. */
  workdir?: string
  /** -i: pivot's stdin, else /dev/null. */
  interactive: boolean
  /** -u USER[:GROUP], looked up in the container's /etc/passwd and /etc/group. */
  user?: string
  /** --privileged: every capability (the seccomp filter stays). */
  privileged?: boolean
  /** -t: a pty of the container for the command. */
  tty?: boolean
  /** -d: start the command and return at once (its output goes nowhere, as docker's). */
  detach?: boolean
}

/**
 * A file of the container's root for reading from the host, through /proc/PID/root: undefined
 * when a component is a symlink (an absolute link would resolve against the host's root there).
 */
function readContainerFile(pid: number, rel: string): string | undefined {
  let p = `/proc/${pid}/root`
  const parts = rel.split('/').filter(Boolean)
  for (const part of parts) {
    p += '/' + part
    const st = fs.lstatSync(p, {throwIfNoEntry: false})
    if (!st || st.isSymbolicLink()) return undefined
  }
  try {
    return fs.readFileSync(p, 'utf8')
  } catch {
    return undefined
  }
}

/**
 * `pivot exec`: runs a command in a running container, in all of PID 1's namespaces and its
 * cgroup, with exactly PID 1's walls: its uid, gids and groups, its five capability sets, its
 * no_new_privs, the same seccomp filter (compiled from the container's recorded options, as the
 * run did), and the masked and read-only paths of its mount namespace. pivot-exec (exec.c) does
 * the joining. Returns the command's exit status (126 when it cannot be run, missing included, as docker exec 20.10).
 */
export async function execInContainer(store: Store, ref: string, options: ExecOptions): Promise<number> {
  const id = resolveContainer(store, ref)
  const status = containerStatus(store, id)
  if (!status || status.state !== 'running' || status.pid === undefined) {
    throw new RuntimeError('CONTAINER_NOT_RUNNING', `container ${id} is not running`, {exitCode: 1})
  }
  // Its processes are frozen: the command would be too, from its first instruction.
  if (status.paused) throw new RuntimeError('CONTAINER_PAUSED', `Container ${ref} is paused, unpause the container before exec`, {exitCode: 1})
  if (options.tty && options.interactive && options.detach !== true && !(require('node:tty') as typeof import('node:tty')).isatty(0)) {
    throw new RuntimeError('CONTAINER_NOT_A_TTY', 'the input device is not a TTY', {exitCode: 1})
  }
  if (options.command.length === 0)
    throw new RuntimeError('CONTAINER_BAD_FLAG', '"pivot exec" requires at least 2 arguments: pivot exec [OPTIONS] CONTAINER COMMAND [ARG...]', {exitCode: 1})
  const workdir = options.workdir ?? status.record.workdir ?? '/'
  if (!path.posix.isAbsolute(workdir))
    throw new RuntimeError('CONTAINER_BAD_FLAG', `the working directory ${JSON.stringify(workdir)} is not absolute`, {exitCode: 1})
  for (const a of [...options.command, ...options.env, workdir]) {
    if (a.includes('\0')) throw new RuntimeError('CONTAINER_BAD_FLAG', 'an argument contains a NUL byte', {exitCode: 1})
  }
  try {
    fs.accessSync(EXEC_BIN, fs.constants.X_OK)
  } catch {
    throw new RuntimeError('RUN_NO_MONITOR', `${EXEC_BIN} is not built: run \`npm run build\` (it needs a C compiler: apt-get install gcc libc6-dev)`)
  }
  const pid = status.pid
  // PID 1's environment as it was exec'd: the container's (docker exec uses the container's Env).
  const env = new Map<string, string>()
  let environ = ''
  try {
    environ = fs.readFileSync(`/proc/${pid}/environ`, 'utf8')
  } catch {
    throw new RuntimeError('CONTAINER_NOT_RUNNING', `container ${id} is not running`, {exitCode: 1})
  }
  for (const entry of environ.split('\0')) {
    const eq = entry.indexOf('=')
    if (eq > 0) env.set(entry.slice(0, eq), entry.slice(eq + 1))
  }
  for (const e of options.env) {
    const eq = e.indexOf('=')
    if (eq === -1) {
      const v = process.env[e]
      if (v === undefined) env.delete(e)
      else env.set(e, v)
    } else env.set(e.slice(0, eq), e.slice(eq + 1))
  }
  const flags: string[] = []
  if (options.user !== undefined && options.user !== '') {
    const {resolveUser} = require('../user') as typeof import('../user')
    let u: import('../user').ResolvedUser
    try {
      u = resolveUser(options.user, readContainerFile(pid, 'etc/passwd'), readContainerFile(pid, 'etc/group'))
    } catch (error) {
      // docker exec: 126, the status of a process that could not be started.
      throw new RuntimeError('CONTAINER_BAD_USER', (error as Error).message, {exitCode: 126})
    }
    flags.push('-u', `${u.uid}:${u.gid}:${u.groups.join(',')}`)
    // HOME as a container started with this user has it (runc's rule), unless -e set it.
    if (!options.env.some(e => e === 'HOME' || e.startsWith('HOME='))) env.set('HOME', u.home)
  }
  // The filter PID 1 loaded, as the run compiled it (config.json); compiled again only for a
  // container made before pivot kept it there. The cgroup directories the run made are there too:
  // taking them saves loading the cgroup module (~10 ms of exec's ~90).
  let config: {seccompFilter?: string | null; cgroup?: {dirs?: Array<{hostDir: string}>}} = {}
  let configFd: number | undefined
  let text = Buffer.alloc(0)
  try {
    configFd = fs.openSync(configPath(store, id), 'r')
    text = fs.readFileSync(configFd)
    config = JSON.parse(text.toString('utf8')) as typeof config
  } catch {
    // made by an older pivot
  }
  // pivot-exec reads the program from config.json itself (on fd 3, -f: where its base64 is), rather
  // than from a pipe node would write it into: the pipe cost ~1.5 ms of every exec (src/runtime/README.md).
  // Base64 has nothing JSON escapes: the quoted text is in the file as it is, at this byte offset.
  const at = typeof config.seccompFilter === 'string' && config.seccompFilter !== '' ? text.indexOf(`"${config.seccompFilter}"`) : -1
  if (at < 0 && configFd !== undefined) {
    fs.closeSync(configFd)
    configFd = undefined
  }
  let seccompFilter = config.seccompFilter
  if (seccompFilter === undefined) {
    const {securityConfig} = require('../security/security-options') as typeof import('../security/security-options')
    seccompFilter = securityConfig(status.record.security ?? {}).seccompFilter
  }
  const recorded = config.cgroup?.dirs?.map(d => d.hostDir) ?? []
  const dirs = recorded.length > 0 ? recorded : (require('../cgroups') as typeof import('../cgroups')).openCgroup(cgroupIdOf(store, id)).paths
  const procs = dirs.map(p => path.join(p, 'cgroup.procs'))
  // docker exec -t: TERM=xterm unless the container or -e set one.
  if (options.tty && !env.has('TERM')) env.set('TERM', 'xterm')
  if (options.privileged) flags.push('-P')
  if (options.tty) flags.push('-t')
  if (options.interactive) flags.push('-i')
  if (at >= 0) flags.push('-f', `${at + 1}:${Buffer.byteLength(seccompFilter as string)}`)
  const detach = options.detach === true
  const fd3 = at >= 0 ? (configFd as number) : 'pipe'
  let child: import('node:child_process').ChildProcess
  try {
    child = spawn(EXEC_BIN, [...flags, String(pid), workdir, seccompFilter ? '1' : '0', ...procs, '--', ...options.command], {
      env: Object.fromEntries(env),
      stdio: detach ? ['ignore', 'ignore', 'ignore', fd3] : [options.interactive ? 'inherit' : 'ignore', 'inherit', 'inherit', fd3],
      detached: detach,
    })
  } finally {
    if (configFd !== undefined) fs.closeSync(configFd)
  }
  const control = child.stdio[3] as import('node:net').Socket | null
  if (control !== null) {
    control.on('error', () => undefined)
    if (seccompFilter) control.end(Buffer.from(seccompFilter, 'base64'))
    else control.end()
  }
  if (detach) {
    // docker exec -d: returns once the command is started; the helper lives on by itself.
    child.unref()
    control?.unref()
    return await new Promise<number>(resolve => {
      child.on('error', () => resolve(125))
      child.on('spawn', () => resolve(0))
    })
  }
  // The helper passes SIGINT, SIGTERM... on to the command; pivot itself must not die of them first.
  const forward = (signal: NodeJS.Signals) => () => child.kill(signal)
  const handlers = (['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'] as NodeJS.Signals[]).map(s => [s, forward(s)] as const)
  for (const [s, h] of handlers) process.on(s, h)
  try {
    return await new Promise<number>(resolve => {
      child.on('error', () => resolve(125))
      child.on('close', (code, signal) => resolve(signal ? 128 + (require('node:os').constants.signals[signal] as number) : (code ?? 125)))
    })
  } finally {
    for (const [s, h] of handlers) process.removeListener(s, h)
  }
}
