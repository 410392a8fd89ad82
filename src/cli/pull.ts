import type {DockerDaemon} from '../daemon/docker-daemon'
import type {PullResult} from '../images/pull-image'
import type {ProgressEvent} from '../images/progress-event'
import type {PreparedUnpacker} from '../unpack'
import {openStore} from './open-store'
import {onInterrupt} from '../common/interrupt'

/**
 * Connects to the daemon and sends it the pull before the puller's modules load (~20 ms here),
 * so that the daemon's registry round trip runs meanwhile; resolves once the request is sent.
 * Only for the usual case, a tag at a unix socket: anything else (a digest, which pullImage
 * first looks up in the daemon; a bad name or DOCKER_HOST, which it reports) is left to pullImage.
 * A failure here is pullImage's to report too: the returned daemon promise carries it. `drop()`
 * ends a pull pullImage never read.
 */
async function sendPullEarly(image: string): Promise<{daemon: () => Promise<DockerDaemon>; drop: () => void} | undefined> {
  const {normalizeReference} = require('../reference') as typeof import('../reference')
  const {resolveEndpoint} = require('../daemon/daemon-endpoint') as typeof import('../daemon/daemon-endpoint')
  let ref: string
  let ep: ReturnType<typeof resolveEndpoint>
  try {
    const parsed = normalizeReference(image)
    if (parsed.digest) return undefined
    ref = parsed.name
    ep = resolveEndpoint()
  } catch {
    return undefined
  }
  if (ep.kind !== 'unix') return undefined
  const {SocketDaemon} = require('../daemon/socket-daemon') as typeof import('../daemon/socket-daemon')
  const {daemon, sent} = SocketDaemon.connectSendingPull(ep, process.env, ref)
  daemon.catch(() => undefined) // reported when pullImage asks for the daemon
  await sent
  return {
    daemon: () => daemon,
    drop: () =>
      void daemon.then(
        d => d.dropEarlyPull(),
        () => undefined,
      ),
  }
}

/**
 * `pivot pull IMAGE`: the pull with its progress (plain lines, listr2 in a terminal, nothing with
 * --quiet or --json) and the closing line; returns the result for the caller to print with --json.
 * Shared by the oclif command and bin/pivot's lean path.
 */
export interface PullFlags {
  cacheDir?: string
  json: boolean
  flat: boolean
  quiet: boolean
  source?: string
  platform?: string
  maxConcurrentDownloads?: string | number
}

export async function pull(image: string, flags: PullFlags): Promise<PullResult> {
  const concurrency = checkFlags(flags)
  // The daemon is asked early only when it is the one source: with auto the registry usually
  // answers, and the daemon must not pull the image as well.
  const source = flags.source ?? (flags.flat ? 'daemon' : 'auto')
  if (source !== 'daemon' && !flags.flat && flags.platform === undefined) {
    const unchanged = await pullIfUnchanged(image, flags)
    if (unchanged) return unchanged
  }
  const early = source === 'daemon' ? await sendPullEarly(image) : undefined
  // A registry pull unpacks with a worker started now, before the puller's modules load: its
  // node start-up then runs on the other core while this one loads them and asks the registry
  // for the manifest and config (docs/DESIGN.md, "Pull from a registry"). Unused (the image is
  // cached, the daemon's copy is used, the pull fails), it is killed at the end.
  const prepared =
    source !== 'daemon' && !flags.flat ? (require('../unpack/unpack-layer') as typeof import('../unpack/unpack-layer')).prepareUnpacker() : undefined
  try {
    return await pullWith(image, flags, concurrency, early?.daemon, prepared)
  } finally {
    early?.drop()
    await prepared?.discard()
  }
}

/** Refuses a bad --source or --max-concurrent-downloads (before any work, the quick re-pull's too); returns the latter. */
function checkFlags(flags: PullFlags): number | undefined {
  if (flags.source !== undefined && !['auto', 'registry', 'daemon'].includes(flags.source)) {
    const {ImageError} = require('../images/image-error') as typeof import('../images/image-error')
    throw new ImageError('IMAGE_PULL_FAILED', `invalid --source ${JSON.stringify(flags.source)}: expected auto, registry or daemon`)
  }
  if (flags.maxConcurrentDownloads === undefined) return undefined
  const concurrency = Number(flags.maxConcurrentDownloads)
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) {
    const {ImageError} = require('../images/image-error') as typeof import('../images/image-error')
    throw new ImageError(
      'IMAGE_PULL_FAILED',
      `invalid --max-concurrent-downloads ${JSON.stringify(String(flags.maxConcurrentDownloads))}: expected a whole number from 1 to 64`,
    )
  }
  return concurrency
}

/**
 * The unchanged re-pull without the puller's modules (src/images/pull-unchanged.ts): the same
 * progress and closing line as a full pull that found the image cached; undefined (nothing
 * printed) when the full pull must run.
 */
async function pullIfUnchanged(image: string, flags: PullFlags): Promise<PullResult | undefined> {
  const {pullUnchanged} = require('../images/pull-unchanged') as typeof import('../images/pull-unchanged')
  const store = openStore(flags.cacheDir)
  const events: ProgressEvent[] = []
  const result = await pullUnchanged(store, image, event => events.push(event))
  if (!result) return undefined
  // --quiet and --json draw no progress: the reporter's module is not even loaded.
  if (flags.json || flags.quiet) return result
  const {createProgress, progressMode} = require('./progress') as typeof import('./progress')
  const progress = createProgress(progressMode({json: false, quiet: false}))
  for (const event of events) progress.onProgress(event)
  await progress.finish()
  printPulled(result)
  return result
}

async function pullWith(
  image: string,
  flags: PullFlags,
  concurrency: number | undefined,
  daemon?: () => Promise<DockerDaemon>,
  preparedUnpacker?: PreparedUnpacker,
): Promise<PullResult> {
  const {pullImage} = require('../images/pull-image') as typeof import('../images/pull-image')
  const {createProgress, progressMode} = require('./progress') as typeof import('./progress')
  const store = openStore(flags.cacheDir)
  const progress = createProgress(progressMode({json: flags.json, quiet: flags.quiet}))

  // Ctrl-C: stop the daemon streams and unpackers and clean up; a second one leaves at once
  // (the next pull sweeps what is left in tmp/).
  const controller = new AbortController()
  let interrupted = false
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) process.exit(signal === 'SIGINT' ? 130 : 143)
    interrupted = true
    controller.abort()
  }
  const releaseSignals = onInterrupt(onSignal)
  let result
  try {
    result = await pullImage(store, image, {
      flat: flags.flat,
      onProgress: progress.onProgress,
      signal: controller.signal,
      source: flags.source as 'auto' | 'registry' | 'daemon' | undefined,
      platform: flags.platform,
      maxConcurrentDownloads: concurrency,
      ...(daemon ? {daemon} : {}),
      ...(preparedUnpacker ? {preparedUnpacker} : {}),
    })
  } catch (error) {
    await progress.finish(error)
    throw error
  } finally {
    releaseSignals()
  }
  await progress.finish()

  if (!flags.json && !flags.quiet) printPulled(result)
  return result
}

function printPulled(result: PullResult): void {
  const {formatSize} = require('../common/format') as typeof import('../common/format')
  const layers = `${result.layers.length} layer${result.layers.length === 1 ? '' : 's'}`
  const size = formatSize(result.size).replace(/^([\d.]+)/, '$1 ')
  process.stdout.write(`Pulled ${result.name} (${result.id.slice(0, 19)}…, ${layers}, ${size})\n`)
}
