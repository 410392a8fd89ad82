/**
 * `pivot run --userns remap` against the attacks: the walls of a plain run all still hold in the
 * user namespace (re-run here with the flag), and attacks that reach the host without it now land
 * as an unprivileged host uid. Each new stop is shown next to its control: the same attack
 * without --userns, which works (harmlessly: nothing is executed, a knob is written back with the
 * value it already has).
 */
import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {describe, it} from 'node:test'
import {BUSYBOX_IMAGE, tempDir} from '../helpers/fixtures'
import {containerCache} from '../helpers/security'
import {remapRange} from '../../src/userns/remap-range'

const B = BUSYBOX_IMAGE
const U = ['--userns', 'remap']
const {run, ok, clean} = containerCache('pivot-walls-userns', [B])

function sh(script: string, flags: string[] = []): string {
  return ok(run([...flags, B, 'sh', '-c', script]))
}

/** A host directory a volume can reach (tempDir's 0700 would stop the remapped root before any attack). */
function volumeDir(): string {
  const dir = tempDir('pivot-userns-vol-')
  fs.chmodSync(dir, 0o777)
  return dir
}

describe('what --userns remap stops', {timeout: 300_000}, () => {
  it('a setuid-root program planted on a volume: root-owned on the host without it, owned by the unprivileged range with it', () => {
    const dir = volumeDir()
    const plant = 'cp /bin/busybox /v/suid && chown 0:0 /v/suid && chmod 4755 /v/suid'
    sh(plant, ['-v', `${dir}:/v`])
    const control = fs.statSync(path.join(dir, 'suid'))
    assert.equal(control.uid, 0, 'control: without --userns a host user would run it as root')
    assert.equal(control.mode & 0o4000, 0o4000)
    fs.rmSync(path.join(dir, 'suid'))
    sh(plant, [...U, '-v', `${dir}:/v`])
    const remapped = fs.statSync(path.join(dir, 'suid'))
    assert.equal(remapped.uid, remapRange().uid, "with --userns remap it is setuid to the range's first uid, not root")
    clean()
  })

  it("a root-only host file on a volume: readable and writable by the container's root without it, not with it", () => {
    const dir = volumeDir()
    const secret = path.join(dir, 'secret')
    fs.writeFileSync(secret, 'host secret\n', {mode: 0o600})
    const attack = 'cat /v/secret 2>&1 | sed "s/^cat: //"; echo pwned >> /v/secret 2>&1; echo write=$?'
    assert.equal(sh(attack, ['-v', `${dir}:/v`]), 'host secret\nwrite=0\n', 'control: root in a plain container is root on the volume')
    fs.writeFileSync(secret, 'host secret\n', {mode: 0o600})
    const out = sh(attack, [...U, '-v', `${dir}:/v`])
    assert.match(out, /can't open '\/v\/secret': Permission denied/)
    assert.match(out, /write=1/)
    assert.equal(fs.readFileSync(secret, 'utf8'), 'host secret\n')
    clean()
  })

  it("--privileged: the host's core_pattern (the classic escape) is writable without it, not with it", () => {
    const before = fs.readFileSync('/proc/sys/kernel/core_pattern', 'utf8').trim()
    // The control writes back the value the host has: it proves the write is possible, and changes nothing.
    const attack = `(printf '%s\\n' '${before.replace(/'/g, "'\\''")}' > /proc/sys/kernel/core_pattern) 2>&1 | sed "s/^.*: //"; cat /proc/sys/kernel/core_pattern > /dev/null; (printf '%s\\n' '${before.replace(/'/g, "'\\''")}' > /proc/sys/kernel/core_pattern) 2>/dev/null; echo status=$?`
    assert.match(sh(attack, ['--privileged']), /status=0/)
    const out = sh(attack, [...U, '--privileged'])
    assert.match(out, /Permission denied|Operation not permitted|Read-only file system/)
    assert.match(out, /status=[12]/)
    assert.equal(fs.readFileSync('/proc/sys/kernel/core_pattern', 'utf8').trim(), before)
    // CAP_SYS_ADMIN of the namespace is not the host's: no mount of a host block device, no host module.
    const disk = fs
      .readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .find(l => l.split(' ')[4] === '/')!
      .split(' - ')[1]
      .split(' ')[1]
    const mount = sh(
      `mkdir /m; mknod /d b $(stat -c '%t %T' ${disk} 2>/dev/null | awk '{printf "%d %d", "0x"$1, "0x"$2}') 2>&1; mount /d /m 2>&1 | sed "s/^.*: //"; ls /m | head -1`,
      [...U, '--privileged'],
    )
    assert.doesNotMatch(mount, /^(bin|etc|usr|work)$/m, `no host filesystem mounted: ${mount}`)
    clean()
  })
})

describe('the walls of a plain run hold in the user namespace too', {timeout: 300_000}, () => {
  it('host-wide /proc knobs and /sys cannot be written; masked paths are empty', () => {
    const before = fs.readFileSync('/proc/sys/kernel/core_pattern', 'utf8')
    const out = sh(
      'echo "|/tmp/pwn" > /proc/sys/kernel/core_pattern; echo core=$?; echo b > /proc/sysrq-trigger; echo sysrq=$?; touch /sys/kernel/x; echo sys=$?; cat /proc/kcore 2>/dev/null | wc -c',
      U,
    )
    assert.match(out, /core=[12]\n/)
    assert.match(out, /sysrq=[12]\n/)
    assert.match(out, /sys=1\n/)
    assert.match(out, /^0$/m)
    assert.equal(fs.readFileSync('/proc/sys/kernel/core_pattern', 'utf8'), before)
    clean()
  })

  it('seccomp still refuses new namespaces, mounts, keyrings; a block device made in it cannot be opened', () => {
    const out = sh(
      'unshare -U true 2>&1 | sed "s/^.*: //"; mount -t tmpfs x /mnt 2>&1 | sed "s/^.*: //"; mknod /tmp/sda b 8 0 2>&1 | sed "s/^.*: //"; echo end',
      U,
    )
    // unshare, mount (busybox says "permission denied (are you root?)" for EPERM), mknod of 8:0.
    const lines = out.trim().split('\n')
    assert.equal(lines.length, 4, out)
    for (const l of lines.slice(0, 3)) assert.match(l, /not permitted|permission denied/i)
    clean()
  })

  it('no cgroup filesystem can be mounted (release_agent); /sys/fs/cgroup is read-only', () => {
    const out = sh('mkdir -p /tmp/cg; mount -t cgroup -o memory cgroup /tmp/cg 2>&1 | sed "s/^.*: //"; touch /sys/fs/cgroup/x 2>&1 | sed "s/^.*: //"', U)
    assert.match(out, /not permitted|permission denied/i)
    assert.match(out, /Read-only file system/)
    clean()
  })

  it('the init binary cannot be run; no host descriptor reaches the command', () => {
    const r = run([...U, B, '/proc/self/exe'])
    assert.equal(r.status, 126, r.stderr)
    assert.equal(sh('ls /proc/self/fd | tr "\\n" " "', U), '0 1 2 3 ')
    clean()
  })
})
