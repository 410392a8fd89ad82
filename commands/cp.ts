import {Args} from '@oclif/core'
import {PivotCommand} from '../src/cli/pivot-command'

export default class Cp extends PivotCommand {
  static summary = 'Copy files between a container and the host'
  static description = `pivot cp CONTAINER:SRC DEST|-   or   pivot cp SRC|- CONTAINER:DEST, with docker cp's rules: a
directory that exists receives the source under its own name, one that does not is made; SRC/.
copies a directory's content; - is a tar stream on stdout or stdin. Paths in the container are
resolved inside it (its symlinks never lead out). A running container is frozen during the copy,
as docker pauses it. Files copied in are root's; a read-only container refuses them.`

  static examples = [
    '<%= config.bin %> cp web:/etc/nginx/nginx.conf .',
    '<%= config.bin %> cp ./site/. web:/usr/share/nginx/html',
    '<%= config.bin %> cp web:/var/log - | tar -t',
  ]
  static args = {
    source: Args.string({description: 'CONTAINER:PATH, a host path, or - (a tar stream on stdin)', required: true}),
    destination: Args.string({description: 'CONTAINER:PATH, a host path, or - (a tar stream on stdout)', required: true}),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Cp)
    const {copy} = await import('../src/runtime/lifecycle/cp')
    await copy(this.openStore(flags['cache-dir']), {source: args.source, destination: args.destination})
  }
}
