import {Args, Flags} from '@oclif/core'
import {PivotCommand} from '../src/cli/pivot-command'

export default class History extends PivotCommand {
  static summary = "Show an image's history"
  static description = `One row per history entry of the image's config, newest first, as \`docker history\` prints them: IMAGE (the image id on the top row, <missing> below), CREATED, CREATED BY, SIZE (disk space of the entry's layer, 0B for an entry that made none), COMMENT.

Images that came in with \`pivot load\` keep their config's history; pulled, built and imported ones show one row per layer saying where it came from. With --json: an array of {ID, CreatedAt, CreatedBy, Size, Comment}, Size in bytes.`

  static examples = ['<%= config.bin %> history busybox', '<%= config.bin %> history --no-trunc -q mybase']

  static enableJsonFlag = true

  static args = {
    image: Args.string({description: 'image name or id', required: true}),
  }

  static flags = {
    'no-trunc': Flags.boolean({description: "don't truncate ids and CREATED BY"}),
    quiet: Flags.boolean({char: 'q', description: 'only show image ids'}),
  }

  async run(): Promise<unknown> {
    const {args, flags} = await this.parse(History)
    const {printHistory} = await import('../src/cli/history')
    return printHistory(this.openStore(flags['cache-dir']), args.image, {json: this.jsonEnabled(), noTrunc: flags['no-trunc'], quiet: flags.quiet})
  }
}
