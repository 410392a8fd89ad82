import {Args, Flags} from '@oclif/core'
import {PivotCommand} from '../src/cli/pivot-command'

export default class Kill extends PivotCommand {
  static summary = 'Send a signal to running containers'
  static description = `Sends SIGNAL (default KILL) to each container's PID 1 and prints the container as it was named.
The signal is a name with or without SIG, in any case (USR1, sigterm), or a number. As any PID 1,
the container's ignores the signals it has no handler for, but SIGKILL always works. A container
that is not running is an error.`

  static examples = ['<%= config.bin %> kill web', '<%= config.bin %> kill -s USR1 web']
  static strict = false
  static args = {container: Args.string({description: 'container name, id or unique id prefix (several may be given)', required: true})}
  static flags = {
    signal: Flags.string({char: 's', description: 'signal to send', default: 'KILL'}),
  }

  async run(): Promise<void> {
    const {argv, flags} = await this.parse(Kill)
    const store = this.openStore(flags['cache-dir'])
    const [{killContainer}, {parseSignal}, {eachContainer}] = await Promise.all([
      import('../src/runtime/lifecycle/operations'),
      import('../src/runtime/lifecycle/containers'),
      import('../src/cli/each-container'),
    ])
    // A bad signal is one error, before any container gets anything.
    parseSignal(flags.signal)
    await eachContainer(argv as string[], async ref => {
      killContainer(store, ref, flags.signal)
      process.stdout.write(ref + '\n')
    })
  }
}
