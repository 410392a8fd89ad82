import {Flags} from '@oclif/core'
import {PivotCommand} from '../src/cli/pivot-command'

export default class Load extends PivotCommand {
  static summary = 'Load images from an OCI layout or a docker save archive'
  static description = `Reads OCI image layouts (pivot save, skopeo oci:/oci-archive:, ctr image export, docker >= 25's docker save) as a directory or a tar, and docker save archives of docker <= 24, gzip- or zstd-compressed or not. An index is resolved to this host's platform; layers may be plain, gzip or zstd.

Every blob's digest and size and every layer's diff id are checked before anything is kept: a damaged or hostile archive is refused with one line and leaves the cache as it was. Names in the archive are set (moved, as docker does); an image without one is reported by id.

Without -i the archive is read from standard input (not a terminal). \`pivot import\` stays docker's import: a root filesystem tarball, not an image archive.`

  static examples = ['<%= config.bin %> load -i busybox.tar', 'docker save busybox | <%= config.bin %> load', '<%= config.bin %> load -i ./oci-layout-dir']

  static enableJsonFlag = true

  static flags = {
    input: Flags.string({char: 'i', description: 'archive file or layout directory (default: standard input)'}),
    quiet: Flags.boolean({char: 'q', description: 'print nothing on success'}),
  }

  async run(): Promise<unknown> {
    const {flags} = await this.parse(Load)
    const {loadImages, describeLoaded} = await import('../src/images/load-image')
    const loaded = await loadImages(this.openStore(flags['cache-dir']), flags.input)
    if (!this.jsonEnabled() && !flags.quiet) for (const image of loaded) for (const line of describeLoaded(image)) process.stdout.write(`${line}\n`)
    return loaded
  }
}
