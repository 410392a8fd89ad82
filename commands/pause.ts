import {Args} from '@oclif/core'
import {PivotCommand} from '../src/cli/pivot-command'

export default class Pause extends PivotCommand {
  static summary = 'Pause all processes within containers'
  static description = `Freezes every process of each container (its cgroup's freezer: freezer.state on cgroup v1,
cgroup.freeze on v2) until pivot unpause. Prints each container as it was named.`

  static examples = ['<%= config.bin %> pause web']
  static strict = false
  static args = {container: Args.string({description: 'container name, id or unique id prefix (several may be given)', required: true})}

  async run(): Promise<void> {
    const {argv, flags} = await this.parse(Pause)
    const store = this.openStore(flags['cache-dir'])
    const [{pauseContainer}, {eachContainer}] = await Promise.all([import('../src/runtime/lifecycle/operations'), import('../src/cli/each-container')])
    await eachContainer(argv as string[], async ref => {
      await pauseContainer(store, ref)
      process.stdout.write(ref + '\n')
    })
  }
}
