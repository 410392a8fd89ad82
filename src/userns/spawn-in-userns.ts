import {spawn, execFile, type ChildProcess, type StdioOptions} from 'node:child_process'
import * as fs from 'node:fs'
import type * as net from 'node:net'
import * as path from 'node:path'
import {formatMap, mapArgs, type IdMapEntry, type IdMaps} from './id-maps'
import {UsernsError} from './userns-error'

/** dist/monitor/pivot-userns, compiled from userns.c by src/runtime/monitor/build.sh. */
export const USERNS_STARTER = path.resolve(__dirname, '..', '..', 'monitor', 'pivot-userns')

/**
 * Root's staging place for a run in a user namespace: an empty directory on the host, on which
 * each starter mounts a tmpfs of its own in its private mount namespace (run-container.ts,
 * usernsSetup). Nothing is ever mounted on it in the host's namespace.
 */
export const USERNS_STAGING = '/run/pivot-userns'

/**
 * How the maps get written, from outside the namespace (a process can never write its own):
 * - direct: /proc/PID/uid_map and gid_map by pivot itself; needs CAP_SETUID/CAP_SETGID (root);
 * - newidmap: Debian's setuid newuidmap/newgidmap (package uidmap), which check the ranges
 *   against /etc/subuid and /etc/subgid;
 * - single: the one map an unprivileged user may write itself, its own id only, after
 *   `deny` in /proc/PID/setgroups (the kernel's rule: else dropping a group could grant access);
 * - none: a user namespace joined by path has its maps already (spawn-for-runtime.ts).
 */
export type MapWriter = 'direct' | 'newidmap' | 'single' | 'none'

export interface UsernsSpec {
  maps: IdMaps
  /** Default: direct as root; single for a one-id map of one's own id; newidmap otherwise. */
  writer?: MapWriter
  /**
   * Directories replaced by idmapped mounts of themselves (root only): host uid N shows as N in
   * the namespace. They exist in the starter's private mount namespace only (inherited by the
   * program), so they need no unmount and cannot leak.
   */
  idmapDirs?: Array<string | {source: string; target: string}>
  /** Root only: a tmpfs (0755) mounted on this existing directory first, where targets below may be made. */
  staging?: string
  /** Root only: plain bind mounts (recursive), the target made when missing. */
  binds?: Array<{source: string; target: string}>
  /** Root only: directories made (0755) after the mounts, e.g. a mount point under `staging`. */
  dirs?: string[]
  /** A private mount namespace for the starter even without any of the above (root only). */
  privateMounts?: boolean
  /**
   * A new network namespace for the program, made with the user namespace and so owned by it
   * (its root may then open raw sockets there); configure it from outside through `ready`'s pid.
   */
  newNetwork?: boolean
}

export interface UsernsProcess {
  /**
   * The starter (pivot-userns), the program's parent outside the namespaces: it passes every
   * signal it gets on to the program and exits with the program's status (or dies of its
   * signal). Killing it kills the program (parent-death signal).
   */
  child: ChildProcess
  /**
   * The program's host pid (PID 1 of its PID namespace) once the maps are written and it was
   * released to exec. Rejects with a UsernsError (or the program's own failure line's message)
   * when it could not start.
   */
  ready: Promise<number>
}

/** Where `stdio` puts the channel to the starter: after the caller's descriptors, at 5 at least (3 and 4 are the init's). */
function channelIndex(stdio: StdioOptions): number {
  return Math.max(5, Array.isArray(stdio) ? stdio.length : 3)
}

/**
 * Spawns `program args` as PID 1 of a new PID namespace owned by a new user namespace with the
 * given maps (userns.c says how). `stdio` is as for spawn(); descriptors 0-4 reach the program
 * unchanged.
 */
export function spawnInUserns(
  program: string,
  args: readonly string[],
  options: {env: NodeJS.ProcessEnv; stdio: StdioOptions},
  spec: UsernsSpec,
): UsernsProcess {
  const given = Array.isArray(options.stdio) ? [...options.stdio] : [options.stdio, options.stdio, options.stdio]
  const index = channelIndex(options.stdio)
  while (given.length < index) given.push('ignore')
  given.push('pipe')
  const starterArgs = ['-c', String(index), ...starterOptions(spec), '--', program, ...args]
  const child = spawn(USERNS_STARTER, starterArgs, {env: options.env, stdio: given as StdioOptions})
  return {child, ready: driveStarter(child, child.stdio[index] as net.Socket | null, spec)}
}

/**
 * The starter's options for `spec` (userns.c's usage), between its `-c FD` and its `--`: also
 * what the monitor of a detached container passes on to it (monitor.c's -o).
 */
export function starterOptions(spec: UsernsSpec): string[] {
  return [
    ...(spec.newNetwork ? ['-n'] : []),
    ...(spec.privateMounts ? ['-m'] : []),
    ...(spec.staging ? ['-s', spec.staging] : []),
    ...(spec.idmapDirs ?? []).flatMap(d => ['-i', typeof d === 'string' ? d : `${d.source}=${d.target}`]),
    ...(spec.binds ?? []).flatMap(b => ['-b', `${b.source}=${b.target}`]),
    ...(spec.dirs ?? []).flatMap(d => ['-d', d]),
  ]
}

