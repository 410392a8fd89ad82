import * as fs from 'node:fs'
import * as path from 'node:path'
import type {ImageConfig, ImageRecord, Store} from '../store'
import {BuildError} from './build-error'
import {readBuildCache, writeBuildCache} from './build-cache'
import {withFileLock} from '../store/file-lock'
import {Lease} from '../store/gc-lock'
import {type StepState, baseCacheKey, stepCacheKey} from './cache-key'
import {type CopyPlan, copyKeyMaterial, planCopy, writeCopyTree} from './copy-step'
import {commitTree, treeIsUnchanged} from './commit-tree'
import {LayerView} from '../unpack/layer-view'
import type {Recipe, RecipeStep, RunStep} from './recipe'
import {mergeEnv} from '../runtime/container-config'
import type {ContainerState} from '../store/container-record'

export interface BuildOptions {
  /** The build context (default: the recipe's directory). */
  context?: string
  /** The normalised name to give the image (`--tag`); none leaves it unnamed. */
  name?: string
  /** Run every step, ignoring the build cache (records are still written for later builds). */
  noCache?: boolean
  /** Ask the daemon for the base image even when it is cached. */
  pull?: boolean
  onEvent?: (event: BuildEvent) => void
  signal?: AbortSignal
}

export type BuildEvent =
  /** Resolving (and perhaps pulling) the base image. */
  | {type: 'base'; from: string; pulling: boolean}
  | {type: 'step-start'; step: RecipeStep; total: number; cached: boolean}
  | {type: 'step-output'; step: RecipeStep; chunk: Buffer; stream: 'stdout' | 'stderr'}
  | {type: 'step-end'; step: RecipeStep; total: number; cached: boolean; seconds: number; layer?: string}
  | {type: 'step-failed'; step: RecipeStep; total: number; seconds: number; error: unknown}
  /** Progress of a base image pull (the pull's own events, passed through). */
  | {type: 'pull'; event: unknown}
  | {type: 'warning'; message: string}

export interface BuildStepResult {
  /** 1-based. */
  index: number
  text: string
  /** Taken from the build cache: the step did not run. */
  cached: boolean
  seconds: number
  /** The layer it added, if it changed the filesystem. */
  layer?: string
}

export interface BuildResult {
  /** The name it got, normalised; undefined when built without one. */
  name?: string
  id: string
  layers: string[]
  image: ImageRecord
  steps: BuildStepResult[]
}

/**
 * `pivot build`: runs a recipe's steps in order on top of its base, each step that changes the
 * filesystem adding one content-addressed layer, and names the result.
 *
 * Every step has a cache key chained from its parent's (see cache-key.ts); a step whose key has a
 * `build-cache/` record is not run, so an unchanged recipe rebuilds without running anything and
 * a change at step k re-runs k and what follows. A failing step stops the build: its staging is
 * removed, no record is written for it and the name is not moved.
 */
export async function buildImage(store: Store, recipe: Recipe, options: BuildOptions = {}): Promise<BuildResult> {
  try {
    return await build(store, recipe, options)
  } catch (error) {
    // Whatever was under way when the build was interrupted fails in its own way (an abort
    // error, a killed step): report it as the interruption it is.
    if (options.signal?.aborted && !(error instanceof BuildError && error.code === 'BUILD_INTERRUPTED')) throw interrupted(error)
    throw error
  }
}

function interrupted(cause?: unknown): BuildError {
  return new BuildError('BUILD_INTERRUPTED', 'the build was interrupted', {exitCode: 130, cause})
}

