import {createHash} from 'node:crypto'
import {familiarName, normalizeReference} from '../reference'
import type {Store} from '../store'
import type {IncomingMessage} from 'node:http'
import {registryBase} from '../registry/registry-base'
import {MANIFEST_ACCEPT, MAX_MANIFEST_BYTES, parseManifest, selectPlatform, type Descriptor, type Manifest} from '../registry/manifest'
import {formatPlatform, hostPlatform} from '../registry/platform'
import type {ProgressEvent} from './progress-event'
import type {PullResult} from './pull-image'

/** A registry that does not answer the one manifest GET within this long leaves the work to the full pull. */
const IDLE_TIMEOUT = 10_000

/**
 * The re-pull of an image the cache holds and the registry has not changed, in one round trip:
 * the name's record says which manifest (or index) digest it was pulled from; one anonymous GET
 * of the tag's manifest says whether the registry still serves those bytes. When it does (and the
 * record is sound, every layer is in the cache, the record was made for this host's platform),
 * the result is the one `pullImage` would return for it, with the same progress events, and
 * nothing in the cache changes: the name already points at the image.
 *
 * Anything else returns undefined and nothing has been printed or changed: the caller runs the
 * full pull, which then reports what went wrong (no ping, token or credential lookup is made here:
 * a registry that wants authentication answers 401, and the full pull does its auth dance). A
 * digest is content: when the registry sends the bytes the record names, the image is the same.
 *
 * Why the full pull is not simply made faster: its modules (locks, leases, the unpacker's loader,
 * the config fetch) cost more than a node start here, and docker answers an unchanged pull with
 * one manifest request too.
 */
export async function pullUnchanged(store: Store, reference: string, emit: (event: ProgressEvent) => void): Promise<PullResult | undefined> {
  let ref
  try {
    ref = normalizeReference(reference)
  } catch {
    return undefined // the full pull names the problem
  }
  const id = store.getRef(ref.name)
  if (id === undefined) return undefined
  let record
  try {
    record = store.readImage(id)
  } catch {
    return undefined // damaged: the full pull repairs it
  }
  const source = record?.source
  if (!record || source?.kind !== 'registry') return undefined
  // An index resolves to the host's entry on a plain pull: a record made for another platform
  // (--platform) is not what this pull would give.
  if (source.platform !== formatPlatform(hostPlatform())) return undefined
  if (!record.layers.every(d => store.hasLayer(d))) return undefined

  const shown = familiarName(ref)
  const base = registryBase(ref.domain)
  const top = await fetchManifest(base, ref.path, ref.digest ?? ref.tag ?? 'latest')
  if (!top || top.digest !== source.repoDigest) return undefined
  let manifest = top.manifest
  if (manifest.kind === 'index') {
    let entry: Descriptor
    try {
      entry = selectPlatform(manifest, hostPlatform(), shown)
    } catch {
      return undefined
    }
    if (entry.digest !== source.manifest) return undefined
    const child = await fetchManifest(base, ref.path, entry.digest)
    if (!child || child.digest !== entry.digest) return undefined
    manifest = child.manifest
  } else if (top.digest !== source.manifest) {
    return undefined
  }
  if (manifest.kind !== 'image' || manifest.config.digest !== source.dockerImageId || manifest.layers.length !== record.layers.length) return undefined

  emit({type: 'phase', title: `Pulling ${shown} from registry ${ref.domain}`})
  for (const l of manifest.layers) emit({type: 'pull', id: l.digest.slice(7, 19), status: 'Already exists'})
  // The same fields, in the same order, as pullImage's result for a cached image (--json prints them).
  return {
    name: ref.name,
    id: record.id,
    layers: record.layers,
    size: store.imageDiskSize(record),
    dockerImageId: source.dockerImageId,
    reused: true,
    warnings: [],
    source: 'registry',
    digest: source.repoDigest,
  }
}

/**
 * One anonymous manifest GET, its digest computed from the bytes; undefined on any failure (a
 * redirect, a 401, a timeout...: the full pull then does it properly). node:http itself rather
 * than src/registry/http: no keep-alive agent or redirects for one request, and `localhost` is
 * dialled as 127.0.0.1 (what /etc/hosts says on every Debian): a name lookup costs this
 * process ~5 ms (the dns module, a thread pool round trip). A registry listening on ::1 only is
 * refused here and reached by the full pull.
 */
function fetchManifest(base: URL, repository: string, reference: string): Promise<{digest: string; manifest: Manifest} | undefined> {
  const lib = base.protocol === 'https:' ? (require('node:https') as typeof import('node:https')) : (require('node:http') as typeof import('node:http'))
  return new Promise(resolve => {
    const req = lib.request({
      protocol: base.protocol,
      host: base.hostname === 'localhost' ? '127.0.0.1' : base.hostname.replace(/^\[|\]$/g, ''),
      port: base.port || undefined,
      servername: base.hostname,
      path: `/v2/${repository}/manifests/${reference}`,
      headers: {Host: base.host, Accept: MANIFEST_ACCEPT, 'User-Agent': 'pivot'},
      agent: false,
      timeout: IDLE_TIMEOUT,
    })
    req.on('timeout', () => req.destroy())
    req.on('error', () => resolve(undefined))
    req.on('response', (res: IncomingMessage) => {
      if (res.statusCode !== 200 || Number(res.headers['content-length']) > MAX_MANIFEST_BYTES) {
        res.destroy()
        return resolve(undefined)
      }
      const chunks: Buffer[] = []
      let size = 0
      res.on('data', (chunk: Buffer) => {
        size += chunk.length
        if (size > MAX_MANIFEST_BYTES) res.destroy()
        else chunks.push(chunk)
      })
      res.on('error', () => resolve(undefined))
      res.on('close', () => {
        if (!res.complete || size > MAX_MANIFEST_BYTES) return resolve(undefined)
        const bytes = Buffer.concat(chunks)
        const digest = 'sha256:' + createHash('sha256').update(bytes).digest('hex')
        if (reference.startsWith('sha256:') && digest !== reference) return resolve(undefined)
        try {
          resolve({digest, manifest: parseManifest(bytes, res.headers['content-type'], repository)})
        } catch {
          resolve(undefined)
        }
      })
    })
    req.end()
  })
}
