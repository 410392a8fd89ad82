import {Args, Flags} from '@oclif/core'
import {PivotCommand} from '../src/cli/pivot-command'

export default class Export extends PivotCommand {
  static summary = "Write an image's root filesystem as one tar archive"
  static description = `The archive is the image's flattened rootfs (its layers merged as \`pivot run\` shows them), with modes, owners, symlinks, hardlinks, device nodes, setuid bits and file capabilities kept: \`pivot import\` and \`docker import\` both take it back unchanged.

FILE is written as a nameless file in its directory and given its name when complete, so a failed or killed export leaves neither a partial FILE nor a temp file. It is created mode 0600, as docker does: it holds the image's private files. A symlink is written through (the link stays); a character device (/dev/null) or FIFO is written into; a directory or block device is refused. Use -o - to write to standard output (not a terminal).`

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