async function build(store: Store, recipe: Recipe, options: BuildOptions): Promise<BuildResult> {
  const emit = options.onEvent ?? (() => undefined)
  const context = path.resolve(options.context ?? recipe.dir)
  if (!isDirectory(context)) throw new BuildError('BUILD_CONTEXT_NOT_FOUND', `build context ${options.context ?? recipe.dir} is not a directory`)
  for (const name of recipe.unusedArgs) emit({type: 'warning', message: `build argument ${name} was given but the recipe does not use it`})

  store.sweepTmp()
  // Pins the base's and the steps' layers for the whole build (src/store/gc-lock.ts): the build
  // references them in memory only until its records and name are written.
  const lease = new Lease(store, 'build')
  const base = await resolveBase(store, recipe.from, options, emit, lease).catch(error => {
    lease.release()
    throw error
  })
  // One staging directory for the whole build, so a failure (or a kill: sweepTmp) leaves nothing;
  // made when a step first runs (an unchanged rebuild runs none).
  let buildTmp: string | undefined
  const staging = () => (buildTmp ??= store.stage('build'))
  try {
    let layers = base ? [...base.layers] : []
    const baseConfig: ImageConfig = base?.config ?? {}
    const state: StepState = {
      env: mergeEnv(
        baseConfig.Env ?? [],
        recipe.env.map(([k, v]) => `${k}=${v}`),
      ),
      workdir: recipe.workdir ?? (baseConfig.WorkingDir || '/'),
    }
    let key = baseCacheKey(base?.id)
    const total = recipe.steps.length
    const results: BuildStepResult[] = []
    const sound = new Set<string>()

    for (const step of recipe.steps) {
      if (options.signal?.aborted) throw interrupted()
      const started = process.hrtime.bigint()
      const seconds = () => Number(process.hrtime.bigint() - started) / 1e9
      const def = step.def
      let plan: CopyPlan | undefined
      if (def.kind === 'copy') {
        plan = planCopy(def, {context, view: viewOf(store, layers), workdir: state.workdir, where: `${recipe.file}: ${step.path}.copy`})
      }
      key = stepCacheKey(key, def, state, plan ? copyKeyMaterial(plan) : undefined)
      const after = nextState(state, step)
      const finishStep = (chain: string[], cached: boolean, layer?: string) => {
        layers = chain
        Object.assign(state, after)
        const result: BuildStepResult = {index: step.index, text: step.text, cached, seconds: seconds(), ...(layer ? {layer} : {})}
        results.push(result)
        emit({type: 'step-end', step, total, cached, seconds: result.seconds, layer})
      }

      const cached = options.noCache ? undefined : await lease.pin(() => readPinned(store, key, lease, sound))
      if (cached) {
        emit({type: 'step-start', step, total, cached: true})
        finishStep(cached.layers, true)
        continue
      }

      emit({type: 'step-start', step, total, cached: false})
      let outcome: {layer?: string; ran: boolean}
      try {
        const stepKey = key
        const lockName = `build-${stepKey.slice(7, 39)}`
        // The lock only makes concurrent builds of one step do it once; its file is not kept
        // (removed while still held, which file-lock makes safe for those waiting on it).
        const lockFile = store.path('locks', `${lockName}.lock`)
        outcome = await withFileLock(
          lockFile,
          async () => {
            // Another build may have made this very step while we waited for the lock.
            const made = options.noCache ? undefined : await lease.pin(() => readPinned(store, stepKey, lease, sound))
            if (made) return {layer: made.layers.length > layers.length ? made.layers[made.layers.length - 1] : undefined, ran: false}
            const added = await runStep(store, recipe, step, total, {layers, state, plan, buildTmp: staging(), emit, signal: options.signal, lease})
            writeBuildCache(store, {
              key: stepKey,
              layers: added ? [...layers, added] : layers,
              config: {Env: after.env, WorkingDir: after.workdir},
              created: new Date().toISOString(),
            })
            return {layer: added, ran: true}
          },
          {removeOnRelease: true},
        )
      } catch (error) {
        emit({type: 'step-failed', step, total, seconds: seconds(), error})
        throw error
      }
      const layer = outcome.layer
      finishStep(layer ? [...layers, layer] : layers, !outcome.ran, layer)
    }

    // The image records a working directory when anything chose one: the base, the recipe or a step.
    const workdirSet = recipe.workdir !== undefined || !!baseConfig.WorkingDir || recipe.steps.some(s => s.def.kind === 'workdir')
    const config = imageConfig(baseConfig, recipe, state, workdirSet)
    const now = new Date().toISOString()
    const image = await lease.pin(() => {
      const record = store.writeImage({layers, config, source: {kind: 'build', recipe: path.resolve(recipe.file)}, created: now, added: now})
      lease.keepImage(record.id)
      return record
    })
    if (options.name !== undefined) {
      const name = options.name
      // An unchanged rebuild finds its name on the image already: no lock file, no ref rewritten
      // (on ext4 a rename over a file starts its writeback). Read without the ref's lock, this is
      // still one order of events: a tag, rmi or build of the name meanwhile comes after it.
      if (store.getRef(name) !== image.id) await store.withLock(`ref-${name}`, async () => store.setRef(name, image.id))
    }
    return {name: options.name, id: image.id, layers, image, steps: results}
  } finally {
    if (buildTmp !== undefined) fs.rmSync(buildTmp, {recursive: true, force: true})
    lease.release()
  }
}

/**
 * The build-cache record for `key` (call under lease.pin): its layers are pinned for the build,
 * and join `sound`, the layers of the records it used, which readBuildCache need not check again.
 */
function readPinned(store: Store, key: string, lease: Lease, sound: Set<string>): ReturnType<typeof readBuildCache> {
  const record = readBuildCache(store, key, sound)
  if (record) {
    lease.keepLayers(record.layers)
    for (const l of record.layers) sound.add(l)
  }
  return record
}

