import {Args} from '@oclif/core'
import {PivotCommand} from '../src/cli/pivot-command'

export default class Diff extends PivotCommand {
  static summary = "Show the changes to a container's filesystem"
  static description = `Lists what the container added (A), changed (C) or deleted (D) compared with its image, from its
writable layer, one path a line, as docker diff prints them. A container run with --read-only has
no writable layer and no changes.`

  static examples = ['<%= config.bin %> diff web']
  static enableJsonFlag = true
  static args = {container: Args.string({description: 'container name, id or unique id prefix', required: true})}

  async run(): Promise<unknown> {
    const {args, flags} = await this.parse(Diff)
    const {containerChanges} = await import('../src/runtime/lifecycle/diff')
    const changes = containerChanges(this.openStore(flags['cache-dir']), args.container)
    if (!this.jsonEnabled()) process.stdout.write(changes.map(c => `${c.kind} ${c.path}\n`).join(''))
    return changes
  }
}
