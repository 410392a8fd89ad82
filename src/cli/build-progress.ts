import type {ProgressEvent, ProgressMode, ProgressReporter} from './progress'
import type {BuildEvent} from '../build/build-image'
import type {RecipeStep} from '../build/recipe'
import {type Phase, deferred, showPhase} from './progress'

/**
 * Shows a build as it goes, in the modes of src/cli/progress.ts:
 *   - tty:   a listr2 task per step (one list after the other, as the pull reporter does): the
 *            step's output scrolls under it while it runs, and the title ends with `(cached)` or
 *            its time. The output of a failed step is printed in full when the list ends.
 *   - plain: `Step 2/5: run: apt-get update` before a step runs, its output as it comes (stdout
 *            to stdout, stderr to stderr), then `Step 2/5: done in 3.2s`; a cached step is one
 *            line, `Step 2/5: run: apt-get update (cached)`.
 *   - json:  no progress; step output goes to stderr, so stdout holds only the result.
 *   - quiet: nothing, but a failed step's output goes to stderr.
 * A base image pull is shown by the pull's own reporter, in the same mode.
 */
export interface BuildReporter {
  readonly onEvent: (event: BuildEvent) => void
  readonly warnings: string[]
  finish(error?: unknown): Promise<void>
}

const KEEP_BYTES = 1 << 20
const BAR_LINES = 10

export function createBuildReporter(
  mode: ProgressMode,
  out: NodeJS.WritableStream = process.stdout,
  err: NodeJS.WritableStream = process.stderr,
  columns: number = (process.stdout as {columns?: number}).columns ?? 100,
): BuildReporter {
  return mode === 'tty' ? new TtyBuildReporter(out, err, columns) : new LineBuildReporter(mode, out, err)
}

/** The captured output of the running step (the last MiB), for a failure report. */
class Capture {
  private chunks: Buffer[] = []
  private bytes = 0
  add(chunk: Buffer): void {
    this.chunks.push(chunk)
    this.bytes += chunk.length
    while (this.bytes > KEEP_BYTES && this.chunks.length > 1) this.bytes -= (this.chunks.shift() as Buffer).length
  }
  text(): string {
    return Buffer.concat(this.chunks).toString('utf8')
  }
  reset(): void {
    this.chunks = []
    this.bytes = 0
  }
}

function stepTitle(step: RecipeStep, total: number): string {
  return `Step ${step.index}/${total}: ${step.text}`
}

function formatSeconds(seconds: number): string {
  return seconds < 10 ? `${seconds.toFixed(1)}s` : `${Math.round(seconds)}s`
}

class LineBuildReporter implements BuildReporter {
  readonly warnings: string[] = []
  private pull?: ProgressReporter
  private readonly capture = new Capture()

  constructor(
    private readonly mode: ProgressMode,
    private readonly out: NodeJS.WritableStream,
    private readonly err: NodeJS.WritableStream,
  ) {}

  readonly onEvent = (event: BuildEvent): void => {
    const plain = this.mode === 'plain'
    switch (event.type) {
      case 'base':
        if (plain && event.pulling) this.out.write(`Pulling the base image ${event.from}\n`)
        break
      case 'pull':
        this.pullReporter().onProgress(event.event as ProgressEvent)
        break
      case 'step-start':
        this.capture.reset()
        if (plain && !event.cached) this.out.write(`${stepTitle(event.step, event.total)}\n`)
        break
      case 'step-output':
        if (this.mode === 'quiet') this.capture.add(event.chunk)
        else if (this.mode === 'json') this.err.write(event.chunk)
        else (event.stream === 'stdout' ? this.out : this.err).write(event.chunk)
        break
      case 'step-end':
        if (!plain) break
        if (event.cached) this.out.write(`${stepTitle(event.step, event.total)} (cached)\n`)
        else
          this.out.write(
            `Step ${event.step.index}/${event.total}: done in ${formatSeconds(event.seconds)}${event.layer || !changes(event.step) ? '' : ', no changes'}\n`,
          )
        break
      case 'step-failed':
        if (this.mode === 'quiet') this.err.write(this.capture.text())
        break
      case 'warning':
        this.warnings.push(event.message)
        if (plain) this.err.write(`pivot: warning: ${event.message}\n`)
        break
    }
  }

