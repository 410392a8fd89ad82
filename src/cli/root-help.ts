import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {SUMMARIES} from './command-table'

/** The project root: this file is dist/src/cli/root-help.js. */
const ROOT = path.resolve(__dirname, '..', '..', '..')

function packageJson(): {name: string; version: string; description?: string; oclif?: {bin?: string; topics?: Record<string, {description?: string}>}} {
  return JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'))
}

/**
 * oclif's `config.userAgent` (what `pivot --version` prints), or undefined where oclif would say
 * something else: it names WSL `wsl`, which would need its detection here too.
 */
export function userAgent(): string | undefined {
  const microsoft = (text: string) => text.toLowerCase().includes('microsoft')
  let procVersion = ''
  try {
    procVersion = fs.readFileSync('/proc/version', 'utf8')
  } catch {
    // no /proc: not WSL either
  }
  if (os.platform() !== 'linux' || microsoft(os.release()) || microsoft(procVersion)) return undefined
  const pjson = packageJson()
  const arch = os.arch() === 'ia32' ? 'x86' : os.arch()
  return `${pjson.oclif?.bin ?? pjson.name}/${pjson.version} ${os.platform()}-${arch} node-${process.version}`
}

/**
 * The root help (`pivot`, `pivot --help`, `pivot help`) as oclif renders it into a pipe or file:
 * 80 columns, no colour. Undefined when oclif would render it otherwise (a terminal, forced
 * colour or width) or when its command list may differ from ours (a command without a summary
 * here, a summary oclif would wrap): then oclif renders it.
 */
export function rootHelp(): string | undefined {
  if (process.stdout.isTTY || process.env.FORCE_COLOR !== undefined || process.env.OCLIF_COLUMNS !== undefined) return undefined
  const agent = userAgent()
  if (agent === undefined) return undefined
  let files: fs.Dirent[]
  try {
    files = fs.readdirSync(path.join(ROOT, 'dist', 'commands'), {withFileTypes: true})
  } catch {
    return undefined
  }
  const pjson = packageJson()
  // A folder is a topic (`image` for `image inspect`): listed under TOPICS with the description
  // package.json gives it, its commands not listed. Anything else: oclif's help.
  const topics = files
    .filter(f => f.isDirectory())
    .map(f => f.name)
    .sort()
  const topicIds: string[] = []
  for (const topic of topics) {
    if (typeof pjson.oclif?.topics?.[topic]?.description !== 'string') return undefined
    let inner: string[]
    try {
      inner = fs.readdirSync(path.join(ROOT, 'dist', 'commands', topic))
    } catch {
      return undefined
    }
    if (inner.some(f => !f.endsWith('.js'))) return undefined
    topicIds.push(...inner.map(f => `${topic} ${f.slice(0, -'.js'.length)}`))
  }
  if (files.some(f => !f.isDirectory() && !f.name.endsWith('.js'))) return undefined
  const ids = files.filter(f => !f.isDirectory()).map(f => f.name.slice(0, -'.js'.length))
  if ([...ids, ...topicIds].some(id => !Object.hasOwn(SUMMARIES, id))) return undefined
  const listed = [...new Set([...ids, 'help'])].sort()
  if (listed.length + topicIds.length !== Object.keys(SUMMARIES).length) return undefined
  const width = Math.max(...listed.map(id => id.length))
  // oclif wraps a summary longer than the 80 columns less the indent, the id column and two spaces.
  if (listed.some(id => SUMMARIES[id].length > 80 - (2 + width + 2))) return undefined
  const topicWidth = Math.max(0, ...topics.map(t => t.length))
  const topicDescription = (t: string) => pjson.oclif!.topics![t]!.description!
  if (topics.some(t => topicDescription(t).length > 80 - (2 + topicWidth + 2))) return undefined
  const topicLines = topics.length === 0 ? [] : ['TOPICS', ...topics.map(t => `  ${t.padEnd(topicWidth + 2)}${topicDescription(t)}`), '']
  const description = (pjson.description ?? '').split('\n')[0]
  const lines = [
    description,
    '',
    'VERSION',
    `  ${agent}`,
    '',
    'USAGE',
    `  $ ${pjson.oclif?.bin ?? pjson.name} [COMMAND]`,
    '',
    ...topicLines,
    'COMMANDS',
    ...listed.map(id => `  ${id.padEnd(width + 2)}${SUMMARIES[id]}`),
    '',
    '',
  ]
  return lines.join('\n')
}
