// Builders for unit tests of the pull logic: tar archives in memory, `docker save` archives in
// both layouts docker writes, and a fake layer unpacker (no chroot, no root) that writes the
// files of a trusted test layer and reports its digest like src/unpack does.
import {createHash} from 'node:crypto'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {PassThrough, Readable} from 'node:stream'
import {gunzipSync} from 'node:zlib'
import * as tar from 'tar'
import type {DaemonImage} from '../../../src/daemon'
import type {UnpackLayerFn} from '../../../src/images/unpack-layer-fn'

export interface Member {
  path: string
  type?: 'File' | 'Directory' | 'SymbolicLink'
  data?: Buffer | string
  linkpath?: string
  mode?: number
}

export function buildTar(members: Member[]): Buffer {
  const blocks: Buffer[] = []
  for (const m of members) {
    const data = m.data === undefined ? Buffer.alloc(0) : Buffer.from(m.data)
    const type = m.type ?? 'File'
    const header = new tar.Header({
      path: m.path,
      type,
      size: type === 'File' ? data.length : 0,
      mode: m.mode ?? (type === 'Directory' ? 0o755 : 0o644),
      mtime: new Date(0),
      uid: 0,
      gid: 0,
      linkpath: m.linkpath,
    })
    const block = Buffer.alloc(512)
    header.encode(block, 0)
    blocks.push(block)
    if (type === 'File' && data.length) {
      blocks.push(data, Buffer.alloc((512 - (data.length % 512)) % 512))
    }
  }
  blocks.push(Buffer.alloc(1024))
  return Buffer.concat(blocks)
}

export function sha256(buf: Buffer): string {
  return `sha256:${createHash('sha256').update(buf).digest('hex')}`
}

/** A layer tar with one file `name` holding `content`. */
export function layer(name: string, content: string): Buffer {
  return buildTar([
    {path: './', type: 'Directory'},
    {path: name, data: content},
  ])
}

export function daemonImage(id: string, diffIds: string[], config: DaemonImage['config'] = {Cmd: ['/bin/sh']}): DaemonImage {
  return {
    id,
    repoTags: [],
    repoDigests: [],
    created: '2024-01-01T00:00:00Z',
    config,
    diffIds,
    size: 0,
    os: 'linux',
    architecture: 'amd64',
  }
}

export function imageId(seed: string): string {
  return sha256(Buffer.from(seed))
}

/** Docker <= 24 (Debian's 20.10): `<v1 id>/layer.tar` in name order, manifest.json after them. */
export function legacySave(id: string, layers: Buffer[], options: {duplicatesAsLinks?: boolean} = {}): Buffer {
  const hex = id.replace('sha256:', '')
  const v1ids = layers.map((l, i) =>
    createHash('sha256')
      .update(`v1-${i}-${sha256(l)}`)
      .digest('hex'),
  )
  const seen = new Map<string, string>()
  const members: Member[] = []
  const dirs = layers.map((l, i) => ({l, v1: v1ids[i]})).sort((a, b) => a.v1.localeCompare(b.v1))
  for (const {l, v1} of dirs) {
    members.push({path: `${v1}/`, type: 'Directory'}, {path: `${v1}/VERSION`, data: '1.0'}, {path: `${v1}/json`, data: `{"id":"${v1}"}`})
    const digest = sha256(l)
    if (options.duplicatesAsLinks && seen.has(digest)) {
      members.push({path: `${v1}/layer.tar`, type: 'SymbolicLink', linkpath: `../${seen.get(digest)}/layer.tar`})
    } else {
      seen.set(digest, v1)
      members.push({path: `${v1}/layer.tar`, data: l})
    }
  }
  members.push({path: `${hex}.json`, data: JSON.stringify({rootfs: {diff_ids: layers.map(sha256)}})})
  const manifest = [{Config: `${hex}.json`, RepoTags: null, Layers: v1ids.map(v => `${v}/layer.tar`)}]
  members.push({path: 'manifest.json', data: JSON.stringify(manifest)}, {path: 'repositories', data: '{}'})
  return buildTar(members)
}

/**
 * Docker >= 25: an OCI layout, blobs first (config JSON among them), index.json and manifest.json
 * after. `gzipLayers` stores compressed layer blobs (named by the compressed digest).
 */
