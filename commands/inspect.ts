import {Args, Flags} from '@oclif/core'
import {PivotCommand} from '../src/cli/pivot-command'

export default class Inspect extends PivotCommand {
  static summary = 'Show the low-level details of containers or images'
  static description = `Prints a JSON array with one object per container, in docker inspect's shape for the fields pivot
has (Id, Created, Path, Args, State, Image, Name, RestartCount, HostConfig, Mounts, Config); a name
that is no container is looked up as an image (as \`pivot image inspect\` shows it). With
-f, each container through a template instead: {{.State.Status}}, {{json .Config}} (a subset of
Go's templates: fields and json).`

  static examples = ['<%= config.bin %> inspect web', "<%= config.bin %> inspect -f '{{.State.Pid}}' web"]
  static strict = false
  static args = {name: Args.string({description: 'container name, id or unique id prefix, or image (several may be given)', required: true})}
  static flags = {
    format: Flags.string({char: 'f', description: 'a Go template for each object', helpValue: 'TEMPLATE'}),
  }

  async run(): Promise<void> {
    const {argv, flags} = await this.parse(Inspect)
    const {inspectRefs, renderTemplate} = await import('../src/runtime/lifecycle/inspect')
    const {inspectImages} = await import('../src/images/inspect-image')
    const store = this.openStore(flags['cache-dir'])
    const {objects, errors} = inspectRefs(store, argv as string[], ref => inspectImages(store, [ref]).found[0])
    if (flags.format === undefined) process.stdout.write(JSON.stringify(objects, null, 4) + '\n')
    // docker prints one empty line when nothing matched a template.
    else if (objects.length === 0) process.stdout.write('\n')
    else for (const o of objects) process.stdout.write(renderTemplate(flags.format, o) + '\n')
    for (const e of errors) process.stderr.write(`pivot: ${e}\n`)
    if (errors.length > 0) process.exitCode = 1
  }
}
