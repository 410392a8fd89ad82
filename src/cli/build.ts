import {loadRecipeCached} from './cached-recipe'
import {openStore} from './open-store'
import {abortOnInterrupt} from '../common/interrupt'

export interface BuildFlags {
  cacheDir?: string
  json: boolean
  tag?: string
  noCache: boolean
  buildArg: string[]
  context?: string
  pull: boolean
  quiet: boolean
}

/**
 * `pivot build RECIPE`: builds, reports the steps (or nothing with --quiet/--json), prints the
 * result; returns the JSON document for the caller to print with --json. Shared by the oclif
 * command and bin/pivot's lean path.
 */
export async function build(recipeFile: string, flags: BuildFlags): Promise<unknown> {
  const {parseBuildArgs} = require('../build/recipe') as typeof import('../build/recipe')
  const buildArgs = parseBuildArgs(flags.buildArg)
  const {resolveCacheRoot} = require('../store/cache-root') as typeof import('../store/cache-root')
  const {recipe, keep} = loadRecipeCached(recipeFile, buildArgs, resolveCacheRoot(flags.cacheDir))
  let name: string | undefined
  if (flags.tag !== undefined) {
    const {normaliseName} = require('../images/image-name') as typeof import('../images/image-name')
    name = normaliseName(flags.tag)
  }
  const store = openStore(flags.cacheDir)
  keep()
  const {progressMode} = require('./progress') as typeof import('./progress')
  const {createBuildReporter} = require('./build-progress') as typeof import('./build-progress')
  const reporter = createBuildReporter(progressMode({json: flags.json, quiet: flags.quiet}))
  const {buildImage} = require('../build/build-image') as typeof import('../build/build-image')
  const interrupt = abortOnInterrupt()
  let result
  try {
    result = await buildImage(store, recipe, {
      context: flags.context,
      name,
      noCache: flags.noCache,
      pull: flags.pull,
      onEvent: reporter.onEvent,
      signal: interrupt.signal,
    })
  } catch (error) {
    await reporter.finish(error)
    throw error
  } finally {
    interrupt.release()
  }
  await reporter.finish()
  const json = {
    name: result.name ?? null,
    id: result.id,
    layers: result.layers,
    steps: result.steps.map(s => ({index: s.index, text: s.text, cached: s.cached, seconds: Math.round(s.seconds * 1000) / 1000})),
    ...(reporter.warnings.length > 0 ? {warnings: reporter.warnings} : {}),
  }
  if (flags.json) return json
  if (flags.quiet) {
    process.stdout.write(`${result.id}\n`)
    return json
  }
  const {shortId} = require('../common/format') as typeof import('../common/format')
  const lines = [`Successfully built ${shortId(result.id)}`]
  if (result.name) {
    const {displayName} = require('../images/image-name') as typeof import('../images/image-name')
    lines.push(`Successfully tagged ${displayName(result.name)}`)
  }
  process.stdout.write(lines.join('\n') + '\n')
  return json
}
