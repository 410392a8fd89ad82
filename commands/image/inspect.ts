import {Args} from '@oclif/core'
import {PivotCommand} from '../../src/cli/pivot-command'

export default class ImageInspect extends PivotCommand {
  static summary = 'Show images as docker image inspect does'
  static description = `A JSON array with one object per IMAGE (a name or an id), in docker's shape for the fields pivot has: Id, RepoTags, RepoDigests, Created, Config (User, Env, Cmd, WorkingDir, Entrypoint, Labels, ExposedPorts), Architecture, Os, Size, RootFS {Type, Layers}. Id is pivot's image id. An unknown IMAGE is reported on stderr and the exit status is 1, as docker does.`

  static examples = ['<%= config.bin %> image inspect busybox', '<%= config.bin %> image inspect mybase:1 3f2a9c01b7e4']

  static strict = false

  static args = {
    image: Args.string({description: 'image name or id (one or more)', required: true}),
  }

  async run(): Promise<void> {
    const {argv, flags} = await this.parse(ImageInspect)
    const {printImageInspect} = await import('../../src/cli/inspect-images')
    printImageInspect(this.openStore(flags['cache-dir']), argv as string[])
  }
}
