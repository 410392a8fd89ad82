import {Args, Flags} from '@oclif/core'
import {PivotCommand} from '../src/cli/pivot-command'

export default class Start extends PivotCommand {
  static summary = 'Start stopped containers again'
  static description = `Starts each container that is not running again, in the background, with the same command, settings
and writable layer (what its first run wrote is still there), under a new monitor that appends to
its log; a container on the bridge or a user network is connected to it again. Prints each
container as it was named; a running one is left as it is. With -a, relays the container's output
from its first byte until it stops and exits with its status (one container only); with -i as well,
pivot's stdin goes to the container's (one run with -i). On a -t container the terminal is raw
and --detach-keys (default ctrl-p,ctrl-q) leave it running.`

  static examples = ['<%= config.bin %> start web', '<%= config.bin %> start -a job', '<%= config.bin %> start -ai shell']
  static strict = false
  static args = {container: Args.string({description: 'container name, id or unique id prefix (several may be given)', required: true})}
  static flags = {
    attach: Flags.boolean({char: 'a', description: "relay the container's output until it stops; exit with its status"}),
    interactive: Flags.boolean({char: 'i', description: "attach pivot's stdin to the container's"}),
    'detach-keys': Flags.string({description: 'keys that detach from a -t container (default ctrl-p,ctrl-q)', helpValue: 'KEYS'}),
  }

  async run(): Promise<void> {
    const {argv, flags} = await this.parse(Start)
    const store = this.openStore(flags['cache-dir'])
    const refs = argv as string[]
    const [{startContainer}, {eachContainer}, {RuntimeError}, {parseDetachKeys, DEFAULT_DETACH_KEYS}] = await Promise.all([
      import('../src/runtime/lifecycle/start'),
      import('../src/cli/each-container'),
      import('../src/runtime/runtime-error'),
      import('../src/runtime/lifecycle/attach'),
    ])
    // docker: -i attaches too.
    const attach = flags.attach || flags.interactive
    if (attach && refs.length > 1) throw new RuntimeError('CONTAINER_BAD_FLAG', 'you cannot start and attach multiple containers at once', {exitCode: 1})
    const detachKeys = flags['detach-keys'] === undefined ? DEFAULT_DETACH_KEYS : parseDetachKeys(flags['detach-keys'])
    const write = (stream: 'stdout' | 'stderr', chunk: Buffer) => (stream === 'stderr' ? process.stderr : process.stdout).write(chunk)
    await eachContainer(refs, async ref => {
      const code = await startContainer(store, ref, {attach, interactive: flags.interactive, detachKeys, write})
      if (code === 'detached') {
        process.stderr.write('read escape sequence\n')
        process.exitCode = 1
      } else if (attach) process.exitCode = code ?? 0
      else process.stdout.write(ref + '\n')
    })
  }
}
