/**
 * Walls: capabilities and no_new_privs. What a container's process holds, read from its own
 * /proc/self/status, for docker's defaults and each flag; then the attacks they stop: a
 * capability the container lacks, and a setuid-root program run by a non-root user under
 * --security-opt no-new-privileges (with the same program shown to work without it, so the
 * test can fail).
 */
import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import {describe, it} from 'node:test'
import {BUSYBOX_IMAGE, DEBIAN_IMAGE} from '../helpers/fixtures'
import {containerCache} from '../helpers/security'

const B = BUSYBOX_IMAGE
const D = DEBIAN_IMAGE
const DOCKER_DEFAULT = '00000000a80425fb'
const {run, ok, clean} = containerCache('pivot-walls-caps', [B, D])

/** The Cap*, NoNewPrivs and Seccomp lines of the command's own /proc/self/status. */
function status(flags: string[]): Record<string, string> {
  const out = ok(run([...flags, B, 'cat', '/proc/self/status']))
  const fields: Record<string, string> = {}
  for (const line of out.split('\n')) {
    const m = /^(Cap\w+|NoNewPrivs|Seccomp):\s*(\S+)/.exec(line)
    if (m) fields[m[1]] = m[2]
  }
  return fields
}

function hostBoundingSet(): string {
  return /^CapBnd:\s*(\S+)/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))![1]
}

describe('capability sets as docker sets them', {timeout: 300_000}, () => {
  it("defaults: docker's 14 capabilities in bounding, permitted and effective; none inheritable or ambient; seccomp on; no_new_privs off", () => {
    assert.deepEqual(status([]), {
      CapInh: '0000000000000000',
      CapPrm: DOCKER_DEFAULT,
      CapEff: DOCKER_DEFAULT,
      CapBnd: DOCKER_DEFAULT,
      CapAmb: '0000000000000000',
      NoNewPrivs: '0',
      Seccomp: '2',
    })
    clean()
  })

  it('--security-opt no-new-privileges (and :true) sets NoNewPrivs 1', () => {
    assert.equal(status(['--security-opt', 'no-new-privileges']).NoNewPrivs, '1')
    assert.equal(status(['--security-opt', 'no-new-privileges:true']).NoNewPrivs, '1')
    clean()
  })

  it('--cap-drop ALL leaves nothing; --cap-add SYS_ADMIN adds bit 21 only', () => {
    const none = status(['--cap-drop', 'ALL'])
    assert.deepEqual([none.CapEff, none.CapPrm, none.CapBnd], ['0000000000000000', '0000000000000000', '0000000000000000'])
    const admin = status(['--cap-add', 'SYS_ADMIN'])
    assert.equal(BigInt(`0x${admin.CapEff}`), 0xa80425fbn | (1n << 21n))
    assert.equal(admin.CapBnd, admin.CapEff)
    // docker's spellings: any case, with or without CAP_.
    assert.equal(status(['--cap-add', 'sys_admin', '--cap-drop', 'cap_chown']).CapEff, ((0xa80425fbn | (1n << 21n)) & ~1n).toString(16).padStart(16, '0'))
    clean()
  })

  it('--privileged: every capability pivot holds, no seccomp filter, /sys writable', () => {
    const s = status(['--privileged'])
    assert.equal(s.CapEff, hostBoundingSet())
    assert.equal(s.CapBnd, hostBoundingSet())
    assert.equal(s.Seccomp, '0')
    const mounts = ok(run(['--privileged', B, 'cat', '/proc/self/mountinfo']))
    assert.match(mounts, / \/sys rw,/)
    assert.doesNotMatch(mounts, / \/proc\/sys ro,/)
    clean()
  })

  it("a non-root --user holds no capability after exec (CapEff 0, as in docker); the bounding set stays docker's", () => {
    const s = status(['--user', '65534'])
    assert.deepEqual([s.CapEff, s.CapPrm, s.CapInh, s.CapAmb], ['0000000000000000', '0000000000000000', '0000000000000000', '0000000000000000'])
    assert.equal(s.CapBnd, DOCKER_DEFAULT)
    clean()
  })

  it('an unknown capability name is a one-line error, exit 125, nothing started', () => {
    for (const flag of ['--cap-add', '--cap-drop']) {
      const r = run([flag, 'NET_TELEPORT', B, 'true'])
      assert.equal(r.status, 125)
      assert.equal(r.stderr, `pivot: invalid ${flag} "NET_TELEPORT": unknown capability (see 'pivot run --help')\n`)
      assert.equal(r.stdout, '')
    }
    clean()
  })
})

