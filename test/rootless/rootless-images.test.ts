// Images as a user other than root (issue 14): pull, import, export, images, rmi and prune, with
// layers unpacked in the user's namespace (subordinate ids on the host, owners intact inside).
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {describe, it} from 'node:test'
import {BUSYBOX_IMAGE} from '../helpers/fixtures'
import {ROOTLESS_SUB_START, ROOTLESS_UID, pivotRootless, rootlessHome, type RootlessHome} from '../helpers/rootless'
import {TarBuilder} from '../helpers/tar-builder'

/** The host id of id N inside (N >= 1): the subordinate range starts at inside id 1. */
const hostId = (inside: number) => ROOTLESS_SUB_START + inside - 1

function lastLine(stderr: string): string {
  const lines = stderr.trim().split('\n')
  const line = lines[lines.length - 1]
  assert.match(line, /^pivot: /, stderr)
  assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace')
  return line
}

/** A tarball the user can read: a 1000-owned home with a private file, a device node, an opaque dir. */
function writeTar(home: RootlessHome, name: string, build: (t: TarBuilder) => TarBuilder): string {
  const file = path.join(home.home, name)
  fs.writeFileSync(file, build(new TarBuilder()).end().toBuffer())
  fs.chownSync(file, ROOTLESS_UID, ROOTLESS_UID)
  return file
}

function layerRootfs(home: RootlessHome): string[] {
  const layers = path.join(home.cache, 'layers')
  return fs.readdirSync(layers).map(hex => path.join(layers, hex, 'rootfs'))
}

describe('rootless: images', () => {
  it("pulls from the registry into the user's cache and lists it", () => {
    const home = rootlessHome()
    const r = pivotRootless(home, ['pull', BUSYBOX_IMAGE])
    assert.equal(r.status, 0, r.stderr)
    const [rootfs] = layerRootfs(home)
    // Container root is the user: the image's root-owned files are the user's on the host.
    assert.equal(fs.statSync(path.join(rootfs, 'bin')).uid, ROOTLESS_UID)
    const images = pivotRootless(home, ['images'])
    assert.equal(images.status, 0, images.stderr)
    assert.match(images.stdout, /pivot-test\/busybox\s+latest|pivot-test\/busybox:latest/)
  })

  it('imports with owners intact inside (1000 is a subordinate id outside), devices as placeholders; exports and removes it', () => {
    const home = rootlessHome()
    const tar = writeTar(home, 'owned.tar', t =>
      t
        .dir('home/', {mode: 0o755})
        .dir('home/user/', {mode: 0o755, uid: 1000, gid: 1000})
        .file('home/user/secret', 'only mine\n', {mode: 0o600, uid: 1000, gid: 1000})
        .dir('dev/', {mode: 0o755})
        .char('dev/null', 1, 3, {mode: 0o666})
        .dir('opaque/', {mode: 0o755})
        .file('opaque/.wh..wh..opq', ''),
    )
    const r = pivotRootless(home, ['import', tar, 'rootless-owned:1'])
    assert.equal(r.status, 0, r.stderr)
    const [rootfs] = layerRootfs(home)
    const secret = fs.statSync(path.join(rootfs, 'home/user/secret'))
    assert.equal(secret.uid, hostId(1000))
    assert.equal(secret.gid, hostId(1000))
    assert.equal(secret.mode & 0o7777, 0o600)
    const dev = fs.lstatSync(path.join(rootfs, 'dev/null'))
    assert.ok(dev.isFile() && dev.size === 0, 'a device node becomes an empty file')
    const opaque = execFileSync(
      'python3',
      ['-c', 'import os,sys; print(os.getxattr(sys.argv[1], "user.overlay.opaque").decode())', path.join(rootfs, 'opaque')],
      {
        encoding: 'utf8',
      },
    )
    assert.equal(opaque.trim(), 'y')

    const out = path.join(home.home, 'out.tar')
    const e = pivotRootless(home, ['export', 'rootless-owned:1', '-o', out])
    assert.equal(e.status, 0, e.stderr)
    const listing = execFileSync('tar', ['--numeric-owner', '-tvf', out], {encoding: 'utf8'})
    assert.match(listing, /-rw------- 1000\/1000 +10 .* home\/user\/secret/)

    assert.equal(pivotRootless(home, ['rmi', 'rootless-owned:1']).status, 0)
    const p = pivotRootless(home, ['prune'])
    assert.equal(p.status, 0, p.stderr)
    // home/user is 0755 and a subordinate id's: only inside the namespace can it be emptied.
    assert.deepEqual(fs.readdirSync(path.join(home.cache, 'layers')), [])
  })

  it("refuses an owner outside the user's ranges in one line, leaving nothing behind", () => {
    const home = rootlessHome()
    const tar = writeTar(home, 'big.tar', t => t.dir('data/', {mode: 0o755}).file('data/x', 'x', {uid: 70000, gid: 70000}))
    const r = pivotRootless(home, ['import', tar, 'rootless-big:1'])
    assert.equal(r.status, 125)
    assert.match(lastLine(r.stderr), /owned by uid 70000, gid 70000, outside your user namespace \(ids 0-65536/)
    assert.deepEqual(fs.readdirSync(path.join(home.cache, 'layers')), [])
    assert.deepEqual(fs.readdirSync(path.join(home.cache, 'tmp')), [])
    assert.doesNotMatch(pivotRootless(home, ['images']).stdout, /rootless-big/)
  })

  it('without newuidmap: one line naming it and the package, nothing left', () => {
    const home = rootlessHome()
    const r = pivotRootless(home, ['pull', BUSYBOX_IMAGE], {withoutNewuidmap: true})
    assert.equal(r.status, 125)
    assert.match(lastLine(r.stderr), /newuidmap is missing \(or not executable\).*apt-get install uidmap/)
    assert.deepEqual(fs.readdirSync(path.join(home.cache, 'layers')), [])
    assert.deepEqual(fs.readdirSync(path.join(home.cache, 'tmp')), [])
  })

  it('without subordinate ranges: a single-id map, with a note; other owners refused in one line', () => {
    const home = rootlessHome()
    const ok = pivotRootless(home, ['pull', BUSYBOX_IMAGE], {noSubIds: true})
    assert.equal(ok.status, 0, ok.stderr)
    assert.match(ok.stderr, /^pivot: note: no subordinate ids for pivot-rootless/m)
    const tar = writeTar(home, 'owned.tar', t => t.dir('home/', {mode: 0o755}).file('home/f', 'x', {uid: 1000, gid: 1000}))
    const r = pivotRootless(home, ['import', tar, 'rootless-single:1'], {noSubIds: true})
    assert.equal(r.status, 125)
    assert.match(lastLine(r.stderr), /owned by uid 1000, gid 1000, outside your user namespace \(no subordinate range/)
  })
})
