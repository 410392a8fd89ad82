/**
 * `pivot-runtime`: pivot as an OCI runtime (the runc command line containerd's shim, dockerd and
 * podman drive). bin/pivot-runtime calls main(argv) without oclif: containerd starts this binary
 * several times per container, so it loads only what the subcommand needs.
 *
 *   pivot-runtime [--root DIR] [--log FILE] [--log-format text|json] [--debug] SUBCOMMAND ...
 *
 * Errors follow runc: exit 1, and one line `time=... level=error msg="..."` on stderr, or with
 * --log the line in that file (JSON with --log-format json: containerd reads the last
 * `{"level":"error","msg":...}` line of <bundle>/log.json for "OCI runtime create failed: ...").
 */
import * as fs from 'node:fs'
import * as path from 'node:path'
import {runtimeDir} from '../common/user-dirs'
import {isPivotError} from '../errors'
import {OciError} from './oci-error'
import {checkId, isRunning, loadState, saveState, stateDir, stateJson, statusOf, withLock, type OciState, type OciStatus} from './oci-state'

export const VERSION = '0.1.0'
const SPEC_VERSION = '1.1.0'
// runc's rule: /run/runc for root, $XDG_RUNTIME_DIR/runc for anyone else.
const DEFAULT_ROOT = runtimeDir('pivot-runtime')

interface Globals {
  root: string
  log?: string
  logFormat: 'text' | 'json'
  debug: boolean
}

/** A subcommand's flags: name -> whether it takes a value. */
type FlagTable = Record<string, boolean>

interface Parsed {
  flags: Record<string, string | true>
  args: string[]
}

function parseFlags(argv: string[], table: FlagTable, command: string): Parsed {
  const flags: Record<string, string | true> = {}
  const args: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (a === '--') {
      args.push(...argv.slice(i + 1))
      break
    }
    if (a.startsWith('-') && a !== '-' && args.length === 0) {
      const eq = a.indexOf('=')
      const name = (eq === -1 ? a : a.slice(0, eq)).replace(/^--?/, '')
      if (!(name in table)) throw new OciError('OCI_BAD_ARGS', `${command}: flag provided but not defined: -${name}`)
      if (table[name]) {
        const value = eq === -1 ? argv[++i] : a.slice(eq + 1)
        if (value === undefined) throw new OciError('OCI_BAD_ARGS', `${command}: flag needs an argument: -${name}`)
        flags[name] = value
      } else {
        flags[name] = true
      }
      continue
    }
    args.push(a)
  }
  return {flags, args}
}

function logLine(globals: Globals, level: string, msg: string): string {
  const time = new Date().toISOString().replace(/\.\d+Z$/, 'Z')
  return globals.logFormat === 'json' ? JSON.stringify({level, msg, time}) : `time="${time}" level=${level} msg=${JSON.stringify(msg)}`
}

function reportError(globals: Globals, msg: string): void {
  if (globals.log) {
    try {
      fs.appendFileSync(globals.log, logLine(globals, 'error', msg) + '\n')
    } catch {
      // the log is the caller's; stderr still says it
    }
    process.stderr.write(msg + '\n')
  } else {
    process.stderr.write(logLine({...globals, logFormat: 'text'}, 'error', msg) + '\n')
  }
}

export async function main(argv: string[]): Promise<void> {
  const globals: Globals = {root: DEFAULT_ROOT, logFormat: 'text', debug: false}
  let code = 0
  try {
    let i = 0
    for (; i < argv.length; i++) {
      const a = argv[i]!
      if (!a.startsWith('-')) break
      const eq = a.indexOf('=')
      const name = (eq === -1 ? a : a.slice(0, eq)).replace(/^--?/, '')
      const value = () => {
        const v = eq === -1 ? argv[++i] : a.slice(eq + 1)
        if (v === undefined) throw new OciError('OCI_BAD_ARGS', `flag needs an argument: -${name}`)
        return v
      }
      if (name === 'root') globals.root = path.resolve(value())
      else if (name === 'log') globals.log = value()
      else if (name === 'log-format') {
        const f = value()
        if (f !== 'text' && f !== 'json') throw new OciError('OCI_BAD_ARGS', `invalid log-format: ${f}`)
        globals.logFormat = f
      } else if (name === 'debug') globals.debug = true
      else if (name === 'systemd-cgroup')
        throw new OciError('OCI_UNSUPPORTED', '--systemd-cgroup is not supported by pivot: configure the runtime with SystemdCgroup = false (cgroupfs driver)')
      else if (name === 'rootless') {
        const v = eq === -1 ? 'true' : a.slice(eq + 1)
        if (v === 'true') throw new OciError('OCI_UNSUPPORTED', '--rootless is not supported by pivot-runtime')
      } else if (name === 'version' || name === 'v') {
        process.stdout.write(`pivot-runtime version ${VERSION}\nspec: ${SPEC_VERSION}\n`)
        return
      } else if (name === 'help' || name === 'h') {
        process.stdout.write(USAGE)
        return
      } else throw new OciError('OCI_BAD_ARGS', `flag provided but not defined: -${name}`)
    }
    const command = argv[i]
    const rest = argv.slice(i + 1)
    if (command === undefined) {
      process.stdout.write(USAGE)
      return
    }
    code = await run(command, rest, globals)
  } catch (error) {
    if (isPivotError(error)) {
      reportError(globals, error.message)
      // runc exits 1 for every error; pivot's own modules say 125 for theirs.
      code = 1
    } else {
      const e = error as Error
      reportError(globals, e?.message ?? String(error))
      if (globals.debug) process.stderr.write(String(e?.stack) + '\n')
      code = 1
    }
  }
  process.exitCode = code
}

