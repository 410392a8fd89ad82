// What a build step commits: deletions as whiteouts (several in one step: overlayfs shares one
// whiteout inode between them), a re-created directory as opaque, no overlay-private attributes,
// no layer for a step that changes nothing, none of the runtime's /etc files, and copy
// destinations resolved through the image's own symlinks.
import {before, test} from 'node:test'
import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {Readable} from 'node:stream'
import {BUSYBOX_IMAGE, DEBIAN_IMAGE, pivot, tempDir} from '../../helpers/fixtures'
import {KoffiSyscalls} from '../../../src/sys/koffi-syscalls'
import {packRootfs} from '../../../src/unpack'
import {toLayerTar} from '../../../src/unpack/layer-tar'

const sys = new KoffiSyscalls()
let cache: string

interface BuildJson {
  id: string
  layers: string[]
  steps: Array<{index: number; cached: boolean}>
}

function ok(r: {status: number | null; stdout: string; stderr: string}): string {
  assert.equal(r.status, 0, r.stderr)
  return r.stdout
}

function build(text: string, name: string, files: Record<string, string> = {}): BuildJson {
  const dir = tempDir('pivot-build-layers-')
  for (const [file, content] of Object.entries(files)) fs.writeFileSync(path.join(dir, file), content)
  fs.writeFileSync(path.join(dir, 'recipe.yaml'), text)
  return JSON.parse(ok(pivot(['build', path.join(dir, 'recipe.yaml'), '-t', name, '--json'], {cacheDir: cache, timeout: 300_000}))) as BuildJson
}

function rootfs(digest: string): string {
  return path.join(cache, 'layers', digest.slice(7), 'rootfs')
}

function run(image: string, script: string): string {
  return ok(pivot(['run', '--rm', image, '/bin/sh', '-c', script], {cacheDir: cache}))
}

/** Every extended attribute name in a tree, by path. */
function xattrNames(root: string): string[] {
  const out: string[] = []
  const walk = (p: string) => {
    for (const name of sys.llistxattrBytes(Buffer.from(p))) out.push(`${path.relative(root, p) || '.'}: ${name}`)
    const st = fs.lstatSync(p)
    if (st.isDirectory()) for (const e of fs.readdirSync(p)) walk(path.join(p, e))
  }
  walk(root)
  return out
}

before(() => {
  cache = tempDir('pivot-build-cache-')
  ok(pivot(['pull', BUSYBOX_IMAGE], {cacheDir: cache}))
  ok(pivot(['pull', DEBIAN_IMAGE], {cacheDir: cache, timeout: 300_000}))
})

test('deleting base files in one step: each a whiteout in the layer, all gone in the image', () => {
  const built = build(`from: ${DEBIAN_IMAGE}\nsteps:\n  - run: rm /etc/motd /etc/issue /etc/issue.net && rm -r /usr/share/doc/bash\n`, 'pivot-test/deleted')
  const layer = rootfs(built.layers.at(-1) as string)
  for (const f of ['etc/motd', 'etc/issue', 'etc/issue.net', 'usr/share/doc/bash']) {
    const st = fs.lstatSync(path.join(layer, f))
    assert.ok(st.isCharacterDevice() && st.rdev === 0, `${f} is a whiteout in the layer`)
  }
  assert.equal(
    run('pivot-test/deleted', 'for f in /etc/motd /etc/issue /etc/issue.net /usr/share/doc/bash; do test -e $f && echo "$f still there"; done; echo done'),
    'done\n',
  )
  // Only what the step did: no copy of the untouched rest of /etc.
  assert.deepEqual(fs.readdirSync(path.join(layer, 'etc')).sort(), ['issue', 'issue.net', 'motd'])
})

test('a directory removed and made again is opaque; no overlay-private attribute is committed', () => {
  const built = build(
    `from: ${DEBIAN_IMAGE}\nsteps:\n  - run: rm -rf /usr/share/doc && mkdir /usr/share/doc && echo new > /usr/share/doc/only && echo x >> /etc/passwd-\n`,
    'pivot-test/opaque',
  )
  const layer = rootfs(built.layers.at(-1) as string)
  assert.equal(sys.lgetxattr(path.join(layer, 'usr/share/doc'), 'trusted.overlay.opaque')?.toString(), 'y')
  assert.equal(run('pivot-test/opaque', 'ls /usr/share/doc'), 'only\n')
  const names = xattrNames(layer)
  assert.deepEqual(
    names.filter(n => n.includes('trusted.overlay.') && !n.endsWith('trusted.overlay.opaque')),
    [],
    "origin, impure and other overlay attributes are the mount's business, not the layer's",
  )
})

