import {Args, Flags} from '@oclif/core'
import {PivotCommand} from '../src/ui/pivot-command'

export default class Export extends PivotCommand {
  static summary = "Write an image's root filesystem as one tar archive"
  static description = `The archive is the image's flattened rootfs (its layers merged as \`pivot run\` shows them), with modes, owners, symlinks, hardlinks, device nodes, setuid bits and file capabilities kept: \`pivot import\` and \`docker import\` both take it back unchanged.

FILE is written under a temporary name beside it and renamed when complete, so a failed export leaves no partial FILE. It is created mode 0600, as docker does: it holds the image's private files. Use -o - to write to standard output (not a terminal).`

  static examples = [
    '<%= config.bin %> export ci-base -o rootfs.tar',
    '<%= config.bin %> export ubuntu -o - | gzip > ubuntu.tar.gz',
    '<%= config.bin %> export mybase -o - | docker import - mybase',
  ]

  static args = {
    image: Args.string({description: 'image name or id', required: true}),
  }

  static flags = {
    output: Flags.string({char: 'o', description: 'file to write, or - for standard output', required: true}),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Export)
    const {exportImage} = await import('../src/images/export-image')
    await exportImage(this.openStore(flags['cache-dir']), args.image, flags.output)
  }
}
