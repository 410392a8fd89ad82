import {Args, Flags} from '@oclif/core'
import {PivotCommand} from '../src/cli/pivot-command'

export default class Pull extends PivotCommand {
  static summary = 'Pull an image from a registry (or the Docker daemon) into the cache'

  static description = [
    "Brings IMAGE (a docker reference: ubuntu, ubuntu:22.04, localhost:5000/team/app@sha256:...) into pivot's cache, straight from its registry (no daemon needed) or through the Docker daemon.",
    "--source auto (the default) speaks to the registry when it answers and has the image; otherwise the Docker daemon's copy is used, with a warning. --source registry never uses the daemon; --source daemon has the daemon pull and `docker save` the image, as before. Registry credentials come from `pivot login`, then from ~/.docker/config.json (auths, credsStore, credHelpers). Loopback registries and those in PIVOT_INSECURE_REGISTRIES are plain HTTP.",
    "From a registry, an index (multi-platform image) is resolved to this host's platform or --platform; layers (gzip, zstd or uncompressed) are downloaded --max-concurrent-downloads at a time, verified against their digests and unpacked as they arrive; an interrupted download resumes on the next pull. Layers the cache has are not downloaded.",
    'Each layer is unpacked once and shared by every image that has it. With --flat (daemon only) the image becomes one layer, from `docker export` of a container that is created (never started) and removed again. Pulling an image the cache already holds only records the name. DOCKER_HOST (unix:// or tcp://) chooses the daemon; the default is /var/run/docker.sock.',
    'With --json: {name, id, layers, size, dockerImageId, reused, warnings, source, digest}.',
  ].join('\n\n')

  static examples = [
    '<%= config.bin %> pull ubuntu',
    '<%= config.bin %> pull localhost:5000/team/app:1.2 --flat',
    '<%= config.bin %> pull --json busybox@sha256:<64 hex digits>',
    '<%= config.bin %> pull --platform linux/arm64 localhost:5000/team/app:1.2',
  ]

  static enableJsonFlag = true

  static args = {
    image: Args.string({description: 'image reference, as docker reads it', required: true}),
  }

  static flags = {
    flat: Flags.boolean({description: 'one flat layer (docker export) instead of the image layers (docker save)'}),
    quiet: Flags.boolean({char: 'q', description: 'print nothing but errors'}),
    source: Flags.string({
      description: 'where the image comes from: auto (the registry, else the daemon), registry or daemon',
      options: ['auto', 'registry', 'daemon'],
    }),
    platform: Flags.string({description: 'os/arch[/variant] of a multi-platform image (default: this host)'}),
    'max-concurrent-downloads': Flags.string({description: 'layers downloaded at once from a registry [default: 3]'}),
  }

  async run(): Promise<unknown> {
    const {args, flags} = await this.parse(Pull)
    // The same code as bin/pivot's lean path (src/cli/dispatch.ts).
    const {pull} = await import('../src/cli/pull')
    return pull(args.image, {
      cacheDir: flags['cache-dir'],
      json: this.jsonEnabled(),
      flat: flags.flat,
      quiet: flags.quiet,
      source: flags.source,
      platform: flags.platform,
      maxConcurrentDownloads: flags['max-concurrent-downloads'],
    })
  }
}
