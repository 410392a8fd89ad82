import {Args, Flags} from '@oclif/core'
import {PivotCommand} from '../src/ui/pivot-command'

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
    const [{pullImage}, {createProgress, progressMode}] = await Promise.all([
      import('../src/images/pull-image'),
      import('../src/ui/progress'),
    ])
    const store = this.openStore(flags['cache-dir'])
    const progress = createProgress(progressMode({json: this.jsonEnabled(), quiet: flags.quiet}))

    // Ctrl-C: stop the daemon streams and unpackers and clean up; a second one leaves at once
    // (the next pull sweeps what is left in tmp/).
    const controller = new AbortController()
    let interrupted = false
    const onSignal = (signal: NodeJS.Signals) => {
      if (interrupted) process.exit(signal === 'SIGINT' ? 130 : 143)
      interrupted = true
      controller.abort()
    }
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
    let result
    try {
      result = await pullImage(store, args.image, {flat: flags.flat, onProgress: progress.onProgress, signal: controller.signal})
    } catch (error) {
      await progress.finish(error)
      throw error
    } finally {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    }
    await progress.finish()

    const {formatSize} = await import('../src/ui/format')
    if (this.jsonEnabled()) return result
    if (!flags.quiet) {
      const layers = `${result.layers.length} layer${result.layers.length === 1 ? '' : 's'}`
      const size = formatSize(result.size).replace(/^([\d.]+)/, '$1 ')
      process.stdout.write(`Pulled ${result.name} (${result.id.slice(0, 19)}…, ${layers}, ${size})\n`)
    }
    return result
  }
}
