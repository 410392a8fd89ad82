/**
 * Walls: what the container's filesystems let it touch. /proc's host-wide knobs read-only, the
 * masked files empty, /sys read-only, no cgroup filesystem (no release_agent), device nodes that
 * an image or CAP_MKNOD makes unusable (nodev everywhere but the bound standard devices, which
 * still work, ptys included), overlay xattrs of a layer dropped, and the cache out of reach of
 * unprivileged host users.
 */
import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {describe, it} from 'node:test'
import {removeContainer} from '../../src/runtime/run-container'
import {Store} from '../../src/store'
import {KoffiSyscalls} from '../../src/sys'
import {BUSYBOX_IMAGE, pivot, tempDir} from '../helpers/fixtures'
import {busyboxRootfs, importTar, uniqueName, containerCache} from '../helpers/security'

const B = BUSYBOX_IMAGE
const {box, run, ok, clean} = containerCache('pivot-walls-fs', [B])

/** `sh -c SCRIPT` in busybox; returns stdout. */
function sh(script: string, flags: string[] = []): string {
  return ok(run([...flags, B, 'sh', '-c', script]))
}

describe('/proc and /sys', {timeout: 300_000}, () => {
  it('host-wide /proc knobs cannot be written: core_pattern, sysrq-trigger, and the rest of /proc/sys', () => {
    const before = fs.readFileSync('/proc/sys/kernel/core_pattern', 'utf8')
    const out = sh(
      'echo "|/tmp/pwn" > /proc/sys/kernel/core_pattern; echo core=$?; echo b > /proc/sysrq-trigger; echo sysrq=$?; echo 1 > /proc/sys/vm/drop_caches; echo drop=$?; ' +
        'grep -E " /proc/(sys|sysrq-trigger|irq|bus|fs) " /proc/self/mountinfo | cut -d" " -f5,6',
    )
    assert.match(out, /^core=1$/m)
    assert.match(out, /^sysrq=1$/m)
    assert.match(out, /^drop=1$/m)
    assert.equal(fs.readFileSync('/proc/sys/kernel/core_pattern', 'utf8'), before, "the host's core_pattern is unchanged")
    // Each read-only path that this kernel has is a read-only mount.
    for (const line of out.split('\n').filter(l => l.startsWith('/proc/'))) assert.match(line, /^\/proc\/\S+ ro,/, line)
    assert.match(out, /^\/proc\/sys ro,/m)
    clean()
  })

  it('masked paths: files read empty (they are the null device), directories are empty and read-only', () => {
    const files = ['/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug']
    const dirs = ['/proc/asound', '/proc/acpi', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap']
    const script = [
      ...files.map(f => `if [ -e ${f} ]; then echo "${f} $(wc -c < ${f}) $(stat -c %t:%T ${f})"; fi`),
      ...dirs.map(d => `if [ -e ${d} ]; then echo "${d} $(ls -A ${d} | wc -l) $(touch ${d}/x 2>/dev/null && echo writable || echo ro)"; fi`),
    ].join('; ')
    const out = sh(script)
    const seen = out.trim().split('\n').filter(Boolean)
    for (const line of seen) {
      const [p, size, what] = line.split(' ')
      assert.equal(size, '0', `${p} is empty`)
      assert.equal(what, files.includes(p) ? '1:3' : 'ro', p)
    }
    // Which of them this kernel has varies; /proc/keys and /proc/timer_list exist on every usual config.
    const hostHas = [...files, ...dirs].filter(p => fs.existsSync(p))
    assert.deepEqual(seen.map(l => l.split(' ')[0]).sort(), hostHas.sort())
    clean()
  })

  it("/sys is read-only, /sys/fs/cgroup only the container's own cgroups, read-only: release_agent is out of reach", () => {
    // The container sees its own cgroup (docker's --cgroupns behaviour), never a hierarchy's root,
    // which is where release_agent lives; every mount there is read-only.
    const out = sh(
      'touch /sys/pwn 2>/dev/null; echo sys=$?; echo 1 > /sys/kernel/uevent_helper 2>/dev/null; echo helper=$?; ' +
        'touch /sys/fs/cgroup/x /sys/fs/cgroup/*/x 2>/dev/null; echo cgwrite=$?; mount -t cgroup -o memory cgroup /mnt 2>/dev/null; echo cgmount=$?; ' +
        'awk \'$5 ~ "^/sys/fs/cgroup" && $6 !~ /^ro/\' /proc/self/mountinfo | wc -l; find / /sys/fs/cgroup -name release_agent 2>/dev/null | wc -l',
    )
    assert.equal(out, 'sys=1\nhelper=1\ncgwrite=1\ncgmount=1\n0\n0\n')
    clean()
  })
})

describe('devices', {timeout: 300_000}, () => {
  it('a block device made with CAP_MKNOD (8:0, a host disk) cannot be opened, wherever it is made', () => {
    const vol = tempDir('pivot-walls-vol')
    const out = sh('for d in /tmp /dev /dev/shm /vol; do mknod $d/sda b 8 0 && echo made; head -c1 $d/sda > /dev/null 2>&1; echo "$d $?"; done', [
      '-v',
      `${vol}:/vol`,
    ])
    assert.equal(out, 'made\n/tmp 1\nmade\n/dev 1\nmade\n/dev/shm 1\nmade\n/vol 1\n')
    // The node made in the volume is on the host: usable there, not here (and removed now).
    fs.rmSync(path.join(vol, 'sda'))
    clean()
  })

  it('a device node that an image layer carries cannot be opened either', () => {
    const name = `localhost/walls-${uniqueName('dev')}`
    const tar = busyboxRootfs().block('disk', 8, 0, {mode: 0o666}).char('mem', 1, 1, {mode: 0o666}).end().toBuffer()
    const imported = importTar(box.dir, tar, name)
    assert.equal(imported.status, 0, imported.stderr)
    try {
      const out = ok(
        run([name, 'sh', '-c', 'ls -l /disk /mem | cut -c1; head -c1 /disk >/dev/null 2>&1; echo disk=$?; head -c1 /mem >/dev/null 2>&1; echo mem=$?']),
      )
      assert.equal(out, 'b\nc\ndisk=1\nmem=1\n')
    } finally {
      pivot(['rmi', name], {cacheDir: box.dir})
    }
    clean()
  })

  it("the standard devices still work (bind mounts of the host's nodes), and a pty opens", () => {
    const out = sh(
      'echo x > /dev/null && echo null=ok; head -c 3 /dev/zero | wc -c; head -c 16 /dev/urandom | wc -c; head -c 4 /dev/random | wc -c; ' +
        'echo x > /dev/full 2>/dev/null; echo full=$?; exec 3<>/dev/ptmx && echo ptmx=ok; ls /dev/pts',
    )
    assert.equal(out, 'null=ok\n3\n16\n4\nfull=1\nptmx=ok\n0\nptmx\n')
    clean()
  })
})

describe('the root filesystem and the cache', {timeout: 300_000}, () => {
  it('the overlay is nodev and ignores redirects (redirect_dir=nofollow where the kernel has it)', () => {
    const line = sh('grep " / / " /proc/self/mountinfo')
    assert.match(line, / overlay /)
    assert.match(line, /\bnodev\b/)
    assert.match(line, /redirect_dir=nofollow/)
    clean()
  })

  it('overlay xattrs in a layer are dropped at unpack (but the opaque mark), so a layer cannot redirect overlay', () => {
    const name = `localhost/walls-${uniqueName('xattr')}`
    const tar = busyboxRootfs()
      .dir('redir/', {xattrs: {'trusted.overlay.redirect': '/etc', 'trusted.overlay.origin': Buffer.alloc(16, 1)}})
      .dir('opq/', {xattrs: {'trusted.overlay.opaque': 'y'}})
      .file('meta', 'x', {xattrs: {'trusted.overlay.metacopy': Buffer.alloc(0), 'user.kept': 'yes'}})
      .end()
      .toBuffer()
    const imported = importTar(box.dir, tar, name)
    assert.equal(imported.status, 0, imported.stderr)
    try {
      const sys = new KoffiSyscalls()
      const layers = fs
        .readdirSync(path.join(box.dir, 'layers'))
        .map(h => path.join(box.dir, 'layers', h, 'rootfs'))
        .filter(d => fs.existsSync(path.join(d, 'redir')))
      assert.equal(layers.length, 1)
      const root = layers[0]
      assert.deepEqual(
        sys.llistxattrBytes(Buffer.from(path.join(root, 'redir'))).filter(n => n.startsWith('trusted.')),
        [],
      )
      // Both forms of the mark: pivot's own overlays read trusted.*, --userns remap's (userxattr) user.*.
      assert.deepEqual(sys.llistxattrBytes(Buffer.from(path.join(root, 'opq'))).sort(), ['trusted.overlay.opaque', 'user.overlay.opaque'])
      assert.deepEqual(sys.llistxattrBytes(Buffer.from(path.join(root, 'meta'))), ['user.kept'])
      // And the directory shows its own (empty) content in a container, not /etc's.
      assert.equal(ok(run([name, 'ls', '-A', '/redir'])), '')
    } finally {
      pivot(['rmi', name], {cacheDir: box.dir})
    }
    clean()
  })

  it("the cache root is 0700, a container's directory is 0700: its writable layer is out of reach of host users", () => {
    assert.equal(fs.statSync(box.dir).mode & 0o777, 0o700)
    const name = uniqueName('keep')
    ok(run(['--name', name, B, 'sh', '-c', 'cp /bin/busybox /tmp/suid && chmod 4755 /tmp/suid'], false))
    const containers = fs.readdirSync(path.join(box.dir, 'containers')).filter(d => /^[0-9a-f]{64}$/.test(d))
    assert.equal(containers.length, 1)
    const dir = path.join(box.dir, 'containers', containers[0])
    assert.equal(fs.statSync(dir).mode & 0o777, 0o700)
    assert.equal(fs.statSync(path.join(box.dir, 'containers')).mode & 0o077, 0)
    // The setuid copy sits in upper/, under the 0700 directory.
    assert.equal(fs.statSync(path.join(dir, 'upper', 'tmp', 'suid')).mode & 0o4000, 0o4000)
    removeContainer(Store.open(box.dir), containers[0])
    clean()
  })
})