interface StepContext {
  layers: string[]
  state: StepState
  plan?: CopyPlan
  buildTmp: string
  emit: (event: BuildEvent) => void
  signal?: AbortSignal
  lease: Lease
}

/** Runs one step; resolves with the layer it added, or undefined when it changed no file. */
async function runStep(store: Store, recipe: Recipe, step: RecipeStep, total: number, ctx: StepContext): Promise<string | undefined> {
  const def = step.def
  switch (def.kind) {
    case 'env':
    case 'workdir':
      return undefined
    case 'copy': {
      const work = fs.mkdtempSync(path.join(ctx.buildTmp, 'copy-'))
      try {
        const tree = path.join(work, 'tree')
        fs.mkdirSync(tree, {mode: 0o755})
        writeCopyTree(ctx.plan as CopyPlan, tree, `${recipe.file}: ${step.path}.copy`)
        if (treeIsUnchanged(tree, viewOf(store, ctx.layers))) return undefined
        return await commitTree(store, tree, ctx.buildTmp, ctx.signal, ctx.lease)
      } finally {
        fs.rmSync(work, {recursive: true, force: true})
      }
    }
    case 'run':
      return runRunStep(store, recipe, step, def, total, ctx)
  }
}

async function runRunStep(store: Store, recipe: Recipe, step: RecipeStep, def: RunStep, total: number, ctx: StepContext): Promise<string | undefined> {
  if (ctx.layers.length === 0) {
    throw new BuildError(
      'BUILD_RECIPE_INVALID',
      `${recipe.file}: ${step.path}.run: the image is empty here (from: scratch): copy a program in before running one`,
    )
  }
  const {runContainer, removeContainer} = await import('../runtime/run-container')
  const now = new Date().toISOString()
  const config: ImageConfig = {Env: ctx.state.env, WorkingDir: ctx.state.workdir}
  // The image so far, in memory only: the runtime mounts its layers; no record is written for it.
  const {imageIdOf} = await import('../store')
  const image: ImageRecord = {
    id: imageIdOf(ctx.layers, config),
    layers: ctx.layers,
    config,
    source: {kind: 'build', recipe: path.resolve(recipe.file)},
    created: now,
    added: now,
  }
  const command = Array.isArray(def.run) ? def.run : ['/bin/sh', '-c', def.run]
  // The runtime forwards SIGINT to the step's PID 1, which a shell there ignores: an interrupted
  // build kills the step instead, as docker build does.
  const onAbort = () => killOwnContainers(store)
  ctx.signal?.addEventListener('abort', onAbort, {once: true})
  let result
  try {
    result = await runContainer({
      store,
      image,
      command,
      env: ctx.state.env,
      workdir: ctx.state.workdir,
      net: 'host',
      limits: {},
      volumes: [],
      readOnlyRootfs: false,
      remove: true,
      keepUpper: true,
      noNewPrivileges: true,
      stdio: 'pipe',
      onOutput: (chunk, stream) => ctx.emit({type: 'step-output', step, chunk, stream}),
    })
  } catch (error) {
    ctx.signal?.removeEventListener('abort', onAbort)
    // keepUpper: the runtime leaves the container to us, and a start failure returns no id.
    removeOwnContainers(store, removeContainer)
    if (ctx.signal?.aborted) throw interrupted(error)
    const {isPivotError} = await import('../errors')
    if (!isPivotError(error)) throw error
    throw new BuildError('BUILD_STEP_FAILED', `step ${step.index}/${total} failed (${error.message}): ${step.text}`, {exitCode: error.exitCode, cause: error})
  }
  ctx.signal?.removeEventListener('abort', onAbort)
  try {
    if (ctx.signal?.aborted) throw interrupted()
    if (result.exitCode !== 0) {
      throw new BuildError('BUILD_STEP_FAILED', `step ${step.index}/${total} failed with exit code ${result.exitCode}: ${step.text}`, {
        exitCode: result.exitCode,
      })
    }
    const upper = result.upperDir
    if (!upper) throw new BuildError('BUILD_STEP_FAILED', `step ${step.index}/${total}: the runtime kept no writable layer to commit: ${step.text}`)
    dropRuntimeFiles(upper)
    if (treeIsUnchanged(upper, viewOf(store, ctx.layers))) return undefined
    return await commitTree(store, upper, ctx.buildTmp, ctx.signal, ctx.lease)
  } finally {
    removeContainer(store, result.containerId)
  }
}

/**
 * The runtime's own files in a container's /etc (from its init layer: the host's resolver and
 * hosts, the container's hostname) are not the step's work: a step that edits or deletes them
 * leaves no trace in the layer, as in docker (where they are bind mounts).
 */
export const RUNTIME_FILES = ['etc/hostname', 'etc/hosts', 'etc/resolv.conf']

