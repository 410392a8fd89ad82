import {Args, Flags} from '@oclif/core'
import {PivotCommand} from '../src/cli/pivot-command'

export default class Start extends PivotCommand {
  static summary = 'Start stopped containers again'
  static description = `Starts each container that is not running again, in the background, with the same command, settings
and writable layer (what its first run wrote is still there), under a new monitor that appends to
its log. Prints each container as it was named; a running one is left as it is. With -a, prints
the container's output until it stops and exits with its status (one container only).`

  static examples = ['<%= config.bin %> start web', '<%= config.bin %> start -a job']
  static strict = false
  static args = {container: Args.string({description: 'container name, id or unique id prefix (several may be given)', required: true})}
  static flags = {
    attach: Flags.boolean({char: 'a', description: "print the container's output until it stops; exit with its status"}),
  }

  async run(): Promise<void> {
    const {argv, flags} = await this.parse(Start)
    const store = this.openStore(flags['cache-dir'])
    const refs = argv as string[]
    const [{startContainer}, {eachContainer}, {RuntimeError}] = await Promise.all([
      import('../src/runtime/lifecycle/start'),
      import('../src/cli/each-container'),
      import('../src/runtime/runtime-error'),
    ])
    if (flags.attach && refs.length > 1) throw new RuntimeError('CONTAINER_BAD_FLAG', 'you cannot start and attach multiple containers at once', {exitCode: 1})
    const write = (stream: 'stdout' | 'stderr', text: string) => (stream === 'stderr' ? process.stderr : process.stdout).write(text)
    await eachContainer(refs, async ref => {
      const code = await startContainer(store, ref, {attach: flags.attach, write})
      if (flags.attach) process.exitCode = code ?? 0
      else process.stdout.write(ref + '\n')
    })
  }
}
