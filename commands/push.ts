import {Args, Flags} from '@oclif/core'
import {PivotCommand} from '../src/cli/pivot-command'

export default class Push extends PivotCommand {
  static summary = 'Push an image to its registry'

  static description = [
    "Sends the cached image named NAME[:TAG] to NAME's registry and repository (tag it first with `pivot tag`). Credentials come from `pivot login`, then ~/.docker/config.json; loopback registries and those in PIVOT_INSECURE_REGISTRIES are plain HTTP.",
    "Layers go as compressed blobs kept in the cache: a layer pulled from a registry goes back as the registry's own blob (same digest); any other layer is gzipped on its first push and the result kept, so pushing again sends the same bytes. Blobs the registry has are skipped, blobs known in another repository of the same registry are mounted from there, the rest are uploaded (PATCH chunks of PIVOT_PUSH_CHUNK_SIZE bytes, 64 MiB by default, above that size); the config and the manifest go last.",
    '--format docker (the default, as docker push) writes a Docker v2 schema 2 manifest; --format oci an OCI image manifest.',
    'With --json: {name, id, digest, size, mediaType, config, layers: [{digest, size, diffId, status, from}], warnings}.',
  ].join('\n\n')

  static examples = [
    '<%= config.bin %> tag busybox localhost:5000/team/busybox:1.0',
    '<%= config.bin %> push localhost:5000/team/busybox:1.0',
    '<%= config.bin %> push --format oci registry.example.com/team/app',
  ]

  static enableJsonFlag = true

  static args = {
    image: Args.string({description: 'NAME[:TAG] of a cached image', required: true}),
  }

  static flags = {
    quiet: Flags.boolean({char: 'q', description: 'print nothing but errors'}),
    format: Flags.string({description: 'manifest format: docker (v2 schema 2) or oci', options: ['docker', 'oci']}),
  }

  async run(): Promise<unknown> {
    const {args, flags} = await this.parse(Push)
    const {push} = await import('../src/cli/push')
    return push(args.image, {cacheDir: flags['cache-dir'], json: this.jsonEnabled(), quiet: flags.quiet, format: flags.format})
  }
}
