import {Args, Flags} from '@oclif/core'
import {PivotCommand} from '../src/cli/pivot-command'

export default class Logs extends PivotCommand {
  static summary = "Print a detached container's output"
  static description = `Prints what a container run with -d wrote, stdout to stdout and stderr to stderr, from the log its
monitor keeps (docker's json-file format: containers/<id>/json.log). A container run in the
foreground wrote to its terminal: there is no log of it.`

  static examples = ['<%= config.bin %> logs web', '<%= config.bin %> logs -f --tail 10 web', '<%= config.bin %> logs -t --since 5m web']
  static args = {container: Args.string({description: 'container name, id or unique id prefix', required: true})}
  static flags = {
    follow: Flags.boolean({char: 'f', description: 'keep printing new output until the container stops'}),
    tail: Flags.string({char: 'n', description: 'only the last N lines ("all": every line)', default: 'all'}),
    timestamps: Flags.boolean({char: 't', description: 'prefix each line with the time it was written (RFC 3339, UTC)'}),
    since: Flags.string({description: 'only lines since a date (2026-12-04T17:40:03Z), a Unix timestamp, or a duration before now (10m, 1h30m)'}),
    until: Flags.string({description: 'only lines before a date, a Unix timestamp, or a duration before now'}),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Logs)
    const {parseSince, parseTail, showLogs} = await import('../src/runtime/lifecycle/logs')
    const tail = parseTail(flags.tail)
    const since = flags.since === undefined ? undefined : parseSince(flags.since)
    const until = flags.until === undefined ? undefined : parseSince(flags.until, Date.now(), '--until')
    await showLogs(this.openStore(flags['cache-dir']), args.container, {
      follow: flags.follow,
      tail,
      since,
      until,
      timestamps: flags.timestamps,
      write: (stream, text) => (stream === 'stderr' ? process.stderr : process.stdout).write(text),
    })
  }
}
