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
 * uses: it joins PID 1's namespaces and cgroup and takes PID 1's walls: uid, gids, the five
 * capability sets, no_new_privs, and the container's seccomp program, passed from the state).
 * So the process.json must ask for PID 1's identity and capabilities; a different one is
 * refused rather than run with walls it did not ask for. With --detach, pivot-exec reports the
 * process's pid and exits at once, leaving the process to the caller's subreaper.
 */
export async function execProcess(root: string, id: string, options: ExecOptions): Promise<number> {
  const state = loadState(root, id)
  const status = currentStatus(root, state)
  if (status !== 'running') throw new OciError('OCI_BAD_STATE', `cannot exec in a ${status} container`)
  let proc: OciProcess
  if (options.processFile) {
    let parsed: unknown
    try {
      parsed = JSON.parse(fs.readFileSync(options.processFile, 'utf8'))
    } catch (error) {
      throw new OciError('OCI_BAD_CONFIG', `process file ${options.processFile}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`)
    }
    if (typeof parsed !== 'object' || parsed === null) throw new OciError('OCI_BAD_CONFIG', `process file ${options.processFile}: not a JSON object`)
    proc = translateProcess(parsed as Record<string, unknown>)
  } else {
    if (options.command.length === 0) throw new OciError('OCI_BAD_ARGS', 'exec: args must not be empty')
    const environ = fs.readFileSync(`/proc/${state.pid}/environ`, 'utf8').split('\0').filter(Boolean)
    proc = {
      args: options.command,
      env: environ,
      cwd: '/',
      uid: 0,
      gid: 0,
      additionalGids: [],
      terminal: options.tty,
      capabilities: {bounding: [], effective: [], permitted: [], inheritable: [], ambient: []},
      rlimits: [],
      noNewPrivileges: false,
    }
  }
  if (proc.terminal || options.tty || options.consoleSocket) throw new OciError('OCI_UNSUPPORTED', 'exec with a terminal is not supported by pivot-runtime yet')
  if (options.processFile) checkSameWalls(state.pid, proc)
  try {
    fs.accessSync(EXEC_BIN, fs.constants.X_OK)
  } catch {
    throw new OciError('OCI_UNSUPPORTED', `${EXEC_BIN} is not built: run \`npm run build\` (it needs a C compiler)`)
  }
  const filter = state.seccompFilter
  const mode = (filter ? '1' : '0') + (options.detach ? 'd' : '')
  const child = spawn(EXEC_BIN, [String(state.pid), proc.cwd, mode, ...cgroupPidsPaths(state), '--', ...proc.args], {
    env: Object.fromEntries(proc.env.map(e => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)])),
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

function checkSameWalls(pid: number, proc: OciProcess): void {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
  const field = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1] ?? ''
  const uid = Number(field('Uid').split(/\s+/)[0])
  const gid = Number(field('Gid').split(/\s+/)[0])
  if (proc.uid !== uid || proc.gid !== gid) {
    throw new OciError(
      'OCI_UNSUPPORTED',
      `exec as ${proc.uid}:${proc.gid} is not supported by pivot-runtime: exec'd processes run as the container's process (${uid}:${gid})`,
    )
  }
  const eff = BigInt('0x' + field('CapEff'))
  if (proc.capabilities.effective.length > 0 && capabilityMask(proc.capabilities.effective) !== eff && uid === 0) {
    throw new OciError('OCI_UNSUPPORTED', "exec with capabilities other than the container process's is not supported by pivot-runtime")
  }
}

/** The cgroup.procs files the process joins: the container's cgroup and its devices cgroup. */
function cgroupPidsPaths(state: OciState): string[] {
  const dirs = [...(openCgroupOf(state)?.paths ?? []), ...state.extraCgroups]
  return dirs.map(d => path.join(d, 'cgroup.procs'))
}
