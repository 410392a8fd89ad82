import {Args, Flags} from '@oclif/core'
import {PivotCommand} from '../src/cli/pivot-command'

export default class Exec extends PivotCommand {
  static summary = 'Run a command in a running container'
  static description = `Runs COMMAND in a running container: in every namespace and the cgroup of its PID 1, with exactly
PID 1's walls (user and groups, capabilities, no_new_privs, the same seccomp filter, the masked and
read-only paths of its mount namespace), its environment (plus -e) and its working directory
(or -w). Flags go before CONTAINER. The exit status is the command's; 126 when it cannot be
run or is not found, as docker exec (20.10); 1 when the container is not running.`

  static examples = ['<%= config.bin %> exec web ps', '<%= config.bin %> exec -i web sh', '<%= config.bin %> exec -e DEBUG=1 -w /tmp web env']

  // Everything after CONTAINER belongs to the command.
  static strict = false
  static args = {
    container: Args.string({description: 'container name, id or unique id prefix', required: true}),
    command: Args.string({description: 'command and arguments', required: true}),
  }

  static flags = {
    interactive: Flags.boolean({char: 'i', description: "keep stdin open: the command reads pivot's stdin (else /dev/null)"}),
    env: Flags.string({
      char: 'e',
      description: "set an environment variable (repeatable); KEY alone copies it from pivot's environment",
      multiple: true,
      helpValue: 'KEY=VALUE',
    }),
    tty: Flags.boolean({char: 't', description: 'a terminal (pty) of the container for the command'}),
    detach: Flags.boolean({char: 'd', description: 'start the command and return at once'}),
    user: Flags.string({
      char: 'u',
      description: "user (name or uid) and optional group, from the container's /etc/passwd and /etc/group",
      helpValue: 'USER[:GROUP]',
    }),
    privileged: Flags.boolean({description: 'every capability for the command (the seccomp filter stays)'}),
    workdir: Flags.string({char: 'w', description: "working directory inside the container [default: PID 1's starting directory]", helpValue: 'DIR'}),
  }

  async run(): Promise<void> {
    // Not this.parse: oclif would read the command's own flags (sh -c) as pivot's. Docker's rule,
    // as for run: flags until CONTAINER, everything after it is the command.
    const {parseExecArgs} = await import('../src/cli/exec')
    const parsed = parseExecArgs(this.argv)
    if (parsed.help) return this.parse(Exec).then(() => undefined)
    const {execInContainer} = await import('../src/runtime/lifecycle/exec')
    process.exitCode = await execInContainer(this.openStore(parsed.cacheDir), parsed.container, parsed.options)
  }
}
