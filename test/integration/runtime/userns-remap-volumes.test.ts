// pivot's own volumes (`-v NAME:/path`, anonymous `-v /path`, `--mount type=volume`) with
// `--userns remap`: bound idmapped, so a volume's files keep the container's view of ids on disk.
// What a user checks: a file written by uid 1000 in a remapped container shows uid 1000 in a
// non-remapped one reading the same volume and the other way round, the host's ownership of the
// volume's files, a volume filled from the image, run -d / start / restart with volumes, rm -v and
// --rm taking anonymous volumes, and nothing left on the host (mounts, staging, processes).
import {before, test} from 'node:test'
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {BUSYBOX_IMAGE, pivot, tempDir, type PivotResult} from '../../helpers/fixtures'
import {seedImage} from '../../helpers/seed-image'
import {remapRange} from '../../../src/userns/remap-range'
import {assertRemapClean} from '../../helpers/remap'

const B = BUSYBOX_IMAGE
const VOLUME = 'pivot-test-remapvol-shared'
let cache: string
let base: number

before(() => {
  cache = tempDir('pivot-userns-volumes')
  seedImage(cache, B)
  base = remapRange().uid
})

function p(args: string[], timeout = 60_000): PivotResult {
  return pivot(args, {cacheDir: cache, timeout, input: ''})
}

function ok(args: string[]): string {
  const r = p(args)
  assert.equal(r.status, 0, `pivot ${args.join(' ')}: exit ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`)
  return r.stdout
}

/** The entries of `ls -ln` (of one or more directories) as uid:gid name lines, sorted. */
function owners(lsOutput: string): string[] {
  return lsOutput
    .trim()
    .split('\n')
    .map(l => l.trim().split(/\s+/))
    .filter(f => f.length >= 9)
    .map(f => `${f[2]}:${f[3]} ${f[f.length - 1]}`)
    .sort()
}

function volumeDir(name: string): string {
  return path.join(cache, 'volumes', name, '_data')
}

function clean(): void {
  assertRemapClean(cache)
  assert.ok(!fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(path.join(cache, 'volumes')), 'no volume mounted on the host')
}

test('a named volume shows the same owners to remapped and non-remapped containers; on the host, the container view', () => {
  // Remapped: root makes a directory for uid 1000, which writes a file there as itself.
  ok(['run', '--rm', '--userns', 'remap', '-v', `${VOLUME}:/data`, B, 'sh', '-c', 'mkdir /data/d && chown 1000:1000 /data/d && touch /data/byroot'])
  ok(['run', '--rm', '--userns', 'remap', '--user', '1000:1000', '-v', `${VOLUME}:/data`, B, 'sh', '-c', 'echo remapped > /data/d/remapped1000'])
  const dir = volumeDir(VOLUME)
  assert.equal(fs.statSync(path.join(dir, 'byroot')).uid, 0, "the remapped root's file is host root's on disk, not base's")
  assert.equal(fs.statSync(path.join(dir, 'd', 'remapped1000')).uid, 1000, `uid 1000's file is 1000 on disk, not ${base + 1000}`)
  assert.equal(fs.statSync(path.join(dir, 'd', 'remapped1000')).gid, 1000)

  // Not remapped: the same owners, and uid 1000 can write its own file (and the other's directory).
  const plain = ok(['run', '--rm', '--user', '1000:1000', '-v', `${VOLUME}:/data`, B, 'sh', '-c', 'echo plain > /data/d/plain1000 && ls -ln /data/d /data'])
  assert.ok(owners(plain).includes('1000:1000 remapped1000'), plain)
  assert.ok(owners(plain).includes('0:0 byroot'), plain)
  assert.equal(fs.statSync(path.join(dir, 'd', 'plain1000')).uid, 1000)

  // And back: the remapped container sees the non-remapped one's file as 1000, and its uid 1000 may
  // append to it.
  const remapped = ok([
    'run',
    '--rm',
    '--userns',
    'remap',
    '--user',
    '1000:1000',
    '-v',
    `${VOLUME}:/data`,
    B,
    'sh',
    '-c',
    'echo more >> /data/d/plain1000 && cat /data/d/plain1000 && ls -ln /data/d',
  ])
  assert.deepEqual(owners(remapped.split('\n').slice(2).join('\n')), ['1000:1000 plain1000', '1000:1000 remapped1000'])
  assert.equal(remapped.split('\n').slice(0, 2).join('\n'), 'plain\nmore')
  // The remapped root sees host root's files as its own.
  const rootsView = ok(['run', '--rm', '--userns', 'remap', '-v', `${VOLUME}:/data`, B, 'sh', '-c', 'id -u; ls -ln /data'])
  assert.equal(rootsView.split('\n')[0], '0')
  assert.deepEqual(owners(rootsView.split('\n').slice(1).join('\n')), ['0:0 byroot', '1000:1000 d'])
  clean()
})

