// A node:test reporter for the test VM: one JSON line per finished test, which the host reads back
// from the data disk and turns into its own subtests (test/vm/cgroup-v2.test.ts reads this shape).
import type {TestEvent} from 'node:test/reporters'

interface GuestResult {
  /** The test's name, prefixed with its suites' (`suite > test`). */
  name: string
  file?: string
  ok: boolean
  skip: boolean
  /** 'suite' for a describe(); test otherwise. */
  type?: string
  durationMs: number
  error?: string
}

interface EventData {
  name: string
  nesting: number
  file?: string
  skip?: boolean | string
  details?: {duration_ms?: number; type?: string; error?: Error & {cause?: unknown}}
}

function errorText(error: (Error & {cause?: unknown}) | undefined): string | undefined {
  if (error === undefined) return undefined
  // The runner wraps what the test threw: the assertion itself is the cause.
  const cause = error.cause instanceof Error ? error.cause : error
  return (cause.stack ?? cause.message ?? String(cause)).slice(0, 4000)
}

async function* jsonlReporter(source: AsyncIterable<TestEvent>): AsyncGenerator<string> {
  const stack: string[] = []
  for await (const event of source) {
    const data = event.data as unknown as EventData
    if (event.type === 'test:start') {
      stack.length = data.nesting
      stack[data.nesting] = data.name
    } else if (event.type === 'test:pass' || event.type === 'test:fail') {
      const result: GuestResult = {
        name: [...stack.slice(0, data.nesting), data.name].join(' > '),
        file: data.file,
        ok: event.type === 'test:pass',
        skip: data.skip !== undefined && data.skip !== false,
        type: data.details?.type,
        durationMs: Math.round(data.details?.duration_ms ?? 0),
        error: event.type === 'test:fail' ? errorText(data.details?.error) : undefined,
      }
      yield JSON.stringify(result) + '\n'
    }
  }
}

export = jsonlReporter
