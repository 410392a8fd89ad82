import {Flags} from '@oclif/core'
import {PivotCommand} from '../src/ui/pivot-command'

export default class Ps extends PivotCommand {
  static summary = 'List containers'

  static description = `Lists the running containers of this cache; with --all also the stopped ones (kept because they
ran without --rm) and dead ones (whose \`pivot run\` or, for -d, monitor was killed; \`pivot rm\` and
\`pivot prune\` remove both). STATUS as docker shows it: Up 3 seconds, Exited (0) 2 minutes ago,
Created, Dead.

With --json: an array of {id, name, image, imageName, command, state, status, exitCode, pid,
detached, created, started, finished}.`

  static examples = ['<%= config.bin %> ps', '<%= config.bin %> ps -a', '<%= config.bin %> ps -aq', '<%= config.bin %> ps -a --no-trunc']

  static enableJsonFlag = true

  static flags = {
    all: Flags.boolean({char: 'a', description: 'show stopped and dead containers too'}),
    quiet: Flags.boolean({char: 'q', description: 'print container ids only'}),
    'no-trunc': Flags.boolean({description: 'full ids and commands'}),
  }

  async run(): Promise<unknown> {
    const {flags} = await this.parse(Ps)
    const {listContainers} = await import('../src/runtime/list-containers')
    const all = listContainers(this.openStore(flags['cache-dir']))
    const shown = flags.all ? all : all.filter(c => c.state === 'running')
    if (this.jsonEnabled()) return shown
    const full = flags['no-trunc']
    const id = (c: (typeof shown)[number]) => (full ? c.id : c.id.slice(0, 12))
    if (flags.quiet) {
      if (shown.length > 0) process.stdout.write(shown.map(id).join('\n') + '\n')
      return shown
    }
    const {formatAge, formatTable, shortId} = await import('../src/ui/format')
    // docker: the command in quotes, cut to 20 characters and an ellipsis unless --no-trunc.
    const command = (argv: string[]) => {
      const text = argv.join(' ')
      return JSON.stringify(!full && text.length > 20 ? text.slice(0, 19) + '…' : text)
    }
    const rows = shown.map(c => [id(c), c.imageName ?? shortId(c.image), command(c.command), formatAge(c.created), c.status, c.name ?? ''])
    process.stdout.write(formatTable(['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'NAMES'], rows))
    return shown
  }
}
