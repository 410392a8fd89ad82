import {test} from 'node:test'
import assert from 'node:assert/strict'
import {Readable} from 'node:stream'
import {UnpackError} from '../../../src/unpack/unpack-error'
import {toLayerTar} from '../../../src/unpack/layer-tar'
import {BLOCK, TYPE, type WriteEntry, decodeHeader, encodeHeaders, isZeroBlock, parsePax} from '../../../src/unpack/tar-format'

/** A tar as packRootfs writes it: headers from encodeHeaders, file data padded, two zero blocks. */
function tar(entries: Array<WriteEntry & {data?: string}>): Buffer {
  const parts: Buffer[] = []
  for (const {data, ...e} of entries) {
    parts.push(encodeHeaders({...e, size: data?.length ?? 0}))
    if (data) {
      const body = Buffer.alloc(Math.ceil(data.length / BLOCK) * BLOCK)
      body.write(data, 'latin1')
      parts.push(body)
    }
  }
  parts.push(Buffer.alloc(2 * BLOCK))
  return Buffer.concat(parts)
}

interface Listed {
  name: string
  type: string
  size: number
  xattrs: string[]
  data?: string
}

/** Reads a tar back: names, types, sizes, xattr names, file data. */
function list(buf: Buffer): Listed[] {
  const out: Listed[] = []
  let off = 0
  let pax: Array<[string, Buffer]> = []
  for (;;) {
    assert.ok(off + BLOCK <= buf.length, 'the end marker is there')
    if (isZeroBlock(buf, off)) break
    const h = decodeHeader(buf, off)
    off += BLOCK
    const body = buf.subarray(off, off + h.size)
    off += Math.ceil(h.size / BLOCK) * BLOCK
    if (h.typeflag === 'x') {
      pax = parsePax(body)
      continue
    }
    const name = pax.find(([k]) => k === 'path')?.[1].toString('latin1') ?? h.name
    out.push({
      name,
      type: h.typeflag,
      size: h.size,
      xattrs: pax.filter(([k]) => k.startsWith('SCHILY.xattr.')).map(([k]) => k.slice(13)),
      ...(h.size ? {data: body.toString('latin1')} : {}),
    })
    pax = []
  }
  return out
}

async function transform(input: Buffer, chunk = 100): Promise<Buffer> {
  const pieces: Buffer[] = []
  for (let i = 0; i < input.length; i += chunk) pieces.push(input.subarray(i, i + chunk))
  const out: Buffer[] = []
  for await (const b of Readable.from(toLayerTar(Readable.from(pieces)))) out.push(b as Buffer)
  return Buffer.concat(out)
}

const base = {mode: 0o755, uid: 0, gid: 0, size: 0, mtimeNs: 1_700_000_000_000_000_000n}
const origin = ['trusted.overlay.origin', Buffer.from([0, 1, 2])] as [string, Buffer]

