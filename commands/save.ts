import {Args, Flags} from '@oclif/core'
import {PivotCommand} from '../src/cli/pivot-command'

export default class Save extends PivotCommand {
  static summary = 'Write images to an OCI image layout that docker load also reads'
  static description = `The images (names or ids) go into one OCI image layout (oci-layout, index.json, blobs/sha256/...) that also carries Docker's manifest.json, so \`docker load\`, \`pivot load\`, skopeo (oci-archive:/oci:) and \`ctr image import\` all read it. Layers are uncompressed tars; saving the same images twice gives the same bytes.

-o FILE writes a tar (mode 0600, named only once complete: a failed save leaves no file); -o DIR (an empty or new directory, or a path ending in /) writes the layout unpacked. Without -o the tar goes to standard output, which must not be a terminal.`

  static examples = [
    '<%= config.bin %> save busybox -o busybox.tar',
    '<%= config.bin %> save mybase:1 mybase:2 -o layout/',
    '<%= config.bin %> save mybase | docker load',
  ]

  static strict = false
  static enableJsonFlag = true

  static args = {
    image: Args.string({description: 'image name or id (one or more)', required: true}),
  }

  static flags = {
    output: Flags.string({char: 'o', description: 'tar file or directory to write (default: standard output)'}),
  }

  async run(): Promise<unknown> {
    const {argv, flags} = await this.parse(Save)
    const {saveImages} = await import('../src/images/save-image')
    if (this.jsonEnabled() && (flags.output === undefined || flags.output === '-')) {
      // The report would land in the archive's stream.
      const {ImageError} = await import('../src/images/image-error')
      throw new ImageError('IMAGE_BAD_OUTPUT', '--json needs -o FILE|DIR: the archive itself goes to standard output otherwise', {exitCode: 125})
    }
    const result = await saveImages(this.openStore(flags['cache-dir']), argv as string[], flags.output)
    for (const warning of result.warnings) process.stderr.write(`pivot: warning: ${warning}\n`)
    return result
  }
}
