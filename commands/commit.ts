import {Args, Flags} from '@oclif/core'
import {PivotCommand} from '../src/cli/pivot-command'

export default class Commit extends PivotCommand {
  static summary = "Create a new image from a container's changes"
  static description = `The container's writable layer becomes one more layer on top of its image (the same layer
machinery as a build step), with the image's config and any --change applied; prints the new
image's id (sha256:...), as docker does. A running container is frozen while its layer is read
(--pause=false: not). The result runs like any image and \`pivot images\` lists it.`

  static examples = ['<%= config.bin %> commit web web-snapshot', '<%= config.bin %> commit -m "add curl" -c "CMD [\\"curl\\"]" web tools:1']
  static enableJsonFlag = true
  static args = {
    container: Args.string({description: 'container name, id or unique id prefix', required: true}),
    repository: Args.string({description: 'name for the image, REPO[:TAG]', required: false}),
  }

  static flags = {
    message: Flags.string({char: 'm', description: 'commit message (kept in the image record)'}),
    change: Flags.string({
      char: 'c',
      description: 'apply a Dockerfile instruction to the config: CMD, ENTRYPOINT, ENV, WORKDIR, USER, LABEL, EXPOSE, STOPSIGNAL (repeatable)',
      multiple: true,
      multipleNonGreedy: true,
    }),
    pause: Flags.boolean({char: 'p', description: 'freeze a running container while committing', default: true, allowNo: true}),
  }

  async run(): Promise<unknown> {
    const {args, flags} = await this.parse(Commit)
    const {normaliseName} = await import('../src/images/image-name')
    const name = args.repository === undefined ? undefined : normaliseName(args.repository)
    const {commitContainer} = await import('../src/build/commit-container')
    const image = await commitContainer(this.openStore(flags['cache-dir']), args.container, {
      name,
      message: flags.message,
      changes: flags.change ?? [],
      pause: flags.pause,
    })
    if (!this.jsonEnabled()) process.stdout.write(image.id + '\n')
    return {id: image.id, name}
  }
}
