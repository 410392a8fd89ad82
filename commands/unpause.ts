import {Args} from '@oclif/core'
import {PivotCommand} from '../src/cli/pivot-command'

export default class Unpause extends PivotCommand {
  static summary = 'Unpause all processes within containers'
  static description = `Thaws each container frozen by pivot pause. Prints each container as it was named.`

  static examples = ['<%= config.bin %> unpause web']
  static strict = false
  static args = {container: Args.string({description: 'container name, id or unique id prefix (several may be given)', required: true})}

  async run(): Promise<void> {
    const {argv, flags} = await this.parse(Unpause)
    const store = this.openStore(flags['cache-dir'])
    const [{unpauseContainer}, {eachContainer}] = await Promise.all([import('../src/runtime/lifecycle/operations'), import('../src/cli/each-container')])
    await eachContainer(argv as string[], async ref => {
      await unpauseContainer(store, ref)
      process.stdout.write(ref + '\n')
    })
  }
}
