/**
 * Hostile images through the CLI: `pivot import` of hand-made archives (on a real busybox rootfs,
 * so that the image can then be run), and what such an image can do once it runs. Beyond the
 * unpacker's own tests (unpack-hostile.test.ts), each case checks the whole command: one line
 * on stderr and the cache byte-identical when refused; confined, and harmless when run, when
 * accepted; the host marker untouched either way.
 */
import assert from 'node:assert/strict'
import {execFileSync, spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {DEBIAN_IMAGE, pivot, tempDir, type PivotResult} from '../helpers/fixtures'
import {seedImage} from '../helpers/seed-image'
import {RUN_FLAGS} from '../../src/runtime/run-flags'
import {
  assertNothingLeft,
  assertOneLineError,
  busyboxRootfs,
  cacheSnapshot,
  cleanUp,
  freeBytes,
  hostMarker,
  importTar,
  markerState,
  uniqueName,
} from '../helpers/security'
import {header} from '../helpers/tar-builder'

const MiB = 1024 * 1024
let cache: string

after(() => cleanUp(cache))

before(() => {
  cache = path.join(tempDir('pivot-attack-img'), 'cache')
  // A cache with an image in it: "untouched" then means more than "still empty".
  const r = importTar(cache, busyboxRootfs().end().toBuffer(), 'localhost/attack-base')
  assert.equal(r.status, 0, r.stderr)
})

function run(args: string[], timeout = 60_000): PivotResult {
  return pivot(['run', '--rm', ...args], {cacheDir: cache, timeout, input: ''})
}

function ok(r: PivotResult): string {
  assert.equal(r.status, 0, `exit ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`)
  return r.stdout
}

function imageName(): string {
  return `localhost/attack-${uniqueName('img')}`
}

/** Imports `tar`; it must be refused in one line, leaving the cache and the marker as they were. */
function refused(tar: Buffer, pattern: RegExp, marker?: string): void {
  const before = cacheSnapshot(cache)
  const markerBefore = marker === undefined ? undefined : markerState(marker)
  assertOneLineError(importTar(cache, tar, imageName()), pattern)
  assert.deepEqual(cacheSnapshot(cache), before, 'the cache is byte-identical')
  if (marker !== undefined) assert.deepEqual(markerState(marker), markerBefore, 'the host marker is untouched')
}

describe('hostile archives through `pivot import`', {timeout: 300_000}, () => {
  it('`../` and absolute names are confined to the image: the host never sees them, the container does', t => {
    const m = hostMarker()
    const before = markerState(m.dir)
    const rel = path.relative('/', m.dir)
    const name = imageName()
    const tar = busyboxRootfs()
      .file(`../../../../../../${rel}/dotdot`, 'dotdot\n')
      .file(`${m.dir}/absolute`, 'absolute\n')
      .file(`./../../${rel}/./mixed`, 'mixed\n')
      .end()
      .toBuffer()
    const r = importTar(cache, tar, name)
    assert.equal(r.status, 0, r.stderr)
    t.after(() => pivot(['rmi', name], {cacheDir: cache}))
    assert.deepEqual(markerState(m.dir), before)
    for (const f of ['dotdot', 'absolute', 'mixed']) assert.equal(fs.existsSync(path.join(m.dir, f)), false, f)
    // Inside, they are where the archive put them, under the image's root; the host's secret is not.
    const out = ok(run([name, 'sh', '-c', `cat ${m.dir}/dotdot ${m.dir}/absolute ${m.dir}/mixed; cat ${m.file} 2>/dev/null; echo done`]))
    assert.equal(out, 'dotdot\nabsolute\nmixed\ndone\n')
    assertNothingLeft(cache)
  })

  it('a symlink to a host directory, then a write through it: refused, nothing written on the host', () => {
    const m = hostMarker()
    const rel = path.relative('/', m.dir)
    refused(busyboxRootfs().symlink('evil', m.dir).file('evil/pwn', 'owned').end().toBuffer(), /evil\/pwn/, m.dir)
    refused(busyboxRootfs().symlink('evil', `../../../../../../${rel}`).file('evil/pwn', 'owned').end().toBuffer(), /evil\/pwn/, m.dir)
    refused(busyboxRootfs().dir('a/').symlink('a/b', m.dir).hardlink('a/b/shadow', 'etc/passwd').end().toBuffer(), /shadow/, m.dir)
  })

  it('a symlink to a host directory the image also has (/tmp), then a write through it: confined to the image', t => {
    const m = hostMarker()
    const before = markerState(m.dir)
    const name = imageName()
    const r = importTar(
      cache,
      busyboxRootfs()
        .symlink('up', '/tmp')
        .file(`up/${path.basename(m.dir)}/pwn`, 'owned\n')
        .end()
        .toBuffer(),
      name,
    )
    // The link resolves in the image's root, whose /tmp exists: the file lands there, or the
    // archive is refused; never in the host's /tmp.
    if (r.status === 0) {
      t.after(() => pivot(['rmi', name], {cacheDir: cache}))
      assert.equal(ok(run([name, 'cat', `${m.dir}/pwn`])), 'owned\n')
    } else {
      assertOneLineError(r, /pwn/)
    }
    assert.deepEqual(markerState(m.dir), before)
    assertNothingLeft(cache)
  })

  it('a hardlink to a host file (absolute, ../, through a symlink): refused, the host file gains no link', () => {
    const m = hostMarker()
    const rel = path.relative('/', m.file)
    const links = fs.statSync(m.file).nlink
    refused(busyboxRootfs().hardlink('stolen', m.file).end().toBuffer(), /stolen/, m.dir)
    refused(busyboxRootfs().hardlink('stolen', `../../../../../../${rel}`).end().toBuffer(), /stolen/, m.dir)
    refused(busyboxRootfs().symlink('hostdir', m.dir).hardlink('stolen', 'hostdir/secret').end().toBuffer(), /stolen/, m.dir)
    assert.equal(fs.statSync(m.file).nlink, links)
  })

  it('a 100 GB sparse file (GNU and pax sparse formats, as GNU tar writes them): refused at once, no space used', () => {
    const dir = tempDir('pivot-sparse')
    const huge = path.join(dir, 'src', 'huge')
    fs.mkdirSync(path.dirname(huge))
    fs.writeFileSync(huge, 'start')
    fs.truncateSync(huge, 100 * 1024 ** 3)
    for (const format of ['gnu', 'posix']) {
      const tar = path.join(dir, `sparse-${format}.tar`)
      execFileSync('tar', ['-C', path.dirname(huge), '--sparse', `--format=${format}`, '-cf', tar, 'huge'])
      assert.ok(fs.statSync(tar).size < MiB, 'the archive itself is small')
      const free = freeBytes(dir)
      const t0 = Date.now()
      refused(fs.readFileSync(tar), /sparse/)
      assert.ok(Date.now() - t0 < 20_000, `took ${Date.now() - t0} ms`)
      assert.ok(free - freeBytes(dir) < 256 * MiB, `${free - freeBytes(dir)} bytes used`)
    }
  })

  it('an entry claiming 100 GB with 1 MiB behind it: refused as truncated, at most what it carried was written', () => {
    const free = freeBytes(tempDir('pivot-lying'))
    const base = busyboxRootfs().toBuffer()
    const lying = Buffer.concat([base, header({name: Buffer.from('huge'), typeflag: '0', size: 100 * 1024 ** 3}), Buffer.alloc(MiB, 0x41)])
    refused(lying, /truncated|huge/)
    assert.ok(free - freeBytes(cache) < 256 * MiB, `${free - freeBytes(cache)} bytes used`)
  })

  it('over-long names (a 300-byte component, a 5000-byte path as pax and as GNU long name) and a 2000-deep path: refused in one line', () => {
    const long = `${'n'.repeat(200)}/`.repeat(25) + 'f'
    refused(busyboxRootfs().file('x'.repeat(300), 'x').end().toBuffer(), /ENAMETOOLONG|too long/)
    refused(busyboxRootfs().file(long, 'x').end().toBuffer(), /long/)
    refused(busyboxRootfs().file(long, 'x', {gnuLongName: true}).end().toBuffer(), /long/)
    refused(busyboxRootfs().symlink('l', long, {gnuLongLink: true}).end().toBuffer(), /long/)
    refused(
      busyboxRootfs()
        .file(`${'d/'.repeat(2000)}f`, 'x')
        .end()
        .toBuffer(),
      /deep|components/,
    )
  })
})

describe('a hostile image, run', {timeout: 300_000}, () => {
  let loop: string | undefined
  let secret: string
  let dev: {major: number; minor: number}

  before(() => {
    // A host block device with known content: a loop device over a file that starts with a secret.
    const dir = tempDir('pivot-loop')
    const backing = path.join(dir, 'disk.img')
    secret = uniqueName('DISK-SECRET')
    fs.writeFileSync(backing, Buffer.concat([Buffer.from(secret), Buffer.alloc(MiB - secret.length)]))
    loop = execFileSync('losetup', ['--find', '--show', backing], {encoding: 'utf8'}).trim()
    const rdev = fs.statSync(loop).rdev
    dev = {major: Math.floor(rdev / 256) & 0xfff, minor: (rdev & 0xff) | ((rdev >> 12) & 0xfff00)}
  })

  after(() => {
    if (loop) spawnSync('losetup', ['-d', loop])
  })

  it("a device node in the image cannot read the host's disk, as root or as another user", t => {
    // Positive control: the same node made on the host reads the device.
    const control = path.join(tempDir('pivot-devnode'), 'disk')
    execFileSync('mknod', ['-m', '0666', control, 'b', String(dev.major), String(dev.minor)])
    assert.equal(fs.readFileSync(control).subarray(0, secret.length).toString(), secret)

    const name = imageName()
    const tar = busyboxRootfs()
      .block('disk', dev.major, dev.minor, {mode: 0o666})
      .block('sda', 8, 0, {mode: 0o666})
      .char('mem', 1, 1, {mode: 0o666})
      .end()
      .toBuffer()
    const r = importTar(cache, tar, name)
    assert.equal(r.status, 0, r.stderr)
    t.after(() => pivot(['rmi', name], {cacheDir: cache}))
    const probe =
      'for d in /disk /sda /mem; do head -c 4096 $d > /tmp/out 2>/dev/null && echo "$d read $(wc -c < /tmp/out)"; cat /tmp/out 2>/dev/null; done; echo done'
    for (const user of ['0', '65534']) {
      const out = ok(run(['-u', user, name, 'sh', '-c', probe]))
      assert.ok(!out.includes(secret), `user ${user} read the host's disk through the image's device node`)
      assert.doesNotMatch(out, /read [1-9]/, `user ${user}: ${out}`)
      assert.match(out, /done\n$/)
    }
    assertNothingLeft(cache)
  })
})

describe('a setuid-root binary in the image, run by another user', {timeout: 300_000}, () => {
  let name: string

  before(() => {
    seedImage(cache, DEBIAN_IMAGE)
    const recipe = path.join(tempDir('pivot-suid'), 'recipe.yaml')
    name = imageName()
    fs.writeFileSync(
      recipe,
      [
        `from: ${DEBIAN_IMAGE}`,
        'steps:',
        '  - run: cp /usr/bin/id /usr/local/bin/suid-id && cp /bin/cat /usr/local/bin/suid-cat && chmod 4755 /usr/local/bin/suid-id /usr/local/bin/suid-cat && echo root-only > /root/secret && chmod 600 /root/secret',
        // Build steps run with no_new_privs: the same binary, run as nobody, stays nobody.
        '  - run: grep NoNewPrivs /proc/self/status > /nnp-status && setpriv --reuid=65534 --regid=65534 --clear-groups /usr/local/bin/suid-id -u > /nnp-euid && (setpriv --reuid=65534 --regid=65534 --clear-groups /usr/local/bin/suid-cat /root/secret > /nnp-cat 2>&1 || true)',
        '',
      ].join('\n'),
    )
    const built = pivot(['build', recipe, '-t', name, '-q'], {cacheDir: cache, timeout: 120_000})
    assert.equal(built.status, 0, built.stderr)
  })

  after(() => {
    if (name) pivot(['rmi', name], {cacheDir: cache})
  })

  it('gains root, as in docker (`docker run -u 65534` prints "uid=65534(nobody) gid=65534(nogroup) euid=0(root)")', () => {
    const out = ok(
      run([
        '-u',
        '65534',
        name,
        'sh',
        '-c',
        'grep NoNewPrivs /proc/self/status; /usr/local/bin/suid-id -u; /usr/local/bin/suid-cat /root/secret; cat /root/secret 2>&1; true',
      ]),
    )
    assert.equal(out.split('\n').slice(0, 3).join('\n'), 'NoNewPrivs:\t0\n0\nroot-only')
    assert.match(out, /Permission denied/, 'without the setuid binary, nobody stays nobody')
    assertNothingLeft(cache)
  })

  it('gains nothing under no_new_privs (every `pivot build` step)', () => {
    const out = ok(run([name, 'cat', '/nnp-status', '/nnp-euid', '/nnp-cat']))
    assert.match(out, /^NoNewPrivs:\t1\n65534\n/)
    assert.doesNotMatch(out, /root-only/)
    assert.match(out, /Permission denied/)
    assertNothingLeft(cache)
  })

  const hasSecurityOpt = RUN_FLAGS.some(f => f.name === 'security-opt')
  it('gains nothing with --security-opt no-new-privileges', {skip: hasSecurityOpt ? false : 'pivot run has no --security-opt yet'}, () => {
    const out = ok(
      run([
        '--security-opt',
        'no-new-privileges',
        '-u',
        '65534',
        name,
        'sh',
        '-c',
        'grep NoNewPrivs /proc/self/status; /usr/local/bin/suid-id -u; /usr/local/bin/suid-cat /root/secret 2>&1; true',
      ]),
    )
    assert.match(out, /^NoNewPrivs:\t1\n65534\n/)
    assert.doesNotMatch(out, /root-only/)
    assert.match(out, /Permission denied/)
    assertNothingLeft(cache)
  })
})
