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
