import {Args, Flags} from '@oclif/core'
import {PivotCommand} from '../src/cli/pivot-command'

export default class Import extends PivotCommand {
  static summary = 'Make an image from a rootfs tarball'
  static description = `FILE is a tar archive of a root filesystem, gzip-compressed or not: the output of \`docker export\` or \`pivot export\`, a debootstrap tarball... Use - to read it from standard input. No Docker daemon is needed.

The image has one layer, the same cache entry a pull of that content makes. NAME is normalised as docker does (mybase means docker.io/library/mybase:latest); an existing NAME is an error unless --force.

A damaged, truncated or hostile archive is rejected and leaves the cache as it was; names are confined to the image's root.`

  static examples = [
    '<%= config.bin %> import rootfs.tar mybase',
    'docker export $(docker create busybox) | <%= config.bin %> import - busybox:exported',
    '<%= config.bin %> import --force debian-bookworm.tar.gz debian:bookworm',
  ]

  static enableJsonFlag = true

  static args = {
    file: Args.string({description: 'tar archive (optionally gzip), or - for standard input', required: true}),
    name: Args.string({description: 'name for the image, e.g. mybase or mybase:1.0', required: true}),
  }

  static flags = {
    force: Flags.boolean({char: 'f', description: 'replace NAME if it already names an image'}),
  }

  async run(): Promise<unknown> {
    const {args, flags} = await this.parse(Import)
    const {importImage} = await import('../src/images/import-image')
    const result = await importImage(this.openStore(flags['cache-dir']), args.file, args.name, {force: flags.force})
    const summary = {
      name: result.name,
      id: result.image.id,
      layer: result.layer.digest,
      layerReused: result.layerReused,
      entries: result.layer.entries,
      size: result.layer.diskSize,
    }
    if (!this.jsonEnabled()) process.stdout.write(`${result.image.id}\n`)
    return summary
  }
}
