/**
 * Attacks on the container's view of the host: its processes, its files (through /proc, `..`,
 * a chroot escape, volume targets, symlinks the image carries), and cgroup v1's release_agent.
 * Each attack runs inside a container; the same probe is also run on the host (or without the
 * wall) as a positive control, so a probe that could never see anything cannot pass for a wall.
 */
import assert from 'node:assert/strict'
import {spawn, spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {BUSYBOX_IMAGE, DEBIAN_IMAGE, pivot, tempDir, type PivotResult} from '../helpers/fixtures'
import {seedImage} from '../helpers/seed-image'
import {
  assertNothingLeft,
  assertOneLineError,
  busyboxRootfs,
  cleanUp,
  hostMarker,
  importTar,
  markerState,
  releaseAgents,
  restoreReleaseAgents,
  uniqueName,
} from '../helpers/security'

const B = BUSYBOX_IMAGE
let cache: string

after(() => cleanUp(cache))

before(() => {
  cache = tempDir('pivot-attack-iso')
  seedImage(cache, B)
  seedImage(cache, DEBIAN_IMAGE)
})

function run(args: string[], timeout = 60_000): PivotResult {
  return pivot(['run', '--rm', ...args], {cacheDir: cache, timeout, input: ''})
}

function ok(r: PivotResult): string {
  assert.equal(r.status, 0, `exit ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`)
  return r.stdout
}

/** Runs a busybox shell script on the host (the positive control of a probe). */
function onHost(script: string, env: NodeJS.ProcessEnv = {}): string {
  const r = spawnSync('/bin/busybox', ['sh', '-c', script], {encoding: 'utf8', env: {PATH: '/usr/sbin:/usr/bin:/sbin:/bin', ...env}, timeout: 30_000})
  return r.stdout
}

describe("attack: seeing the host's processes", {timeout: 120_000}, () => {
  it('a host process is invisible by pid, by command line, and cannot be signalled', async t => {
    const marker = uniqueName('pivot-ps-marker')
    // dash forks sleep and stays: its own command line carries the marker. In a process group of
    // its own, so that the cleanup kills the sleep too, not only the shell.
    const sleeper = spawn('/bin/sh', ['-c', `sleep 600; : ${marker}`], {stdio: 'ignore', detached: true})
    t.after(() => {
      try {
        process.kill(-sleeper.pid!, 'SIGKILL')
      } catch {
        // gone
      }
    })
    const hostPid = sleeper.pid!
    await new Promise(resolve => setTimeout(resolve, 100))
    assert.ok(fs.readFileSync(`/proc/${hostPid}/cmdline`, 'utf8').includes(marker))
    // The probe assembles the marker at run time: written out in the script, it would be in the
    // container's own command line and the probe would find itself.
    const half = Math.floor(marker.length / 2)
    const env = {M1: marker.slice(0, half), M2: marker.slice(half), HP: String(hostPid)}
    const probe = [
      'echo "pids: $(ls /proc | grep -E "^[0-9]+$" | tr "\\n" " ")"',
      'echo "ps: $(ps -o pid | tail -n +2 | tr -s " \\n" "  ")"',
      'test -e /proc/$HP && echo "SEES-PID /proc/$HP"',
      'for f in /proc/[0-9]*/cmdline; do grep -q "$M1$M2" "$f" 2>/dev/null && echo "SEES-CMDLINE $f"; done',
      'kill -0 $HP 2>/dev/null && echo "SIGNALLED $HP"',
      'echo done',
    ].join('\n')
    const control = onHost(probe, env)
    assert.match(control, /SEES-PID/, `positive control on the host: ${control}`)
    assert.match(control, /SEES-CMDLINE/, `positive control on the host: ${control}`)

    const out = ok(run(['-e', `M1=${env.M1}`, '-e', `M2=${env.M2}`, '-e', `HP=${hostPid}`, B, 'sh', '-c', probe]))
    assert.match(out, /done\n$/)
    assert.doesNotMatch(out, /SEES-|SIGNALLED/)
    const pids = /^pids: (.*)$/m.exec(out)![1].trim().split(/\s+/).map(Number)
    assert.ok(pids.length > 0 && pids.every(p => p < 100), `only the container's pids: ${out}`)
    assert.ok(!pids.includes(hostPid))
    const psPids = /^ps: (.*)$/m.exec(out)![1].trim().split(/\s+/).map(Number)
    assert.ok(psPids.includes(1) && !psPids.includes(hostPid), out)
    assert.equal(sleeper.exitCode, null, 'the host process is still alive')
    assertNothingLeft(cache)
  })
})

describe("attack: reaching the host's files", {timeout: 180_000}, () => {
  it('/proc/*/root, /proc/self/cwd/.., cd .. loops and ../ from / show nothing of the host', () => {
    const m = hostMarker()
    const probe = [
      'for p in /proc/1/root$F /proc/self/root$F /proc/self/cwd/../../../../..$F /proc/1/cwd/../../..$F /..$F /../../../..$F /proc/*/root$F; do',
      '  cat "$p" 2>/dev/null',
      'done',
      'cd /; i=0; while [ $i -lt 64 ]; do cd ..; i=$((i+1)); done; echo "pwd: $(pwd)"',
      'cat ./$F 2>/dev/null; cat .$F 2>/dev/null',
      'for d in /proc/[0-9]*; do ls -a "$d/root$D" 2>/dev/null | grep -q secret && echo "SEES-DIR $d"; done',
      'echo done',
    ].join('\n')
    const control = onHost(probe, {F: m.file, D: m.dir})
    assert.ok(control.includes(m.content), `positive control on the host: ${control}`)

    const out = ok(run(['-e', `F=${m.file}`, '-e', `D=${m.dir}`, B, 'sh', '-c', probe]))
    assert.match(out, /^pwd: \/$/m)
    assert.match(out, /done\n$/)
    assert.ok(!out.includes(m.content), out)
    assert.doesNotMatch(out, /SEES-DIR/)
    assertNothingLeft(cache)
  })

  it('the classic chroot escape (chroot into a subdir, chdir .. a hundred times, chroot .) stays in the container', () => {
    const m = hostMarker()
    // CAP_SYS_CHROOT is one docker keeps, so the escape is attempted for real; what stops it is
    // pivot_root and the detached unmount of the old root: above the container's / there is nothing.
    const escape = (jail: string) =>
      `mkdir ${JSON.stringify(jail)}; chroot ${JSON.stringify(jail)} or die "chroot: $!"; chdir ".." for 1..100; chroot "." or die "chroot .: $!"; ` +
      `print -e $ARGV[0] ? "ESCAPED\\n" : "confined\\n"; if (open my $f, "<", $ARGV[0]) { print <$f> } print "done\\n"`
    const hostJail = path.join(tempDir('pivot-chroot-control'), 'jail')
    const control = spawnSync('perl', ['-e', escape(hostJail), m.file], {encoding: 'utf8', timeout: 30_000})
    assert.match(control.stdout, /ESCAPED/, `positive control: a chroot alone is escaped on the host: ${control.stdout}${control.stderr}`)

    const r = run([DEBIAN_IMAGE, 'perl', '-e', escape('/jail'), m.file])
    const out = ok(r)
    assert.equal(out, 'confined\ndone\n', r.stderr)
    assertNothingLeft(cache)
  })

  it('`..` in a volume target is confined to the container (or refused), never a host path', () => {
    const m = hostMarker()
    const src = tempDir('pivot-vol-dotdot')
    fs.writeFileSync(path.join(src, 'from-volume'), 'volume\n')
    const escapee = uniqueName('pivot-written-through')
    // Docker normalises the target: /../../etc is the container's /etc, with the volume over it.
    const out = ok(run(['-v', `${src}:/../../etc`, B, 'sh', '-c', `cat /etc/from-volume; echo pwned > /etc/${escapee}; echo done`]))
    assert.equal(out, 'volume\ndone\n')
    assert.equal(fs.existsSync(path.join('/etc', escapee)), false, "nothing written in the host's /etc")
    assert.equal(fs.readFileSync(path.join(src, escapee), 'utf8'), 'pwned\n', 'the write went to the volume')

    const before = markerState(m.dir)
    const confined = ok(run(['-v', `${src}:/a/../../..${m.dir}/sub`, B, 'sh', '-c', `cat ${m.dir}/sub/from-volume; cat ${m.file} 2>&1; echo done`]))
    assert.match(confined, /^volume\n/)
    assert.ok(!confined.includes(m.content), confined)
    assert.deepEqual(markerState(m.dir), before, "no sub/ made in the host's directory")

    for (const [target, why] of [
      ['/tmp/../../..', /destination can't be '\/'/],
      ['/../proc/../proc/sys', /cannot mount over \/proc\/sys/],
      ['/a/../sys', /cannot mount over \/sys/],
      ['relative/../x', /mount path must be absolute/],
    ] as const) {
      assertOneLineError(run(['-v', `${src}:${target}`, B, 'true']), why, 125)
    }
    assertNothingLeft(cache)
  })

  it('symlinks in the image to host paths resolve inside the container: reads, volume targets and mount points', t => {
    const m = hostMarker()
    const before = markerState(m.dir)
    const name = `localhost/attack-symlinks-${uniqueName('img')}`
    const tar = busyboxRootfs()
      .symlink('link', m.file)
      .symlink('dirlink', m.dir)
      .symlink('relative', `../../../../../..${m.file}`)
      .symlink('filelink', m.file)
      // The kernel file systems' mount points too: a mount that followed these would land on the host.
      .symlink('dev', m.dir)
      .symlink('proc', '/')
      .symlink('sys', m.dir)
      .end()
      .toBuffer()
    const imported = importTar(cache, tar, name)
    assert.equal(imported.status, 0, imported.stderr)
    t.after(() => pivot(['rmi', name], {cacheDir: cache}))

    const src = tempDir('pivot-vol-symlink')
    fs.writeFileSync(path.join(src, 'from-volume'), 'volume\n')
    const srcFile = path.join(tempDir('pivot-vol-file'), 'file')
    fs.writeFileSync(srcFile, 'file volume\n')
    const out = ok(
      run([
        '-v',
        `${src}:/dirlink/sub`,
        '-v',
        `${srcFile}:/filelink`,
        '-w',
        '/dirlink/wd',
        name,
        'sh',
        '-c',
        'cat /link /relative /dirlink/secret 2>/dev/null; echo "sub: $(ls /dirlink/sub)"; cat /filelink; echo "pwd: $(pwd)"; ' +
          'echo x > /dirlink/written; ls /dev/null /proc/1/status >/dev/null && echo mounts-ok; echo done',
      ]),
    )
    assert.ok(!out.includes(m.content), out)
    assert.match(out, /^sub: from-volume$/m)
    assert.match(out, /^file volume$/m)
    assert.match(out, /^pwd: \/dirlink\/wd$/m)
    assert.match(out, /^mounts-ok$/m)
    assert.match(out, /done\n$/)
    // No directory, file, device or mount point made in the host's directory, the secret intact.
    assert.deepEqual(markerState(m.dir), before)
    assertNothingLeft(cache)
  })
})

describe('attack: cgroup release_agent', {timeout: 120_000}, () => {
  const saved = releaseAgents()
  // Whatever the attack manages, the host's hierarchies get their release agents back.
  after(() => restoreReleaseAgents(saved))

  /**
   * The 2019 escape (Felix Wilhelm): mount a v1 hierarchy, set its release_agent to a host path,
   * set notify_on_release, empty a cgroup. Here it stops at the write: the agent names a path that
   * does not exist, and nothing triggers it. Mounting the host's memory hierarchy would also let
   * the container lift its own limits; a named hierarchy is a new one of its own.
   */
  function attack(named: string, hierarchies: string[], opts: {sysfs: boolean; base: string}): string {
    const sysfs = [
      'echo "sysfs-cgroup: $(ls -A /sys/fs/cgroup 2>&1 | tr "\\n" " ")"',
      'touch /sys/fs/cgroup/pivot-attack 2>/dev/null && echo "WROTE /sys/fs/cgroup"',
      'for f in /sys/fs/cgroup/release_agent /sys/fs/cgroup/*/release_agent; do',
      '  [ -e "$f" ] && echo /nonexistent-pivot-attack > "$f" 2>/dev/null && echo "WROTE $f"',
      'done',
    ]
    return [
      ...(opts.sysfs ? sysfs : []),
      'i=0',
      `for opt in ${hierarchies.join(' ')} none,name=${named}; do`,
      `  i=$((i+1)); d=${opts.base}/pivot-cg-$i; mkdir -p $d`,
      '  if mount -t cgroup -o $opt cgroup $d 2>/dev/null; then',
      '    echo "MOUNTED $opt"',
      '    echo /nonexistent-pivot-attack > $d/release_agent 2>/dev/null && echo "WROTE $opt"',
      '    umount $d',
      '  fi',
      'done',
      `mkdir -p ${opts.base}/pivot-cg2; mount -t cgroup2 none ${opts.base}/pivot-cg2 2>/dev/null && echo "MOUNTED cgroup2" && umount ${opts.base}/pivot-cg2`,
      'echo done',
    ].join('\n')
  }

  it('positive control: on the host (own mount namespace), the probe does mount and write', () => {
    const named = uniqueName('pivotctl').replace(/-/g, '')
    // Only the mount part: the host's own release agents are not the control's to write.
    const script = attack(named, [], {sysfs: false, base: tempDir('pivot-cg-control')})
    const r = spawnSync('unshare', ['-m', '--propagation', 'private', '/bin/busybox', 'sh', '-c', script], {encoding: 'utf8', timeout: 30_000})
    assert.match(r.stdout, new RegExp(`MOUNTED none,name=${named}`), r.stdout + r.stderr)
    assert.match(r.stdout, new RegExp(`WROTE none,name=${named}`), r.stdout + r.stderr)
  })

  it("inside, /sys/fs/cgroup holds only the container's own cgroups, read-only; no cgroup file system mounts, no release_agent is written", () => {
    const named = uniqueName('pivotatk').replace(/-/g, '')
    const out = ok(run([B, 'sh', '-c', attack(named, ['memory', 'pids', 'net_cls', 'rdma'], {sysfs: true, base: '/tmp'})]))
    // docker's view: the container's own cgroups, never a hierarchy's root (where release_agent is).
    assert.match(out, /^sysfs-cgroup: /m)
    assert.doesNotMatch(out, /^sysfs-cgroup: .*release_agent/m)
    assert.match(out, /done\n$/)
    assert.doesNotMatch(out, /WROTE/, 'a release_agent was written: the host runs it as root when the cgroup empties')
    assert.doesNotMatch(out, /MOUNTED/, 'a cgroup hierarchy was mounted inside the container')
    assert.deepEqual(releaseAgents(), saved, "the host's release agents are unchanged")
    assertNothingLeft(cache)
  })
})
