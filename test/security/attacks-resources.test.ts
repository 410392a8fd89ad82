/**
 * Attacks on the host's resources from inside a container: a fork bomb that survives its failed
 * forks, memory hogs, and disk writes. The safe outcomes: the limits hold, the host keeps
 * working, the run ends and nothing is left; writes land in the container's own upper dir (or
 * in a bounded tmpfs), never in the cached image or on the host, and --rm frees them.
 */
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {openCgroup} from '../../src/runtime/cgroups'
import {BUSYBOX_IMAGE, DEBIAN_IMAGE, pivot, tempDir, type PivotResult} from '../helpers/fixtures'
import {cacheCgroups, cacheContainers, seedImage} from '../helpers/seed-image'
import {processesMentioning} from '../helpers/processes-mentioning'
import {assertNothingLeft, cleanUp, layerRootfs, signalTwice, sleep, startPivot, uniqueName, waitUntil} from '../helpers/security'
import {treeListing} from '../helpers/tree-listing'

const B = BUSYBOX_IMAGE
const MiB = 1024 * 1024
let cache: string
let busyboxLayer: string

after(() => cleanUp(cache))

before(() => {
  cache = tempDir('pivot-attack-res')
  busyboxLayer = layerRootfs(cache, seedImage(cache, B).layers[0])
  seedImage(cache, DEBIAN_IMAGE)
})

function run(args: string[], timeout = 90_000): PivotResult {
  return pivot(['run', ...args], {cacheDir: cache, timeout, input: ''})
}

/** The running container's cgroup file `name` (v1: in whichever controller's dir has it). */
function cgroupFile(name: string): string | undefined {
  const ids = cacheCgroups(cache)
  assert.equal(ids.length, 1, `one running container: ${ids.join(', ')}`)
  for (const dir of openCgroup(ids[0]).paths) {
    const file = path.join(dir, name)
    if (fs.existsSync(file)) return fs.readFileSync(file, 'utf8')
  }
  return undefined
}

/** How long a host `true` takes, in ms (the slowest of `n`). */
function hostTrueMs(n: number): number {
  let worst = 0
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint()
    const r = spawnSync('/bin/true', {timeout: 10_000})
    assert.equal(r.status, 0)
    worst = Math.max(worst, Number(process.hrtime.bigint() - t0) / 1e6)
  }
  return worst
}

describe('attack: fork bomb against --pids-limit', {timeout: 120_000}, () => {
  it('a bomb whose every process survives its failed forks stays under the limit; the host forks at once; nothing survives the run', async () => {
    const marker = uniqueName('pivot-bomb')
    // perl, not a shell: a shell gives up at the first fork that fails, this never does.
    const r = startPivot(cache, ['run', '--rm', '--pids-limit', '20', DEBIAN_IMAGE, 'perl', '-e', `$|=1; print "bombing\\n"; fork while 1; # ${marker}`])
    await r.waitFor('bombing')
    await waitUntil('the bomb to fill its cgroup', () => Number(cgroupFile('pids.current')) >= 15)
    await sleep(500)
    const current = Number(cgroupFile('pids.current'))
    assert.ok(current <= 20, `pids.current ${current}`)
    const events = cgroupFile('pids.events')
    if (events !== undefined) assert.match(events, /^max [1-9]\d*$/m, 'forks were refused')
    // Every bomb process is in the container's cgroup: none on the host outside it.
    const bombs = processesMentioning(marker).filter(p => p !== r.child.pid)
    assert.ok(bombs.length >= 15 && bombs.length <= 20, `${bombs.length} bomb processes on the host`)
    const worst = hostTrueMs(10)
    assert.ok(worst < 1000, `a host \`true\` took ${worst} ms during the bomb`)

    // Ended from outside, as a user (or a CI timeout) does: two SIGTERMs, the second kills all.
    await signalTwice(r, 'SIGTERM')
    assert.equal(await r.done, 137, r.err())
    await waitUntil('the bomb to be gone', () => processesMentioning(marker).length === 0, 10_000)
    assertNothingLeft(cache)
  })
})

describe('attack: memory hog against --memory', {timeout: 120_000}, () => {
  it('a 200 MB allocation in a 32m container is OOM-killed (137); the limit held; the host goes on; nothing left', async () => {
    // The hog is a child, so that the container's PID 1 usually lives on and its cgroup can be
    // read. The kernel may pick PID 1 as a second victim while the hog's memory is being freed:
    // the run then ends with 137 at once, which is as safe.
    const r = startPivot(cache, ['run', '--rm', '--memory', '32m', B, 'sh', '-c', 'head -c 200m /dev/zero | tail; echo "hog=$?"; echo waiting; exec sleep 60'])
    if (await r.waitForOrEnd('waiting', 60_000)) {
      assert.match(r.out(), /^hog=137$/m, 'the hog was killed by SIGKILL')
      const peak = Number(cgroupFile('memory.max_usage_in_bytes') ?? cgroupFile('memory.peak'))
      assert.ok(peak > 0 && peak <= 32 * MiB, `peak ${peak}`)
      const oom = cgroupFile('memory.oom_control') ?? cgroupFile('memory.events') ?? ''
      assert.match(oom, /^oom_kill [1-9]\d*$/m, 'the OOM killer did it')
      assert.ok(hostTrueMs(3) < 1000, 'host responsive')
      await signalTwice(r, 'SIGTERM')
    }
    assert.equal(await r.done, 137, r.err())
    assert.doesNotMatch(r.out(), /hog=0/, 'the hog never got its 200 MB')
    assertNothingLeft(cache)
  })

  it('a hog that is PID 1 (perl in Debian) ends the run with 137, nothing left', () => {
    const t0 = Date.now()
    const r = run(['--rm', '--memory', '32m', DEBIAN_IMAGE, 'perl', '-e', '$x = "a" x (200 * 1024 * 1024); print "survived\\n"'])
    assert.equal(r.status, 137, `exit ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`)
    assert.doesNotMatch(r.stdout, /survived/)
    assert.ok(Date.now() - t0 < 60_000)
    assertNothingLeft(cache)
  })
})

