/**
 * Progress for long commands (pull, later build). The library reports `ProgressEvent`s through a
 * plain callback and knows nothing of terminals; a reporter turns them into:
 *   - tty:   a listr2 task list (one task per phase, per-layer download lines under the pull)
 *   - plain: one line per change, for logs and CI (stdout is not a terminal)
 *   - json:  nothing (the command prints one JSON document at the end)
 *   - quiet: nothing (errors are the command's business)
 * Warnings go to stderr as `pivot: warning: ...` in tty and plain modes and are kept in
 * `warnings` for the JSON result. listr2 is loaded only in tty mode.
 */

import type {ProgressEvent} from '../images/progress-event'

export type {ProgressEvent}

export type ProgressMode = 'tty' | 'plain' | 'json' | 'quiet'

export interface ProgressReporter {
  readonly mode: ProgressMode
  readonly onProgress: (event: ProgressEvent) => void
  readonly warnings: string[]
  /** Ends the current step (failed when `error` is given) and waits until the output is drawn. */
  finish(error?: unknown): Promise<void>
}

export function progressMode(
  flags: {json?: boolean; quiet?: boolean},
  stdout: {isTTY?: boolean} = process.stdout,
  env: NodeJS.ProcessEnv = process.env,
): ProgressMode {
  if (flags.json) return 'json'
  if (flags.quiet) return 'quiet'
  if (stdout.isTTY && env.TERM !== 'dumb' && !env.CI) return 'tty'
  return 'plain'
}

export function createProgress(mode: ProgressMode, out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): ProgressReporter {
  switch (mode) {
    case 'tty':
      return new ListrReporter(err)
    case 'plain':
      return new PlainReporter(out, err)
    default:
      return new SilentReporter(mode)
  }
}

class SilentReporter implements ProgressReporter {
  readonly warnings: string[] = []
  constructor(readonly mode: ProgressMode) {}
  readonly onProgress = (event: ProgressEvent): void => {
    if (event.type === 'warning') this.warnings.push(event.message)
  }
  async finish(): Promise<void> {}
}

/** Daemon pull lines worth a line of their own: a status change, not a byte count tick. */
class PullLines {
  private readonly last = new Map<string, string>()
  /** The line for `event`, or undefined when it repeats the layer's current status. */
  plain(event: Extract<ProgressEvent, {type: 'pull'}>): string | undefined {
    const key = event.id ?? ''
    if (event.id && this.last.get(key) === event.status) return undefined
    this.last.set(key, event.status)
    return event.id ? `${event.id}: ${event.status}` : event.status
  }
}

class PlainReporter implements ProgressReporter {
  readonly mode = 'plain'
  readonly warnings: string[] = []
  private readonly pull = new PullLines()
  constructor(
    private readonly out: NodeJS.WritableStream,
    private readonly err: NodeJS.WritableStream,
  ) {}

  readonly onProgress = (event: ProgressEvent): void => {
    switch (event.type) {
      case 'phase':
      case 'detail':
        this.out.write(`${event.title}\n`)
        break
      case 'pull': {
        const line = this.pull.plain(event)
        if (line !== undefined) this.out.write(`${line}\n`)
        break
      }
      case 'warning':
        this.warnings.push(event.message)
        this.err.write(`pivot: warning: ${event.message}\n`)
        break
    }
  }

  async finish(): Promise<void> {}
}

export interface Deferred {
  promise: Promise<void>
  resolve(): void
  reject(error: unknown): void
}

export function deferred(): Deferred {
  let resolve!: () => void
  let reject!: (error: unknown) => void
  const promise = new Promise<void>((res, rej) => {
    resolve = res
    reject = rej
  })
  return {promise, resolve, reject}
}

/** The part of listr2's task wrapper this reporter drives. */
export interface TaskHandle {
  title: string | undefined
  output: string | undefined
}

/** A phase of work shown as one listr2 task: title and output can change while it runs. */
export interface Phase {
  done: Deferred
  title: string
  output?: string
  handle?: TaskHandle
}

