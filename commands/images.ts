import {PivotCommand} from '../src/ui/pivot-command'

export default class Images extends PivotCommand {
  static summary = 'List the images in the cache'
  static description = `One row per name: an image with several names has several rows, one without a name shows <none>.

SIZE is the disk space of the image's layers (a layer shared by several images counts in each). CREATED is when the image's content was made, ADDED when it entered this cache.

With --json: an array of {names, id, size, created, added, layers, source}, names in full form (docker.io/library/ubuntu:latest), size in bytes, times in ISO 8601.`

  static examples = ['<%= config.bin %> images', '<%= config.bin %> images --json']

  static enableJsonFlag = true

  async run(): Promise<unknown> {
    const {flags} = await this.parse(Images)
    const {listImages} = await import('../src/images/list-images')
    const store = this.openStore(flags['cache-dir'])
    const images = listImages(store)
    const {damageWarning} = await import('../src/images/damaged-entries')
    const warning = damageWarning(store)
    if (warning !== undefined) process.stderr.write(`pivot: warning: ${warning}\n`)
    if (this.jsonEnabled()) return images
    const {formatAge, formatSize, formatTable, shortId} = await import('../src/ui/format')
    const {displayName} = await import('../src/images/image-name')
    const now = Date.now()
    const rows: string[][] = []
    for (const image of images) {
      const cells = (name: string) => [name, shortId(image.id), formatSize(image.size), formatAge(image.created, now), formatAge(image.added, now)]
      if (image.names.length === 0) rows.push(cells('<none>'))
      for (const name of image.names) rows.push(cells(displayName(name)))
    }
    process.stdout.write(formatTable(['NAME', 'IMAGE ID', 'SIZE', 'CREATED', 'ADDED'], rows))
    return images
  }
}
