/**
 * Fault injection on the cache: each case damages one thing (truncates, deletes, corrupts,
 * replaces a directory by a file or a symlink, makes it read-only or immutable) in a copy of a
 * cache holding a pulled busybox and an imported second image, then runs the commands that use
 * it. Expected: one `pivot: ` line naming the cause and a sensible status (never "internal
 * error"), the other image still runs, and the advertised repair (`pivot pull`, `pivot check
 * --repair`, `pivot rmi`, `pivot prune`) leaves a cache `pivot check` finds clean.
 */
import assert from 'node:assert/strict'
import {execFileSync, spawn, spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {BUSYBOX_IMAGE, DEBIAN_IMAGE, PIVOT_BIN, REPO_ROOT, pivot, tempDir, type PivotResult} from '../../helpers/fixtures'
import {assertOneLineError, busyboxRootfs, importTar} from '../../helpers/security'

const OTHER = 'integrity-other:1'
let base: string
let work: string
let busyboxLayer: string
let busyboxId: string
let otherId: string
let count = 0

function fresh(): string {
  const dir = path.join(work, `c${count++}`)
  execFileSync('cp', ['-a', base, dir])
  return dir
}

function ok(r: PivotResult, what: string): void {
  assert.equal(r.status, 0, `${what}: exit ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`)
  assert.doesNotMatch(r.stderr, /internal error|\n\s+at /)
}

/** The other image runs and sees its own file: damage to one image never spills onto the rest. */
function otherStillRuns(cache: string): void {
  const r = pivot(['run', '--rm', OTHER, 'cat', '/marker'], {cacheDir: cache})
  ok(r, 'run of the other image')
  assert.equal(r.stdout, 'other\n')
}

function busyboxRuns(cache: string): void {
  const r = pivot(['run', '--rm', '--pull', 'never', BUSYBOX_IMAGE, 'sh', '-c', 'busybox true && echo fine'], {cacheDir: cache})
  ok(r, 'run of busybox')
  assert.equal(r.stdout, 'fine\n')
}

function checkClean(cache: string): void {
  const r = pivot(['check', '--json'], {cacheDir: cache})
  ok(r, 'check')
  const report = JSON.parse(r.stdout) as {clean: boolean; findings: unknown[]; lost: unknown[]}
  assert.deepEqual({findings: report.findings, lost: report.lost, clean: report.clean}, {findings: [], lost: [], clean: true})
}

function check(
  cache: string,
  args: string[] = [],
): {
  status: number | null
  report: {clean: boolean; findings: Array<{kind: string; path: string; problem: string; action: string}>; lost: Array<{names: string[]; restore: string}>}
} {
  const r = pivot(['check', '--json', ...args], {cacheDir: cache})
  assert.doesNotMatch(r.stderr, /internal error/)
  return {status: r.status, report: JSON.parse(r.stdout)}
}

/** The CLI as uid/gid 65534 (setpriv), with a HOME it can read. */
function asNobody(cache: string, args: string[]): PivotResult {
  const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', PIVOT_BIN, ...args], {
    env: {PATH: process.env.PATH, HOME: '/', PIVOT_CACHE_DIR: cache},
    encoding: 'utf8',
    cwd: '/',
  })
  return {status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr}
}

function imageFile(cache: string, id: string): string {
  return path.join(cache, 'images', `${id.slice(7)}.json`)
}

before(() => {
  work = tempDir('pivot-integrity-damage')
  base = path.join(work, 'base')
  ok(pivot(['pull', BUSYBOX_IMAGE], {cacheDir: base, timeout: 300_000}), 'pull')
  const tar = busyboxRootfs().file('marker', 'other\n').end().toBuffer()
  ok(importTar(base, tar, OTHER), 'import')
  const images = JSON.parse(pivot(['images', '--json'], {cacheDir: base}).stdout) as Array<{id: string; names: string[]; layers: string[]}>
  const bb = images.find(i => i.names.includes(BUSYBOX_IMAGE))!
  busyboxId = bb.id
  busyboxLayer = bb.layers[0].slice(7)
  otherId = images.find(i => i.id !== bb.id)!.id
  assert.notEqual(busyboxId, otherId)
})

after(() => {
  // Undo what a failed case may have left, or the temp dir cannot be removed.
  spawnSync('chattr', ['-R', '-i', work], {stdio: 'ignore'})
})

