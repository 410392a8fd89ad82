import {Args, Flags, type Interfaces} from '@oclif/core'
import {DEFAULT_PIDS_LIMIT} from '../src/runtime/cgroups/parse-limits'
import {RUN_FLAGS} from '../src/runtime/run-flags'
import {PivotCommand} from '../src/cli/pivot-command'

type FlagChar = Parameters<typeof Flags.string>[0] extends infer O ? (O extends {char?: infer C} ? C : never) : never

/** oclif flags made from run-flags.ts's table, the one src/cli/run.ts parses with. --cache-dir is the base class's. */
function flagsFromTable() {
  const flags: Interfaces.FlagInput = {}
  for (const spec of RUN_FLAGS) {
    if (spec.name === 'cache-dir') continue
    const common = {
      description: spec.description,
      char: spec.char as FlagChar,
      aliases: spec.aliases,
      helpGroup: spec.helpGroup,
    }
    flags[spec.name] =
      spec.kind === 'boolean'
        ? Flags.boolean({...common, allowNo: false})
        : spec.kind === 'multiple'
          ? Flags.string({...common, helpValue: spec.helpValue, multiple: true})
          : Flags.string({...common, helpValue: spec.helpValue, options: spec.options, default: spec.default})
  }
  return flags
}

export default class Run extends PivotCommand {
  static summary = 'Run a command in a new container of a cached image'

  static description = `Starts COMMAND (else the image's Entrypoint and Cmd, by docker's rules) as PID 1 of a new container:
its own PID, mount, UTS and IPC namespaces (and network namespace with --net none), a copy-on-write
overlay of the image's layers as its root (the cached image never changes), a fresh /proc, a small
/dev, a read-only /sys, and a cgroup with the limits (a pids limit of ${DEFAULT_PIDS_LIMIT} unless --pids-limit; 0 or -1
lifts it).

stdout and stderr are the container's; stdin is too with -i (\`echo hi | pivot run -i IMG cat\` prints
hi), else /dev/null, as in docker; in a terminal \`pivot run -it IMG sh\` is an interactive shell.
With -d the container runs in the background: pivot prints its id and exits, a small monitor
process keeps its output (\`pivot logs\`) and records its exit (\`pivot ps -a\`, \`pivot wait\`). Every signal docker run passes on (all that
can be caught but SIGCHLD, SIGPIPE, SIGURG, and the fault signals SIGSEGV, SIGBUS, SIGFPE, SIGILL),
and the real-time ones, are passed to the container's PID 1, which, as any PID 1, ignores those it
has no handler for; a second SIGINT or SIGTERM that PID 1 ignores kills the container. On a
terminal, Ctrl-C, Ctrl-\\ and resizes reach the container from the terminal itself, and Ctrl-Z stops
pivot with it.

-h is --hostname, as in docker run; help is --help.

Flags go before IMAGE: everything after IMAGE is the command and its arguments
(\`pivot run IMG ls --help\` passes --help to ls). An image not in the cache is pulled from the
Docker daemon first (--pull missing).

Exit status: the command's own; 128+N when signal N killed it; 125 when pivot itself failed (bad
flags, missing image, setup error); 126 when the command cannot be invoked; 127 when it is not found.`

  static examples = [
    '<%= config.bin %> run --rm busybox echo hello',
    '<%= config.bin %> run --rm -it debian:bookworm /bin/bash',
    '<%= config.bin %> run -d --name web busybox httpd -f -p 8080',
    "<%= config.bin %> run --rm --pids-limit 20 debian:bookworm bash -c ':(){ :|:& };:; sleep 5'",
    '<%= config.bin %> run --rm --memory 256m --cpus 0.5 -e MODE=ci -v $PWD:/src:ro -w /src debian:bookworm ./test.sh',
    '<%= config.bin %> run --rm --net none --read-only busybox ip addr',
  ]

  static usage = 'run [FLAGS] IMAGE [COMMAND [ARG...]]'

  // Everything after IMAGE belongs to the command: oclif must not read it as flags.
  static strict = false

  static args = {
    image: Args.string({description: 'image name or id (pulled when not cached, per --pull)', required: true}),
    command: Args.string({description: "command and arguments [default: the image's Entrypoint and Cmd]"}),
  }

  static flags = flagsFromTable()

  async run(): Promise<void> {
    // Same code as the bin/pivot fast path; it exits the process with the container's status.
    const {main} = await import('../src/cli/run')
    await main(this.argv)
  }
}
