import * as fs from 'node:fs'
import * as path from 'node:path'
import type {Store} from '../../store/store'
import {containerDir, readState} from '../../store/container-record'
import {RuntimeError} from '../runtime-error'
import {resolveContainer} from './containers'

export interface Change {
  /** docker's kinds: A added, C changed, D deleted. */
  kind: 'A' | 'C' | 'D'
  path: string
}

/**
 * `pivot diff`: what the container changed, read from its writable layer (overlay's upper dir)
 * against the image's layers. An entry of the upper dir is a deletion when it is a whiteout (a
 * 0/0 character device), a change when the image has something at that path, an addition
 * otherwise; overlay copies a directory up when anything under it changes, so the parents of a
 * change show as changed, as in docker. Sorted by path, as docker prints them.
 */
export function containerChanges(store: Store, ref: string): Change[] {
  const id = resolveContainer(store, ref)
  const record = readState(store, id)
  if (!record) throw new RuntimeError('CONTAINER_NOT_FOUND', `No such container: ${ref}`, {exitCode: 1})
  const upper = path.join(containerDir(store, id), 'upper')
  if (!fs.existsSync(upper)) return [] // --read-only: no writable layer
  const {LayerView, isWhiteout} = require('../../unpack/layer-view') as typeof import('../../unpack/layer-view')
  const view = new LayerView(record.layers.map(d => store.layerRootfs(d)))
  const inImage = (p: string): boolean => {
    try {
      return view.resolve(p, false).entry !== undefined
    } catch {
      return false
    }
  }
  const changes: Change[] = []
  const walk = (dir: string, inside: string) => {
    for (const name of fs.readdirSync(dir)) {
      const host = path.join(dir, name)
      const p = `${inside}/${name}`
      const st = fs.lstatSync(host)
      if (isWhiteout(st)) {
        changes.push({kind: 'D', path: p})
        continue
      }
      changes.push({kind: inImage(p) ? 'C' : 'A', path: p})
      if (st.isDirectory()) walk(host, p)
    }
  }
  walk(upper, '')
  return changes.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
}