const USAGE = `Usage: pivot-runtime [--root DIR] [--log FILE] [--log-format text|json] [--debug] COMMAND

pivot as an OCI runtime (runc's command line), for containerd, dockerd --add-runtime and podman.

Commands:
  create --bundle DIR [--pid-file F] [--console-socket S] [--no-pivot] [--preserve-fds N] ID
  start ID                 run the process of a created container
  state ID                 the container's state as JSON
  kill [--all] ID [SIGNAL] send a signal (default SIGTERM) to the container's process
  delete [--force] ID      remove a stopped (or, with --force, any) container
  exec --process F [--detach] [--pid-file F] [--console-socket S] ID
                           run another process in the container
  ps --format json ID      the container's pids
  pause ID / resume ID     freeze / thaw the container's cgroup
  features                 what this runtime supports, as JSON
`

async function run(command: string, argv: string[], g: Globals): Promise<number> {
  switch (command) {
    case 'create': {
      const {flags, args} = parseFlags(
        argv,
        {bundle: true, b: true, 'pid-file': true, 'console-socket': true, 'no-pivot': false, 'no-new-keyring': false, 'preserve-fds': true},
        'create',
      )
      const {create} = require('./oci-create') as typeof import('./oci-create')
      await create(g.root, checkId(oneArg(args, 'create')), {
        bundle: path.resolve(String(flags.bundle ?? flags.b ?? '.')),
        pidFile: flags['pid-file'] === undefined ? undefined : path.resolve(String(flags['pid-file'])),
        consoleSocket: flags['console-socket'] === undefined ? undefined : path.resolve(String(flags['console-socket'])),
        noPivot: flags['no-pivot'] === true,
        preserveFds: flags['preserve-fds'] === undefined ? 0 : count(String(flags['preserve-fds']), 'preserve-fds'),
      })
      return 0
    }
    case 'run':
      throw new OciError('OCI_UNSUPPORTED', 'run is not supported by pivot-runtime: use create, then start')
    case 'start': {
      const {args} = parseFlags(argv, {}, 'start')
      const id = checkId(oneArg(args, 'start'))
      const {start} = require('./oci-lifecycle') as typeof import('./oci-lifecycle')
      await withLock(g.root, id, () => start(g.root, id))
      return 0
    }
    case 'state': {
      const {args} = parseFlags(argv, {}, 'state')
      const id = checkId(oneArg(args, 'state'))
      const state = loadState(g.root, id)
      process.stdout.write(JSON.stringify(stateJson(state, currentStatus(g.root, state)), null, 2))
      return 0
    }
    case 'kill': {
      const {flags, args} = parseFlags(argv, {all: false, a: false}, 'kill')
      if (args.length < 1 || args.length > 2) throw new OciError('OCI_BAD_ARGS', `kill: expects 1 or 2 arguments, got ${args.length}`)
      const id = checkId(args[0])
      const signal = parseSignal(args[1] ?? 'SIGTERM')
      const state = loadState(g.root, id)
      const status = currentStatus(g.root, state)
      const all = flags.all === true || flags.a === true
      if (status === 'stopped' && !all) throw new OciError('OCI_BAD_STATE', 'container not running')
      if (all) {
        const pids = cgroupPids(state)
        if (status !== 'stopped' && !pids.includes(state.pid)) pids.push(state.pid)
        if (status === 'paused') openCgroupOf(state)?.thaw()
        for (const pid of pids) signalPid(pid, signal)
      } else {
        try {
          process.kill(state.pid, signal)
        } catch {
          throw new OciError('OCI_BAD_STATE', 'container not running')
        }
      }
      return 0
    }
    case 'delete': {
      const {flags, args} = parseFlags(argv, {force: false, f: false}, 'delete')
      const id = checkId(oneArg(args, 'delete'))
      const {remove} = require('./oci-lifecycle') as typeof import('./oci-lifecycle')
      await withLock(g.root, id, () => remove(g.root, id, flags.force === true || flags.f === true))
      return 0
    }
    case 'ps': {
      const {flags, args} = parseFlags(argv, {format: true, f: true}, 'ps')
      const format = String(flags.format ?? flags.f ?? 'table')
      const id = checkId(args[0])
      const state = loadState(g.root, id)
      const pids = currentStatus(g.root, state) === 'stopped' ? [] : cgroupPids(state)
      if (format === 'json') process.stdout.write(JSON.stringify(pids) + '\n')
      else if (format === 'table') process.stdout.write(['PID', ...pids.map(String)].join('\n') + '\n')
      else throw new OciError('OCI_BAD_ARGS', `invalid format option: ${format}`)
      return 0
    }
    case 'pause':
    case 'resume': {
      const {args} = parseFlags(argv, {}, command)
      const id = checkId(oneArg(args, command))
      await withLock(g.root, id, async () => {
        const state = loadState(g.root, id)
        const status = currentStatus(g.root, state)
        const cgroup = openCgroupOf(state)
        if (command === 'pause') {
          if (status !== 'running' && status !== 'created') throw new OciError('OCI_BAD_STATE', 'container not running')
          if (!cgroup?.canFreeze()) throw new OciError('OCI_UNSUPPORTED', 'cannot pause: the container has no freezer cgroup')
          await cgroup.freeze()
        } else {
          if (status !== 'paused') throw new OciError('OCI_BAD_STATE', 'container not paused')
          cgroup!.thaw()
        }
      })
      return 0
    }
    case 'exec': {
      const {flags, args} = parseFlags(
        argv,
        {process: true, p: true, detach: false, d: false, 'pid-file': true, 'console-socket': true, tty: false, t: false},
        'exec',
      )
      const {execProcess} = require('./oci-exec') as typeof import('./oci-exec')
      if (args.length < 1) throw new OciError('OCI_BAD_ARGS', 'exec: expects a container id')
      try {
        return await execProcess(g.root, checkId(args[0]), {
          processFile: flags.process === undefined && flags.p === undefined ? undefined : String(flags.process ?? flags.p),
          command: args.slice(1),
          detach: flags.detach === true || flags.d === true,
          pidFile: flags['pid-file'] === undefined ? undefined : path.resolve(String(flags['pid-file'])),
          consoleSocket: flags['console-socket'] === undefined ? undefined : String(flags['console-socket']),
          tty: flags.tty === true || flags.t === true,
        })
      } catch (error) {
        // runc: every failure of exec is "exec failed: ..." with status 255.
        const message = isPivotError(error) ? error.message : String((error as Error)?.message ?? error)
        reportError(g, `exec failed: ${message}`)
        return 255
      }
    }
    case 'features':
      process.stdout.write(JSON.stringify(features(), null, 2) + '\n')
      return 0
    case 'list': {
      const {flags} = parseFlags(argv, {format: true, f: true, quiet: false, q: false}, 'list')
      let ids: string[] = []
      try {
        ids = fs.readdirSync(g.root).filter(n => !n.startsWith('.') && fs.existsSync(path.join(g.root, n, 'state.json')))
      } catch {
        ids = []
      }
      const states = ids.map(id => {
        const s = loadState(g.root, id)
        return stateJson(s, currentStatus(g.root, s))
      })
      if ((flags.format ?? flags.f) === 'json') process.stdout.write(JSON.stringify(states) + '\n')
      else process.stdout.write(['ID\tPID\tSTATUS\tBUNDLE', ...states.map(s => `${s.id}\t${s.pid}\t${s.status}\t${s.bundle}`)].join('\n') + '\n')
      return 0
    }
    case 'update':
    case 'events':
    case 'checkpoint':
    case 'restore':
    case 'spec':
      throw new OciError('OCI_UNSUPPORTED', `${command} is not supported by pivot-runtime`)
    default:
      throw new OciError('OCI_BAD_ARGS', `No help topic for '${command}'`)
  }
}

