/**
 * Walls: the ways out of the container's root. /proc's magic links (/proc/1/root, /proc/self/cwd,
 * /proc/1/exe) lead only into the container; the host's root is not in its mount table; `cd ..`
 * stops at /; no host descriptor crosses exec; and the init (the host's pivot-init binary) cannot be
 * run in the container, directly, as a script's interpreter, or through a working directory
 * (CVE-2019-5736, CVE-2024-21626). A marker file on the host shows what "reaching the host" is.
 */
import assert from 'node:assert/strict'
import {createHash} from 'node:crypto'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {before, describe, it} from 'node:test'
import {BUSYBOX_IMAGE, tempDir} from '../helpers/fixtures'
import {hostMarker, markerState, containerCache} from '../helpers/security'
import {INIT_BIN} from '../../src/runtime/start-init'

const B = BUSYBOX_IMAGE
const {run, ok, clean} = containerCache('pivot-walls-escape', [B])

let marker: ReturnType<typeof hostMarker>

before(() => {
  marker = hostMarker()
})

function sh(script: string, flags: string[] = []): string {
  return ok(run([...flags, B, 'sh', '-c', script]))
}

function initDigest(): string {
  return createHash('sha256').update(fs.readFileSync(INIT_BIN)).digest('hex')
}

describe('magic links and the mount table', {timeout: 300_000}, () => {
  it("/proc/1/root, /proc/self/root and /proc/self/cwd are the container's root, not the host's", () => {
    const markerBefore = markerState(marker.dir)
    const rel = marker.dir.replace(/^\//, '')
    const out = sh(
      `for p in /proc/1/root /proc/self/root /proc/self/cwd /proc/1/cwd; do ls -A $p/ | tr "\\n" " "; echo; cat $p/${rel}/secret 2>/dev/null; done; ` +
        `cd /proc/1/root/../../..; pwd; ls -A | tr "\\n" " "`,
    )
    assert.doesNotMatch(out, new RegExp(marker.content))
    const host = fs.readdirSync('/').filter(e => !fs.readdirSync('/proc').includes(e))
    // Each listing is the busybox image's root (bin, etc, proc...), the same four times.
    const lines = out.trim().split('\n')
    assert.equal(new Set(lines.slice(0, 4)).size, 1, out)
    assert.match(lines[0], /\bbin\b/)
    assert.match(lines[0], /\bproc\b/)
    assert.ok(
      host.some(e => !lines[0].split(' ').includes(e)),
      "the host's / is not what the container lists",
    )
    assert.deepEqual(markerState(marker.dir), markerBefore, 'the host marker is untouched')
    clean()
  })

  it("the old root is gone: no mount of the host's root filesystem in the container's mountinfo", () => {
    const hostRoot = fs
      .readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map(l => l.split(' '))
      .find(f => f[4] === '/')!
    const inside = sh('cat /proc/self/mountinfo')
      .trim()
      .split('\n')
      .map(l => l.split(' '))
    const points = inside.map(f => f[4])
    assert.equal(points[0], '/')
    assert.equal(inside[0][inside[0].indexOf('-') + 1], 'overlay', "the container's / is its overlay")
    // The host's root device appears nowhere (the overlay, proc, sysfs, tmpfs, devpts, mqueue and
    // the devtmpfs nodes bound into /dev are all there is).
    assert.equal(
      inside.some(f => f[2] === hostRoot[2]),
      false,
      `host root ${hostRoot[2]} not mounted`,
    )
    for (const p of points) assert.match(p, /^\/($|proc|sys|dev)/, p)
    clean()
  })

  it('cd .. at / stays at /; the host marker cannot be reached by any relative path', () => {
    const out = sh(`cd /; cd ..; cd ../../..; pwd; ls ../../..${marker.dir} 2>&1 | head -1`)
    assert.match(out, /^\/\n/)
    assert.doesNotMatch(out, /secret/)
    clean()
  })

  it("no host descriptor reaches the command: PID 1 (the exec'd command) holds 0, 1 and 2 only", () => {
    // ls runs in a child (a subshell that is not the last command: busybox sh would otherwise
    // run it as PID 1 itself) and lists PID 1's descriptors: what crossed the init's exec.
    assert.equal(sh('(ls /proc/1/fd); true'), '0\n1\n2\n')
    // And a command that is not a shell, for good measure: ls as PID 1 sees its own 0-2 and the
    // directory it is listing.
    assert.equal(ok(run([B, 'ls', '/proc/self/fd'])), '0\n1\n2\n3\n')
    clean()
  })
})

describe('the init binary (pivot-init) cannot be run in the container (CVE-2019-5736)', {timeout: 300_000}, () => {
  it('pivot run IMG /proc/self/exe (or /proc/1/exe) is refused, exit 126, and the host binary is untouched', () => {
    const before = initDigest()
    for (const cmd of ['/proc/self/exe', '/proc/1/exe', '/proc/thread-self/exe']) {
      const r = run([B, cmd, '-e', 'require("fs").writeFileSync("/pwned", "x")'])
      assert.equal(r.status, 126, `${cmd}: ${r.stderr}`)
      assert.equal(r.stderr, `pivot: exec: ${JSON.stringify(cmd)}: refusing to run pivot's own init binary in the container\n`)
    }
    assert.equal(initDigest(), before)
    clean()
  })

  it('a script whose interpreter is /proc/self/exe is refused, from the image and from a volume', () => {
    const vol = tempDir('pivot-walls-shebang')
    fs.writeFileSync(path.join(vol, 'evil'), '#!/proc/self/exe\nrequire("fs").writeFileSync("/pwned", "x")\n', {mode: 0o755})
    fs.writeFileSync(path.join(vol, 'evil2'), '#!/vol/evil\n', {mode: 0o755})
    for (const cmd of ['/vol/evil', '/vol/evil2']) {
      const r = run(['-v', `${vol}:/vol`, B, cmd])
      assert.equal(r.status, 126, `${cmd}: ${r.stderr}`)
      assert.match(r.stderr, /refusing to run pivot's own init binary/)
    }
    // Inside, once the command runs, /proc/self/exe is the container's own program: harmless.
    const out = sh('printf "#!/proc/self/exe\\n" > /x; chmod +x /x; /x; echo rc=$?')
    assert.match(out, /rc=12[67]/)
    clean()
  })

  it('a symlink to /proc/self/exe on a volume is refused too', () => {
    const vol = tempDir('pivot-walls-link')
    fs.symlinkSync('/proc/self/exe', path.join(vol, 'tool'))
    const r = run(['-v', `${vol}:/vol`, B, '/vol/tool'])
    assert.equal(r.status, 126, r.stderr)
    assert.match(r.stderr, /refusing to run pivot's own init binary/)
    clean()
  })

  it('scripts and programs on volumes still run, with $0 and arguments as the kernel gives them', () => {
    const vol = tempDir('pivot-walls-script')
    fs.writeFileSync(path.join(vol, 'hello.sh'), '#!/bin/sh -e\necho "$0 $*"\n', {mode: 0o755})
    assert.equal(ok(run(['-v', `${vol}:/vol`, B, '/vol/hello.sh', 'a', 'b'])), '/vol/hello.sh a b\n')
    assert.equal(ok(run(['-v', `${vol}:/vol`, '-w', '/vol', B, './hello.sh', 'c'])), './hello.sh c\n')
    clean()
  })
})

describe('the working directory (CVE-2024-21626)', {timeout: 300_000}, () => {
  it('-w through /proc/self/fd/N never leaves the container (no host directory is open in the init)', () => {
    for (const n of [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 15, 20]) {
      const r = run(['-w', `/proc/self/fd/${n}`, B, 'sh', '-c', `pwd; ls -A ${marker.dir.replace(/^\//, '../../../')} 2>/dev/null; cat secret 2>/dev/null`])
      assert.doesNotMatch(r.stdout, new RegExp(marker.content))
      if (r.status === 0) assert.match(r.stdout, /^\/proc\//, `fd ${n}: ${r.stdout}`)
      else assert.equal(r.status, 125, `fd ${n}: ${r.stderr}`)
    }
    clean()
  })

  it('-w /proc/self/cwd/.. and /proc/1/root/.. end inside the container', () => {
    assert.equal(ok(run(['-w', '/proc/1/root/..', B, 'pwd'])), '/proc/1\n')
    const out = ok(run(['-w', '/proc/self/cwd/..', B, 'sh', '-c', 'cd /proc/self/cwd/../..; pwd; ls -A / | grep -c .']))
    assert.doesNotMatch(out, new RegExp(marker.content))
    clean()
  })
})
