import {Args} from '@oclif/core'
import {PivotCommand} from '../src/cli/pivot-command'

export default class Tag extends PivotCommand {
  static summary = 'Give an image another name'
  static description = `SOURCE is a name or an image id; TARGET is a name (mybase means docker.io/library/mybase:latest). As docker: an existing TARGET is moved to SOURCE's image (the move is atomic), a TARGET with a digest is refused, an unknown SOURCE exits 1.`

  static examples = ['<%= config.bin %> tag busybox mybase:1.0', '<%= config.bin %> tag 3f2a9c01b7e4 localhost:5000/team/base']

  static enableJsonFlag = true

  static args = {
    source: Args.string({description: 'image name or id', required: true}),
    target: Args.string({description: 'new name', required: true}),
  }

  async run(): Promise<unknown> {
    const {args, flags} = await this.parse(Tag)
    const {tagImage} = await import('../src/images/tag-image')
    // docker tag prints nothing on success.
    return tagImage(this.openStore(flags['cache-dir']), args.source, args.target)
  }
}
