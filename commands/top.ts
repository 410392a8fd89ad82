import {Args} from '@oclif/core'
import {PivotCommand} from '../src/cli/pivot-command'

export default class Top extends PivotCommand {
  static summary = 'Display the running processes of a container'
  static description = `Runs the host's ps (with the given options, default -ef) and shows the rows of the container's
processes (those in its cgroup), as docker top does.`

  static examples = ['<%= config.bin %> top web', '<%= config.bin %> top web -o pid,comm']
  static strict = false
  static args = {container: Args.string({description: 'container name, id or unique id prefix', required: true})}

  async run(): Promise<void> {
    // Everything after CONTAINER is ps's (docker's rule): oclif must not read `-o pid` as pivot's.
    const argv = [...this.argv]
    let cacheDir: string | undefined
    const at = argv.findIndex(a => a === '--cache-dir' || a.startsWith('--cache-dir='))
    if (at !== -1 && at < argv.findIndex(a => !a.startsWith('-'))) {
      cacheDir = argv[at].includes('=') ? argv[at].slice(argv[at].indexOf('=') + 1) : argv[at + 1]
      argv.splice(at, argv[at].includes('=') ? 1 : 2)
    }
    if (argv.length === 0 || argv[0].startsWith('-')) {
      await this.parse(Top)
      return
    }
    const {topContainer} = await import('../src/runtime/lifecycle/usage')
    process.stdout.write(topContainer(this.openStore(cacheDir), argv[0], argv.slice(1)))
  }
}
