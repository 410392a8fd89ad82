import {Args, Flags} from '@oclif/core'
import {PivotCommand} from '../src/cli/pivot-command'

export default class Stats extends PivotCommand {
  static summary = 'Display a live sample of containers resource usage'
  static description = `Prints CPU % (over one second), memory use and limit, and the number of tasks of each running
container (all of them when none is named) from its cgroup, in docker stats' table. pivot takes one
sample (docker's --no-stream, which is accepted); --format renders each row through a template
({{.Name}} {{.CPUPerc}} {{.MemUsage}} {{.MemPerc}} {{.PIDs}}, {{json .}}).`

  static examples = ['<%= config.bin %> stats --no-stream', "<%= config.bin %> stats --no-stream --format '{{.Name}} {{.MemUsage}}' web"]
  static strict = false
  static args = {container: Args.string({description: 'container name, id or unique id prefix (several may be given)'})}
  static flags = {
    'no-stream': Flags.boolean({description: 'one sample, then exit (what pivot always does)'}),
    format: Flags.string({description: 'a Go template for each row', helpValue: 'TEMPLATE'}),
  }

  async run(): Promise<void> {
    const {argv, flags} = await this.parse(Stats)
    const store = this.openStore(flags['cache-dir'])
    const [{statsOnce, statsTable}, {renderTemplate}, {allContainers}] = await Promise.all([
      import('../src/runtime/lifecycle/usage'),
      import('../src/runtime/lifecycle/inspect'),
      import('../src/runtime/lifecycle/containers'),
    ])
    const refs =
      (argv as string[]).length > 0
        ? (argv as string[])
        : allContainers(store)
            .filter(c => c.state === 'running')
            .map(c => c.record.name ?? c.id.slice(0, 12))
    const rows = await statsOnce(store, refs)
    if (flags.format === undefined) process.stdout.write(statsTable(rows))
    else for (const r of rows) process.stdout.write(renderTemplate(flags.format.replace(/^table\s+/, ''), r) + '\n')
  }
}