test('toLayerTar: whiteouts (devices and links to them), opaque dirs, overlay xattrs dropped, root left out', async () => {
  const input = tar([
    {...base, name: './', type: TYPE.dir, xattrs: [['trusted.overlay.impure', Buffer.from('y')]]},
    {
      ...base,
      name: 'etc/',
      type: TYPE.dir,
      xattrs: [
        ['trusted.overlay.impure', Buffer.from('y')],
        ['user.keep', Buffer.from('1')],
      ],
    },
    {...base, name: 'etc/gone', type: TYPE.char, mode: 0, devmajor: 0, devminor: 0},
    {...base, name: 'etc/also-gone', type: TYPE.link, mode: 0, linkname: 'etc/gone'},
    {...base, name: 'etc/passwd', type: TYPE.file, mode: 0o644, xattrs: [origin], data: 'root:x:0:0::/root:/bin/sh\n'},
    {...base, name: 'etc/passwd-link', type: TYPE.link, linkname: 'etc/passwd'},
    {...base, name: 'dev/', type: TYPE.dir},
    {...base, name: 'dev/null', type: TYPE.char, mode: 0o666, devmajor: 1, devminor: 3},
    {...base, name: 'srv/', type: TYPE.dir, xattrs: [['trusted.overlay.opaque', Buffer.from('y')]]},
    {...base, name: 'srv/' + 'x'.repeat(120), type: TYPE.file, mode: 0o600, mtimeNs: 1_700_000_000_500_000_000n, data: 'long name'},
  ])
  const out = list(await transform(input))
  assert.deepEqual(
    out.map(e => `${e.type} ${e.name}${e.xattrs.length ? ' ' + e.xattrs.join(',') : ''}${e.data ? ' = ' + JSON.stringify(e.data) : ''}`),
    [
      '5 etc/ user.keep',
      '0 etc/.wh.gone',
      '0 etc/.wh.also-gone',
      '0 etc/passwd = "root:x:0:0::/root:/bin/sh\\n"',
      '1 etc/passwd-link',
      '5 dev/',
      '3 dev/null',
      '5 srv/',
      '0 srv/.wh..wh..opq',
      `0 srv/${'x'.repeat(120)} = "long name"`,
    ],
  )
  // Deterministic: the same input gives the same bytes, whatever the chunking.
  assert.deepEqual(await transform(input, 7), await transform(input, 4096))
})

test('toLayerTar: redirect and metacopy entries are refused, a truncated archive too', async () => {
  for (const name of ['trusted.overlay.redirect', 'trusted.overlay.metacopy']) {
    const input = tar([{...base, name: 'moved/', type: TYPE.dir, xattrs: [[name, Buffer.from('/old')]]}])
    await assert.rejects(transform(input), (e: unknown) => e instanceof UnpackError && /overlayfs kept it as a (redirect|metacopy)/.test(e.message))
  }
  const whole = tar([{...base, name: 'f', type: TYPE.file, data: 'x'.repeat(2000)}])
  await assert.rejects(transform(whole.subarray(0, 1024)), /truncated/)
  await assert.rejects(transform(whole.subarray(0, whole.length - 2 * BLOCK)), /ends without its end marker/)
})

test('toLayerTar with ids: owners rewritten (a remapped container host ids back to its own), whiteouts stay 0:0', async () => {
  const hostBase = 1_000_000_000
  const input = tar([
    {...base, name: './', type: TYPE.dir, uid: hostBase, gid: hostBase},
    {...base, name: 'home/', type: TYPE.dir, uid: hostBase + 1000, gid: hostBase + 1000},
    {...base, name: 'home/f', type: TYPE.file, mode: 0o644, uid: hostBase + 1000, gid: hostBase + 100, data: 'x'},
    {...base, name: 'home/gone', type: TYPE.char, mode: 0, uid: hostBase, gid: hostBase, devmajor: 0, devminor: 0},
  ])
  const ids = {uid: (id: number) => id - hostBase, gid: (id: number) => id - hostBase}
  const out: Buffer[] = []
  for await (const b of Readable.from(toLayerTar(Readable.from([input]), ids))) out.push(b as Buffer)
  const buf = Buffer.concat(out)
  const owners: string[] = []
  let pax: Array<[string, Buffer]> = []
  for (let off = 0; !isZeroBlock(buf, off);) {
    const h = decodeHeader(buf, off)
    const body = buf.subarray(off + BLOCK, off + BLOCK + h.size)
    off += BLOCK + Math.ceil(h.size / BLOCK) * BLOCK
    if (h.typeflag === 'x') {
      pax = parsePax(body)
      continue
    }
    const get = (k: string, v: number) => pax.find(([key]) => key === k)?.[1].toString('latin1') ?? String(v)
    owners.push(`${get('path', 0) === '0' ? h.name : get('path', 0)} ${get('uid', h.uid)}:${get('gid', h.gid)}`)
    pax = []
  }
  assert.deepEqual(owners, ['home/ 1000:1000', 'home/f 1000:100', 'home/.wh.gone 0:0'])
})
