import {isPivotError} from '../errors'

/**
 * docker's rule for commands that take several containers (stop, kill, rm, wait): each is done in
 * turn, a failure is one line on stderr and does not stop the others, and the exit status is 1 if
 * any failed (the failure's own status when there is only one).
 */
export async function eachContainer(refs: string[], action: (ref: string) => Promise<void>): Promise<void> {
  let status = 0
  for (const ref of refs) {
    try {
      await action(ref)
    } catch (error) {
      if (!isPivotError(error)) throw error
      process.stderr.write(`pivot: ${error.message}\n`)
      status = refs.length === 1 ? error.exitCode : 1
    }
  }
  if (status !== 0) process.exitCode = status
}
