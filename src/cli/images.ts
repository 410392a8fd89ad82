import type {ImageSummary} from '../images/list-images'
import {openStore} from './open-store'

/**
 * `pivot images`: the listing, printed as a table unless --json (then the caller prints the
 * returned array, as oclif does for commands/images.ts). Shared by the oclif command and bin/pivot's
 * lean path.
 */
export function images(flags: {cacheDir?: string; json: boolean; digests?: boolean}): ImageSummary[] {
  const {listImages} = require('../images/list-images') as typeof import('../images/list-images')
  const store = openStore(flags.cacheDir)
  const list = listImages(store)
  // Damaged records are left out of the list; say so (stderr, so --json stays valid).
  const {damageWarning} = require('../images/damaged-entries') as typeof import('../images/damaged-entries')
  const warning = damageWarning(store)
  if (warning !== undefined) process.stderr.write(`pivot: warning: ${warning}\n`)
  if (flags.json) return list
  const {formatAge, formatSize, formatTable, shortId} = require('../common/format') as typeof import('../common/format')
  const {displayName} = require('../images/image-name') as typeof import('../images/image-name')
  const now = Date.now()
  const rows: string[][] = []
  for (const image of list) {
    const digest = flags.digests ? [image.digest ?? '<none>'] : []
    const cells = (name: string) => [name, ...digest, shortId(image.id), formatSize(image.size), formatAge(image.created, now), formatAge(image.added, now)]
    if (image.names.length === 0) rows.push(cells('<none>'))
    for (const name of image.names) rows.push(cells(displayName(name)))
  }
  process.stdout.write(formatTable(['NAME', ...(flags.digests ? ['DIGEST'] : []), 'IMAGE ID', 'SIZE', 'CREATED', 'ADDED'], rows))
  return list
}
