// Shared by test/security/attacks-*.test.ts: host markers an attack must not reach, a `pivot run`
// watched while it runs, a minimal busybox rootfs to hang hostile entries on, cgroup v1
// release_agent save/restore, and the checks every attack ends with (one-line errors, leftovers).
import assert from 'node:assert/strict'
import {type ChildProcess, execFileSync, spawn} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {after, before} from 'node:test'
import {PIVOT_BIN, REPO_ROOT, pivot, tempDir, type PivotResult} from './fixtures'
import {leftovers, seedImage} from './seed-image'
import {TarBuilder} from './tar-builder'
import {cacheListing} from './tree-listing'

// ---- host markers ------------------------------------------------------------------------------

const markers: string[] = []
let markerCleanup = false

/** A unique name, usable in paths and command lines. */
export function uniqueName(prefix = 'pivot-attack'): string {
  return `${prefix}-${process.pid}-${randomBytes(5).toString('hex')}`
}

/**
 * A directory on the host under /tmp holding `secret` (a file with a unique content). Attacks try
 * to read it, or write next to it; it is removed at exit.
 */
export function hostMarker(): {dir: string; file: string; content: string} {
  const dir = path.join('/tmp', uniqueName('pivot-host-marker'))
  fs.mkdirSync(dir, {mode: 0o755})
  markers.push(dir)
  if (!markerCleanup) {
    markerCleanup = true
    process.on('exit', () => {
      for (const m of markers.splice(0)) fs.rmSync(m, {recursive: true, force: true})
    })
  }
  const content = `HOST-SECRET-${randomBytes(8).toString('hex')}`
  const file = path.join(dir, 'secret')
  fs.writeFileSync(file, content + '\n', {mode: 0o644})
  return {dir, file, content}
}

/** What a marker directory holds, with each file's size and content: "untouched" is this, unchanged. */
export function markerState(dir: string): string[] {
  return cacheListing(dir)
}

// ---- processes ---------------------------------------------------------------------------------

export const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

/** Polls `check` every 20 ms; throws after `timeoutMs`. */
export async function waitUntil(what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(20)
  }
}

// ---- a pivot process watched while it runs -------------------------------------------------------

export interface Running {
  child: ChildProcess
  out(): string
  err(): string
  /** The exit status as a shell shows it (128+N for signal N), once stdout and stderr are closed too. */
  done: Promise<number>
  /**
   * The same, as soon as the pivot process itself has exited. After a SIGKILL of pivot, `done`
   * also waits for everything that inherited its stdout (the container): use this one.
   */
  exited: Promise<number>
  /** Resolves once stdout contains `text`. */
  waitFor(text: string, timeoutMs?: number): Promise<void>
  /** Resolves true once stdout contains `text`, false if pivot ends first without it. */
  waitForOrEnd(text: string, timeoutMs?: number): Promise<boolean>
}

const started: Running[] = []

/**
 * `pivot ARGS` as a background process with the cache at `cacheDir`. It is SIGKILLed after
 * `guardMs` whatever happens, so that no test can hang the suite.
 */