function dropRuntimeFiles(upper: string): void {
  for (const file of RUNTIME_FILES) {
    const p = path.join(upper, file)
    const st = fs.lstatSync(p, {throwIfNoEntry: false})
    if (st && !st.isDirectory()) fs.rmSync(p, {force: true})
  }
}

/** The records of the containers this process owns (a build runs one step container at a time). */
function ownContainers(store: Store): ContainerState[] {
  const {listContainerIds, readState} = require('../store/container-record') as typeof import('../store/container-record')
  return listContainerIds(store)
    .map(id => readState(store, id))
    .filter((state): state is ContainerState => state?.owner?.pid === process.pid)
}

function removeOwnContainers(store: Store, remove: (store: Store, id: string) => void): void {
  for (const c of ownContainers(store)) remove(store, c.id)
}

/** SIGKILL to the step container's PID 1 ends its whole PID namespace. */
function killOwnContainers(store: Store): void {
  for (const c of ownContainers(store)) {
    if (c.status !== 'running' || c.pid === undefined) continue
    try {
      process.kill(c.pid, 'SIGKILL')
    } catch {
      // already gone
    }
  }
}

async function resolveBase(
  store: Store,
  from: string,
  options: BuildOptions,
  emit: (event: BuildEvent) => void,
  lease: Lease,
): Promise<ImageRecord | undefined> {
  if (from === 'scratch') return undefined
  const {resolveImage} = await import('../images/resolve-image')
  const {isPivotError} = await import('../errors')
  const pinned = (image: ImageRecord | undefined) => {
    if (image) lease.keepLayers(image.layers)
    return image
  }
  if (!options.pull) {
    try {
      emit({type: 'base', from, pulling: false})
      return await lease.pin(() => pinned(resolveImage(store, from).image))
    } catch (error) {
      if (!(isPivotError(error) && error.code === 'IMAGE_NOT_FOUND')) throw error
    }
  }
  const {tryNormaliseName} = await import('../images/image-name')
  if (tryNormaliseName(from) === undefined) throw new BuildError('BUILD_BASE_NOT_FOUND', `base image ${from} is not in the cache (and is not a name to pull)`)
  emit({type: 'base', from, pulling: true})
  const {pullImage} = await import('../images/pull-image')
  try {
    const pulled = await pullImage(store, from, {onProgress: event => emit({type: 'pull', event}), signal: options.signal})
    const image = await lease.pin(() => pinned(store.readImage(pulled.id)))
    if (!image) throw new BuildError('BUILD_BASE_NOT_FOUND', `the base image ${from} was pulled but its record is gone (a concurrent rmi or prune?)`)
    return image
  } catch (error) {
    if (isPivotError(error))
      throw new BuildError('BUILD_BASE_NOT_FOUND', `cannot get the base image ${from}: ${error.message}`, {cause: error, exitCode: error.exitCode})
    throw error
  }
}

/** The env and working directory after a step. */
function nextState(state: StepState, step: RecipeStep): StepState {
  const def = step.def
  if (def.kind === 'env')
    return {
      env: mergeEnv(
        state.env,
        def.env.map(([k, v]) => `${k}=${v}`),
      ),
      workdir: state.workdir,
    }
  if (def.kind === 'workdir') return {env: state.env, workdir: path.posix.resolve(state.workdir, def.workdir)}
  return state
}

/**
 * The built image's config: the base's, then the env and working directory the steps ended with,
 * then the recipe's user, entrypoint, cmd and labels. As in docker, setting an entrypoint drops
 * the base's cmd (it was meant for the base's entrypoint).
 */
export function imageConfig(base: ImageConfig, recipe: Recipe, state: StepState, workdirSet: boolean): ImageConfig {
  const config: ImageConfig = {}
  if (state.env.length > 0) config.Env = state.env
  let cmd = base.Cmd
  let entrypoint = base.Entrypoint
  if (recipe.entrypoint !== undefined) {
    entrypoint = recipe.entrypoint
    if (recipe.cmd === undefined) cmd = null
  }
  if (recipe.cmd !== undefined) cmd = recipe.cmd
  if (cmd) config.Cmd = cmd
  if (entrypoint) config.Entrypoint = entrypoint
  if (workdirSet) config.WorkingDir = state.workdir
  const user = recipe.user ?? base.User
  if (user) config.User = user
  if (base.ExposedPorts && Object.keys(base.ExposedPorts).length > 0) config.ExposedPorts = base.ExposedPorts
  const labels = {...(base.Labels ?? {}), ...(recipe.labels ?? {})}
  if (Object.keys(labels).length > 0) config.Labels = labels
  return config
}

function viewOf(store: Store, layers: string[]): LayerView {
  return new LayerView(layers.map(d => store.layerRootfs(d)))
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory()
  } catch {
    return false
  }
}
