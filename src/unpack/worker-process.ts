/** What the two worker children (unpack, pack) have in common on the parent's side. */
import {spawn, type ChildProcess, type StdioOptions} from 'node:child_process'
import * as path from 'node:path'
import type {Readable} from 'node:stream'
import {isPivotError} from '../errors'
import {UnpackError, fromReport, type ErrorReport} from './unpack-error'
import {isRoot} from '../common/user-dirs'

/**
 * The environment of a worker: ours without NODE_OPTIONS (a --require there would run in a
 * process that is about to chroot as root) and NODE_EXTRA_CA_CERTS (~40 ms of start-up here, for
 * a process that opens no connection).
 */
function workerEnv(): NodeJS.ProcessEnv {
  const env = {...process.env}
  delete env.NODE_OPTIONS
  delete env.NODE_EXTRA_CA_CERTS
  return env
}

export interface Worker {
  child: ChildProcess
  /** Resolves once the child has exited and its pipes are closed. */
  done: Promise<WorkerOutcome>
}

export interface WorkerOutcome {
  code: number | null
  signal: NodeJS.Signals | null
  /** The JSON line from fd 3, if any. */
  report: ({ok: true} & Record<string, unknown>) | ({ok: false} & ErrorReport) | null
  stderr: string
  spawnError?: Error
}

/**
 * Starts `node <script> <arg> [more...]` with stdin/stdout as given, stderr and fd 3 (the report) piped.
 * stdin may be a descriptor (the read end of a pipe), which the child gets as its fd 0; stdout
 * one too (a file the child writes).
 */
export function startWorker(
  script: string,
  arg: string,
  stdio: {stdin: 'pipe' | 'ignore' | number; stdout: 'pipe' | 'ignore' | number},
  more: string[] = [],
): Worker {
  const argv = [path.join(__dirname, script), arg, ...more]
  const options = {stdio: [stdio.stdin, stdio.stdout, 'pipe', 'pipe'] as StdioOptions, env: workerEnv()}
  let child: ChildProcess
  let ready: Promise<number> | undefined
  if (isRoot()) child = spawn(process.execPath, argv, options)
  else {
    // A user other than root unpacks and packs as root of a user namespace with its subordinate
    // ids: chroot is allowed there, and the archive's owners are kept (uid 1000 inside is a
    // subordinate id on the host) instead of all becoming the user's.
    const {spawnInUserns, userNamespaceSpec} = require('../userns') as typeof import('../userns')
    const started = spawnInUserns(process.execPath, argv, options, userNamespaceSpec())
    child = started.child
    ready = started.ready
  }
  const report = collect(child.stdio[3] as Readable | null, 1 << 20)
  const stderr = collect(child.stderr, 64 * 1024)
  const done = new Promise<WorkerOutcome>(resolve => {
    let spawnError: Error | undefined
    child.once('error', error => {
      spawnError = error
      // 'close' may not follow a failed spawn.
      if (child.pid === undefined) finish(null, null)
    })
    let finished = false
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      if (finished) return
      finished = true
      // The user namespace could not be made (newuidmap missing, a range refused): that is the cause.
      const started = ready
        ? ready.then(
            () => undefined,
            (error: Error) => error,
          )
        : Promise.resolve(undefined)
      void Promise.all([report, stderr, started]).then(([r, e, usernsError]) => {
        const failed = usernsError ?? spawnError
        resolve({code, signal, report: parseReport(r), stderr: e, ...(failed ? {spawnError: failed} : {})})
      })
    }
    child.once('close', finish)
  })
  return {child, done}
}

function collect(stream: Readable | null, cap: number): Promise<string> {
  return new Promise(resolve => {
    if (!stream) return resolve('')
    const chunks: Buffer[] = []
    let size = 0
    stream.on('data', (chunk: Buffer) => {
      if (size < cap) chunks.push(chunk)
      size += chunk.length
    })
    stream.once('error', () => resolve(Buffer.concat(chunks).toString('utf8')))
    stream.once('close', () => resolve(Buffer.concat(chunks).toString('utf8')))
  })
}

function parseReport(text: string): WorkerOutcome['report'] {
  const line = text.trim().split('\n').pop()
  if (!line) return null
  try {
    const parsed = JSON.parse(line) as WorkerOutcome['report']
    return parsed && typeof parsed === 'object' && typeof parsed.ok === 'boolean' ? parsed : null
  } catch {
    return null
  }
}

/** The error a finished worker stands for, or null when it succeeded. */
export function workerError(outcome: WorkerOutcome, what: string): UnpackError | null {
  const {report} = outcome
  if (report && !report.ok) return fromReport(report)
  if (outcome.code === 0 && report?.ok) return null
  if (isPivotError(outcome.spawnError)) {
    return new UnpackError('UNPACK_WORKER_FAILED', `${what} could not start: ${outcome.spawnError.message}`, {cause: outcome.spawnError})
  }
  const how = outcome.spawnError
    ? `could not start: ${outcome.spawnError.message}`
    : outcome.signal
      ? `killed by ${outcome.signal}`
      : `exited with status ${outcome.code}`
  const tail = outcome.stderr.trim().split('\n').slice(-5).join('\n')
  return new UnpackError('UNPACK_WORKER_FAILED', `${what} ${how}${tail ? `: ${tail}` : ''}`, {cause: outcome.spawnError})
}
