import {Args, Flags} from '@oclif/core'
import {PivotCommand} from '../src/cli/pivot-command'

export default class Stop extends PivotCommand {
  static summary = 'Stop running containers'
  static description = `Sends each container's PID 1 its stop signal (the image's StopSignal, else SIGTERM) and, if it is
still running after --time seconds, SIGKILL, which ends its whole PID namespace. Prints each
container as it was named once it has exited. A container that is not running is left as it is.`

  static examples = ['<%= config.bin %> stop web', '<%= config.bin %> stop -t 2 4f3c2a']
  static strict = false
  static args = {container: Args.string({description: 'container name, id or unique id prefix (several may be given)', required: true})}
  static flags = {
    time: Flags.integer({
      char: 't',
      description: "seconds to wait for it to stop before killing it [default: the container's --stop-timeout, else 10]",
      min: 0,
    }),
  }

  async run(): Promise<void> {
    const {argv, flags} = await this.parse(Stop)
    const store = this.openStore(flags['cache-dir'])
    const [{stopContainer}, {eachContainer}] = await Promise.all([import('../src/runtime/lifecycle/operations'), import('../src/cli/each-container')])
    await eachContainer(argv as string[], async ref => {
      await stopContainer(store, ref, flags.time)
      process.stdout.write(ref + '\n')
    })
  }
}
