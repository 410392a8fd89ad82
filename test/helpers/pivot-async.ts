// Runs the CLI without blocking the test's event loop (spawnSync would): for tests that serve
// the CLI from the same process (the fault proxy).
import {spawn} from 'node:child_process'
import {PIVOT_BIN, REPO_ROOT, type PivotOptions, type PivotResult} from './fixtures'

export function pivotAsync(args: string[], opts: PivotOptions = {}): Promise<PivotResult> {
  const env: NodeJS.ProcessEnv = {...process.env, ...opts.env}
  delete env.NODE_EXTRA_CA_CERTS
  if (opts.cacheDir !== undefined) env.PIVOT_CACHE_DIR = opts.cacheDir
  const timeout = opts.timeout ?? 120_000
  return new Promise((resolve, reject) => {
    const child = spawn(PIVOT_BIN, args, {cwd: opts.cwd ?? REPO_ROOT, env, stdio: ['pipe', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', d => (stdout += d))
    child.stderr.on('data', d => (stderr += d))
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`pivot ${args.join(' ')}: timed out after ${timeout} ms\nstdout: ${stdout}\nstderr: ${stderr}`))
    }, timeout)
    child.on('error', reject)
    child.on('close', (status, signal) => {
      clearTimeout(timer)
      resolve({status, signal, stdout, stderr})
    })
    child.stdin.end(opts.input ?? '')
  })
}
