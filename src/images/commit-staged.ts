import * as fs from 'node:fs'
import {type Store, removeStaging} from '../store'
import type {Lease} from '../store/gc-lock'
import {abortedError, type StagedLayer} from './unpack-image-archive'

/**
 * Commits verified staged layers bottom-up (pull and load): each is pinned by `lease` as it lands,
 * and every staging dir is removed whatever happens (a committed one was renamed away already).
 * Call it inside `lease.pin`.
 */
export function commitStaged(store: Store, order: string[], staged: Map<string, StagedLayer>, lease: Lease, signal?: AbortSignal): void {
  try {
    if (signal?.aborted) throw abortedError()
    for (const digest of order) {
      const layer = staged.get(digest)
      if (!layer || !fs.existsSync(layer.staging)) continue
      store.commitLayer(layer.staging, {digest, tarSize: layer.size, entries: layer.entries})
      lease.keepLayers([digest])
    }
  } finally {
    for (const layer of staged.values()) removeStaging(layer.staging)
  }
}
