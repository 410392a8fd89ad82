import {Args, Flags} from '@oclif/core'
import {PivotCommand} from '../src/cli/pivot-command'

export default class Stats extends PivotCommand {
  static summary = 'Display a live stream of containers resource usage'
  static description = `Prints CPU % (over the last second), memory use and limit, and the number of tasks of each running
container (all of them when none is named) from its cgroup, in docker stats' table, refreshed each
second until interrupted (Ctrl-C). On a terminal each frame is drawn over the last one; into a pipe
or a file the frames follow each other as plain text. Without names, containers that start are
added and those that stop dropped; a named one that stops stays, with zeros. --no-stream prints one
frame and exits. --format renders each row through a template ({{.Name}} {{.CPUPerc}}
{{.MemUsage}} {{.MemPerc}} {{.PIDs}}, {{json .}}).`

  static examples = [
    '<%= config.bin %> stats',
    '<%= config.bin %> stats --no-stream',
    "<%= config.bin %> stats --no-stream --format '{{.Name}} {{.MemUsage}}' web",
  ]
  static strict = false
  static args = {container: Args.string({description: 'container name, id or unique id prefix (several may be given)'})}
  static flags = {
    'no-stream': Flags.boolean({description: 'print one sample, then exit'}),
    format: Flags.string({description: 'a Go template for each row', helpValue: 'TEMPLATE'}),
  }

  async run(): Promise<void> {
    const {argv, flags} = await this.parse(Stats)
    const store = this.openStore(flags['cache-dir'])
    const [{statsStream, statsTable}, {renderTemplate}] = await Promise.all([
      import('../src/runtime/lifecycle/usage'),
      import('../src/runtime/lifecycle/inspect'),
    ])
    const refs = (argv as string[]).length > 0 ? (argv as string[]) : undefined
    const render = (rows: Parameters<typeof statsTable>[0]) =>
      flags.format === undefined ? statsTable(rows) : rows.map(r => renderTemplate(flags.format!.replace(/^table\s+/, ''), r) + '\n').join('')
    const terminal = process.stdout.isTTY === true
    // A reader that went away (`pivot stats | head`) ends the stream quietly.
    let closed = false
    process.stdout.on('error', () => {
      closed = true
    })
    let first = true
    await statsStream(store, refs, rows => {
      if (closed) return false
      const text = render(rows)
      if (flags['no-stream'] || !terminal) process.stdout.write(text)
      else {
        // docker's way: home, each line then erase-to-end-of-line, erase below (no flicker).
        process.stdout.write((first ? '\u001B[2J' : '') + '\u001B[H' + text.replaceAll('\n', '\u001B[K\n') + '\u001B[J')
        first = false
      }
      return !flags['no-stream']
    })
  }
}