function oneArg(args: string[], command: string): string | undefined {
  if (args.length !== 1) throw new OciError('OCI_BAD_ARGS', `${command}: expects exactly 1 argument (the container id), got ${args.length}`)
  return args[0]
}

function count(v: string, flag: string): number {
  if (!/^\d+$/.test(v)) throw new OciError('OCI_BAD_ARGS', `invalid value "${v}" for flag -${flag}`)
  return Number(v)
}

/** A signal by number (what containerd sends) or name, with or without SIG. */
export function parseSignal(text: string): number {
  const {signals} = require('node:os').constants as {signals: Record<string, number>}
  if (/^\d+$/.test(text)) {
    const n = Number(text)
    if (n >= 1 && n <= 64) return n
  } else {
    const name = text.toUpperCase().startsWith('SIG') ? text.toUpperCase() : `SIG${text.toUpperCase()}`
    if (signals[name] !== undefined) return signals[name]
    const rt = /^SIGRTMIN(?:\+(\d+))?$/.exec(name)
    if (rt) return 34 + Number(rt[1] ?? 0)
  }
  throw new OciError('OCI_BAD_ARGS', `unknown signal "${text}"`)
}

function signalPid(pid: number, signal: number): void {
  try {
    process.kill(pid, signal)
  } catch {
    // gone meanwhile
  }
}

