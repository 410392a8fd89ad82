import {Args, Flags} from '@oclif/core'
import {PivotCommand} from '../src/cli/pivot-command'

export default class Build extends PivotCommand {
  static summary = 'Build an image from a recipe'
  static description = `Runs the recipe's steps on top of its base image (from: an image in the cache, a name to pull, or scratch).
Each step that changes files adds one layer; steps are cached by their content and everything before them,
so an unchanged recipe rebuilds without running anything and a change re-runs that step and the ones after it.
copy: sources are read from the build context: the recipe's directory, or --context DIR.
The recipe format is in docs/recipes.md.
With --json: {name, id, layers, steps: [{index, text, cached, seconds}]} on stdout; step output goes to stderr.
A failing step stops the build with the step's exit status; the name is left as it was.`

  static examples = [
    '<%= config.bin %> build images/debian-ci.yaml -t debian-ci',
    '<%= config.bin %> build images/busybox.yaml --context /bin -t busybox',
    '<%= config.bin %> build app.yaml -t app --build-arg VERSION=1.2 --no-cache',
  ]

  static enableJsonFlag = true

  static args = {
    recipe: Args.string({description: 'the recipe file (YAML)', required: true}),
  }

  static flags = {
    tag: Flags.string({char: 't', description: 'name the built image (NAME[:TAG])'}),
    'no-cache': Flags.boolean({description: 'run every step, ignoring cached results'}),
    'build-arg': Flags.string({description: 'set a recipe argument used as ${NAME} (NAME=VALUE; repeatable)', multiple: true}),
    context: Flags.string({description: "the directory copy: steps read from [default: the recipe's directory]"}),
    pull: Flags.boolean({description: 'ask the daemon for the base image even when it is cached'}),
    quiet: Flags.boolean({char: 'q', description: "print only the image id (a failing step's output still goes to stderr)"}),
  }

  async run(): Promise<unknown> {
    const {args, flags} = await this.parse(Build)
    // The same code as bin/pivot's lean path (src/cli/dispatch.ts).
    const {build} = await import('../src/cli/build')
    return build(args.recipe, {
      cacheDir: flags['cache-dir'],
      json: this.jsonEnabled(),
      tag: flags.tag,
      noCache: flags['no-cache'],
      buildArg: flags['build-arg'] ?? [],
      context: flags.context,
      pull: flags.pull,
      quiet: flags.quiet,
    })
  }
}