describe('damaged layers are found, and a pull or check --repair puts them right', () => {
  it('a truncated file: check names it (exit 1), --repair removes the layer, pull restores it', () => {
    const cache = fresh()
    fs.truncateSync(path.join(cache, 'layers', busyboxLayer, 'rootfs', 'bin', 'busybox'), 10)
    const found = check(cache)
    assert.equal(found.status, 1)
    assert.equal(found.report.findings.length, 1)
    assert.match(found.report.findings[0].problem, /bin\/busybox changed \(size \d+ -> 10/)
    assert.equal(found.report.findings[0].action, 'none')
    const human = pivot(['check'], {cacheDir: cache})
    assert.equal(human.status, 1)
    assert.match(human.stdout, /^Found layers\/[0-9a-f]{64}: bin\/busybox changed/m)
    const repaired = check(cache, ['--repair'])
    assert.equal(repaired.status, 1, 'an image lost a layer: damage remains until it is pulled')
    assert.equal(repaired.report.findings[0].action, 'removed')
    assert.deepEqual(
      repaired.report.lost.map(l => l.restore),
      [`pivot pull ${BUSYBOX_IMAGE}`],
    )
    otherStillRuns(cache)
    ok(pivot(['pull', BUSYBOX_IMAGE], {cacheDir: cache}), 'pull')
    busyboxRuns(cache)
    checkClean(cache)
  })

  it('a deleted file is named as missing', () => {
    const cache = fresh()
    fs.rmSync(path.join(cache, 'layers', busyboxLayer, 'rootfs', 'bin', 'busybox'))
    const {status, report} = check(cache)
    assert.equal(status, 1)
    assert.match(report.findings[0].problem, /bin\/busybox is missing/)
  })

  it('a missing rootfs: run says so in one line, the other image runs, pull repairs it', () => {
    const cache = fresh()
    fs.rmSync(path.join(cache, 'layers', busyboxLayer, 'rootfs'), {recursive: true})
    assertOneLineError(
      pivot(['run', '--rm', '--pull', 'never', BUSYBOX_IMAGE, 'true'], {cacheDir: cache}),
      /missing or damaged in the cache .*rootfs is missing.*pull the image again/,
      125,
    )
    otherStillRuns(cache)
    const pulled = pivot(['pull', BUSYBOX_IMAGE], {cacheDir: cache})
    ok(pulled, 'pull')
    // Through the daemon "Unpacking 1 layer", from the registry the layer's "Pull complete".
    assert.match(pulled.stdout, /Unpacking 1 layer|^[0-9a-f]{12}: Pull complete$/m, 'the damaged layer is fetched again, not trusted')
    assert.match(pulled.stderr, /^pivot: warning: layer [0-9a-f]{12} is damaged in the cache \(its rootfs is missing\): fetching it again$/m)
    busyboxRuns(cache)
    checkClean(cache)
  })

  it('a corrupt layer.json: images lists every image, pull repairs the layer', () => {
    const cache = fresh()
    fs.writeFileSync(path.join(cache, 'layers', busyboxLayer, 'layer.json'), '{"digest": ')
    const images = pivot(['images', '--json'], {cacheDir: cache})
    ok(images, 'images')
    assert.equal((JSON.parse(images.stdout) as unknown[]).length, 2)
    const found = check(cache)
    assert.equal(found.status, 1)
    assert.match(found.report.findings[0].problem, /layer\.json is unreadable/)
    ok(pivot(['pull', BUSYBOX_IMAGE], {cacheDir: cache}), 'pull')
    busyboxRuns(cache)
    checkClean(cache)
  })

  it('a damaged layer holding an immutable file is still replaced by the pull (the leftover goes to tmp/)', t => {
    const cache = fresh()
    fs.writeFileSync(path.join(cache, 'layers', busyboxLayer, 'layer.json'), '{')
    const file = path.join(cache, 'layers', busyboxLayer, 'rootfs', 'bin', 'busybox')
    if (spawnSync('chattr', ['+i', file]).status !== 0) return t.skip('chattr +i is not supported on this file system')
    try {
      const pulled = pivot(['pull', BUSYBOX_IMAGE], {cacheDir: cache})
      ok(pulled, 'pull')
      assert.match(pulled.stderr, /^pivot: warning: layer [0-9a-f]{12} is damaged in the cache \(its layer\.json is unreadable/m)
      busyboxRuns(cache)
    } finally {
      spawnSync('chattr', ['-R', '-i', path.join(cache, 'tmp')])
    }
    ok(pivot(['prune'], {cacheDir: cache}), 'prune')
    checkClean(cache)
  })

  it('a deleted l/ link is put back by run', () => {
    const cache = fresh()
    fs.rmSync(path.join(cache, 'l', busyboxLayer.slice(0, 12)))
    assert.match(check(cache).report.findings[0].problem, /it is missing/)
    busyboxRuns(cache)
    checkClean(cache)
  })

  it('an l/ link pointing at another tree is never used: run relinks it to its layer', () => {
    const cache = fresh()
    const elsewhere = path.join(work, 'elsewhere')
    fs.mkdirSync(path.join(elsewhere, 'bin'), {recursive: true})
    fs.writeFileSync(path.join(elsewhere, 'planted'), 'planted\n')
    const link = path.join(cache, 'l', busyboxLayer.slice(0, 12))
    fs.rmSync(link)
    fs.symlinkSync(elsewhere, link)
    assert.match(check(cache).report.findings[0].problem, /it points at .*elsewhere, not at its layer/)
    const r = pivot(['run', '--rm', '--pull', 'never', BUSYBOX_IMAGE, 'sh', '-c', 'test -e /planted && echo planted || echo own'], {cacheDir: cache})
    ok(r, 'run')
    assert.equal(r.stdout, 'own\n')
    assert.equal(fs.readlinkSync(link), path.join('..', 'layers', busyboxLayer, 'rootfs'))
    checkClean(cache)
  })

  it('check --repair relinks wrong links and removes stray entries; a second check is clean', () => {
    const cache = fresh()
    fs.rmSync(path.join(cache, 'l', busyboxLayer.slice(0, 12)))
    fs.symlinkSync('/usr', path.join(cache, 'l', busyboxLayer.slice(0, 12)))
    fs.symlinkSync('/', path.join(cache, 'l', 'aaaaaaaaaaaa'))
    fs.mkdirSync(path.join(cache, 'layers', 'not-a-layer'))
    fs.writeFileSync(path.join(cache, 'images', 'stray.txt'), 'x')
    fs.mkdirSync(path.join(cache, 'locks', 'x.lock'))
    const r = pivot(['check', '--repair'], {cacheDir: cache})
    ok(r, 'check --repair')
    assert.match(r.stdout, /^Relinked l\/[0-9a-f]{12}: it points at \/usr/m)
    assert.match(r.stdout, /^Removed l\/aaaaaaaaaaaa: it belongs to no layer/m)
    assert.match(r.stdout, /^Removed layers\/not-a-layer: not a layer/m)
    assert.match(r.stdout, /^Removed images\/stray.txt/m)
    assert.match(r.stdout, /^Removed locks\/x.lock/m)
    assert.match(r.stdout, /problems found and repaired$/m)
    checkClean(cache)
    busyboxRuns(cache)
  })
})

describe('a damaged record never blocks the others', () => {
  it('a truncated image record: images warns in one line, run says so, rmi ID and prune remove it, pull restores it', () => {
    const cache = fresh()
    const file = imageFile(cache, busyboxId)
    fs.truncateSync(file, 20)
    const images = pivot(['images'], {cacheDir: cache})
    assert.equal(images.status, 0)
    assert.match(images.stdout, /integrity-other/)
    assert.equal(images.stderr.split('\n').filter(Boolean).length, 1)
    assert.match(images.stderr, /^pivot: warning: the cache has 1 damaged entry.*images\/[0-9a-f]{64}\.json \(it is not valid JSON.*pivot check --repair/)
    assertOneLineError(
      pivot(['run', '--rm', '--pull', 'never', BUSYBOX_IMAGE, 'true'], {cacheDir: cache}),
      /image record sha256:[0-9a-f]{64} is damaged .*pivot rmi [0-9a-f]{12}/,
      125,
    )
    otherStillRuns(cache)
    // pull puts the same record back (same content, same id)
    ok(pivot(['pull', BUSYBOX_IMAGE], {cacheDir: cache}), 'pull')
    busyboxRuns(cache)
    checkClean(cache)

    fs.truncateSync(file, 20)
    const rmi = pivot(['rmi', busyboxId.slice(7, 19)], {cacheDir: cache})
    ok(rmi, 'rmi by id')
    assert.match(rmi.stdout, /^Untagged: .*busybox:latest$/m)
    assert.match(rmi.stdout, new RegExp(`^Deleted: ${busyboxId}$`, 'm'))
    assert.equal(fs.existsSync(file), false)
    otherStillRuns(cache)
  })

  it('rmi NAME removes a name whose record is damaged, and the record with it', () => {
    const cache = fresh()
    fs.writeFileSync(imageFile(cache, busyboxId), '[]')
    const r = pivot(['rmi', BUSYBOX_IMAGE], {cacheDir: cache})
    ok(r, 'rmi')
    assert.match(r.stdout, new RegExp(`^Deleted: ${busyboxId}$`, 'm'))
    checkClean(cache)
  })

  it('prune removes damaged records and stray refs, frees their layers, and keeps the rest', () => {
    const cache = fresh()
    fs.writeFileSync(imageFile(cache, busyboxId), '{"id": "sha256:00"}')
    fs.mkdirSync(path.join(cache, 'refs', 'a-directory'))
    fs.writeFileSync(path.join(cache, 'refs', 'bad%ZZname'), 'x')
    fs.writeFileSync(path.join(cache, 'refs', encodeURIComponent('docker.io/library/garbage:latest')), 'not an id\n')
    const r = pivot(['prune', '--json'], {cacheDir: cache})
    ok(r, 'prune')
    const report = JSON.parse(r.stdout) as {damaged: string[]; names: string[]; layers: string[]}
    assert.deepEqual(report.damaged, [busyboxId])
    assert.equal(report.names.length, 4, JSON.stringify(report.names)) // the busybox name and three stray refs
    assert.deepEqual(report.layers, [`sha256:${busyboxLayer}`])
    otherStillRuns(cache)
    checkClean(cache)
  })

  it('stray refs: images warns, run and pull still work, check --repair removes them', () => {
    const cache = fresh()
    fs.mkdirSync(path.join(cache, 'refs', 'a-directory'))
    fs.writeFileSync(path.join(cache, 'refs', 'bad%ZZname'), 'x')
    const images = pivot(['images'], {cacheDir: cache})
    assert.equal(images.status, 0)
    assert.match(images.stderr, /^pivot: warning: the cache has 2 damaged entries/)
    busyboxRuns(cache)
    otherStillRuns(cache)
    const {status, report} = check(cache, ['--repair'])
    assert.equal(status, 0)
    assert.deepEqual(report.findings.map(f => [f.path, f.action]).sort(), [
      ['refs/a-directory', 'removed'],
      ['refs/bad%ZZname', 'removed'],
    ])
    checkClean(cache)
  })

  it('a name that is a directory is replaced by the next pull of it', () => {
    const cache = fresh()
    const ref = path.join(cache, 'refs', encodeURIComponent(BUSYBOX_IMAGE))
    fs.rmSync(ref)
    fs.mkdirSync(ref)
    ok(pivot(['pull', BUSYBOX_IMAGE], {cacheDir: cache}), 'pull')
    busyboxRuns(cache)
  })

  it('a damaged build-cache record is found and removed', () => {
    const cache = fresh()
    fs.mkdirSync(path.join(cache, 'build-cache'), {mode: 0o700})
    fs.writeFileSync(path.join(cache, 'build-cache', `${'a'.repeat(64)}.json`), '{"layers": [')
    fs.writeFileSync(path.join(cache, 'build-cache', `${'b'.repeat(64)}.json`), JSON.stringify({layers: [`sha256:${'c'.repeat(64)}`]}))
    const {status, report} = check(cache, ['--repair'])
    assert.equal(status, 0)
    assert.deepEqual(
      report.findings.map(f => f.kind),
      ['build-cache', 'build-cache'],
    )
    assert.match(report.findings[0].problem, /not valid JSON/)
    assert.match(report.findings[1].problem, /missing or damaged \(the step will run again\)/)
    checkClean(cache)
  })

  it('a named container is no damage: check is clean beside it', () => {
    const cache = fresh()
    ok(pivot(['run', '-d', '--name', 'checked-beside', '--net', 'none', '--pull', 'never', BUSYBOX_IMAGE, 'true'], {cacheDir: cache}), 'run -d --name')
    ok(pivot(['wait', 'checked-beside'], {cacheDir: cache}), 'wait')
    const {status, report} = check(cache)
    assert.deepEqual(report.findings, [])
    assert.equal(status, 0)
    ok(pivot(['rm', 'checked-beside'], {cacheDir: cache}), 'rm')
  })

  it('a damaged container record is reported (exit 1), and ps and prune still work', () => {
    const cache = fresh()
    const dir = path.join(cache, 'containers', 'd'.repeat(64))
    fs.mkdirSync(dir, {mode: 0o700})
    fs.writeFileSync(path.join(dir, 'state.json'), '{"id": "dd')
    const {status, report} = check(cache)
    assert.equal(status, 1)
    assert.equal(report.findings[0].kind, 'container')
    assert.match(report.findings[0].problem, /state\.json is missing or damaged/)
    ok(pivot(['ps', '-a'], {cacheDir: cache}), 'ps')
    ok(pivot(['prune'], {cacheDir: cache}), 'prune')
    otherStillRuns(cache)
  })
})

describe('a damaged cache layout gets one clear line, never a stack trace', () => {
  const commands: string[][] = [['images'], ['run', '--rm', '--pull', 'never', BUSYBOX_IMAGE, 'true'], ['rmi', OTHER], ['prune'], ['check']]

  it('a cache path that is a file, or under a file', () => {
    const file = path.join(work, 'a-file')
    fs.writeFileSync(file, '')
    for (const args of commands) {
      assertOneLineError(pivot(args, {cacheDir: file}), /cache root .*a-file is not a directory: move it away \(mv /, 125)
      assertOneLineError(pivot(args, {cacheDir: path.join(file, 'sub')}), /a component of the path is not a directory/, 125)
    }
  })

  for (const dir of ['layers', 'l', 'images', 'refs', 'containers', 'tmp', 'locks', 'build-cache']) {
    it(`${dir}/ replaced by a file, then by a symlink`, () => {
      const cache = fresh()
      fs.rmSync(path.join(cache, dir), {recursive: true, force: true})
      fs.writeFileSync(path.join(cache, dir), '')
      for (const args of commands) assertOneLineError(pivot(args, {cacheDir: cache}), new RegExp(`cache's ${dir}/ .* is not a directory: move it away`), 125)
      fs.rmSync(path.join(cache, dir))
      fs.symlinkSync('/usr', path.join(cache, dir))
      for (const args of commands) assertOneLineError(pivot(args, {cacheDir: cache}), new RegExp(`cache's ${dir}/ .* is a symbolic link, not a directory`), 125)
    })
  }

  it('a lock file that is a directory, or a dangling symlink (never followed)', () => {
    const cache = fresh()
    const lock = path.join(cache, 'locks', 'prune.lock')
    fs.rmSync(lock, {force: true})
    fs.mkdirSync(lock)
    assertOneLineError(pivot(['prune'], {cacheDir: cache}), /lock file .*prune\.lock is a directory, not a file: remove it \(rm -r /, 125)
    fs.rmdirSync(lock)
    const target = path.join(work, 'lock-target')
    fs.symlinkSync(target, lock)
    assertOneLineError(pivot(['prune'], {cacheDir: cache}), /lock file .*prune\.lock is a symbolic link, not a file/, 125)
    assert.equal(fs.existsSync(target), false, 'the symlink was not followed')
    otherStillRuns(cache)
  })

  it('a read-only cache: listing and checking work, writers say "read-only file system"', t => {
    const cache = fresh()
    const ro = path.join(work, `ro${count++}`)
    fs.mkdirSync(ro)
    execFileSync('mount', ['--bind', cache, ro])
    try {
      execFileSync('mount', ['-o', 'remount,bind,ro', ro])
      t.after(() => undefined)
      ok(pivot(['images'], {cacheDir: ro}), 'images')
      ok(pivot(['check'], {cacheDir: ro}), 'check')
      // An unchanged pull writes nothing (the name already points at the image); a new image must be written.
      ok(pivot(['pull', '-q', BUSYBOX_IMAGE], {cacheDir: ro}), 'the unchanged pull')
      for (const args of [['run', '--rm', '--pull', 'never', OTHER, 'true'], ['rmi', OTHER], ['prune'], ['pull', DEBIAN_IMAGE], ['check', '--repair']]) {
        assertOneLineError(pivot(args, {cacheDir: ro}), /read-only file system/, 125)
      }
    } finally {
      execFileSync('umount', [ro])
    }
    otherStillRuns(cache)
  })

  it('an immutable file in a layer being pruned is named; the cache stays usable for pull and import', t => {
    const cache = fresh()
    ok(pivot(['rmi', BUSYBOX_IMAGE], {cacheDir: cache}), 'rmi')
    const file = path.join(cache, 'layers', busyboxLayer, 'rootfs', 'bin', 'busybox')
    if (spawnSync('chattr', ['+i', file]).status !== 0) return t.skip('chattr +i is not supported on this file system')
    try {
      const r = pivot(['prune'], {cacheDir: cache})
      assert.equal(r.status, 125)
      const lines = r.stderr.split('\n').filter(Boolean)
      assert.equal(lines.length, 1, r.stderr)
      assert.match(
        lines[0],
        /^pivot: layer sha256:[0-9a-f]{64} was taken out of the cache, but cannot be removed: .*\/bin\/busybox: operation not permitted \(is it or its directory immutable\? see lsattr -d /,
      )
      assert.equal(fs.existsSync(path.join(cache, 'layers', busyboxLayer)), false)
      ok(pivot(['pull', BUSYBOX_IMAGE], {cacheDir: cache}), 'pull after the failed prune')
      busyboxRuns(cache)
      ok(importTar(cache, busyboxRootfs().file('marker', 'third\n').end().toBuffer(), 'integrity-third:1'), 'import after the failed prune')
      const again = pivot(['prune'], {cacheDir: cache})
      assert.equal(again.status, 125)
      assert.match(again.stderr, /^pivot: the leftover tmp\/\S+ cannot be removed: .*bin\/busybox: operation not permitted/)
    } finally {
      spawnSync('chattr', ['-R', '-i', path.join(cache, 'tmp')])
    }
    const last = pivot(['prune', '--json'], {cacheDir: cache})
    ok(last, 'prune once the file is mutable again')
    assert.deepEqual(fs.readdirSync(path.join(cache, 'tmp')), [])
    otherStillRuns(cache)
  })

  for (const dir of ['containers', 'tmp', 'layers', 'images', 'refs', 'l', 'locks']) {
    it(`an immutable ${dir}/: every command succeeds or says why in pivot: lines, and the cache recovers`, t => {
      const cache = fresh()
      ok(pivot(['rmi', BUSYBOX_IMAGE], {cacheDir: cache}), 'rmi') // so that prune has a layer to remove
      if (spawnSync('chattr', ['+i', path.join(cache, dir)]).status !== 0) return t.skip('chattr +i is not supported on this file system')
      try {
        const tar = path.join(work, `immutable-${dir}.tar`)
        fs.writeFileSync(tar, busyboxRootfs().file('marker', 'third\n').end().toBuffer())
        for (const args of [['run', '--rm', OTHER, 'true'], ['prune'], ['pull', BUSYBOX_IMAGE], ['import', tar, 'integrity-third:1'], ['images'], ['check']]) {
          const r = pivot(args, {cacheDir: cache})
          assert.doesNotMatch(r.stderr, /internal error|\n\s+at /, `${args[0]}: ${r.stderr}`)
          if (r.status === 0) continue
          // check reports what the failed commands left (a layer whose link could not be made) on stdout
          if (args[0] === 'check' && r.status === 1 && r.stderr === '') continue
          assert.equal(r.status, 125, `${args[0]}: exit ${r.status}: ${r.stderr}`)
          const lines = r.stderr.split('\n').filter(Boolean)
          assert.ok(lines.length >= 1 && lines.every(l => l.startsWith('pivot: ')), `${args[0]}: ${r.stderr}`)
          if (args[0] !== 'check') assert.match(r.stderr, /operation not permitted/, `${args[0]}: ${r.stderr}`)
        }
      } finally {
        spawnSync('chattr', ['-i', path.join(cache, dir)])
      }
      ok(pivot(['prune'], {cacheDir: cache}), 'prune once the directory is mutable again')
      ok(pivot(['pull', BUSYBOX_IMAGE], {cacheDir: cache}), 'pull')
      busyboxRuns(cache)
      otherStillRuns(cache)
      checkClean(cache)
    })
  }

  it('an immutable image record: rmi names the file, the other image is untouched', t => {
    const cache = fresh()
    const file = imageFile(cache, busyboxId)
    if (spawnSync('chattr', ['+i', file]).status !== 0) return t.skip('chattr +i is not supported on this file system')
    try {
      assertOneLineError(
        pivot(['rmi', busyboxId.slice(7, 19)], {cacheDir: cache}),
        /the image record sha256:[0-9a-f]{64} cannot be removed: .*operation not permitted/,
        125,
      )
    } finally {
      spawnSync('chattr', ['-i', file])
    }
    otherStillRuns(cache)
  })

  it('unreadable files in a cache of the user: images warns and lists the rest, check names them, rmi removes the record', () => {
    // Outside `work` (0700, root's): uid 65534 must be able to reach its own cache.
    const parent = tempDir('pivot-integrity-open')
    fs.chmodSync(parent, 0o755)
    const cache = path.join(parent, 'cache')
    execFileSync('cp', ['-a', base, cache])
    execFileSync('chown', ['-R', '65534:65534', cache])
    fs.chmodSync(imageFile(cache, busyboxId), 0)
    fs.chmodSync(path.join(cache, 'layers', busyboxLayer, 'layer.json'), 0)
    const images = asNobody(cache, ['images', '--json'])
    assert.equal(images.status, 0, images.stderr)
    assert.deepEqual(
      (JSON.parse(images.stdout) as Array<{id: string}>).map(i => i.id),
      [otherId],
    )
    assert.match(images.stderr, /^pivot: warning: the cache has 1 damaged entry, not listed: images\/[0-9a-f]{64}\.json \(cannot open .*: permission denied\)/)
    assert.equal(images.stderr.split('\n').filter(Boolean).length, 1)
    const checked = asNobody(cache, ['check'])
    assert.equal(checked.status, 1, checked.stderr)
    assert.match(checked.stdout, /^Found images\/[0-9a-f]{64}\.json: cannot open .*permission denied$/m)
    assert.match(checked.stdout, new RegExp(`^Found layers/${busyboxLayer}: its layer.json is unreadable .*permission denied`, 'm'))
    const rmi = asNobody(cache, ['rmi', busyboxId.slice(7, 19)])
    assert.equal(rmi.status, 0, rmi.stderr)
    assert.match(rmi.stdout, new RegExp(`^Deleted: ${busyboxId}$`, 'm'))
  })

  it('a cache another user cannot read: one line saying permission denied', () => {
    const cache = fresh()
    assertOneLineError(asNobody(cache, ['images']), /permission denied/, 125)
  })
})

describe('check while other commands work on the cache', () => {
  /** The CLI as a child process, resolved with what it did (for running several at once). */
  function pivotAsync(cache: string, args: string[]): Promise<PivotResult> {
    return new Promise(resolve => {
      const env: NodeJS.ProcessEnv = {...process.env, PIVOT_CACHE_DIR: cache}
      delete env.NODE_EXTRA_CA_CERTS
      const child = spawn(PIVOT_BIN, args, {cwd: REPO_ROOT, env})
      let stdout = ''
      let stderr = ''
      child.stdout.on('data', d => (stdout += d))
      child.stderr.on('data', d => (stderr += d))
      child.on('close', (status, signal) => resolve({status, signal, stdout, stderr}))
    })
  }

  it('finds no damage while names are pulled, imported and removed at the same time', async () => {
    const cache = fresh()
    const tar = path.join(work, 'race.tar')
    fs.writeFileSync(tar, busyboxRootfs().file('marker', 'race\n').end().toBuffer())
    for (let round = 0; round < 4; round++) {
      const results = await Promise.all([
        pivotAsync(cache, ['pull', BUSYBOX_IMAGE]),
        pivotAsync(cache, ['import', '--force', tar, `integrity-race:${round % 2}`]),
        pivotAsync(cache, ['rmi', `integrity-race:${(round + 1) % 2}`]),
        pivotAsync(cache, ['check', '--json']),
        pivotAsync(cache, ['check', '--json']),
      ])
      for (const r of results.slice(0, 2)) ok(r, 'pull or import')
      for (const r of results.slice(3)) {
        assert.doesNotMatch(r.stderr, /internal error/)
        const report = JSON.parse(r.stdout) as {findings: Array<{leftover?: boolean}>; lost: unknown[]}
        assert.deepEqual({findings: report.findings.filter(f => !f.leftover), lost: report.lost}, {findings: [], lost: []}, r.stdout)
        assert.equal(r.status, 0, r.stdout)
      }
    }
    checkClean(cache)
    otherStillRuns(cache)
  })
})
