import {Args, Flags} from '@oclif/core'
import {PivotCommand} from '../src/ui/pivot-command'

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
    context: Flags.string({description: 'the directory copy: steps read from [default: the recipe\'s directory]'}),
    pull: Flags.boolean({description: 'ask the daemon for the base image even when it is cached'}),
    quiet: Flags.boolean({char: 'q', description: 'print only the image id (a failing step\'s output still goes to stderr)'}),
  }

  async run(): Promise<unknown> {
    const {args, flags} = await this.parse(Build)
    const {loadRecipe, parseBuildArgs} = await import('../src/build/recipe')
    const recipe = loadRecipe(args.recipe, parseBuildArgs(flags['build-arg'] ?? []))
    let name: string | undefined
    if (flags.tag !== undefined) {
      const {normaliseName} = await import('../src/images/image-name')
      name = normaliseName(flags.tag)
    }
    const store = this.openStore(flags['cache-dir'])
    const {progressMode} = await import('../src/ui/progress')
    const {createBuildReporter} = await import('../src/build/build-progress')
    const reporter = createBuildReporter(progressMode({json: this.jsonEnabled(), quiet: flags.quiet}))
    const {buildImage} = await import('../src/build/build-image')
    const abort = new AbortController()
    const onSignal = () => abort.abort()
    process.once('SIGINT', onSignal)
    process.once('SIGTERM', onSignal)
    let result
    try {
      result = await buildImage(store, recipe, {context: flags.context, name, noCache: flags['no-cache'], pull: flags.pull, onEvent: reporter.onEvent, signal: abort.signal})
    } catch (error) {
      await reporter.finish(error)
      throw error
    } finally {
      process.removeListener('SIGINT', onSignal)
      process.removeListener('SIGTERM', onSignal)
    }
    await reporter.finish()
    const json = {
      name: result.name ?? null,
      id: result.id,
      layers: result.layers,
      steps: result.steps.map(s => ({index: s.index, text: s.text, cached: s.cached, seconds: Math.round(s.seconds * 1000) / 1000})),
      ...(reporter.warnings.length > 0 ? {warnings: reporter.warnings} : {}),
    }
    if (this.jsonEnabled()) return json
    if (flags.quiet) {
      process.stdout.write(`${result.id}\n`)
      return json
    }
    const {shortId} = await import('../src/ui/format')
    const lines = [`Successfully built ${shortId(result.id)}`]
    if (result.name) {
      const {displayName} = await import('../src/images/image-name')
      lines.push(`Successfully tagged ${displayName(result.name)}`)
    }
    process.stdout.write(lines.join('\n') + '\n')
    return json
  }
}
