import type {Store} from '../store'

/**
 * `pivot image inspect` (and the image side of `pivot inspect`): the JSON array on stdout, one
 * `pivot: no such image: X` line on stderr per unknown argument, exit status 1 if any, as docker.
 */
export function printImageInspect(store: Store, args: string[]): void {
  const {inspectImages} = require('../images/inspect-image') as typeof import('../images/inspect-image')
  const {found, missing} = inspectImages(store, args)
  process.stdout.write(JSON.stringify(found, null, 4) + '\n')
  for (const m of missing) process.stderr.write(`pivot: ${m.message}\n`)
  if (missing.length > 0) process.exitCode = 1
}
