import {Args} from '@oclif/core'
import {PivotCommand} from '../src/cli/pivot-command'

export default class Wait extends PivotCommand {
  static summary = 'Wait for containers to stop, then print their exit codes'
  static description = `Blocks until each container has stopped and prints its exit code (128+N when signal N killed it;
137 for a container whose monitor or \`pivot run\` was killed).`

  static examples = ['<%= config.bin %> wait web']
  static strict = false
  static args = {container: Args.string({description: 'container name, id or unique id prefix (several may be given)', required: true})}

  async run(): Promise<void> {
    const {argv, flags} = await this.parse(Wait)
    const store = this.openStore(flags['cache-dir'])
    const [{waitContainer}, {eachContainer}] = await Promise.all([import('../src/runtime/lifecycle/operations'), import('../src/cli/each-container')])
    await eachContainer(argv as string[], async ref => {
      process.stdout.write(`${await waitContainer(store, ref)}\n`)
    })
  }
}
