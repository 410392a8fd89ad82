import {spawn} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {EXEC_BIN} from '../runtime/lifecycle/exec'
import {capabilityMask} from '../runtime/security/capabilities'
import {translateProcess, type OciProcess} from './oci-config'
import {OciError} from './oci-error'
import {loadState} from './oci-state'
import type {OciState} from './oci-state'
import {currentStatus, openCgroupOf} from './runtime-cli'

export interface ExecOptions {
  processFile?: string
  command: string[]
  detach: boolean
  pidFile?: string
  consoleSocket?: string
  tty: boolean
}

/**
 * `exec`: another process in a running container, through pivot-exec (the C helper `pivot exec`
 * uses: it joins PID 1's namespaces and cgroup). With --process, the process gets the walls its
 * process.json asks for, as with runc: user, additional gids, umask, the five capability sets,
 * no_new_privs, rlimits, oom_score_adj; the container's seccomp program always (passed from the
 * state). Without it (`exec ID CMD...`), PID 1's walls. With `process.terminal`, a pty of the
 * container's devpts is the process's terminal: its master goes over --console-socket
 * (SCM_RIGHTS, what containerd's `ctr task exec -t` reads), or without a socket and --detach is
 * relayed to this command's stdio. With --detach, pivot-exec reports the process's pid and exits
 * at once, leaving the process to the caller's subreaper.
 */
export async function execProcess(root: string, id: string, options: ExecOptions): Promise<number> {
  const state = loadState(root, id)
  const status = currentStatus(root, state)
  if (status !== 'running') throw new OciError('OCI_BAD_STATE', `cannot exec in a ${status} container`)
  // pivot-exec enters the container's root by joining its mount namespace; one shared with the
  // host would give the host's root, not the container's chroot.
  if (state.hostMounts) throw new OciError('OCI_UNSUPPORTED', 'exec in a container without a mount namespace is not supported by pivot-runtime')
  let proc: OciProcess | undefined
  if (options.processFile) {
    let parsed: unknown
    try {
      parsed = JSON.parse(fs.readFileSync(options.processFile, 'utf8'))
    } catch (error) {
      throw new OciError('OCI_BAD_CONFIG', `process file ${options.processFile}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`)
    }
    if (typeof parsed !== 'object' || parsed === null) throw new OciError('OCI_BAD_CONFIG', `process file ${options.processFile}: not a JSON object`)
    proc = translateProcess(parsed as Record<string, unknown>)
  } else if (options.command.length === 0) throw new OciError('OCI_BAD_ARGS', 'exec: args must not be empty')
  const terminal = proc ? proc.terminal : options.tty
  // runc's rules and messages.
  if (terminal && options.detach && !options.consoleSocket)
    throw new OciError('OCI_BAD_ARGS', 'cannot allocate tty if runc will detach without setting console socket')
  if (!terminal && options.consoleSocket) throw new OciError('OCI_BAD_ARGS', 'cannot use console socket if runc will not detach or allocate tty')
  try {
    fs.accessSync(EXEC_BIN, fs.constants.X_OK)
  } catch {
    throw new OciError('OCI_UNSUPPORTED', `${EXEC_BIN} is not built: run \`npm run build\` (it needs a C compiler)`)
  }
  const flags: string[] = []
  if (proc) flags.push(...wallFlags(proc))
  if (terminal) {
    flags.push('-t')
    if (options.consoleSocket) {
      flags.push('-s', path.resolve(options.consoleSocket))
      if (proc?.consoleSize) flags.push('-w', `${proc.consoleSize.height}:${proc.consoleSize.width}`)
    } else flags.push('-i')
  }
  const env = proc ? proc.env : fs.readFileSync(`/proc/${state.pid}/environ`, 'utf8').split('\0').filter(Boolean)
  const filter = state.seccompFilter
  const mode = (filter ? '1' : '0') + (options.detach ? 'd' : '')
  const args = proc ? proc.args : options.command
  const child = spawn(EXEC_BIN, [...flags, String(state.pid), proc?.cwd ?? '/', mode, ...cgroupPidsPaths(state), '--', ...args], {
    env: Object.fromEntries(env.map(e => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)])),
    stdio: ['inherit', 'inherit', 'inherit', 'pipe', ...(options.detach ? (['pipe'] as const) : [])],
  })
  const control = child.stdio[3] as import('node:net').Socket
  control.on('error', () => undefined)
  if (filter) control.end(Buffer.from(filter, 'base64'))
  else control.end()
  if (options.detach) {
    const report = child.stdio[4] as import('node:net').Socket
    let text = ''
    report.on('data', (c: Buffer) => (text += c.toString()))
    const code = await new Promise<number>(resolve => child.on('close', c => resolve(c ?? 1)))
    const pid = Number(text.trim())
    if (code !== 0 || !(pid > 0)) throw new OciError('OCI_CREATE_FAILED', `exec failed (status ${code})`)
    if (options.pidFile) {
      fs.writeFileSync(options.pidFile + '.tmp', String(pid))
      fs.renameSync(options.pidFile + '.tmp', options.pidFile)
    }
    return 0
  }
  if (options.pidFile) {
    // Without --detach the helper is the process's parent until it exits: its own pid stands for
    // the process (it forwards signals and exits with the process's status).
    fs.writeFileSync(options.pidFile, String(child.pid))
  }
  return new Promise<number>(resolve =>
    child.on('close', (code, signal) => resolve(signal ? 128 + (require('node:os').constants.signals[signal] as number) : (code ?? 1))),
  )
}

/** pivot-exec's flags for the walls a process.json asks for (see exec.c). */
function wallFlags(proc: OciProcess): string[] {
  const c = proc.capabilities
  // As for PID 1 (oci-plan.ts): an ambient capability needs to be permitted and inheritable too.
  const ambient = c.ambient.filter(n => c.inheritable.includes(n) && c.permitted.includes(n))
  const sets = [c.bounding, c.effective, c.permitted, c.inheritable, ambient].map(s => capabilityMask(s).toString(16))
  const flags = ['-u', `${proc.uid}:${proc.gid}:${proc.additionalGids.join(',')}`, '-c', sets.join(':'), '-n', proc.noNewPrivileges ? '1' : '0']
  for (const r of proc.rlimits) flags.push('-l', `${r.resource}:${r.soft}:${r.hard}`)
  if (proc.oomScoreAdj !== undefined) flags.push('-o', String(proc.oomScoreAdj))
  if (proc.umask !== undefined) flags.push('-m', proc.umask.toString(8))
  return flags
}

/** The cgroup.procs files the process joins: the container's cgroup and its devices cgroup. */
function cgroupPidsPaths(state: OciState): string[] {
  const dirs = [...(openCgroupOf(state)?.paths ?? []), ...state.extraCgroups]
  return dirs.map(d => path.join(d, 'cgroup.procs'))
}
