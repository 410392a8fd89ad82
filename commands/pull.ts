import {Args, Flags} from '@oclif/core'
import {PivotCommand} from '../src/cli/pivot-command'

export default class Pull extends PivotCommand {
  static summary = 'Pull an image from the Docker daemon into the cache'

  static description = [
    "Asks the Docker daemon to pull IMAGE (a docker reference: ubuntu, ubuntu:22.04, localhost:5000/team/app@sha256:...), then brings it into pivot's cache.",
    "By default the image's own layers come from `docker save`: each is unpacked once and shared by every image that has it. With --flat the image becomes one layer, from `docker export` of a container that is created (never started) and removed again.",
    "When the registry cannot be reached but the daemon already has the image, its copy is used with a warning. Pulling an image the cache already holds (same docker image id) only records the name. DOCKER_HOST (unix:// or tcp://) chooses the daemon; the default is /var/run/docker.sock.",
    'With --json: {name, id, layers, size, dockerImageId, reused, warnings}.',
  ].join('\n\n')

  static examples = [
    '<%= config.bin %> pull ubuntu',
    '<%= config.bin %> pull localhost:5000/team/app:1.2 --flat',
    '<%= config.bin %> pull --json busybox@sha256:<64 hex digits>',
  ]

  static enableJsonFlag = true

  static args = {
    image: Args.string({description: 'image reference, as docker reads it', required: true}),
  }

  static flags = {
    flat: Flags.boolean({description: 'one flat layer (docker export) instead of the image layers (docker save)'}),
    quiet: Flags.boolean({char: 'q', description: 'print nothing but errors'}),
  }

  async run(): Promise<unknown> {
    const {args, flags} = await this.parse(Pull)
    // The same code as bin/pivot's lean path (src/cli/dispatch.ts).
    const {pull} = await import('../src/cli/pull')
    return pull(args.image, {cacheDir: flags['cache-dir'], json: this.jsonEnabled(), flat: flags.flat, quiet: flags.quiet})
  }
}
