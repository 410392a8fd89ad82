import {Flags} from '@oclif/core'
import {PivotCommand} from '../src/cli/pivot-command'

export default class Images extends PivotCommand {
  static summary = 'List the images in the cache'
  static description = `One row per name: an image with several names has several rows, one without a name shows <none>.

SIZE is the disk space of the image's layers (a layer shared by several images counts in each). CREATED is when the image's content was made, ADDED when it entered this cache.

With --digests, a DIGEST column: the registry's digest of the manifest (or index) the image was pulled by (docker's repo digest), <none> for images that were built, imported or pulled without one.

With --json: an array of {names, id, size, created, added, layers, source, digest}, names in full form (docker.io/library/ubuntu:latest), size in bytes, times in ISO 8601, digest only when known.`

  static examples = ['<%= config.bin %> images', '<%= config.bin %> images --digests', '<%= config.bin %> images --json']

  static flags = {
    digests: Flags.boolean({description: 'show the registry digest of each image'}),
  }

  static enableJsonFlag = true

  async run(): Promise<unknown> {
    const {flags} = await this.parse(Images)
    const {images} = await import('../src/cli/images')
    return images({cacheDir: flags['cache-dir'], json: this.jsonEnabled(), digests: flags.digests})
  }
}
