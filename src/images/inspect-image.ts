import {familiarName, normalizeReference} from '../reference'
import type {HistoryEntry, ImageRecord, Store} from '../store'
import {ImageError} from './image-error'
import {hostPlatform} from './image-layout'
import {displayName} from './image-name'
import {resolveImage} from './resolve-image'

/** `docker image inspect`'s JSON for the fields pivot has, in docker's key order. */
export interface ImageInspect {
  Id: string
  RepoTags: string[]
  RepoDigests: string[]
  Parent: string
  Comment: string
  Created: string
  Author: string
  Config: {
    User: string
    ExposedPorts?: Record<string, object>
    Env: string[] | null
    Cmd: string[] | null
    WorkingDir: string
    Entrypoint: string[] | null
    Labels: Record<string, string> | null
  }
  Architecture: string
  Variant?: string
  Os: string
  Size: number
  RootFS: {Type: 'layers'; Layers: string[]}
}

/**
 * The inspect object of one image argument (a name or an id, as docker reads it). Id is pivot's
 * image id (the digest of its layers and config, see Store), not docker's config digest.
 */
export function inspectImage(store: Store, arg: string): ImageInspect {
  const {image} = resolveImage(store, arg)
  return inspectRecord(store, image)
}

export function inspectRecord(store: Store, image: ImageRecord): ImageInspect {
  const names = store.namesOf(image.id)
  const platform = image.platform ?? hostPlatform()
  const c = image.config
  const digests = new Set<string>()
  if (image.source.kind === 'daemon' && image.source.repoDigest) {
    try {
      digests.add(`${familiarName(normalizeReference(image.source.reference).repository).replace(/:latest$/, '')}@${image.source.repoDigest}`)
    } catch {
      // a source reference that no longer parses: no repo digest to show
    }
  }
  const history = image.history ?? []
  return {
    Id: image.id,
    RepoTags: names.map(displayName),
    RepoDigests: [...digests],
    Parent: '',
    Comment: history.at(-1)?.comment ?? '',
    Created: image.created,
    Author: history.at(-1)?.author ?? '',
    Config: {
      User: c.User ?? '',
      ...(c.ExposedPorts ? {ExposedPorts: c.ExposedPorts} : {}),
      Env: c.Env ?? null,
      Cmd: c.Cmd ?? null,
      WorkingDir: c.WorkingDir ?? '',
      Entrypoint: c.Entrypoint ?? null,
      Labels: c.Labels ?? null,
    },
    Architecture: platform.architecture,
    ...(platform.variant ? {Variant: platform.variant} : {}),
    Os: platform.os,
    Size: store.imageDiskSize(image),
    RootFS: {Type: 'layers', Layers: image.layers},
  }
}

/**
 * For `pivot image inspect` and the `pivot inspect` dispatcher: every argument's inspect object,
 * and the arguments that name no image (docker prints the found ones, then `No such image` for
 * each missing one, and exits 1).
 */
export function inspectImages(store: Store, args: string[]): {found: ImageInspect[]; missing: Array<{arg: string; message: string}>} {
  const found: ImageInspect[] = []
  const missing: Array<{arg: string; message: string}> = []
  for (const arg of args) {
    try {
      found.push(inspectImage(store, arg))
    } catch (error) {
      if (!(error instanceof ImageError) || (error.code !== 'IMAGE_NOT_FOUND' && error.code !== 'IMAGE_AMBIGUOUS')) throw error
      missing.push({arg, message: error.code === 'IMAGE_NOT_FOUND' ? `no such image: ${arg}` : error.message})
    }
  }
  return {found, missing}
}

/** One row of `pivot history`, newest first, in docker's `--format '{{json .}}'` terms. */
export interface HistoryRow {
  /** The image id on the top row, `<missing>` below (as docker shows a pulled image). */
  ID: string
  CreatedAt: string
  CreatedBy: string
  /** Bytes the row's layer takes on disk; 0 for an entry that made no layer. */
  Size: number
  Comment: string
}

/**
 * `pivot history IMAGE`: the image config's history (as loaded), each non-empty entry matched to
 * its layer for the size. An image pivot pulled, built or imported has no recorded history: one
 * row per layer says where it came from (as `pivot save` writes it into the config).
 */
export function imageHistory(store: Store, arg: string): HistoryRow[] {
  const {image} = resolveImage(store, arg)
  const {configBlobOf} = require('./image-layout') as typeof import('./image-layout')
  const history: HistoryEntry[] = configBlobOf(image, image.layers).history ?? []
  const rows: HistoryRow[] = []
  let layer = 0
  for (const h of history) {
    let size = 0
    if (!h.empty_layer) {
      const digest = image.layers[layer++]
      if (digest !== undefined && store.hasLayer(digest)) size = store.readLayer(digest).diskSize
    }
    rows.push({ID: '<missing>', CreatedAt: h.created ?? '', CreatedBy: h.created_by ?? '', Size: size, Comment: h.comment ?? ''})
  }
  rows.reverse()
  if (rows.length > 0) rows[0]!.ID = image.id
  return rows
}
