import type {Store} from '../store'
import type {HistoryRow} from '../images/inspect-image'

/** `pivot history`'s printing (the rows come from src/images/inspect-image.ts). */
export function printHistory(store: Store, arg: string, flags: {json: boolean; noTrunc: boolean; quiet: boolean}): HistoryRow[] {
  const {imageHistory} = require('../images/inspect-image') as typeof import('../images/inspect-image')
  const {formatAge, formatSize, formatTable, shortId} = require('../common/format') as typeof import('../common/format')
  const rows = imageHistory(store, arg)
  if (flags.json) return rows
  const id = (row: HistoryRow) => (row.ID === '<missing>' || flags.noTrunc ? row.ID : shortId(row.ID))
  if (flags.quiet) {
    process.stdout.write(rows.map(r => `${id(r)}\n`).join(''))
    return rows
  }
  const now = Date.now()
  // docker cuts CREATED BY at 45 characters, the last one an ellipsis.
  const by = (s: string) => (flags.noTrunc || [...s].length <= 45 ? s : [...s].slice(0, 44).join('') + '…')
  const table = rows.map(r => [id(r), r.CreatedAt ? formatAge(r.CreatedAt, now) : 'N/A', by(r.CreatedBy.replace(/\s+/g, ' ')), formatSize(r.Size), r.Comment])
  process.stdout.write(formatTable(['IMAGE', 'CREATED', 'CREATED BY', 'SIZE', 'COMMENT'], table))
  return rows
}
