import {Args} from '@oclif/core'
import {PivotCommand} from '../src/cli/pivot-command'

export default class Rename extends PivotCommand {
  static summary = 'Rename a container'
  static description = `Gives CONTAINER the name NEW_NAME (free, and made of [a-zA-Z0-9][a-zA-Z0-9_.-]); its old name is freed.`

  static examples = ['<%= config.bin %> rename web web-old']
  static args = {
    container: Args.string({description: 'container name, id or unique id prefix', required: true}),
    name: Args.string({description: 'the new name', required: true}),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Rename)
    const {renameContainer} = await import('../src/runtime/lifecycle/operations')
    renameContainer(this.openStore(flags['cache-dir']), args.container, args.name)
  }
}
