import * as fs from 'node:fs'
import * as path from 'node:path'
import type {Store} from '../../store/store'
import {removeTree} from '../../store/store'
import {writeJsonAtomic} from '../../common/fs-util'
import {randomHex} from '../../common/random'
import {listContainerIds, readState, type MountRecord} from '../../store/container-record'
import {RuntimeError} from '../runtime-error'
import {VOLUME_NAME, badVolumeName} from './mount-spec'

/**
 * Named volumes, docker's local driver in the cache: `volumes/<name>/_data` is what containers
 * mount, `volumes/<name>/volume.json` says what `pivot volume inspect` shows. A volume outlives
 * every container; `volume rm` refuses one that a container (running or not) still names, as
 * docker does. Anonymous volumes (`-v /path`) carry docker's label com.docker.volume.anonymous:
 * `rm -v` removes them with their container, and `volume prune` removes unused ones.
 */
export interface VolumeInfo {
  CreatedAt: string
  Driver: 'local'
  Labels: Record<string, string>
  Mountpoint: string
  Name: string
  Options: Record<string, string>
  Scope: 'local'
}

export const ANONYMOUS_LABEL = 'com.docker.volume.anonymous'

export function volumesDir(store: Store): string {
  return path.join(store.root, 'volumes')
}

function volumeDir(store: Store, name: string): string {
  return path.join(volumesDir(store), name)
}

export function readVolume(store: Store, name: string): VolumeInfo | undefined {
  if (!VOLUME_NAME.test(name)) return undefined
  try {
    const info = JSON.parse(fs.readFileSync(path.join(volumeDir(store, name), 'volume.json'), 'utf8')) as VolumeInfo
    return {...info, Mountpoint: path.join(volumeDir(store, name), '_data')}
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined
    throw error
  }
}

export function listVolumes(store: Store): VolumeInfo[] {
  let names: string[]
  try {
    names = fs.readdirSync(volumesDir(store))
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw error
  }
  return names
    .filter(n => VOLUME_NAME.test(n))
    .map(n => readVolume(store, n))
    .filter((v): v is VolumeInfo => v !== undefined)
    .sort((a, b) => a.Name.localeCompare(b.Name))
}

/**
 * The volume, made when it does not exist (`created` says which). Made whole in a staging
 * directory and renamed into place, so two runs that name a new volume at once both get the one
 * that won, never half of one.
 */
export function ensureVolume(store: Store, name: string | undefined, labels: Record<string, string> | null = null): {info: VolumeInfo; created: boolean} {
  if (name !== undefined && !VOLUME_NAME.test(name)) throw badVolumeName(name)
  const existing = name === undefined ? undefined : readVolume(store, name)
  if (existing) return {info: existing, created: false}
  const volName = name ?? randomHex(32)
  const root = volumesDir(store)
  fs.mkdirSync(root, {recursive: true, mode: 0o700})
  const staging = fs.mkdtempSync(path.join(root, '.new-'))
  try {
    fs.mkdirSync(path.join(staging, '_data'), {mode: 0o755})
    fs.chmodSync(path.join(staging, '_data'), 0o755)
    const info: VolumeInfo = {
      CreatedAt: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      Driver: 'local',
      Labels: name === undefined ? {[ANONYMOUS_LABEL]: '', ...labels} : {...labels},
      Mountpoint: path.join(root, volName, '_data'),
      Name: volName,
      Options: {},
      Scope: 'local',
    }
    writeJsonAtomic(path.join(staging, 'volume.json'), info)
    try {
      fs.renameSync(staging, path.join(root, volName))
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code !== 'EEXIST' && code !== 'ENOTEMPTY') throw error
      const won = readVolume(store, volName)
      if (!won) throw error
      return {info: won, created: false}
    }
    return {info, created: true}
  } finally {
    fs.rmSync(staging, {recursive: true, force: true})
  }
}

/** Ids of the containers whose record names the volume (docker: any container, running or not). */
export function volumeUsers(store: Store, name: string): string[] {
  const users: string[] = []
  for (const id of listContainerIds(store)) {
    const record = readState(store, id)
    if (record?.mounts?.some(m => m.Type === 'volume' && m.Name === name)) users.push(id)
  }
  return users
}