describe('attack: filling the disk', {timeout: 180_000}, () => {
  it("a large write lands in the container's upper dir, never in the image's layer or the host; --rm frees it", async () => {
    const before = treeListing(busyboxLayer)
    const big = uniqueName('pivot-big')
    const r = startPivot(
      cache,
      [
        'run',
        '--rm',
        B,
        'sh',
        '-c',
        `head -c 64m /dev/zero > /${big} && echo x >> /etc/group && echo junk > /etc/passwd && rm /bin/true && echo written && read line; echo bye`,
      ],
      {stdin: 'pipe'},
    )
    await r.waitFor('written', 60_000)
    const [id] = cacheContainers(cache)
    const upper = path.join(cache, 'containers', id, 'upper')
    const st = fs.statSync(path.join(upper, big))
    assert.equal(st.size, 64 * MiB)
    assert.ok(st.blocks * 512 >= 64 * MiB, 'the blocks are allocated under the cache')
    // The image's own files were copied up before being changed.
    assert.match(fs.readFileSync(path.join(upper, 'etc', 'group'), 'utf8'), /^root:x:0:\n[^]*x\n$/)
    assert.equal(fs.readFileSync(path.join(upper, 'etc', 'passwd'), 'utf8'), 'junk\n')
    // A deletion is a whiteout in the upper dir; the layer keeps its file.
    assert.ok(fs.lstatSync(path.join(upper, 'bin', 'true')).isCharacterDevice())
    assert.ok(fs.lstatSync(path.join(busyboxLayer, 'bin', 'true')))
    assert.equal(fs.existsSync(path.join('/', big)), false, "not on the host's /")
    assert.equal(fs.existsSync(path.join(busyboxLayer, big)), false, "not in the image's layer")
    assert.deepEqual(treeListing(busyboxLayer), before, 'the cached layer is byte for byte as it was')

    r.child.stdin!.end('go\n')
    assert.equal(await r.done, 0, r.err())
    assert.match(r.out(), /bye\n$/)
    assert.equal(fs.existsSync(path.join(cache, 'containers', id)), false, '--rm removed the upper dir and its 64 MiB')
    assert.deepEqual(treeListing(busyboxLayer), before)
    assertNothingLeft(cache)
  })

  it("the container's tmpfs mounts (/dev, /dev/shm) are bounded: writing 100 MB stops at 64 MiB", () => {
    const r = run([
      '--rm',
      B,
      'sh',
      '-c',
      'for f in /dev/fill /dev/shm/fill; do head -c 100m /dev/zero > $f 2>/dev/null; echo "$f rc=$? size=$(wc -c < $f)"; done',
    ])
    assert.equal(r.status, 0, r.stderr)
    for (const f of ['/dev/fill', '/dev/shm/fill']) {
      const m = new RegExp(`^${f} rc=(\\d+) size=(\\d+)$`, 'm').exec(r.stdout)
      assert.ok(m, r.stdout)
      assert.notEqual(m[1], '0', `${f}: the write failed`)
      assert.ok(Number(m[2]) <= 64 * MiB, `${f}: ${m[2]} bytes`)
    }
    assertNothingLeft(cache)
  })

  it('--read-only: every write to the root fails with EROFS, remounting it rw fails too, no upper dir exists', () => {
    const name = uniqueName('ro').slice(0, 40)
    const r = run([
      '--name',
      name,
      '--read-only',
      B,
      'sh',
      '-c',
      'touch /x 2>&1; { echo a >> /etc/passwd; } 2>&1; mkdir /newdir 2>&1; cp /bin/busybox /tmp/ 2>&1; ' +
        'mount -o remount,rw / 2>/dev/null; touch /after-remount 2>&1; echo done',
    ])
    assert.equal(r.status, 0, r.stderr)
    const errors = r.stdout.split('\n').filter(l => /Read-only file system/.test(l))
    assert.equal(errors.length, 5, r.stdout)
    assert.match(r.stdout, /\/after-remount: Read-only file system/)
    const [id] = cacheContainers(cache)
    const dir = path.join(cache, 'containers', id)
    assert.equal(fs.existsSync(path.join(dir, 'upper')), false, 'no writable layer at all')
    assert.equal(pivot(['prune'], {cacheDir: cache}).status, 0)
    assertNothingLeft(cache)
  })
})