export function ociSave(id: string, layers: Buffer[], options: {withDockerManifest?: boolean; compress?: (b: Buffer) => Buffer} = {}): Buffer {
  const hex = id.replace('sha256:', '')
  const blobs = new Map<string, Buffer>()
  const config = Buffer.from(JSON.stringify({rootfs: {diff_ids: layers.map(sha256)}}))
  blobs.set(hex, config)
  const layerDigests: string[] = []
  for (const l of layers) {
    const stored = options.compress ? options.compress(l) : l
    const d = sha256(stored)
    blobs.set(d.slice(7), stored)
    layerDigests.push(d)
  }
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {digest: `sha256:${hex}`},
      layers: layerDigests.map(d => ({mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: d})),
    }),
  )
  const manifestDigest = sha256(manifest)
  blobs.set(manifestDigest.slice(7), manifest)
  const members: Member[] = [
    {path: 'blobs/', type: 'Directory'},
    {path: 'blobs/sha256/', type: 'Directory'},
  ]
  for (const [h, data] of [...blobs.entries()].sort(([a], [b]) => a.localeCompare(b))) members.push({path: `blobs/sha256/${h}`, data})
  members.push({path: 'index.json', data: JSON.stringify({schemaVersion: 2, manifests: [{digest: manifestDigest}]})})
  if (options.withDockerManifest !== false) {
    members.push({
      path: 'manifest.json',
      data: JSON.stringify([{Config: `blobs/sha256/${hex}`, RepoTags: null, Layers: layerDigests.map(d => `blobs/sha256/${d.slice(7)}`)}]),
    })
  }
  members.push({path: 'oci-layout', data: '{"imageLayoutVersion":"1.0.0"}'})
  return buildTar(members)
}

/** A stream of `buf` in small chunks (so the parser sees many writes). */
export function streamOf(buf: Buffer, chunk = 4096): NodeJS.ReadableStream {
  const parts: Buffer[] = []
  for (let i = 0; i < buf.length; i += chunk) parts.push(buf.subarray(i, i + chunk))
  return Readable.from(parts, {objectMode: false})
}

/** Sends `buf` up to `upTo` bytes, then fails with `error` (or hangs when no error is given). */
export function brokenStream(buf: Buffer, upTo: number, error?: Error): NodeJS.ReadableStream {
  const out = new PassThrough()
  out.write(buf.subarray(0, upTo))
  if (error) setTimeout(() => out.destroy(error), 10)
  return out
}

export interface UnpackLog {
  calls: number
  digests: string[]
}

/** A fake `unpackLayer`: buffers the layer, writes its regular files and directories into `dest`. */
export function fakeUnpack(log: UnpackLog = {calls: 0, digests: []}): UnpackLayerFn {
  return async (source, dest, options = {}) => {
    log.calls++
    const chunks: Buffer[] = []
    const iterable = source as AsyncIterable<Buffer>
    const aborted = new Promise<never>((_, reject) => {
      if (options.signal?.aborted) reject(new Error('aborted'))
      options.signal?.addEventListener('abort', () => reject(new Error('aborted')), {once: true})
    })
    aborted.catch(() => undefined)
    const read = (async () => {
      for await (const c of iterable) chunks.push(Buffer.from(c))
    })()
    await Promise.race([read, aborted])
    let buf = Buffer.concat(chunks)
    if (buf[0] === 0x1f && buf[1] === 0x8b) buf = gunzipSync(buf)
    if (buf.length < 1024 || buf.length % 512 !== 0) throw new Error('fake unpack: truncated layer')
    let entries = 0
    for (let off = 0; off + 512 <= buf.length;) {
      const block = buf.subarray(off, off + 512)
      if (block.every(b => b === 0)) break
      const h = new tar.Header(block)
      const size = h.size ?? 0
      const name = (h.path ?? '').replace(/^\.\//, '')
      entries++
      if (name && h.type === 'Directory') fs.mkdirSync(path.join(dest, name), {recursive: true})
      else if (name && h.type === 'File') {
        fs.mkdirSync(path.dirname(path.join(dest, name)), {recursive: true})
        fs.writeFileSync(path.join(dest, name), buf.subarray(off + 512, off + 512 + size))
      }
      off += 512 + Math.ceil(size / 512) * 512
    }
    const digest = sha256(buf)
    log.digests.push(digest)
    return {digest, size: buf.length, entries}
  }
}