/**
 * The parent's side of the starter's channel (userns.c): reads the program's pid, writes its maps,
 * says go. `child` is the process whose failure to start or exit ends it: the starter itself, or
 * (rootless `run -d`) the monitor that runs it with the channel passed down.
 */
export function driveStarter(child: ChildProcess, channel: net.Socket | null, spec: UsernsSpec): Promise<number> {
  const ready = new Promise<number>((resolve, reject) => {
    child.on('error', error => {
      const code = (error as NodeJS.ErrnoException).code
      reject(
        code === 'ENOENT'
          ? new UsernsError('USERNS_NO_HELPER', `the user-namespace starter ${USERNS_STARTER} is not built: run \`npm run build\` (it needs gcc and libc6-dev)`)
          : new UsernsError('USERNS_FAILED', `cannot start ${USERNS_STARTER}: ${error.message}`),
      )
    })
    if (!channel) return
    let text = ''
    let pid: number | undefined
    let mapped = false
    let mapError: Error | undefined
    channel.setEncoding('utf8')
    channel.on('error', () => undefined)
    channel.on('data', (chunk: string) => {
      text += chunk
      if (pid !== undefined || !text.includes('\n')) return
      const line = text.slice(0, text.indexOf('\n'))
      // A failure before the clone (a namespace to join, a mount) comes instead of the pid: kept for 'close'.
      if (!/^[1-9]\d*$/.test(line)) return
      text = text.slice(line.length + 1)
      pid = Number(line)
      const target = pid
      writeMaps(target, spec).then(
        () => {
          mapped = true
          channel.write('go\n')
        },
        (error: Error) => {
          mapError = error
          // The starter reads EOF instead of "go" and kills the program before it ran.
          channel.destroy()
          try {
            child.kill('SIGKILL')
          } catch {
            // gone
          }
        },
      )
    })
    channel.on('close', () => {
      if (mapError) return reject(mapError)
      const failure = parseFailure(text)
      if (failure) return reject(new UsernsError('USERNS_FAILED', failure))
      if (pid !== undefined && mapped) return resolve(pid)
      reject(new UsernsError('USERNS_FAILED', 'the user-namespace starter exited before the program ran'))
    })
  })
  // A caller that abandons the process before awaiting must not get an unhandled rejection.
  ready.catch(() => undefined)
  return ready
}

function parseFailure(text: string): string | undefined {
  const line = text.split('\n').find(l => l.trim() !== '')
  if (line === undefined) return undefined
  try {
    const f = JSON.parse(line) as {message?: unknown}
    return typeof f.message === 'string' ? f.message : line
  } catch {
    return line
  }
}

/** The writer `spec` asks for, or the default for this process's ids. */
export function chooseWriter(spec: UsernsSpec, euid: number, egid: number): MapWriter {
  if (spec.writer) return spec.writer
  if (euid === 0) return 'direct'
  const own = (map: IdMapEntry[], id: number) => map.length === 1 && map[0].count === 1 && map[0].outside === id
  return own(spec.maps.uid, euid) && own(spec.maps.gid, egid) ? 'single' : 'newidmap'
}

/** What writeMaps does to the outside world: a fake records it in the unit tests. */
export interface MapIo {
  euid: number
  egid: number
  writeFile(file: string, text: string): void
  runMapper(tool: 'newuidmap' | 'newgidmap', args: string[]): Promise<void>
}

const realIo: MapIo = {
  euid: process.geteuid?.() ?? 0,
  egid: process.getegid?.() ?? 0,
  // One write(): the kernel takes a map only whole, from a single write at offset 0.
  writeFile: (file, text) => fs.writeFileSync(file, text),
  runMapper,
}

/** Writes the uid map, then the gid map, of process `pid`'s user namespace. */
export async function writeMaps(pid: number, spec: UsernsSpec, io: MapIo = realIo): Promise<void> {
  const writer = chooseWriter(spec, io.euid, io.egid)
  if (writer === 'none') return
  if (writer === 'newidmap') {
    await io.runMapper('newuidmap', [String(pid), ...mapArgs(spec.maps.uid)])
    await io.runMapper('newgidmap', [String(pid), ...mapArgs(spec.maps.gid)])
    return
  }
  writeProcFile(io, pid, 'uid_map', formatMap(spec.maps.uid))
  if (writer === 'single') writeProcFile(io, pid, 'setgroups', 'deny')
  writeProcFile(io, pid, 'gid_map', formatMap(spec.maps.gid))
}

function writeProcFile(io: MapIo, pid: number, name: string, text: string): void {
  try {
    io.writeFile(`/proc/${pid}/${name}`, text)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error)
    throw new UsernsError('USERNS_MAP_FAILED', `cannot write /proc/${pid}/${name} (${text.trim().replace(/\n/g, ', ')}): ${code}`)
  }
}

function runMapper(tool: 'newuidmap' | 'newgidmap', args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(tool, args, {env: {PATH: '/usr/bin:/bin:/usr/sbin:/sbin'}}, (error, _stdout, stderr) => {
      if (!error) return resolve()
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        return reject(new UsernsError('USERNS_NO_HELPER', `${tool} not found: install it (Debian: apt-get install uidmap) or run with a single-id map`))
      }
      const why = String(stderr).trim().split('\n')[0] || error.message
      reject(new UsernsError('USERNS_MAP_FAILED', `${tool} ${args.join(' ')} failed: ${why}`))
    })
  })
}