export function startPivot(cacheDir: string, args: string[], opts: {stdin?: 'pipe' | 'ignore'; guardMs?: number} = {}): Running {
  const env: NodeJS.ProcessEnv = {...process.env, PIVOT_CACHE_DIR: cacheDir}
  delete env.NODE_EXTRA_CA_CERTS
  const child = spawn(PIVOT_BIN, args, {cwd: REPO_ROOT, env, stdio: [opts.stdin ?? 'ignore', 'pipe', 'pipe']})
  let out = ''
  let err = ''
  const waiters = new Set<() => void>()
  child.stdout!.on('data', (c: Buffer) => {
    out += c.toString()
    for (const w of [...waiters]) w()
  })
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()))
  const guard = setTimeout(() => child.kill('SIGKILL'), opts.guardMs ?? 90_000)
  const status = (code: number | null, signal: NodeJS.Signals | null) => (signal ? 128 + os.constants.signals[signal] : (code ?? -1))
  const exited = new Promise<number>(resolve =>
    child.on('exit', (code, signal) => {
      clearTimeout(guard)
      resolve(status(code, signal))
    }),
  )
  const done = new Promise<number>(resolve => child.on('close', (code, signal) => resolve(status(code, signal))))
  /** Resolves true when stdout has `text`; with `orEnd`, false when pivot ends without it. */
  const waitText = (text: string, timeoutMs: number, orEnd: boolean) =>
    new Promise<boolean>((resolve, reject) => {
      if (out.includes(text)) return resolve(true)
      const check = () => {
        if (!out.includes(text)) return
        settle()
        resolve(true)
      }
      const timer = setTimeout(() => {
        settle()
        reject(new Error(`timed out waiting for ${JSON.stringify(text)}\nstdout: ${out}\nstderr: ${err}`))
      }, timeoutMs)
      const settle = () => {
        clearTimeout(timer)
        waiters.delete(check)
      }
      waiters.add(check)
      if (orEnd) {
        void done.then(() => {
          settle()
          resolve(out.includes(text))
        })
      }
    })
  const running: Running = {
    child,
    out: () => out,
    err: () => err,
    done,
    exited,
    waitFor: async (text, timeoutMs = 30_000) => {
      await waitText(text, timeoutMs, false)
    },
    waitForOrEnd: (text, timeoutMs = 30_000) => waitText(text, timeoutMs, true),
  }
  started.push(running)
  return running
}

/**
 * For an after() hook: SIGKILLs every startPivot process still running (a test that failed
 * half-way), then `pivot prune`s the cache, which removes dead containers and kills what is
 * left in their cgroups. A passing test has left nothing; this is for the others.
 */
export async function cleanUp(cacheDir: string): Promise<void> {
  for (const r of started.splice(0)) {
    if (r.child.exitCode === null && r.child.signalCode === null) {
      r.child.kill('SIGKILL')
      await r.exited
    }
  }
  if (fs.existsSync(cacheDir)) pivot(['prune'], {cacheDir, timeout: 120_000})
}

/** Two signals apart: sent back to back the kernel merges them into one pending signal. */
export async function signalTwice(r: Running, signal: NodeJS.Signals): Promise<void> {
  r.child.kill(signal)
  await sleep(250)
  r.child.kill(signal)
}

// ---- the host after an attack ------------------------------------------------------------------

/** No mount under the cache, no cgroup of its containers, no container dir (and no tmp/ leftovers). */
export function assertNothingLeft(cacheDir: string): void {
  assert.deepEqual(leftovers(cacheDir), {mounts: [], cgroups: [], containers: []})
}

/** A command failed as pivot's expected failures do: the status, one `pivot: ` line, no stack trace. */
export function assertOneLineError(r: PivotResult, pattern: RegExp, status?: number): void {
  if (status === undefined) assert.notEqual(r.status, 0, `should fail\nstdout: ${r.stdout}\nstderr: ${r.stderr}`)
  else assert.equal(r.status, status, `exit ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`)
  const lines = r.stderr.split('\n').filter(Boolean)
  assert.equal(lines.length, 1, `one line on stderr, got:\n${r.stderr}`)
  assert.match(lines[0], /^pivot: /)
  assert.doesNotMatch(lines[0], /internal error/)
  assert.match(lines[0], pattern)
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace')
}

/** The whole cache as a list (type, mode, owner, size, content hash per path): "untouched" is this, unchanged. */
export function cacheSnapshot(cacheDir: string): string[] {
  return fs.existsSync(cacheDir) ? cacheListing(cacheDir) : []
}

/** Free bytes on the file system holding `dir`. */
export function freeBytes(dir: string): number {
  const st = fs.statfsSync(dir)
  return st.bavail * st.bsize
}

