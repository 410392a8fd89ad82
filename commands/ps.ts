import {Flags} from '@oclif/core'
import {PivotCommand} from '../src/cli/pivot-command'

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
    filter: Flags.string({
      char: 'f',
      description: 'only containers matching: label=KEY or label=KEY=VALUE, name=NAME (repeatable; all must match)',
      multiple: true,
      multipleNonGreedy: true,
    }),
  }

  async run(): Promise<unknown> {
    const {flags} = await this.parse(Ps)
    const {ps} = await import('../src/cli/ps')
    return ps({
      cacheDir: flags['cache-dir'],
      json: this.jsonEnabled(),
      all: flags.all,
      quiet: flags.quiet,
      noTrunc: flags['no-trunc'],
      filter: flags.filter ?? [],
    })
  }
}
