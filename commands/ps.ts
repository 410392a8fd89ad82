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
    const {ps} = await import('../src/cli/ps')
    return ps({cacheDir: flags['cache-dir'], json: this.jsonEnabled(), all: flags.all, quiet: flags.quiet})
  }
}
