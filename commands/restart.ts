import {Args, Flags} from '@oclif/core'
import {PivotCommand} from '../src/cli/pivot-command'

export default class Restart extends PivotCommand {
  static summary = 'Restart containers'
  static description = `Stops each container (its stop signal, then SIGKILL after --time seconds) and starts it again with
its writable layer kept, as pivot stop then pivot start. Prints each container as it was named.`

  static examples = ['<%= config.bin %> restart web', '<%= config.bin %> restart -t 2 web']
  static strict = false
  static args = {container: Args.string({description: 'container name, id or unique id prefix (several may be given)', required: true})}
  static flags = {
    time: Flags.integer({char: 't', description: 'seconds to wait for it to stop before killing it', default: 10, min: 0}),
  }

  async run(): Promise<void> {
    const {argv, flags} = await this.parse(Restart)
    const store = this.openStore(flags['cache-dir'])
    const [{restartContainer}, {eachContainer}] = await Promise.all([import('../src/runtime/lifecycle/operations'), import('../src/cli/each-container')])
    await eachContainer(argv as string[], async ref => {
      await restartContainer(store, ref, flags.time)
      process.stdout.write(ref + '\n')
    })
  }
}