export function openCgroupOf(state: OciState): import('../runtime/cgroups').CgroupManager | undefined {
  if (!state.cgroup) return undefined
  const {openCgroup} = require('../runtime/cgroups') as typeof import('../runtime/cgroups')
  return openCgroup(state.cgroup.name, {parent: state.cgroup.parent})
}

export function currentStatus(root: string, state: OciState): OciStatus {
  return statusOf(root, state, () => {
    for (const dir of state.cgroupPaths) {
      const v1 = path.join(dir, 'freezer.state')
      if (fs.existsSync(v1)) return fs.readFileSync(v1, 'utf8').trim() !== 'THAWED'
      const v2 = path.join(dir, 'cgroup.freeze')
      if (fs.existsSync(v2)) return fs.readFileSync(v2, 'utf8').trim() === '1'
    }
    return false
  })
}

export function cgroupPids(state: OciState): number[] {
  const pids = new Set<number>()
  for (const dir of state.cgroupPaths) {
    try {
      for (const line of fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n')) if (line) pids.add(Number(line))
    } catch {
      // removed meanwhile
    }
  }
  if (pids.size === 0 && isRunning(state)) pids.add(state.pid)
  return [...pids].sort((a, b) => a - b)
}

function features(): Record<string, unknown> {
  return {
    ociVersionMin: '1.0.0',
    ociVersionMax: SPEC_VERSION,
    hooks: ['prestart', 'createRuntime', 'poststart', 'poststop'],
    mountOptions: [
      'async',
      'atime',
      'bind',
      'defaults',
      'dev',
      'diratime',
      'dirsync',
      'exec',
      'lazytime',
      'mand',
      'noatime',
      'nodev',
      'nodiratime',
      'noexec',
      'nolazytime',
      'nomand',
      'norelatime',
      'nostrictatime',
      'nosuid',
      'private',
      'rbind',
      'relatime',
      'ro',
      'rprivate',
      'rshared',
      'rslave',
      'runbindable',
      'rw',
      'shared',
      'slave',
      'strictatime',
      'suid',
      'sync',
      'unbindable',
    ],
    linux: {
      namespaces: ['cgroup', 'ipc', 'mount', 'network', 'pid', 'user', 'uts'],
      capabilities: (require('../runtime/security/capabilities') as typeof import('../runtime/security/capabilities')).CAPABILITY_NAMES,
      cgroup: {v1: true, v2: true, systemd: false, systemdUser: false},
      seccomp: {
        enabled: true,
        actions: ['SCMP_ACT_ALLOW', 'SCMP_ACT_ERRNO'],
        operators: ['SCMP_CMP_EQ', 'SCMP_CMP_MASKED_EQ', 'SCMP_CMP_NE'],
        archs: ['SCMP_ARCH_X86', 'SCMP_ARCH_X86_64', 'SCMP_ARCH_X32', 'SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'],
      },
      apparmor: {enabled: false},
      selinux: {enabled: false},
    },
    annotations: {'org.opencontainers.runtime-spec.features.implementation': 'pivot-runtime'},
  }
}

export {stateDir, saveState, withLock}
