import type {Hash} from 'node:crypto'

// Content ids: node:crypto is required inside each function, not at the top, because `pivot run`
// never computes an id and loading node:crypto costs it ~2 ms.

/** `sha256:<hex>` of a value's JSON: content ids for images and build steps. */
export function sha256Json(value: unknown): string {
  const {createHash} = require('node:crypto') as typeof import('node:crypto')
  return 'sha256:' + createHash('sha256').update(JSON.stringify(value)).digest('hex')
}

export function sha256Text(text: string): string {
  const {createHash} = require('node:crypto') as typeof import('node:crypto')
  return 'sha256:' + createHash('sha256').update(text).digest('hex')
}

/**
 * A stage of a stream pipeline that passes the bytes on unchanged, feeding them to `hash` and
 * counting them into `counted.size`: a digest and a size taken on the way, with no second read.
 */
export function hashThrough(hash: Hash, counted: {size: number} = {size: 0}): (chunks: AsyncIterable<Buffer>) => AsyncGenerator<Buffer> {
  return async function* (chunks) {
    for await (const chunk of chunks) {
      hash.update(chunk)
      counted.size += chunk.length
      yield chunk
    }
  }
}
