import * as fs from 'node:fs'
import * as path from 'node:path'
import type {Store} from '../store/store'
import type {ImageConfig, ImageRecord} from '../store/image-record'
import {cgroupIdOf, containerDir, readState} from '../store/container-record'
import {RuntimeError} from '../runtime/runtime-error'
import {containerStatus, resolveContainer} from '../runtime/lifecycle/containers'

export interface CommitOptions {
  /** REPO[:TAG], normalised by the caller; none leaves the image unnamed (docker prints its id). */
  name?: string
  message?: string
  /** docker commit -c: CMD, ENTRYPOINT, ENV, WORKDIR, USER, LABEL, EXPOSE, STOPSIGNAL (JSON or shell form). */
  changes?: string[]
  /** Freeze a running container while its layer is read (docker's --pause, on by default). */
  pause?: boolean
}

/**
 * `pivot commit`: the container's writable layer (overlay's upper dir) becomes one more layer on
 * top of its image, through the build's commitTree (the same deterministic tar and safe unpack as
 * a build step), and a new image record; named when asked. A running container is frozen while
 * its layer is read, as docker pauses it. The container itself is left as it was.
 */
export async function commitContainer(store: Store, ref: string, options: CommitOptions = {}): Promise<ImageRecord> {
  const id = resolveContainer(store, ref)
  const record = readState(store, id)
  if (!record) throw new RuntimeError('CONTAINER_NOT_FOUND', `No such container: ${ref}`, {exitCode: 1})
  const base = store.readImage(record.image)
  if (!base)
    throw new RuntimeError('RUN_IMAGE_NOT_FOUND', `the image of container ${id.slice(0, 12)} (${record.image.slice(7, 19)}) is no longer in the cache`, {
      exitCode: 1,
    })
  const config = applyChanges(base.config ?? {}, options.changes ?? [])
  const {Lease} = await import('../store/gc-lock')
  const {commitTree} = await import('./commit-tree')
  const lease = new Lease(store, 'commit')
  const tmp = store.stage('commit')
  let frozen: {thaw(): void} | undefined
  try {
    lease.keepLayers(base.layers)
    let upper = path.join(containerDir(store, id), 'upper')
    // --read-only: nothing was written; the new layer is empty, as docker's would be.
    if (!fs.existsSync(upper)) {
      upper = path.join(tmp, 'empty')
      fs.mkdirSync(upper)
    }
    if (options.pause !== false && containerStatus(store, id)?.state === 'running') {
      const {openCgroup} = await import('../runtime/cgroups')
      const cgroup = openCgroup(cgroupIdOf(store, id))
      if (cgroup.canFreeze()) {
        await cgroup.freeze()
        frozen = cgroup
      }
    }
    const digest = await commitTree(store, upper, tmp, undefined, lease, record.usernsMaps ? containerIds(record.usernsMaps) : undefined)
    frozen?.thaw()
    frozen = undefined
    const now = new Date().toISOString()
    const image = await lease.pin(() => {
      const made = store.writeImage({
        layers: [...base.layers, digest],
        config,
        source: {kind: 'commit', container: id, ...(options.message ? {comment: options.message} : {})},
        created: now,
        added: now,
      })
      lease.keepImage(made.id)
      return made
    })
    if (options.name !== undefined) {
      const name = options.name
      await store.withLock(`ref-${name}`, async () => store.setRef(name, image.id))
    }
    return image
  } finally {
    frozen?.thaw()
    fs.rmSync(tmp, {recursive: true, force: true})
    lease.release()
  }
}

/**
 * A --userns remap container wrote its files as host ids (container uid N is base+N): the layer
 * gets the ids the container saw, so the image runs the same with or without the flag. An id
 * outside its map (none is expected in its upper dir) is what the container saw it as: nobody.
 */
function containerIds(maps: NonNullable<ReturnType<typeof readState>>['usernsMaps'] & object): import('../unpack/layer-tar').IdTranslation {
  const {insideId, OVERFLOW_ID} = require('../userns/id-maps') as typeof import('../userns/id-maps')
  return {uid: id => insideId(maps.uid, id) ?? OVERFLOW_ID, gid: id => insideId(maps.gid, id) ?? OVERFLOW_ID}
}

/** docker commit's --change instructions that make sense for an image config. */
export function applyChanges(base: ImageConfig, changes: readonly string[]): ImageConfig {
  const config: ImageConfig = JSON.parse(JSON.stringify(base)) as ImageConfig
  const c = config as Record<string, unknown>
  for (const change of changes) {
    const m = /^\s*(\w+)\s+([\s\S]*)$/.exec(change)
    if (!m)
      throw new RuntimeError(
        'RUN_BAD_FLAG',
        `invalid --change ${JSON.stringify(change)}: use INSTRUCTION ARGUMENTS (CMD, ENTRYPOINT, ENV, WORKDIR, USER, LABEL, EXPOSE, STOPSIGNAL)`,
      )
    const instruction = m[1].toUpperCase()
    const arg = m[2].trim()
    const list = (): string[] => {
      if (arg.startsWith('[')) {
        try {
          const v = JSON.parse(arg) as unknown
          if (Array.isArray(v) && v.every(x => typeof x === 'string')) return v
        } catch {
          // not JSON: shell form below
        }
      }
      return ['/bin/sh', '-c', arg]
    }
    switch (instruction) {
      case 'CMD':
        c.Cmd = list()
        break
      case 'ENTRYPOINT':
        c.Entrypoint = list()
        break
      case 'ENV': {
        const eq = arg.indexOf('=')
        const sp = arg.search(/\s/)
        const [k, v] = eq !== -1 && (sp === -1 || eq < sp) ? [arg.slice(0, eq), arg.slice(eq + 1)] : [arg.slice(0, sp), arg.slice(sp + 1).trim()]
        if (!k) throw new RuntimeError('RUN_BAD_FLAG', `invalid --change ${JSON.stringify(change)}: ENV KEY=VALUE`)
        const env = ((c.Env as string[] | undefined) ?? []).filter(e => !e.startsWith(`${k}=`))
        c.Env = [...env, `${k}=${v}`]
        break
      }
      case 'WORKDIR':
        c.WorkingDir = arg
        break
      case 'USER':
        c.User = arg
        break
      case 'STOPSIGNAL':
        c.StopSignal = arg
        break
      case 'LABEL': {
        const eq = arg.indexOf('=')
        if (eq <= 0) throw new RuntimeError('RUN_BAD_FLAG', `invalid --change ${JSON.stringify(change)}: LABEL KEY=VALUE`)
        c.Labels = {...((c.Labels as Record<string, string> | undefined) ?? {}), [arg.slice(0, eq)]: arg.slice(eq + 1).replace(/^"(.*)"$/, '$1')}
        break
      }
      case 'EXPOSE':
        c.ExposedPorts = {...((c.ExposedPorts as Record<string, object> | undefined) ?? {}), [arg.includes('/') ? arg : `${arg}/tcp`]: {}}
        break
      default:
        throw new RuntimeError('RUN_BAD_FLAG', `${instruction} is not a valid change command`, {exitCode: 1})
    }
  }
  return config
}
