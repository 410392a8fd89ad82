import type {ContainerSummary} from '../runtime/list-containers'
import {openStore} from './open-store'

/**
 * `pivot ps`: running containers (all with --all), printed as a table, ids only with --quiet, or
 * returned for the caller to print with --json. Shared by the oclif command and the lean path.
 */
export function ps(flags: {cacheDir?: string; json: boolean; all: boolean; quiet: boolean; noTrunc: boolean}): ContainerSummary[] {
  const {listContainers} = require('../runtime/list-containers') as typeof import('../runtime/list-containers')
  const all = listContainers(openStore(flags.cacheDir))
  const shown = flags.all ? all : all.filter(c => c.state === 'running')
  if (flags.json) return shown
  const id = (c: ContainerSummary) => (flags.noTrunc ? c.id : c.id.slice(0, 12))
  if (flags.quiet) {
    if (shown.length > 0) process.stdout.write(shown.map(id).join('\n') + '\n')
    return shown
  }
  const {formatAge, formatTable, shortId} = require('../common/format') as typeof import('../common/format')
  // docker: the command in quotes, cut to 20 characters and an ellipsis unless --no-trunc.
  const command = (argv: string[]) => {
    const text = argv.join(' ')
    return JSON.stringify(!flags.noTrunc && text.length > 20 ? text.slice(0, 19) + '…' : text)
  }
  const rows = shown.map(c => [id(c), c.imageName ?? shortId(c.image), command(c.command), formatAge(c.created), c.status, c.name ?? ''])
  process.stdout.write(formatTable(['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'NAMES'], rows))
  return shown
}