/** layers/<hex>/rootfs of a layer digest. */
export function layerRootfs(cacheDir: string, digest: string): string {
  return path.join(cacheDir, 'layers', digest.replace(/^sha256:/, ''), 'rootfs')
}

// ---- hostile images ----------------------------------------------------------------------------

let busyboxBody: Buffer | undefined
let applets: string[] | undefined

/**
 * A minimal rootfs as a tar: the host's busybox-static with every applet linked in /bin, passwd
 * and group with root and nobody, /tmp 1777. Add hostile entries to the returned builder, end() it.
 */
export function busyboxRootfs(): TarBuilder {
  busyboxBody ??= fs.readFileSync('/bin/busybox')
  applets ??= execFileSync('/bin/busybox', ['--list'], {encoding: 'utf8'})
    .split('\n')
    .filter(a => a !== '' && a !== 'busybox' && a !== 'linuxrc')
  const tar = new TarBuilder().dir('bin/').dir('etc/').dir('tmp/', {mode: 0o1777}).dir('root/', {mode: 0o700}).file('bin/busybox', busyboxBody, {mode: 0o755})
  for (const a of applets!) tar.symlink(`bin/${a}`, 'busybox')
  tar
    .file('etc/passwd', 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n')
    .file('etc/group', 'root:x:0:\nnobody:x:65534:\n')
  return tar
}

/** Writes `tar` to a temp file and runs `pivot import FILE NAME`. */
export function importTar(cacheDir: string, tar: Buffer, name: string): PivotResult {
  const file = path.join(tempDir('pivot-attack-tar'), 'image.tar')
  fs.writeFileSync(file, tar)
  return pivot(['import', file, name], {cacheDir, timeout: 120_000})
}

// ---- cgroup v1 release_agent -------------------------------------------------------------------

/** Every release_agent file of the host's v1 hierarchies, with its content. */
export function releaseAgents(): Map<string, string> {
  const agents = new Map<string, string>()
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const fields = line.split(' ')
    const dash = fields.indexOf('-')
    if (dash === -1 || fields[dash + 1] !== 'cgroup') continue
    const file = path.join(fields[4], 'release_agent')
    try {
      agents.set(file, fs.readFileSync(file, 'utf8'))
    } catch {
      // not the hierarchy's root
    }
  }
  return agents
}

/** Puts back what releaseAgents() saw (an attack that got through must not leave the host changed). */
export function restoreReleaseAgents(saved: Map<string, string>): void {
  for (const [file, content] of saved) {
    try {
      if (fs.readFileSync(file, 'utf8') !== content) fs.writeFileSync(file, content.trim() === '' ? '\n' : content)
    } catch {
      // unmounted meanwhile
    }
  }
}

/**
 * One temp cache for a test file, seeded with `images` before its tests and pruned after, with
 * the helpers every walls test uses: `run` (`pivot run [--rm] ...` with no stdin), `ok` (asserts
 * exit 0, returns stdout) and `clean` (asserts the host has no mount, cgroup or container left).
 * `box.dir` is the cache's path once `before` has run.
 */
export function containerCache(prefix: string, images: string[]) {
  const box = {dir: ''}
  before(() => {
    box.dir = tempDir(prefix)
    for (const image of images) seedImage(box.dir, image)
  })
  after(() => {
    if (box.dir) pivot(['prune'], {cacheDir: box.dir, timeout: 120_000})
  })
  const run = (args: string[], rm = true): PivotResult => pivot(['run', ...(rm ? ['--rm'] : []), ...args], {cacheDir: box.dir, timeout: 60_000, input: ''})
  const ok = (r: PivotResult): string => {
    assert.equal(r.status, 0, `exit ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`)
    return r.stdout
  }
  const clean = (): void => assert.deepEqual(leftovers(box.dir), {mounts: [], cgroups: [], containers: []})
  return {box, run, ok, clean}
}
