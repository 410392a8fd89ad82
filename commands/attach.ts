import {Args, Flags} from '@oclif/core'
import {PivotCommand} from '../src/cli/pivot-command'

export default class Attach extends PivotCommand {
  static summary = "Attach to a running container's input and output"
  static description = `Relays a detached container's output from now on (what it printed before is in \`pivot logs\`) and,
when it was run with -i, pivot's stdin to its stdin, until it stops; exits with its status. EOF
on pivot's stdin leaves the container's stdin open (as docker does for -d -i). On a -t container
the terminal is raw and --detach-keys (default ctrl-p,ctrl-q) leave it running: pivot prints
"read escape sequence" and exits 1, as docker does. Without -t, Ctrl-C is sent to the container
(--sig-proxy, on by default).`

  static examples = ['<%= config.bin %> attach web', '<%= config.bin %> attach --no-stdin web', '<%= config.bin %> attach --detach-keys ctrl-x shell']
  static args = {container: Args.string({description: 'container name, id or unique id prefix', required: true})}
  static flags = {
    'no-stdin': Flags.boolean({description: "do not attach pivot's stdin"}),
    'detach-keys': Flags.string({description: 'keys that detach from a -t container (default ctrl-p,ctrl-q)', helpValue: 'KEYS'}),
    'sig-proxy': Flags.boolean({description: 'send Ctrl-C and other signals pivot gets to the container (not with -t)', default: true, allowNo: true}),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Attach)
    const store = this.openStore(flags['cache-dir'])
    const [{attachContainer, parseDetachKeys, DEFAULT_DETACH_KEYS}, {killContainer}] = await Promise.all([
      import('../src/runtime/lifecycle/attach'),
      import('../src/runtime/lifecycle/operations'),
    ])
    const detachKeys = flags['detach-keys'] === undefined ? DEFAULT_DETACH_KEYS : parseDetachKeys(flags['detach-keys'])
    // With a pty, Ctrl-C is a byte for the container's terminal; without one pivot gets SIGINT.
    const proxy = (signal: string) => () => {
      try {
        killContainer(store, args.container, signal)
      } catch {
        // it stopped meanwhile
      }
    }
    const handlers = flags['sig-proxy'] ? (['INT', 'TERM', 'HUP', 'USR1', 'USR2'] as const).map(s => [`SIG${s}` as NodeJS.Signals, proxy(s)] as const) : []
    for (const [s, h] of handlers) process.on(s, h)
    const code = await attachContainer(store, args.container, {
      stdin: !flags['no-stdin'],
      detachKeys,
      write: (stream, chunk) => (stream === 'stderr' ? process.stderr : process.stdout).write(chunk),
    })
    for (const [s, h] of handlers) process.removeListener(s, h)
    if (code === 'detached') {
      process.stderr.write('read escape sequence\n')
      process.exitCode = 1
    } else process.exitCode = code
  }
}
