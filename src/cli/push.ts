import type {PushResult} from '../images/push-image'
import type {ProgressEvent} from '../images/progress-event'
import {openStore} from './open-store'
import {onInterrupt} from '../common/interrupt'

export interface PushFlags {
  cacheDir?: string
  json: boolean
  quiet: boolean
  format?: string
}

/**
 * `pivot push NAME[:TAG]`: docker push's lines (one per change of a layer's state, as docker
 * prints them when stdout is not a terminal), then `TAG: digest: sha256:... size: N`; nothing but
 * errors with --quiet; the result as one JSON document with --json. Warnings go to stderr.
 */
export async function push(image: string, flags: PushFlags): Promise<PushResult> {
  const {pushImage} = require('../images/push-image') as typeof import('../images/push-image')
  const {ImageError} = require('../images/image-error') as typeof import('../images/image-error')
  if (flags.format !== undefined && flags.format !== 'docker' && flags.format !== 'oci') {
    throw new ImageError('IMAGE_BAD_NAME', `invalid --format ${JSON.stringify(flags.format)}: expected docker or oci`, {exitCode: 125})
  }
  const store = openStore(flags.cacheDir)
  const lines = !flags.json && !flags.quiet
  const onProgress = (event: ProgressEvent) => {
    if (event.type === 'warning') {
      if (!flags.json) process.stderr.write(`pivot: warning: ${event.message}\n`)
    } else if (!lines) return
    else if (event.type === 'phase') process.stdout.write(`${event.title}\n`)
    else if (event.type === 'pull') process.stdout.write(`${event.id ? `${event.id}: ` : ''}${event.status}\n`)
  }
  // Ctrl-C: the uploads stop (the registry drops unfinished ones); a second one leaves at once.
  const controller = new AbortController()
  let interrupted = false
  const release = onInterrupt((signal: NodeJS.Signals) => {
    if (interrupted) process.exit(signal === 'SIGINT' ? 130 : 143)
    interrupted = true
    controller.abort()
  })
  let result: PushResult
  try {
    result = await pushImage(store, image, {format: flags.format as 'docker' | 'oci' | undefined, onProgress, signal: controller.signal})
  } finally {
    release()
  }
  if (lines) {
    const tag = result.name.slice(result.name.lastIndexOf(':') + 1)
    process.stdout.write(`${tag}: digest: ${result.digest} size: ${result.size}\n`)
  }
  return result
}
