import {Args, Flags} from '@oclif/core'
import {PivotCommand} from '../src/cli/pivot-command'

export default class Rm extends PivotCommand {
  static summary = 'Remove containers'
  static description = `Removes each container (its writable layer, record, log, cgroup and name) and prints it as it was
named. A running container is an error unless --force, which kills it first (SIGKILL). Containers
that ran with --rm remove themselves; \`pivot prune\` removes every container that is not running.`

  static examples = ['<%= config.bin %> rm web', '<%= config.bin %> rm -f web db']
  static strict = false
  static args = {container: Args.string({description: 'container name, id or unique id prefix (several may be given)', required: true})}
  static flags = {
    force: Flags.boolean({char: 'f', description: 'kill a running container first'}),
    volumes: Flags.boolean({char: 'v', description: 'also remove its anonymous volumes (`-v /path`); named volumes stay'}),
  }

  async run(): Promise<void> {
    const {argv, flags} = await this.parse(Rm)
    const store = this.openStore(flags['cache-dir'])
    const [{removeContainerByRef}, {eachContainer}] = await Promise.all([import('../src/runtime/lifecycle/operations'), import('../src/cli/each-container')])
    await eachContainer(argv as string[], async ref => {
      try {
        await removeContainerByRef(store, ref, flags.force, flags.volumes)
      } catch (error) {
        // docker rm -f: a container that is not there is said, but is no failure.
        if (flags.force && (error as {code?: string}).code === 'CONTAINER_NOT_FOUND') {
          process.stderr.write(`pivot: ${(error as Error).message}\n`)
          return
        }
        throw error
      }
      process.stdout.write(ref + '\n')
    })
  }
}
