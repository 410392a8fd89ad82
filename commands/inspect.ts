import {Args} from '@oclif/core'
import {PivotCommand} from '../src/cli/pivot-command'

export default class Inspect extends PivotCommand {
  static summary = 'Show images (as docker inspect does)'
  static description = `For now the image side of docker's inspect: each NAME is looked up as an image (see \`pivot image inspect\`). A dispatcher that looks for a container first calls the same function (src/cli/inspect-images.ts).`

  static examples = ['<%= config.bin %> inspect busybox']

  static strict = false

  static args = {
    name: Args.string({description: 'image name or id (one or more)', required: true}),
  }

  async run(): Promise<void> {
    const {argv, flags} = await this.parse(Inspect)
    const {printImageInspect} = await import('../src/cli/inspect-images')
    printImageInspect(this.openStore(flags['cache-dir']), argv as string[])
  }
}
