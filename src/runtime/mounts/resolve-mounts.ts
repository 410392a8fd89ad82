import * as fs from 'node:fs'
import type {Store} from '../../store/store'
import type {MountRecord} from '../../store/container-record'
import type {InitVolume} from '../init-config'
import {RuntimeError} from '../runtime-error'
import type {MountSpec} from './mount-spec'
import {ensureVolume, fillFromImage} from './volumes'

/** Docker's check across every -v, --mount and --tmpfs of one run. */
export function checkDuplicateTargets(specs: readonly MountSpec[]): void {
  const seen = new Set<string>()
  for (const s of specs) {
    if (seen.has(s.target)) throw new RuntimeError('RUN_BAD_VOLUME', `Duplicate mount point: ${s.target}`)
    seen.add(s.target)
  }
}

/**
 * What the init mounts, from the parsed specs: a `-v` host path that is missing is made (a
 * directory, root's, as docker makes it), a named volume is made when new and filled from the
 * image when empty, an anonymous one is made. Called under the cache's shared GC lock, before the
 * container's record (which then names the volumes) is written: `volume rm` and `volume prune`
 * take the exclusive side, so they never remove a volume between here and the record.
 */
export function resolveMounts(store: Store, specs: readonly MountSpec[], imageLayers: readonly string[]): {volumes: InitVolume[]; records: MountRecord[]} {
  const volumes: InitVolume[] = []
  const records: MountRecord[] = []
  const layerRoots = imageLayers.map(d => store.layerRootfs(d))
  for (const spec of specs) {
    switch (spec.type) {
      case 'bind': {
        let st = fs.statSync(spec.source, {throwIfNoEntry: false})
        if (!st) {
          if (!spec.createSource)
            throw new RuntimeError('RUN_BAD_VOLUME', `invalid mount config for type "bind": bind source path does not exist: ${spec.source}`)
          fs.mkdirSync(spec.source, {recursive: true, mode: 0o755})
          st = fs.statSync(spec.source)
        }
        volumes.push({source: spec.source, target: spec.target, readOnly: spec.readOnly, kind: st.isDirectory() ? 'dir' : 'file'})
        records.push({Type: 'bind', Source: spec.source, Destination: spec.target, RW: !spec.readOnly})
        break
      }
      case 'volume': {
        const {info} = ensureVolume(store, spec.name)
        if (!spec.noCopy) fillFromImage(layerRoots, spec.target, info.Mountpoint)
        volumes.push({source: info.Mountpoint, target: spec.target, readOnly: spec.readOnly, kind: 'dir'})
        records.push({
          Type: 'volume',
          Name: info.Name,
          Source: info.Mountpoint,
          Destination: spec.target,
          RW: !spec.readOnly,
          ...(spec.name === undefined ? {Anonymous: true} : {}),
        })
        break
      }
      case 'tmpfs':
        volumes.push({source: 'tmpfs', target: spec.target, readOnly: spec.readOnly, kind: 'tmpfs', flags: spec.flags, data: spec.data})
        records.push({Type: 'tmpfs', Source: '', Destination: spec.target, RW: !spec.readOnly})
        break
    }
  }
  return {volumes, records}
}