describe('attacks that need a capability the container does not have', {timeout: 300_000}, () => {
  it("root in the container cannot set the host's clock (CAP_SYS_TIME) nor change its hostname (CAP_SYS_ADMIN)", () => {
    const before = Date.now()
    const out = ok(
      run([
        D,
        'sh',
        '-c',
        `perl -e 'my $ts = pack("qq", 1000000000, 0); my $r = syscall(227, 0, $ts); print "clock_settime=$r $!\\n"'; hostname evil 2>/dev/null; echo hostname=$?; hostname`,
      ]),
    )
    assert.match(out, /^clock_settime=-1 Operation not permitted$/m)
    assert.ok(Math.abs(Date.now() - before) < 60_000, 'the host clock did not move')
    assert.match(out, /^hostname=1$/m)
    assert.doesNotMatch(out, /^evil$/m)
    clean()
  })

  it('a capability dropped from the bounding set cannot come back, even through a setuid-root program', () => {
    // CAP_CHOWN dropped: root cannot chown a file it does not own... root owns everything here,
    // so chown to another user is the test: it needs CAP_CHOWN.
    const out = ok(run(['--cap-drop', 'CHOWN', B, 'sh', '-c', 'touch /tmp/f; chown 65534 /tmp/f; echo chown=$?; grep CapBnd /proc/self/status']))
    assert.match(out, /^chown=1$/m)
    assert.equal(BigInt(`0x${/CapBnd:\s*(\S+)/.exec(out)![1]}`) & 1n, 0n)
    clean()
  })
})

describe('setuid escalation and no-new-privileges', {timeout: 300_000}, () => {
  // A setuid-root copy of `id`, run by user 65534 (setpriv drops to it): the effective uid it
  // prints is 0 when the setuid bit works, 65534 when no_new_privs stops it.
  const script = 'cp /usr/bin/id /tmp/id && chmod 4755 /tmp/id && setpriv --reuid=65534 --regid=65534 --clear-groups /tmp/id -u'

  it('without no-new-privileges the setuid bit works (the control: so the wall below can be seen failing)', () => {
    assert.equal(ok(run([D, 'sh', '-c', script])).trim(), '0')
    clean()
  })

  it('with --security-opt no-new-privileges a setuid-root program gains nothing', () => {
    assert.equal(ok(run(['--security-opt', 'no-new-privileges', D, 'sh', '-c', script])).trim(), '65534')
    clean()
  })

  it('file capabilities are not granted under no-new-privileges either', () => {
    // setcap is not in minbase: the xattr is written with perl (security.capability v2, cap_net_raw+ep).
    const prog = [
      'cp /usr/bin/cat /tmp/capcat',
      // struct vfs_cap_data v2: magic|effective, permitted lo/hi, inheritable lo/hi
      `perl -e 'my ($p, $n, $v) = ("/tmp/capcat", "security.capability", pack("VVVVV", 0x02000001, 1 << 13, 0, 0, 0)); syscall(188, $p, $n, $v, length($v), 0) == 0 or die "setxattr: $!"'`,
      // Through a shell: the process that execs capcat then holds no capability itself (no_new_privs
      // means "no more than the exec'ing process had").
      `setpriv --reuid=65534 --regid=65534 --clear-groups -- sh -c '/tmp/capcat /proc/self/status' | grep CapEff`,
    ].join(' && ')
    const withCaps = ok(run([D, 'sh', '-c', prog]))
    assert.equal(BigInt(`0x${/CapEff:\s*(\S+)/.exec(withCaps)![1]}`), 1n << 13n, 'the control: file capabilities work')
    const nnp = ok(run(['--security-opt', 'no-new-privileges', D, 'sh', '-c', prog]))
    assert.equal(/CapEff:\s*(\S+)/.exec(nnp)![1], '0000000000000000')
    clean()
  })
})
