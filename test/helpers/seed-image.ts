// Puts a fixture image into a pivot cache without `pivot pull`: `docker export` of a container of
// the image, unpacked with GNU tar as one layer, committed with the store's own calls. The run
// tests use it so that they test the runtime, not the puller.
import {createHash} from 'node:crypto'
import {execFileSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {normalizeName} from '../../src/reference'
import {listCgroups} from '../../src/runtime/cgroups'
import {storeTag} from '../../src/store/container-record'
import {Store, type ImageConfig, type ImageRecord} from '../../src/store'
import {BUSYBOX_IMAGE, docker, tempDir} from './fixtures'

interface Exported {
  tar: string
  digest: string
  size: number
  config: ImageConfig
}

const exported = new Map<string, Exported>()

/** `docker export` of the image once per test process, kept in a temp dir. */
function exportImage(image: string): Exported {
  const cached = exported.get(image)
  if (cached) return cached
  const dir = tempDir('pivot-seed')
  const tar = path.join(dir, 'rootfs.tar')
  const container = docker(['create', image, '/bin/true']).trim()
  try {
    docker(['export', '-o', tar, container])
  } finally {
    docker(['rm', '-f', container])
  }
  const hash = createHash('sha256')
  const fd = fs.openSync(tar, 'r')
  const buf = Buffer.alloc(1 << 20)
  let n: number
  while ((n = fs.readSync(fd, buf, 0, buf.length, null)) > 0) hash.update(buf.subarray(0, n))
  fs.closeSync(fd)
  const full = JSON.parse(docker(['image', 'inspect', '--format', '{{json .Config}}', image])) as ImageConfig
  const config: ImageConfig = {Env: full.Env, Cmd: full.Cmd, Entrypoint: full.Entrypoint, WorkingDir: full.WorkingDir, User: full.User}
  const result = {tar, digest: `sha256:${hash.digest('hex')}`, size: fs.statSync(tar).size, config}
  exported.set(image, result)
  return result
}

export interface SeedOptions {
  /** Replace parts of the image's config (e.g. an Entrypoint, a User) for a test. */
  config?: Partial<ImageConfig>
  /** The name to file it under; default: the image's own reference. */
  name?: string
}

/** Seeds `image` (a fixture in the local daemon) into the cache at `cacheDir`; returns its record. */
export function seedImage(cacheDir: string, image: string = BUSYBOX_IMAGE, options: SeedOptions = {}): ImageRecord {
  const store = Store.open(cacheDir)
  const ex = exportImage(image)
  if (!store.hasLayer(ex.digest)) {
    const staging = store.stage('seed')
    const rootfs = path.join(staging, 'rootfs')
    fs.mkdirSync(rootfs)
    execFileSync('tar', ['-x', '-p', '--numeric-owner', '-f', ex.tar, '-C', rootfs])
    store.commitLayer(staging, {digest: ex.digest, tarSize: ex.size, entries: 0})
  }
  const now = new Date().toISOString()
  const record = store.writeImage({
    layers: [ex.digest],
    config: {...ex.config, ...options.config},
    source: {kind: 'import', file: ex.tar},
    created: now,
    added: now,
  })
  store.setRef(normalizeName(options.name ?? image), record.id)
  return record
}

// ---- what a run may leave on the host -----------------------------------------------------------

/** Mount points in the host's mount table at or below `dir`. */
export function hostMountsUnder(dir: string): string[] {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map(line => line.split(' ')[4])
    .filter((m): m is string => m !== undefined)
    .map(m => m.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter(m => m === dir || m.startsWith(dir + '/'))
}

/** The cgroups of containers of the cache at `cacheDir` (named `<store tag>-<id>`). */
export function cacheCgroups(cacheDir: string): string[] {
  const tag = storeTag(cacheDir)
  return listCgroups().filter(id => id.startsWith(tag + '-'))
}

/** Container directories of the cache (ids). */
export function cacheContainers(cacheDir: string): string[] {
  try {
    return fs.readdirSync(path.join(cacheDir, 'containers')).filter(e => /^[0-9a-f]{64}$/.test(e))
  } catch {
    return []
  }
}

/** What a finished run left: host mounts under the cache, its cgroups, container dirs, staging dirs. */
export function leftovers(cacheDir: string): {mounts: string[]; cgroups: string[]; containers: string[]; tmp?: string[]} {
  const found: {mounts: string[]; cgroups: string[]; containers: string[]; tmp?: string[]} = {
    mounts: hostMountsUnder(cacheDir),
    cgroups: cacheCgroups(cacheDir),
    containers: cacheContainers(cacheDir),
  }
  let tmp: string[] = []
  try {
    tmp = fs.readdirSync(path.join(cacheDir, 'tmp'))
  } catch {
    // no tmp/ yet
  }
  if (tmp.length > 0) found.tmp = tmp
  return found
}