/** `volume rm`: docker's messages and status 1 for a missing or used volume. */
export function removeVolume(store: Store, name: string, force = false): void {
  if (!readVolume(store, name)) {
    if (force) return
    throw new RuntimeError('VOLUME_NOT_FOUND', `get ${name}: no such volume`, {exitCode: 1})
  }
  const users = volumeUsers(store, name)
  if (users.length > 0) throw new RuntimeError('VOLUME_IN_USE', `remove ${name}: volume is in use - [${users.join(', ')}]`, {exitCode: 1})
  // Renamed out of the way first: a run that looks the volume up now finds nothing, not half of it.
  const doomed = path.join(volumesDir(store), `.rm-${name}-${randomHex(4)}`)
  fs.renameSync(volumeDir(store, name), doomed)
  removeTree(doomed, `volume ${name}`)
}

/** `volume prune`: unused anonymous volumes, or with `all` every unused volume (docker 23+). */
export function pruneVolumes(store: Store, all: boolean): {removed: string[]; bytes: number} {
  const removed: string[] = []
  let bytes = 0
  const used = new Set<string>()
  for (const id of listContainerIds(store)) {
    for (const m of readState(store, id)?.mounts ?? []) if (m.Type === 'volume' && m.Name) used.add(m.Name)
  }
  for (const v of listVolumes(store)) {
    if (used.has(v.Name)) continue
    if (!all && !(v.Labels && ANONYMOUS_LABEL in v.Labels)) continue
    bytes += treeBytes(v.Mountpoint)
    removeVolume(store, v.Name, true)
    removed.push(v.Name)
  }
  return {removed, bytes}
}

function treeBytes(dir: string): number {
  let total = 0
  const walk = (p: string) => {
    const st = fs.lstatSync(p, {throwIfNoEntry: false})
    if (!st) return
    if (st.isDirectory()) for (const e of fs.readdirSync(p)) walk(path.join(p, e))
    else if (st.isFile()) total += st.size
  }
  walk(dir)
  return total
}

/**
 * Docker's copy-up: an empty volume mounted where the image has a directory is first filled with
 * that directory's content (owners, modes, times, symlinks as they are). The image path is
 * resolved inside the image (its own symlinks, never the host's), from the layers alone.
 */
export function fillFromImage(layerRoots: string[], inside: string, dest: string): void {
  if (fs.readdirSync(dest).length > 0) return
  const {LayerView} = require('../../unpack/layer-view') as typeof import('../../unpack/layer-view')
  const view = new LayerView(layerRoots)
  let entry
  try {
    entry = view.resolve(inside).entry
  } catch {
    return
  }
  if (!entry?.dirLayers) return
  const copyDir = (dir: typeof entry, to: string) => {
    for (const [name, child] of view.children(dir)) {
      const target = path.join(to, name)
      const st = child.stat
      if (st.isDirectory()) {
        fs.mkdirSync(target, {mode: 0o700})
        copyDir(child, target)
      } else if (st.isSymbolicLink()) fs.symlinkSync(fs.readlinkSync(child.hostPath), target)
      else if (st.isFile()) fs.copyFileSync(child.hostPath, target)
      else continue // devices, fifos, sockets: not copied (docker skips nothing, but none is safe to make here)
      fs.lchownSync(target, st.uid, st.gid)
      if (!st.isSymbolicLink()) {
        fs.chmodSync(target, st.mode & 0o7777)
        fs.utimesSync(target, st.atime, st.mtime)
      }
    }
  }
  copyDir(entry, dest)
  fs.chownSync(dest, entry.stat.uid, entry.stat.gid)
  fs.chmodSync(dest, entry.stat.mode & 0o7777)
}

/** `rm -v`, `run --rm`: the container's anonymous volumes, once its record is gone (one still used elsewhere stays). */
export function removeAnonymousVolumes(store: Store, mounts: readonly MountRecord[] | undefined): void {
  for (const m of mounts ?? []) {
    if (m.Type !== 'volume' || !m.Anonymous || !m.Name) continue
    try {
      removeVolume(store, m.Name, true)
    } catch {
      // In use by another container (--volumes-from style sharing): kept, as docker keeps it.
    }
  }
}