  private pullReporter(): ProgressReporter {
    if (!this.pull) {
      const {createProgress} = require('./progress') as typeof import('./progress')
      this.pull = createProgress(this.mode, this.out, this.err)
    }
    return this.pull
  }

  async finish(error?: unknown): Promise<void> {
    await this.pull?.finish(error)
  }
}

/** Steps that may add a layer (env and workdir never do; saying "no changes" for them is noise). */
function changes(step: RecipeStep): boolean {
  return step.def.kind === 'run' || step.def.kind === 'copy'
}

/**
 * listr2 fixes a list's tasks when it starts and the build discovers its steps' fate as it goes
 * (cached or not), so each step is a one-task list, run one after the other.
 */
class TtyBuildReporter implements BuildReporter {
  readonly warnings: string[] = []
  private readonly capture = new Capture()
  private chain: Promise<unknown> = Promise.resolve()
  private current?: Phase
  private partial = ''
  private pull?: ProgressReporter
  private failedOutput?: string
  private listr?: Promise<typeof import('listr2')>

  constructor(
    private readonly out: NodeJS.WritableStream,
    private readonly err: NodeJS.WritableStream,
    private readonly columns: number,
  ) {}

  readonly onEvent = (event: BuildEvent): void => {
    switch (event.type) {
      case 'pull':
        if (!this.pull) {
          const {createProgress} = require('./progress') as typeof import('./progress')
          this.pull = createProgress('tty', this.out, this.err)
        }
        this.pull.onProgress(event.event as ProgressEvent)
        break
      case 'step-start':
        this.capture.reset()
        this.partial = ''
        this.start(this.fit(`${stepTitle(event.step, event.total)}${event.cached ? ' (cached)' : ''}`))
        break
      case 'step-output': {
        this.capture.add(event.chunk)
        // listr2's output bar keeps the last outputs it was given: hand it whole lines, one by one.
        const parts = (this.partial + event.chunk.toString('utf8')).split(/\r?\n|\r/)
        this.partial = parts.pop() ?? ''
        for (const line of parts) this.setOutput(line)
        break
      }
      case 'step-end': {
        const suffix = event.cached ? ' (cached)' : ` (${formatSeconds(event.seconds)}${event.layer || !changes(event.step) ? '' : ', no changes'})`
        this.setTitle(this.fit(stepTitle(event.step, event.total), suffix))
        this.end()
        break
      }
      case 'step-failed':
        this.setTitle(this.fit(stepTitle(event.step, event.total), ` (failed after ${formatSeconds(event.seconds)})`))
        this.failedOutput = this.capture.text()
        this.end(event.error)
        break
      case 'warning':
        this.warnings.push(event.message)
        break
      case 'base':
        break
    }
  }

  /** One line: long step texts are cut to the terminal width, keeping the suffix. */
  private fit(title: string, suffix = ''): string {
    const room = Math.max(20, this.columns - 6 - suffix.length)
    return (title.length > room ? title.slice(0, room - 3) + '...' : title) + suffix
  }

  private async finishPull(): Promise<void> {
    if (this.pull) {
      const pull = this.pull
      this.pull = undefined
      await pull.finish()
    }
  }

  private start(title: string): void {
    this.end()
    this.listr ??= import('listr2')
    const phase: NonNullable<TtyBuildReporter['current']> = {done: deferred(), title}
    const previous = this.chain
    const run = (async () => {
      await previous.catch(() => undefined)
      await this.finishPull()
      await showPhase(await this.listr!, phase, BAR_LINES)
    })()
    this.chain = run.catch(() => undefined)
    this.current = phase
  }

  private setTitle(title: string): void {
    if (!this.current) return
    this.current.title = title
    if (this.current.handle) this.current.handle.title = title
  }

  private setOutput(output: string): void {
    if (!this.current) return
    this.current.output = output
    if (this.current.handle) this.current.handle.output = output
  }

  private end(error?: unknown): void {
    if (!this.current) return
    if (error === undefined) this.current.done.resolve()
    else this.current.done.reject(new Error('failed'))
    this.current = undefined
  }

  async finish(error?: unknown): Promise<void> {
    this.end(error)
    await this.chain
    await this.finishPull()
    if (this.failedOutput) this.err.write(this.failedOutput.endsWith('\n') ? this.failedOutput : this.failedOutput + '\n')
    for (const w of this.warnings) this.err.write(`pivot: warning: ${w}\n`)
  }
}
