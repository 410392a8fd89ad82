/**
 * The cache ownership wall: root runs what `l/` and `layers/` point at, so a cache that another
 * user can write (or owns) lets that user choose the host tree a container gets. The attacker
 * here is uid 65534 (setpriv), given a cache made loose on purpose; root's next `pivot run` must
 * refuse it in one line saying how to fix it, and never show the attacker's tree. Links and
 * layer directories the attacker planted before the modes were fixed are not trusted either.
 */
import assert from 'node:assert/strict'
import {execFileSync, spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {before, describe, it} from 'node:test'
import {BUSYBOX_IMAGE, pivot, tempDir} from '../helpers/fixtures'
import {assertOneLineError} from '../helpers/security'

let work: string
let base: string
let layer: string
let count = 0

/** Runs a command as uid/gid 65534 with no supplementary groups; throws when it fails. */
function asNobody(args: string[]): void {
  const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', ...args], {encoding: 'utf8'})
  assert.equal(r.status, 0, `as nobody: ${args.join(' ')}: ${r.stderr}`)
}

/** A copy of the base cache in a directory of its own (0755, root's), and the attacker's tree with a marker. */
function setup(): {parent: string; cache: string; evil: string} {
  const parent = path.join(work, `p${count++}`)
  fs.mkdirSync(parent, {mode: 0o755})
  fs.chmodSync(parent, 0o755)
  const cache = path.join(parent, 'cache')
  execFileSync('cp', ['-a', base, cache])
  const evil = path.join(parent, 'evil')
  fs.mkdirSync(path.join(evil, 'bin'), {recursive: true})
  fs.copyFileSync('/bin/busybox', path.join(evil, 'bin', 'busybox'))
  fs.symlinkSync('busybox', path.join(evil, 'bin', 'sh'))
  fs.writeFileSync(path.join(evil, 'planted'), 'attacker\n')
  execFileSync('chown', ['-R', '65534:65534', evil])
  return {parent, cache, evil}
}

function runMarker(cache: string) {
  return pivot(['run', '--rm', '--pull', 'never', BUSYBOX_IMAGE, 'sh', '-c', 'cat /planted 2>/dev/null || echo own'], {cacheDir: cache})
}

function assertRefused(cache: string, pattern: RegExp): void {
  const r = runMarker(cache)
  assert.doesNotMatch(r.stdout, /attacker/)
  assertOneLineError(r, pattern, 125)
  assert.match(r.stderr, /another user could change what pivot runs; check its content, then fix it with: (chmod go-w|chown( -R)? 0) \//)
}

before(() => {
  work = tempDir('pivot-integrity-wall')
  fs.chmodSync(work, 0o755)
  base = path.join(work, 'base')
  const r = pivot(['pull', BUSYBOX_IMAGE], {cacheDir: base, timeout: 300_000})
  assert.equal(r.status, 0, r.stderr)
  layer = fs.readdirSync(path.join(base, 'layers'))[0]
})

describe('a cache another user can write or owns is refused, as ssh refuses a loose key', () => {
  it('l/ writable by others: the attacker swaps the link, root refuses the cache and never runs the swapped tree', () => {
    const {cache, evil} = setup()
    fs.chmodSync(cache, 0o755)
    fs.chmodSync(path.join(cache, 'l'), 0o777)
    asNobody(['ln', '-sfn', evil, path.join(cache, 'l', layer.slice(0, 12))])
    assertRefused(cache, /the cache's l\/ \S+ is writable by (its group and )?others/)
    for (const args of [['images'], ['pull', BUSYBOX_IMAGE], ['prune'], ['check']]) {
      assertOneLineError(pivot(args, {cacheDir: cache}), /refusing to use the cache/, 125)
    }
  })

  it('group-writable layers/ is refused with the chmod that fixes it', () => {
    const {cache} = setup()
    fs.chmodSync(path.join(cache, 'layers'), 0o770)
    assertRefused(cache, new RegExp(`the cache's layers/ \\S+ is writable by its group.*fix it with: chmod go-w ${path.join(cache, 'layers')}$`))
  })

  it('a top-level directory owned by the attacker is refused with the chown that fixes it', () => {
    const {cache} = setup()
    fs.chownSync(path.join(cache, 'l'), 65534, 65534)
    assertRefused(cache, new RegExp(`the cache's l/ \\S+ is owned by uid 65534, not by you \\(uid 0\\) or root.*chown -R 0 ${path.join(cache, 'l')}$`))
  })

  it('a cache root owned by the attacker, or writable by others, is refused', () => {
    const {cache} = setup()
    fs.chownSync(cache, 65534, 65534)
    assertRefused(cache, /the cache root \S+ is owned by uid 65534/)
    fs.chownSync(cache, 0, 0)
    fs.chmodSync(cache, 0o757)
    assertRefused(cache, /the cache root \S+ is writable by (its group and )?others/)
  })

  it('a parent directory others can write (no sticky bit) is refused; /tmp-like sticky parents are fine', () => {
    const {parent, cache, evil} = setup()
    fs.chmodSync(parent, 0o777)
    // The attacker could move the whole cache aside and put one of their own in its place.
    asNobody(['mv', cache, path.join(parent, 'moved')])
    asNobody(['mkdir', '-p', path.join(cache, 'l')])
    asNobody(['ln', '-s', evil, path.join(cache, 'l', layer.slice(0, 12))])
    const r = runMarker(cache)
    assert.doesNotMatch(r.stdout, /attacker/)
    assertOneLineError(r, /(on the way to the cache, is writable by (its group and )?others|is owned by uid 65534)/, 125)
    fs.rmSync(cache, {recursive: true})
    fs.renameSync(path.join(parent, 'moved'), cache)
    assertRefused(cache, new RegExp(`${parent}, on the way to the cache, is writable by (its group and )?others`))
    fs.chmodSync(parent, 0o1777)
    const ok = runMarker(cache)
    assert.equal(ok.status, 0, ok.stderr)
    assert.equal(ok.stdout, 'own\n')
  })

  it('a cache reached through a symlink the attacker owns is refused', () => {
    const {parent, cache} = setup()
    fs.chmodSync(parent, 0o1777)
    const link = path.join(parent, 'via-link')
    asNobody(['ln', '-s', cache, link])
    const r = runMarker(link)
    assertOneLineError(r, /via-link, on the way to the cache, is owned by uid 65534/, 125)
  })
})

describe('what an attacker planted before the modes were fixed is not trusted', () => {
  it('a swapped l/ link left behind: run relinks it to its own layer and never shows the planted tree', () => {
    const {cache, evil} = setup()
    fs.chmodSync(cache, 0o755)
    fs.chmodSync(path.join(cache, 'l'), 0o777)
    asNobody(['ln', '-sfn', evil, path.join(cache, 'l', layer.slice(0, 12))])
    fs.chmodSync(path.join(cache, 'l'), 0o700)
    fs.chmodSync(cache, 0o700)
    const r = runMarker(cache)
    assert.equal(r.status, 0, r.stderr)
    assert.equal(r.stdout, 'own\n')
    assert.equal(fs.readlinkSync(path.join(cache, 'l', layer.slice(0, 12))), path.join('..', 'layers', layer, 'rootfs'))
  })

  it('a layer directory replaced by the attacker: run refuses the layer in one line', () => {
    const {cache, evil} = setup()
    fs.chmodSync(cache, 0o755)
    fs.chmodSync(path.join(cache, 'layers'), 0o777)
    asNobody(['mv', path.join(cache, 'layers', layer), path.join(cache, 'layers', 'gone')])
    asNobody(['mkdir', path.join(cache, 'layers', layer)])
    asNobody(['ln', '-s', evil, path.join(cache, 'layers', layer, 'rootfs')])
    fs.chmodSync(path.join(cache, 'layers'), 0o700)
    fs.chmodSync(cache, 0o700)
    const r = runMarker(cache)
    assert.doesNotMatch(r.stdout, /attacker/)
    assertOneLineError(r, new RegExp(`layers/${layer} is owned by uid 65534, not by you or root\\): pull the image again`), 125)
  })

  it('a lock file planted as a symlink is never followed', () => {
    const {cache, parent} = setup()
    const target = path.join(parent, 'created-by-pivot')
    fs.rmSync(path.join(cache, 'locks', 'prune.lock'), {force: true})
    fs.symlinkSync(target, path.join(cache, 'locks', 'prune.lock'))
    assertOneLineError(pivot(['prune'], {cacheDir: cache}), /lock file .* is a symbolic link, not a file/, 125)
    assert.equal(fs.existsSync(target), false)
  })
})
