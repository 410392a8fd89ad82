import type {ContainerSummary} from '../runtime/list-containers'
import {openStore} from './open-store'

/**
 * `pivot ps`: running containers (all with --all), printed as a table, ids only with --quiet, or
 * returned for the caller to print with --json. Shared by the oclif command and the lean path.
 */
export function ps(flags: {cacheDir?: string; json: boolean; all: boolean; quiet: boolean}): ContainerSummary[] {
  const {listContainers} = require('../runtime/list-containers') as typeof import('../runtime/list-containers')
  const all = listContainers(openStore(flags.cacheDir))
  const shown = flags.all ? all : all.filter(c => c.state === 'running')
  if (flags.json) return shown
  if (flags.quiet) {
    if (shown.length > 0) process.stdout.write(shown.map(c => c.id.slice(0, 12)).join('\n') + '\n')
    return shown
  }
  const {formatAge, formatTable, humanDuration, shortId} = require('../ui/format') as typeof import('../ui/format')
  const status = (c: ContainerSummary) => {
    switch (c.state) {
      case 'running':
        return `Up ${humanDuration(Date.now() - Date.parse(c.created))}`
      case 'exited':
        return `Exited (${c.exitCode ?? '?'}) ${c.finished ? formatAge(c.finished) : ''}`.trim()
      default:
        return c.state === 'dead' ? 'Dead' : 'Created'
    }
  }
  const command = (argv: string[]) => {
    const text = JSON.stringify(argv.join(' '))
    return text.length > 22 ? text.slice(0, 20) + '…"' : text
  }
  const rows = shown.map(c => [c.id.slice(0, 12), c.imageName ?? shortId(c.image), command(c.command), formatAge(c.created), status(c), c.name ?? ''])
  process.stdout.write(formatTable(['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'NAMES'], rows))
  return shown
}
