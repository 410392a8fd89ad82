import {Flags} from '@oclif/core'
import {PivotCommand} from '../src/ui/pivot-command'

export default class Ps extends PivotCommand {
  static summary = 'List containers'

  static description = `Lists the running containers of this cache; with --all also the stopped ones (kept because they
ran without --rm) and dead ones (left by a pivot run that was killed; \`pivot prune\` removes both).

With --json: an array of {id, name, image, imageName, command, state, exitCode, pid, created, finished}.`

  static examples = ['<%= config.bin %> ps', '<%= config.bin %> ps -a', '<%= config.bin %> ps -aq']

  static enableJsonFlag = true

  static flags = {
    all: Flags.boolean({char: 'a', description: 'show stopped and dead containers too'}),
    quiet: Flags.boolean({char: 'q', description: 'print container ids only'}),
  }

  async run(): Promise<unknown> {
    const {flags} = await this.parse(Ps)
    const {listContainers} = await import('../src/runtime/list-containers')
    const all = listContainers(this.openStore(flags['cache-dir']))
    const shown = flags.all ? all : all.filter(c => c.state === 'running')
    if (this.jsonEnabled()) return shown
    if (flags.quiet) {
      if (shown.length > 0) process.stdout.write(shown.map(c => c.id.slice(0, 12)).join('\n') + '\n')
      return shown
    }
    const {formatAge, formatTable, humanDuration, shortId} = await import('../src/ui/format')
    const status = (c: (typeof shown)[number]) => {
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
}