test('a volume filled from the image keeps the image owners inside a remapped container; --rm takes an anonymous one', () => {
  // /etc of busybox: the first run fills the named volume from the image (root-owned files).
  const out = ok([
    'run',
    '--rm',
    '--userns',
    'remap',
    '-v',
    'pivot-test-remapvol-etc:/etc',
    B,
    'sh',
    '-c',
    'ls -ln /etc/passwd; echo x >> /etc/passwd && echo appended',
  ])
  assert.match(out, /^-\S+\s+\d+\s+0\s+0\s.*\/etc\/passwd\nappended\n$/)
  assert.equal(fs.statSync(path.join(volumeDir('pivot-test-remapvol-etc'), 'passwd')).uid, 0)
  const before = ok(['volume', 'ls', '-q']).trim().split('\n').sort()
  const anon = ok(['run', '--rm', '--userns', 'remap', '-v', '/anon', '--mount', 'type=volume,dst=/m', B, 'sh', '-c', 'touch /anon/f /m/g; ls -ln /anon /m'])
  assert.deepEqual(owners(anon), ['0:0 f', '0:0 g'])
  assert.deepEqual(ok(['volume', 'ls', '-q']).trim().split('\n').sort(), before, '--rm removed both anonymous volumes')
  ok(['volume', 'rm', 'pivot-test-remapvol-etc'])
  clean()
})

test('run -d, exec, stop, start and restart of a remapped container keep its volumes; rm -v takes the anonymous one', () => {
  const id = ok([
    'run',
    '-d',
    '--userns',
    'remap',
    '-v',
    'pivot-test-remapvol-d:/data',
    '-v',
    '/anon',
    B,
    'sh',
    '-c',
    'echo started >> /data/log; touch /anon/mark; chown 1000:1000 /anon/mark; exec sleep 300',
  ]).trim()
  const short = id.slice(0, 12)
  const anonymous = (JSON.parse(ok(['inspect', id])) as Array<{Mounts: Array<{Name: string; Destination: string}>}>)[0].Mounts.find(
    m => m.Destination === '/anon',
  )!.Name
  const waitLog = (lines: number) => {
    const deadline = Date.now() + 30_000
    while (Date.now() < deadline) {
      const log = fs.readFileSync(path.join(volumeDir('pivot-test-remapvol-d'), 'log'), {encoding: 'utf8', flag: 'a+'})
      if (log.split('\n').filter(Boolean).length >= lines) return log
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100)
    }
    assert.fail(`the container did not write ${lines} lines into its volume`)
  }
  waitLog(1)
  assert.equal(fs.statSync(path.join(volumeDir(anonymous), 'mark')).uid, 1000)
  assert.deepEqual(owners(ok(['exec', short, 'ls', '-ln', '/anon'])), ['1000:1000 mark'])
  ok(['stop', '-t', '1', short])
  ok(['start', short])
  waitLog(2)
  ok(['restart', '-t', '1', short])
  assert.equal(waitLog(3), 'started\nstarted\nstarted\n')
  assert.deepEqual(owners(ok(['exec', short, 'ls', '-ln', '/anon'])), ['1000:1000 mark'], 'the anonymous volume is the same one after start')
  ok(['rm', '-f', '-v', short])
  const left = ok(['volume', 'ls', '-q']).trim().split('\n')
  assert.ok(!left.includes(anonymous), 'rm -v removed the anonymous volume')
  assert.ok(left.includes('pivot-test-remapvol-d'), 'rm -v keeps the named volume')
  ok(['volume', 'rm', 'pivot-test-remapvol-d'])
  clean()
})

test('a volume on a filesystem without idmapped mounts (ramfs) is refused in one line naming why; nothing made', () => {
  ok(['volume', 'create', 'pivot-test-remapvol-ramfs'])
  const dir = volumeDir('pivot-test-remapvol-ramfs')
  const mounted = spawnSync('mount', ['-t', 'ramfs', 'pivot-test-remapvol', dir])
  assert.equal(mounted.status, 0, String(mounted.stderr))
  try {
    for (const detach of [[], ['-d']]) {
      const r = p(['run', ...detach, '--rm', '--userns', 'remap', '-v', 'pivot-test-remapvol-ramfs:/data', B, 'true'])
      assert.equal(r.status, 125)
      assert.equal(
        r.stderr,
        `pivot: cannot idmap ${dir}: mount_setattr(MOUNT_ATTR_IDMAP): Invalid argument (--userns remap needs a filesystem that supports idmapped mounts for the cache and its volumes: ext4, xfs, btrfs, tmpfs)\n`,
      )
      assert.equal(ok(['ps', '-a', '-q']), '')
    }
    // Without the flag the same volume works: only the idmapping needs the filesystem's support.
    assert.equal(ok(['run', '--rm', '-v', 'pivot-test-remapvol-ramfs:/data', B, 'sh', '-c', 'echo fine > /data/f && cat /data/f']), 'fine\n')
  } finally {
    spawnSync('umount', [dir])
  }
  ok(['volume', 'rm', 'pivot-test-remapvol-ramfs'])
  clean()
})
