// Shared fixtures for integration and security tests: the images made by test/env/setup.sh, a
// docker client, temp dirs removed at exit, and the CLI run as a subprocess.
import {execFileSync, spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'

export const BUSYBOX_IMAGE = 'localhost:5000/pivot-test/busybox:latest'
export const DEBIAN_IMAGE = 'localhost:5000/pivot-test/debian:bookworm'
export const REGISTRY = '127.0.0.1:5000'

// Compiled to dist/test/helpers/fixtures.js.
export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..')
export const PIVOT_BIN = path.join(REPO_ROOT, 'bin', 'pivot')
// Debian's client matches Debian's daemon; a newer client may sit in /usr/local/bin.
export const DOCKER_BIN = fs.existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker'

/** Runs the docker client; returns stdout, throws with stderr when it fails. */
export function docker(args: string[], opts: {input?: string | Buffer; timeout?: number} = {}): string {
  try {
    return execFileSync(DOCKER_BIN, args, {
      encoding: 'utf8',
      input: opts.input,
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: opts.timeout ?? 120_000,
      maxBuffer: 256 * 1024 * 1024,
    })
  } catch (err) {
    const e = err as {status?: number | null; stderr?: string; message: string}
    const detail = e.stderr?.trim() || e.message
    throw new Error(`docker ${args.join(' ')} failed (exit ${e.status ?? '?'}): ${detail}`)
  }
}

const tempDirs: string[] = []
let cleanupRegistered = false

function mountsUnder(dir: string): string[] {
  const prefix = dir.endsWith('/') ? dir : dir + '/'
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map(line => line.split(' ')[4])
    .filter((m): m is string => m !== undefined)
    .map(m => m.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter(m => m === dir || m.startsWith(prefix))
}

function removeTempDirs(): void {
  for (const dir of tempDirs.splice(0)) {
    // A recursive delete would descend into a leftover bind mount and wipe what it shows.
    const mounts = mountsUnder(dir)
    if (mounts.length > 0) {
      process.stderr.write(`fixtures: not removing ${dir}: still mounted: ${mounts.join(', ')}\n`)
      continue
    }
    try {
      fs.rmSync(dir, {recursive: true, force: true})
    } catch (err) {
      process.stderr.write(`fixtures: could not remove ${dir}: ${(err as Error).message}\n`)
    }
  }
}

/** A fresh directory under os.tmpdir(), removed when the process exits. */
export function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix.endsWith('-') ? prefix : prefix + '-'))
  tempDirs.push(dir)
  if (!cleanupRegistered) {
    cleanupRegistered = true
    process.on('exit', removeTempDirs)
  }
  return dir
}

export interface PivotOptions {
  /** Sets PIVOT_CACHE_DIR for the subprocess. */
  cacheDir?: string
  input?: string | Buffer
  /** Milliseconds; the CLI is SIGKILLed and the call throws when exceeded. Default 120 s. */
  timeout?: number
  env?: NodeJS.ProcessEnv
  cwd?: string
}

export interface PivotResult {
  status: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/** Runs `<repo>/bin/pivot ARGS` as a subprocess and returns what it did. */
export function pivot(args: string[], opts: PivotOptions = {}): PivotResult {
  const env: NodeJS.ProcessEnv = {...process.env, ...opts.env}
  delete env.NODE_EXTRA_CA_CERTS
  if (opts.cacheDir !== undefined) env.PIVOT_CACHE_DIR = opts.cacheDir
  return runToEnd(PIVOT_BIN, args, {...opts, env}, `pivot ${args.join(' ')}`)
}

/**
 * Runs a program to its end (SIGKILLed after `timeout`, 120 s by default) and returns what it did;
 * throws, naming `what`, only when it could not run or timed out.
 */
export function runToEnd(cmd: string, args: string[], opts: Omit<PivotOptions, 'cacheDir'>, what: string): PivotResult {
  const timeout = opts.timeout ?? 120_000
  const r = spawnSync(cmd, args, {
    cwd: opts.cwd ?? REPO_ROOT,
    env: opts.env,
    input: opts.input,
    encoding: 'utf8',
    timeout,
    killSignal: 'SIGKILL',
    maxBuffer: 64 * 1024 * 1024,
  })
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code
    const why = code === 'ETIMEDOUT' ? `timed out after ${timeout} ms` : r.error.message
    throw new Error(`${what}: ${why}\nstdout: ${r.stdout ?? ''}\nstderr: ${r.stderr ?? ''}`)
  }
  return {status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr}
}
