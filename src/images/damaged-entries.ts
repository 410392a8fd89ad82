import {type ImageRecord, type Store, StoreError} from '../store'

/** The image record, or undefined when it is missing or damaged (for code that must go on past a bad one). */
export function readableImage(store: Store, id: string): ImageRecord | undefined {
  try {
    return store.readImage(id)
  } catch (error) {
    if (error instanceof StoreError) return undefined
    throw error
  }
}

/** Damaged image records and stray entries of refs/, in one line for `images` to warn with; undefined when none. */
export function damageWarning(store: Store): string | undefined {
  const damaged = store.damagedImages().map(d => `${d.file} (${d.problem})`)
  // A dead writer's temp file is garbage for prune, not damage.
  const stray = store
    .scanRefs()
    .stray.filter(s => !s.leftover)
    .map(s => `refs/${s.entry} (${s.problem})`)
  const all = [...damaged, ...stray]
  if (all.length === 0) return undefined
  const shown = all.slice(0, 3).join(', ') + (all.length > 3 ? ` and ${all.length - 3} more` : '')
  return `the cache has ${all.length} damaged ${all.length === 1 ? 'entry' : 'entries'}, not listed: ${shown}; run pivot check --repair`
}
