/**
 * `pivot run` without oclif: bin/pivot calls main() directly, because loading oclif costs more
 * than the whole container start. Flags come from the same table as commands/run.ts (oclif, for
 * --help and the docs), whose run() calls main() too, so both entry points behave alike.
 *
 * The module graph of a run of a cached image stays small: the store, the reference parser, the
 * runtime, koffi. The puller (dockerode, tar) and oclif (for --help) are required only when used.
 */
import * as fs from 'node:fs'
import * as path from 'node:path'
import {isPivotError} from '../errors'
import type {ResolvedImage} from '../images/resolve-image'
import type {Store} from '../store/store'
import {parseRunArgs, type RawRunFlags} from './run-flags'
import type {ResourceLimits, RunOptions} from './run-options'
import {RuntimeError} from './runtime-error'
import type {PendingInit} from './start-init'
import type {SecurityOptions} from './security/security-options'

// Only the modules above (small, no node:crypto or child_process) load before the init is
// spawned; the rest are required after, while the init's node starts on the other core.
const lazy = {
  store: () => require('../store/store') as typeof import('../store/store'),
  cacheRoot: () => require('../store/cache-root') as typeof import('../store/cache-root'),
  limits: () => require('./cgroups/parse-limits') as typeof import('./cgroups/parse-limits'),
  config: () => require('./container-config') as typeof import('./container-config'),
  resolveImage: () => require('../images/resolve-image') as typeof import('../images/resolve-image'),
}

/** Writes to fd 2 synchronously. Never process.stderr: for a pipe, libuv would make the file
 * description (shared with the container) non-blocking, and the container's writes could fail. */
function say(line: string): void {
  try {
    fs.writeSync(2, line.endsWith('\n') ? line : line + '\n')
  } catch {
    // stderr closed: nothing to do
  }
}

export async function main(argv: string[]): Promise<void> {
  let code: number
  try {
    code = await run(argv)
  } catch (error) {
    code = report(error)
  }
  process.exit(code)
}

function report(thrown: unknown): number {
  // A file system error on a read-only or damaged cache: its path and cause in one line.
  const error = (require('../store/store-error') as typeof import('../store/store-error')).describeFsError(thrown) ?? thrown
  if (isPivotError(error)) {
    say(`pivot: ${error.message}`)
    return error.exitCode
  }
  const e = error as Error
  say(`pivot: internal error: ${e?.stack ?? String(error)}`)
  return 125
}

/** Parses argv, makes sure the image is cached, runs it; returns the exit status. */
export async function run(argv: string[]): Promise<number> {
  const parsed = parseRunArgs(argv)
  if (parsed.help) return showHelp()
  if (parsed.image === undefined) {
    throw new RuntimeError('RUN_NO_IMAGE', `"pivot run" requires at least 1 argument: pivot run [OPTIONS] IMAGE [COMMAND] [ARG...] (see 'pivot run --help')`)
  }
  if (parsed.image.includes('\0')) throw new RuntimeError('RUN_BAD_FLAG', 'the image name contains a NUL byte')
  parsed.command.forEach((a, i) => {
    if (a.includes('\0')) throw new RuntimeError('RUN_BAD_FLAG', `argument ${i + 1} of the command contains a NUL byte`)
  })
  const f = parsed.flags
  const policy = (str(f.pull) ?? 'missing') as 'missing' | 'always' | 'never'
  const {startInit} = require('./start-init') as typeof import('./start-init')
  // Spawned first, before the flags are even checked: its node start (~20 ms) is the longest
  // step of a run and overlaps everything below. On any error it is abandoned: it has done
  // nothing yet (no namespace, no mount, no cgroup), it only waits for its config.
  const detach = f.detach === true
  const interactive = f.interactive === true
  const tty = f.tty === true
  ;(require('./lifecycle/tty') as typeof import('./lifecycle/tty')).checkTerminal(tty, interactive)
  // Detached: the monitor spawns the init, once the container's directory exists.
  let init: PendingInit | undefined = policy === 'always' || detach ? undefined : startInit('inherit', interactive, tty)
  try {
    const settings = checkFlags(f)
    const store = lazy.store().Store.open(lazy.cacheRoot().resolveCacheRoot(str(f['cache-dir'])))
    let resolved = policy === 'always' ? undefined : lookupImage(store, parsed.image)
    if (!resolved) {
      init?.abandon()
      init = undefined
      resolved = await pullImageFor(store, parsed.image, policy)
    }
    const config = resolved.image.config ?? {}
    const cfg = lazy.config()
    const options: RunOptions & SecurityOptions = {
      store,
      image: resolved.image,
      imageName: resolved.name ?? parsed.image,
      command: cfg.resolveCommand(config, parsed.command, str(f.entrypoint)),
      // docker -t sets TERM=xterm before the image's and the user's environment.
      env: cfg.mergeEnv(f.tty === true ? ['TERM=xterm'] : [], config.Env ?? [], settings.env),
      workdir: settings.workdir ?? (config.WorkingDir ? cfg.checkWorkdir(config.WorkingDir) : '/'),
      // docker: an empty -u is no -u (the image's user).
      user: settings.user || config.User || undefined,
      hostname: settings.hostname,
      name: settings.name,
      net: (str(f.net) ?? 'host') as 'host' | 'none',
      limits: settings.limits,
      volumes: settings.volumes,
      readOnlyRootfs: f['read-only'] === true,
      remove: f.rm === true,
      stdio: 'inherit',
      detach,
      interactive,
      tty,
      restartPolicy: settings.restartPolicy,
      logRotation: settings.logRotation,
      stopSignal: typeof (config as {StopSignal?: unknown}).StopSignal === 'string' ? (config as {StopSignal: string}).StopSignal : undefined,
      ...settings.security,
    }
    const {runContainer} = require('./run-container') as typeof import('./run-container')
    const pending = detach ? undefined : (init ?? startInit('inherit', interactive, tty))
    init = undefined // runContainer owns it now
    const result = await runContainer(options, pending)
    // docker run -d: the full id, once the command runs.
    if (detach) fs.writeSync(1, result.containerId + '\n')
    return result.exitCode
  } finally {
    init?.abandon()
  }
}

