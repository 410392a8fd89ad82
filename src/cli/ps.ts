import type {ContainerSummary} from '../runtime/list-containers'
import {openStore} from './open-store'

/**
 * `pivot ps`: running containers (all with --all), printed as a table, ids only with --quiet, or
 * returned for the caller to print with --json. Shared by the oclif command and the lean path.
 */
export function ps(flags: {cacheDir?: string; json: boolean; all: boolean; quiet: boolean; noTrunc: boolean; filter?: string[]}): ContainerSummary[] {
  const {listContainers} = require('../runtime/list-containers') as typeof import('../runtime/list-containers')
  const match = containerFilter(flags.filter ?? [])
  const all = listContainers(openStore(flags.cacheDir)).filter(match)
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
  const {displayPorts} = require('../network/ports') as typeof import('../network/ports')
  const rows = shown.map(c => [
    id(c),
    c.imageName ?? shortId(c.image),
    command(c.command),
    formatAge(c.created),
    c.status,
    displayPorts(c.ports ?? []),
    c.name ?? '',
  ])
  process.stdout.write(formatTable(['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'PORTS', 'NAMES'], rows))
  return shown
}

/** docker ps --filter: label=KEY[=VALUE] and name=SUBSTRING; several filters must all match. */
function containerFilter(filters: readonly string[]): (c: ContainerSummary) => boolean {
  const {RuntimeError} = require('../runtime/runtime-error') as typeof import('../runtime/runtime-error')
  const tests = filters.map(f => {
    const eq = f.indexOf('=')
    if (eq === -1)
      throw new RuntimeError('RUN_BAD_FLAG', `invalid argument ${JSON.stringify(f)} for "-f, --filter" flag: bad format of filter (expected name=value)`)
    const key = f.slice(0, eq)
    const value = f.slice(eq + 1)
    if (key === 'label') {
      const veq = value.indexOf('=')
      const k = veq === -1 ? value : value.slice(0, veq)
      return (c: ContainerSummary) => c.labels !== undefined && k in c.labels && (veq === -1 || c.labels[k] === value.slice(veq + 1))
    }
    if (key === 'name') return (c: ContainerSummary) => (c.name ?? '').includes(value)
    throw new RuntimeError('CONTAINER_BAD_FLAG', `Invalid filter '${key}'`, {exitCode: 1})
  })
  return c => tests.every(t => t(c))
}