test("a step that changes nothing adds no layer; the runtime's /etc files never enter a layer", () => {
  const built = build(
    [
      `from: ${BUSYBOX_IMAGE}`,
      'steps:',
      '  - run: "true"',
      '  - run: cat /etc/passwd > /dev/null && touch /tmp/x && rm /tmp/x',
      '  - run: echo "10.0.0.1 build-only" >> /etc/hosts && echo nameserver 10.9.9.9 > /etc/resolv.conf && echo other > /etc/hostname',
      '  - env: {A: "1"}',
      '',
    ].join('\n'),
    'pivot-test/noop',
  )
  const base = JSON.parse(ok(pivot(['images', '--json'], {cacheDir: cache}))) as Array<{names: string[]; layers: string[]}>
  const busybox = base.find(i => i.names.includes(BUSYBOX_IMAGE))
  assert.ok(busybox)
  assert.deepEqual(built.layers, busybox.layers)
  assert.equal(run('pivot-test/noop', 'grep -c build-only /etc/hosts; grep -c 10.9.9.9 /etc/resolv.conf; echo $A'), '0\n0\n1\n')
})

test("a copy destination follows the image's symlinks (usr-merge): /bin/tool lands in /usr/bin", () => {
  const built = build(
    `from: ${DEBIAN_IMAGE}\nsteps:\n  - copy: {src: tool, dest: /bin/tool, mode: "0755"}\n  - copy: {src: tool, dest: /usr/local/bin/}\n`,
    'pivot-test/usrmerge',
    {tool: '#!/bin/sh\necho tool ran\n'},
  )
  const layer = rootfs(built.layers.at(-2) as string)
  assert.ok(fs.lstatSync(path.join(layer, 'usr/bin/tool')).isFile())
  assert.equal(fs.existsSync(path.join(layer, 'bin')), false)
  // Parent directories keep the base's metadata: the layer does not change /usr or /usr/bin.
  const baseUsr = run(DEBIAN_IMAGE, 'stat -c "%a %u:%g" /usr /usr/bin /usr/local/bin')
  assert.equal(run('pivot-test/usrmerge', 'stat -c "%a %u:%g" /usr /usr/bin /usr/local/bin'), baseUsr)
  assert.equal(run('pivot-test/usrmerge', 'readlink /bin; /bin/tool; stat -c %a /usr/local/bin/tool'), 'usr/bin\ntool ran\n644\n')
})

test('toLayerTar: whiteouts and opaque directories in Docker form, overlay attributes dropped', async t => {
  const tree = tempDir('pivot-build-tree-')
  fs.mkdirSync(path.join(tree, 'etc'))
  fs.mkdirSync(path.join(tree, 'opaque'))
  fs.writeFileSync(path.join(tree, 'etc', 'kept'), 'kept')
  sys.mknod(path.join(tree, 'etc', 'gone'), fs.constants.S_IFCHR, 0n)
  fs.linkSync(path.join(tree, 'etc', 'gone'), path.join(tree, 'etc', 'gone-too'))
  sys.lsetxattr(path.join(tree, 'opaque'), 'trusted.overlay.opaque', Buffer.from('y'))
  sys.lsetxattr(path.join(tree, 'etc'), 'trusted.overlay.impure', Buffer.from('y'))
  sys.lsetxattr(path.join(tree, 'etc', 'kept'), 'trusted.overlay.origin', Buffer.from([0, 1, 2]))
  sys.lsetxattr(path.join(tree, 'etc', 'kept'), 'user.kept', Buffer.from('v'))
  const chunks: Buffer[] = []
  for await (const chunk of Readable.from(toLayerTar(packRootfs(tree) as Readable))) chunks.push(chunk as Buffer)
  const tar = Buffer.concat(chunks)
  const file = path.join(tempDir('pivot-build-tar-'), 'layer.tar')
  fs.writeFileSync(file, tar)
  const listing = require('node:child_process').execFileSync('tar', ['--xattrs', '--xattrs-include=*', '-tvf', file], {encoding: 'utf8'}) as string
  const names = listing
    .split('\n')
    .filter(Boolean)
    .map(l => l.split(/\s+/).pop())
  assert.deepEqual(names, ['etc/', 'etc/.wh.gone', 'etc/.wh.gone-too', 'etc/kept', 'opaque/', 'opaque/.wh..wh..opq'])
  assert.equal(tar.includes(Buffer.from('trusted.overlay')), false)
  assert.equal(tar.includes(Buffer.from('SCHILY.xattr.user.kept')), true)
  void t
})
