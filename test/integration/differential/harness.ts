// The differential harness: one behaviour = one row; each row's commands run through
// /usr/bin/docker and ./bin/pivot on the same image, and the harness compares exit status,
// stdout and the shape of stderr (empty or not, and a key phrase when the row names one).
// Adding a behaviour is adding a row to a table (see lifecycle.rows.ts).
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {BUSYBOX_IMAGE, DEBIAN_IMAGE, DOCKER_BIN, pivot} from '../../helpers/fixtures'

export interface Cmd {
  /** The command line after `docker`/`pivot`; $C, $C2 are this row's container names, $B/$D the images. */
  args: string[]
  /** Compare stdout (after normalising ids and times); default true. */
  stdout?: boolean
  /** Compare the exit status; default true. */
  status?: boolean
  /** A phrase both stderrs must contain (case-insensitive); otherwise both must be empty or both not. */
  stderrHas?: string
  /** Text both sides send on stdin. */
  input?: string
  /** A usage error: pivot's one line must begin with docker's first line, the names made pivot's
   * (`"docker logs" requires exactly 1 argument.` -> `pivot: "pivot logs" requires exactly 1 argument.`). */
  sameError?: boolean
  /** Milliseconds to sleep after this command, on each side (a container's output settling). */
  settle?: number
}

export interface Row {
  name: string
  cmds: Cmd[]
  /** Transforms each side's stdout before comparison (e.g. drop a column pivot does not have). */
  normalize?: (stdout: string) => string
}

export interface Side {
  status: number | null
  stdout: string
  stderr: string
}

export const PREFIX = `pivot-lifecycle-diff-${process.pid}`

/** Random parts of an output: ids, times, the CLI's own name. */
export function normalizeOutput(text: string): string {
  return text
    .replace(/\b[0-9a-f]{64}\b/g, '<ID>')
    .replace(/\b[0-9a-f]{12}\b/g, '<SID>')
    .replace(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z/g, '<TIME>')
    .replace(new RegExp(`${PREFIX}-(\\d+)`, 'g'), '<NAME$1>')
}

function expand(args: string[], row: number): string[] {
  return args.map(a =>
    a.replaceAll('$C2', `${PREFIX}-${row}b`).replaceAll('$C', `${PREFIX}-${row}`).replaceAll('$B', BUSYBOX_IMAGE).replaceAll('$D', DEBIAN_IMAGE),
  )
}

/** docker's daemon here has no bridge network: both sides run without one. */
function withNetwork(args: string[], flag: string[]): string[] {
  const at = args.findIndex(a => a === 'run')
  if (at === -1 || (args[0] !== 'run' && !(args[0] === 'container' && args[1] === 'run'))) return args
  return [...args.slice(0, at + 1), ...flag, ...args.slice(at + 1)]
}

function runDocker(args: string[], input: string): Side {
  const r = spawnSync(DOCKER_BIN, withNetwork(args, ['--network', 'none']), {encoding: 'utf8', input, timeout: 120_000})
  if (r.error) throw r.error
  return {status: r.status, stdout: r.stdout, stderr: r.stderr}
}

function runPivot(cache: string, args: string[], input: string): Side {
  return pivot(withNetwork(args, ['--net', 'none']), {cacheDir: cache, input, timeout: 120_000})
}

const sleep = (ms: number) => spawnSync('sleep', [String(ms / 1000)])

/** Runs one row on both sides and asserts they agree; removes the row's containers after. */
export function checkRow(cache: string, row: Row, index: number): void {
  const names = [`${PREFIX}-${index}`, `${PREFIX}-${index}b`]
  try {
    for (const cmd of row.cmds) {
      const args = expand(cmd.args, index)
      const d = runDocker(args, cmd.input ?? '')
      const p = runPivot(cache, args, cmd.input ?? '')
      if (cmd.settle) sleep(cmd.settle)
      const what = `${row.name}: ${args.join(' ')}\n  docker: ${d.status} ${JSON.stringify(d.stdout)} ${JSON.stringify(d.stderr)}\n  pivot:  ${p.status} ${JSON.stringify(p.stdout)} ${JSON.stringify(p.stderr)}`
      if (cmd.status !== false) assert.equal(p.status, d.status, what)
      if (cmd.stdout !== false) {
        const norm = (s: string) => normalizeOutput(row.normalize ? row.normalize(s) : s)
        assert.equal(norm(p.stdout), norm(d.stdout), what)
      }
      if (cmd.sameError) {
        const docker = d.stderr.split('\n')[0]
        assert.ok(docker !== '', `docker printed no error: ${what}`)
        assert.ok(p.stderr.startsWith(`pivot: ${docker.replaceAll('docker', 'pivot')}`), `first line: ${what}`)
        assert.equal(p.stderr.trimEnd().split('\n').length, 1, `pivot's error is one line: ${what}`)
      }
      if (cmd.stderrHas !== undefined) {
        // docker 20.10 prints some daemon errors on stdout: look in both streams there.
        assert.ok((d.stderr + d.stdout).toLowerCase().includes(cmd.stderrHas.toLowerCase()), `docker lacks "${cmd.stderrHas}": ${what}`)
        assert.ok(p.stderr.toLowerCase().includes(cmd.stderrHas.toLowerCase()), `pivot lacks "${cmd.stderrHas}": ${what}`)
        assert.equal(p.stderr.trimEnd().split('\n').length, 1, `pivot's error is one line: ${what}`)
      } else if (cmd.stdout !== false) {
        assert.equal(p.stderr === '', d.stderr === '', `stderr shape: ${what}`)
      }
    }
  } finally {
    spawnSync(DOCKER_BIN, ['rm', '-f', ...names], {stdio: 'ignore'})
    pivot(['rm', '-f', ...names], {cacheDir: cache})
  }
}