function str(v: RawRunFlags[string]): string | undefined {
  return typeof v === 'string' ? v : undefined
}

function list(v: RawRunFlags[string]): string[] {
  return Array.isArray(v) ? v : []
}

interface Settings {
  limits: ResourceLimits
  security: SecurityOptions & {noNewPrivileges: boolean}
  env: string[]
  volumes: RunOptions['volumes']
  workdir?: string
  user?: string
  hostname?: string
  name?: string
  restartPolicy?: import('./container-record').RestartPolicy
  logRotation?: {maxSize: number; maxFile: number}
}

/** docker's json-file --log-opt: max-size (k, m, g: binary units) and max-file (at least 1, only with max-size). */
export function parseLogOpts(values: string[]): {maxSize: number; maxFile: number} | undefined {
  let maxSize: number | undefined
  let maxFile = 1
  for (const v of values) {
    const eq = v.indexOf('=')
    const key = eq === -1 ? v : v.slice(0, eq)
    const value = eq === -1 ? '' : v.slice(eq + 1)
    if (key === 'max-size') {
      const m = /^(\d+(?:\.\d+)?)\s*([kmg]?)i?b?$/i.exec(value.trim())
      if (!m) throw new RuntimeError('RUN_BAD_FLAG', `failed to initialize logging driver: invalid size: '${value}'`)
      maxSize = Math.floor(Number(m[1]) * 1024 ** ' kmg'.indexOf((m[2] || ' ').toLowerCase()))
    } else if (key === 'max-file') {
      if (!/^-?\d+$/.test(value)) throw new RuntimeError('RUN_BAD_FLAG', `failed to initialize logging driver: invalid max-file: '${value}'`)
      maxFile = Number(value)
      if (maxFile < 1) throw new RuntimeError('RUN_BAD_FLAG', 'failed to initialize logging driver: max-file cannot be less than 1')
    } else throw new RuntimeError('RUN_BAD_FLAG', `unknown log opt '${key}' for json-file log driver`)
  }
  // docker: max-file without max-size rotates nothing.
  return maxSize === undefined || maxSize <= 0 ? undefined : {maxSize, maxFile}
}

/** docker's --restart: no, on-failure[:N], always, unless-stopped; its messages, status 125. */
export function parseRestartPolicy(value: string): import('./container-record').RestartPolicy {
  const colon = value.indexOf(':')
  const name = colon === -1 ? value : value.slice(0, colon)
  const count = colon === -1 ? undefined : value.slice(colon + 1)
  if (!['no', 'on-failure', 'always', 'unless-stopped'].includes(name)) throw new RuntimeError('RUN_BAD_FLAG', `invalid restart policy '${name}'`)
  if (count !== undefined && !/^\d+$/.test(count)) throw new RuntimeError('RUN_BAD_FLAG', 'invalid restart policy format: maximum retry count must be an integer')
  if (count !== undefined && name !== 'on-failure') throw new RuntimeError('RUN_BAD_FLAG', `maximum retry count cannot be used with restart policy '${name}'`)
  return {name: name as 'no', maximumRetryCount: count === undefined ? 0 : Number(count)}
}