/**
 * Shows `phase` as a one-task listr2 list that stays open until `phase.done` settles. listr2
 * fixes a list's tasks when it starts, and pulls and builds learn their phases as they go, so
 * each phase is its own list, run one after the other. Errors show only as the task's cross: the
 * command prints the error itself, as one line.
 */
export async function showPhase(listr2: typeof import('listr2'), phase: Phase, outputBar: number): Promise<void> {
  const list = new listr2.Listr(
    [
      {
        title: phase.title,
        task: async (_ctx, task) => {
          phase.handle = task as unknown as TaskHandle
          task.title = phase.title
          if (phase.output !== undefined) task.output = phase.output
          await phase.done.promise
        },
        rendererOptions: {outputBar, persistentOutput: false},
      },
    ],
    {
      renderer: 'default',
      rendererOptions: {showErrorMessage: false, collapseErrors: true, formatOutput: 'truncate'} as never,
      exitOnError: true,
      registerSignalListeners: false,
    },
  )
  await list.run()
}

/**
 * One listr2 list per phase, run one after the other: listr2 fixes a list's tasks when it starts
 * running, and the library announces its phases as it goes. Each task waits on a promise the
 * events settle.
 */
class ListrReporter implements ProgressReporter {
  readonly mode = 'tty'
  readonly warnings: string[] = []
  private current?: Phase & {run: Promise<unknown>}
  private chain: Promise<unknown> = Promise.resolve()
  private layers = new Map<string, string>()
  private listr?: Promise<typeof import('listr2')>

  constructor(private readonly err: NodeJS.WritableStream) {}

  readonly onProgress = (event: ProgressEvent): void => {
    switch (event.type) {
      case 'phase':
        this.startPhase(event.title)
        break
      case 'detail':
        if (this.current) {
          this.current.title = event.title
          if (this.current.handle) this.current.handle.title = event.title
        } else this.startPhase(event.title)
        break
      case 'pull':
        if (!this.current) return
        this.layers.set(event.id ?? '', formatPullLine(event))
        this.current.output = [...this.layers.values()].join('\n')
        if (this.current.handle) this.current.handle.output = this.current.output
        break
      case 'warning':
        this.warnings.push(event.message)
        break
    }
  }

  private startPhase(title: string): void {
    this.endPhase()
    this.layers = new Map()
    this.listr ??= import('listr2')
    const done = deferred()
    // The phase may fail before listr2 has even loaded and started awaiting it.
    done.promise.catch(() => undefined)
    const phase: NonNullable<ListrReporter['current']> = {done, title, run: Promise.resolve()}
    const previous = this.chain
    phase.run = (async () => {
      await previous.catch(() => undefined)
      await showPhase(await this.listr!, phase, Infinity)
    })()
    // The command's own error reporting says what failed; the list only shows the cross.
    this.chain = phase.run.catch(() => undefined)
    this.current = phase
  }

  private endPhase(error?: unknown): void {
    if (!this.current) return
    if (error === undefined) this.current.done.resolve()
    else this.current.done.reject(error instanceof Error ? new Error(firstLine(error.message)) : new Error('failed'))
    this.current = undefined
  }

  async finish(error?: unknown): Promise<void> {
    this.endPhase(error)
    await this.chain
    for (const w of this.warnings) this.err.write(`pivot: warning: ${w}\n`)
  }
}

function firstLine(s: string): string {
  return s.split('\n')[0]
}

const MB = 1_000_000

function formatPullLine(event: Extract<ProgressEvent, {type: 'pull'}>): string {
  const head = event.id ? `${event.id}: ${event.status}` : event.status
  if (event.total && event.current !== undefined) {
    const pct = Math.min(100, Math.floor((event.current / event.total) * 100))
    const rate = event.rate !== undefined ? ` ${(event.rate / MB).toFixed(1)} MB/s` : ''
    return `${head} ${(event.current / MB).toFixed(1)}/${(event.total / MB).toFixed(1)} MB (${pct}%)${rate}`
  }
  return head
}
