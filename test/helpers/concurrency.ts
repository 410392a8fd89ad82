// Helpers for tests that run many pivot commands at once on one cache (test/integration/store/gc-race.test.ts,
// test/soak): the CLI as an async subprocess, the "clean failure" rule, a multi-layer image.
import {spawn} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {BUSYBOX_IMAGE, PIVOT_BIN, REPO_ROOT, docker, tempDir, type PivotResult} from './fixtures'

export interface AsyncPivotOptions {
  cacheDir: string
  /** Milliseconds; the CLI is SIGKILLed when exceeded (and the result says so). Default 300 s. */
  timeout?: number
  input?: string | Buffer
}

/** Runs `bin/pivot ARGS` without blocking the test's event loop, so several can run at once. */
export function pivotAsync(args: string[], opts: AsyncPivotOptions): Promise<PivotResult & {args: string[]; ms: number}> {
  const env: NodeJS.ProcessEnv = {...process.env, PIVOT_CACHE_DIR: opts.cacheDir}
  delete env.NODE_EXTRA_CA_CERTS
  const started = Date.now()
  return new Promise(resolve => {
    const child = spawn(PIVOT_BIN, args, {cwd: REPO_ROOT, env, stdio: ['pipe', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c))
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c))
    child.stdin.on('error', () => undefined)
    child.stdin.end(opts.input ?? '')
    const timer = setTimeout(() => {
      stderr += `\n[test: timed out after ${opts.timeout ?? 300_000} ms, killed]`
      child.kill('SIGKILL')
    }, opts.timeout ?? 300_000)
    child.on('close', (status, signal) => {
      clearTimeout(timer)
      resolve({args, status, signal, stdout, stderr, ms: Date.now() - started})
    })
  })
}

/**
 * Why a finished command breaks the project's rule for failures, or undefined when it does not:
 * exit 0, or a non-zero exit with exactly one `pivot: ...` error line on stderr (warnings, wait
 * notices and progress lines aside), no stack trace, no "internal error", not killed.
 * `forbidden`: messages that must never appear even as a clean line (e.g. damage a race caused).
 */
export function failureProblem(r: PivotResult & {args: string[]}, forbidden: RegExp[] = []): string | undefined {
  const shown = `pivot ${r.args.join(' ')} (exit ${r.status ?? r.signal}): ${r.stderr.trim().slice(-2000)}`
  if (r.signal !== null) return `killed by ${r.signal}: ${shown}`
  if (/internal error/i.test(r.stderr) || /^\s+at .+[:(]/m.test(r.stderr)) return `stack trace or internal error: ${shown}`
  for (const re of forbidden) if (re.test(r.stderr)) return `forbidden message ${re}: ${shown}`
  if (r.status === 0) return undefined
  const errors = r.stderr.split('\n').filter(l => l.startsWith('pivot: ') && !/^pivot: (warning: |waiting for )/.test(l))
  if (errors.length !== 1) return `expected one error line, got ${errors.length}: ${shown}`
  return undefined
}

/** The one error line of a failed command ('' when it succeeded). */
export function errorLine(r: PivotResult): string {
  if (r.status === 0) return ''
  return r.stderr.split('\n').find(l => l.startsWith('pivot: ') && !/^pivot: (warning: |waiting for )/.test(l)) ?? ''
}

/**
 * A 7-layer image (the busybox fixture plus six COPY layers) in the local daemon only, under
 * `tag` (a localhost:5000 name that is never pushed: pivot's pull falls back to the daemon's
 * copy, and nothing leaves loopback). Remove it with removeDockerImage.
 */
export function buildLayeredImage(tag: string): string {
  const ctx = tempDir('pivot-layered-ctx')
  const lines = [`FROM ${BUSYBOX_IMAGE}`]
  for (let i = 1; i <= 6; i++) {
    fs.writeFileSync(path.join(ctx, `f${i}`), `layer ${i} of ${tag}\n`)
    lines.push(`COPY f${i} /l/f${i}`)
  }
  fs.writeFileSync(path.join(ctx, 'Dockerfile'), lines.join('\n') + '\n')
  docker(['build', '-q', '-t', tag, ctx], {timeout: 300_000})
  return tag
}

export function removeDockerImage(tag: string): void {
  try {
    docker(['rmi', '-f', tag])
  } catch {
    // already gone
  }
}

/** Host processes that belong to the cache: their root is under it, or their environment names it. */
export function processesOfCache(cacheDir: string): string[] {
  const found: string[] = []
  for (const pid of fs.readdirSync('/proc').filter(e => /^\d+$/.test(e))) {
    if (Number(pid) === process.pid) continue
    try {
      const root = fs.readlinkSync(`/proc/${pid}/root`)
      const environ = fs.readFileSync(`/proc/${pid}/environ`, 'utf8')
      if (root === cacheDir || root.startsWith(cacheDir + '/') || environ.split('\0').includes(`PIVOT_CACHE_DIR=${cacheDir}`)) {
        found.push(`${pid}: ${fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ')}`)
      }
    } catch {
      // gone meanwhile, or a kernel thread
    }
  }
  return found
}

/** Entries of a cache folder ([] when it does not exist). */
export function entriesOf(cacheDir: string, folder: string): string[] {
  try {
    return fs.readdirSync(path.join(cacheDir, folder))
  } catch {
    return []
  }
}
