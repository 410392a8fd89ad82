import type {StepDefinition} from './recipe'
import {sha256Json} from '../common/hash'

/** Bump when what a step produces for the same inputs changes (layer format, copy semantics...). */
export const CACHE_KEY_VERSION = 1

/** The state a step runs in: part of its key, since a step sees it. */
export interface StepState {
  /** `K=V`, in order. */
  env: string[]
  workdir: string
}

/** The key the chain starts from: the base image's id (content-derived), or scratch. */
export function baseCacheKey(baseImageId: string | undefined): string {
  return sha256Json({v: CACHE_KEY_VERSION, base: baseImageId ?? 'scratch'})
}

/**
 * A step's cache key: its parent's key (so the keys form a chain and changing step k changes
 * every key after it), the step as written after build-arg substitution, the env and working
 * directory it runs with, and for a copy the content digest, mode, owner and image path of every
 * copied entry (`copyKeyMaterial`). mtimes are not in it: touching a file does not rebuild.
 */
export function stepCacheKey(parent: string, step: StepDefinition, state: StepState, copied?: unknown[]): string {
  return sha256Json({v: CACHE_KEY_VERSION, parent, step, env: state.env, workdir: state.workdir, copied: copied ?? null})
}