/** Every flag value checked before anything is created: bad input starts nothing and leaves nothing. */
export function checkFlags(f: RawRunFlags): Settings {
  const {parseCpus, parseMemory, parsePidsLimit} = lazy.limits()
  const {checkContainerName, checkHostname, checkUser, checkWorkdir, parseVolume, userEnv} = lazy.config()
  const limits: ResourceLimits = {}
  // Docker's meanings: --pids-limit 0 or below, --memory 0 and --cpus 0 are "no limit" (the
  // parse functions say so), which is also how a user lifts pivot's default pids limit.
  const pids = str(f['pids-limit'])
  if (pids !== undefined) {
    if (!/^[-+]?\d+$/.test(pids.trim())) {
      throw new RuntimeError('RUN_BAD_FLAG', `invalid --pids-limit ${JSON.stringify(pids)}: use a whole number (0 or -1 for no limit)`)
    }
    limits.pids = parsePidsLimit(pids)
  }
  const memory = str(f.memory)
  if (memory !== undefined) limits.memory = parseMemory(memory)
  const cpus = str(f.cpus)
  if (cpus !== undefined) limits.cpus = parseCpus(cpus)
  const name = str(f.name)
  if (name !== undefined) checkContainerName(name)
  const hostname = str(f.hostname)
  if (hostname !== undefined) checkHostname(hostname)
  const workdir = str(f.workdir)
  const user = str(f.user)
  if (user !== undefined) checkUser(user)
  // Capability names are checked here, before anything starts: a typo is an error, not a no-op.
  const {resolveCapabilities} = require('./security/capabilities') as typeof import('./security/capabilities')
  const {parseSecurityOpts} = require('./security/security-options') as typeof import('./security/security-options')
  const capAdd = list(f['cap-add'])
  const capDrop = list(f['cap-drop'])
  resolveCapabilities({capAdd, capDrop})
  const opts = parseSecurityOpts(list(f['security-opt']))
  const restart = str(f.restart)
  const restartPolicy = restart === undefined ? undefined : parseRestartPolicy(restart)
  if (restartPolicy && restartPolicy.name !== 'no') {
    if (f.rm === true) throw new RuntimeError('RUN_BAD_FLAG', 'Conflicting options: --restart and --rm')
    // Deliberate (README): a foreground container has no monitor that could start it again.
    if (f.detach !== true) throw new RuntimeError('RUN_BAD_FLAG', `--restart ${restart} needs -d: only a detached container's monitor can start it again`)
  }
  const logRotation = parseLogOpts(list(f['log-opt']))
  return {
    logRotation,
    restartPolicy,
    security: {capAdd, capDrop, privileged: f.privileged === true, seccomp: opts.seccomp, noNewPrivileges: opts.noNewPrivileges},
    limits,
    env: userEnv(list(f.env), list(f['env-file'])),
    volumes: list(f.volume).map(parseVolume),
    workdir: workdir === undefined ? undefined : checkWorkdir(workdir),
    user,
    hostname,
    name,
  }
}

/** The cached image, or undefined when it is not in the cache. */
function lookupImage(store: Store, arg: string): ResolvedImage | undefined {
  try {
    return lazy.resolveImage().resolveImage(store, arg)
  } catch (error) {
    if (isPivotError(error) && error.code === 'IMAGE_NOT_FOUND') return undefined
    throw error
  }
}

/** The image pulled (policy always, or missing and not cached), or the error of --pull never. */
async function pullImageFor(store: Store, arg: string, policy: 'missing' | 'always' | 'never'): Promise<ResolvedImage> {
  if (policy === 'never') {
    // Escaped (a name with a newline or an escape sequence is still one inert line), not quoted.
    throw new RuntimeError('RUN_IMAGE_NOT_FOUND', `no such image: ${JSON.stringify(arg)} (it is not in the cache, and --pull never forbids pulling it)`)
  }
  // A name that cannot be a reference is an error of its own, not an image to look for.
  ;(require('../reference') as typeof import('../reference')).normalizeReference(arg)
  if (policy === 'missing') say(`Unable to find image '${arg}' locally`)
  await pull(store, arg)
  const found = lookupImage(store, arg)
  if (!found) throw new RuntimeError('RUN_IMAGE_NOT_FOUND', `no such image: ${JSON.stringify(arg)}`)
  return found
}

/** Pulls with plain progress lines on stderr, like docker run does. Loads dockerode: only here. */
async function pull(store: Store, arg: string): Promise<void> {
  const [{pullImage}, {createProgress}, {Writable}] = await Promise.all([
    import('../images/pull-image'),
    import('../ui/progress'),
    import('node:stream'),
  ])
  const toStderr = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      say(chunk.toString())
      callback()
    },
  })
  const progress = createProgress('plain', toStderr, toStderr)
  const controller = new AbortController()
  const abort = () => controller.abort()
  process.once('SIGINT', abort)
  process.once('SIGTERM', abort)
  try {
    await pullImage(store, arg, {onProgress: progress.onProgress, signal: controller.signal})
    await progress.finish()
  } catch (error) {
    await progress.finish(error).catch(() => undefined)
    throw error
  } finally {
    process.removeListener('SIGINT', abort)
    process.removeListener('SIGTERM', abort)
  }
}

/** `pivot run --help`: oclif renders commands/run.ts's help, built from the same flag table. */
async function showHelp(): Promise<number> {
  const {execute} = require('@oclif/core') as typeof import('@oclif/core')
  await execute({dir: path.resolve(__dirname, '..', '..', '..', 'bin', 'pivot'), args: ['run', '--help']})
  return 0
}
