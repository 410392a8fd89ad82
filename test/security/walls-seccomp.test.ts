/**
 * Walls: the seccomp filter. Each attack makes the raw syscall from inside (Debian's perl
 * `syscall()`, x86_64 numbers; busybox applets where they exist) and gets EPERM (ENOSYS for
 * clone3, as docker). Where the kernel alone would also refuse (no capability), the same call
 * under --security-opt seccomp=unconfined shows that the filter is what stops it where it
 * matters: calls that need no capability at all (user namespaces, keyrings, personality).
 */
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {describe, it} from 'node:test'
import {BUSYBOX_IMAGE, DEBIAN_IMAGE, PIVOT_BIN, tempDir} from '../helpers/fixtures'
import {containerCache} from '../helpers/security'

const B = BUSYBOX_IMAGE
const D = DEBIAN_IMAGE
const {box, run, ok, clean} = containerCache('pivot-walls-seccomp', [B, D])

// x86_64 syscall numbers (arch/x86/entry/syscalls/syscall_64.tbl).
const NR = {
  ptrace: 101,
  personality: 135,
  init_module: 175,
  kexec_load: 246,
  add_key: 248,
  request_key: 249,
  keyctl: 250,
  unshare: 272,
  perf_event_open: 298,
  open_by_handle_at: 304,
  finit_module: 313,
  bpf: 321,
  userfaultfd: 323,
  clone: 56,
  clone3: 435,
  mount: 165,
  umount2: 166,
  pivot_root: 155,
  setns: 308,
  io_uring_setup: 425,
}

/**
 * Runs each call in perl and returns "name=<result> <errno name>" lines. Arguments are numbers or
 * perl expressions; every call is harmless when it is allowed (bad arguments, or a query).
 */
function calls(flags: string[], list: Array<[string, string]>): Map<string, string> {
  const body = list
    .map(
      ([name, args]) =>
        `{ my @a = (${args}); my $r = syscall(${NR[name as keyof typeof NR]}, @a); printf "%s=%d %s\\n", "${name}", $r, $r < 0 ? errname($!+0) : "-"; }`,
    )
    .join(' ')
  const script = `use Errno; sub errname { my $n = shift; for my $k (keys %!) { return $k if eval "Errno::$k()" == $n } return $n } ${body}`
  const out = ok(run([...flags, D, 'perl', '-e', script]))
  const results = new Map<string, string>()
  for (const line of out.trim().split('\n')) {
    const [name, rest] = line.split('=')
    results.set(results.has(name) ? `${name}#2` : name, rest)
  }
  return results
}

describe('seccomp: the kernel-wide calls are refused', {timeout: 300_000}, () => {
  if (process.arch !== 'x64') return

  it('the filter is on (Seccomp: 2 in every process, children included)', () => {
    const out = ok(run([B, 'sh', '-c', 'grep Seccomp: /proc/self/status; sh -c "grep Seccomp: /proc/self/status"']))
    assert.equal(out, 'Seccomp:\t2\nSeccomp:\t2\n')
    clean()
  })

  it('kexec, modules, bpf, perf, userfaultfd, open_by_handle_at, keyrings, mount, pivot_root, setns, io_uring: EPERM', () => {
    const r = calls(
      [],
      [
        ['kexec_load', '0, 0, 0, 0x7fff0000'],
        ['init_module', '0, 0, ""'],
        ['finit_module', '-1, "", 0'],
        ['bpf', '0, 0, 0'],
        ['perf_event_open', '0, 0, -1, -1, 0'],
        ['userfaultfd', '0'],
        ['open_by_handle_at', '-1, 0, 0'],
        ['keyctl', '0, -3, 0, 0, 0'],
        ['add_key', '"user", "pivot-walls", "x", 1, -3'],
        ['request_key', '"user", "pivot-walls", 0, 0'],
        ['mount', '"none", "/mnt", "tmpfs", 0, 0'],
        ['umount2', '"/proc", 2'],
        ['pivot_root', '"/", "/"'],
        ['setns', '0, 0'],
        ['io_uring_setup', '1, 0'],
      ],
    )
    for (const [name, result] of r) assert.equal(result, '-1 EPERM', name)
    assert.equal(r.size, 15)
    clean()
  })

  it('namespaces: unshare and clone with a CLONE_NEW* flag are refused, plain clone (fork) works, clone3 says ENOSYS', () => {
    const r = calls(
      [],
      [
        ['unshare', '0x10000000'],
        ['unshare', '0x00020000'],
        ['clone', '0x10000000 | 17, 0, 0, 0, 0'],
        ['clone3', '0, 0'],
      ],
    )
    assert.equal(r.get('unshare'), '-1 EPERM', 'CLONE_NEWUSER')
    assert.equal(r.get('unshare#2'), '-1 EPERM', 'CLONE_NEWNS')
    assert.equal(r.get('clone'), '-1 EPERM')
    assert.equal(r.get('clone3'), '-1 ENOSYS', 'as docker: libc falls back to clone')
    // busybox unshare, and an ordinary fork still working
    const out = ok(run([B, 'sh', '-c', 'unshare -U true 2>/dev/null; echo user=$?; unshare -m true 2>/dev/null; echo mnt=$?; (true) & wait $!; echo fork=$?']))
    assert.equal(out, 'user=1\nmnt=1\nfork=0\n')
    clean()
  })

  it('the control: without the filter the same container creates a user namespace and reaches the keyring', () => {
    const out = ok(run(['--security-opt', 'seccomp=unconfined', B, 'sh', '-c', 'unshare -U true; echo user=$?; grep Seccomp: /proc/self/status']))
    assert.equal(out, 'user=0\nSeccomp:\t0\n')
    const r = calls(['--security-opt', 'seccomp=unconfined'], [['keyctl', '0, -3, 0, 0, 0']])
    assert.notEqual(r.get('keyctl'), '-1 EPERM')
    clean()
  })

  it('personality: only the harmless personas (ADDR_NO_RANDOMIZE is refused); ptrace allowed as in docker', () => {
    const r = calls(
      [],
      [
        ['personality', '0x0040000'],
        ['ptrace', '0, 0, 0, 0'],
      ],
    )
    assert.equal(r.get('personality'), '-1 EPERM')
    assert.equal(r.get('ptrace'), '0 -', 'PTRACE_TRACEME')
    const query = calls([], [['personality', '0xffffffff']])
    assert.match(query.get('personality')!, /^\d+ -$/)
    clean()
  })

  it('--cap-add SYS_ADMIN opens the calls docker ties to it (mount), and not the ones it never allows (keyctl, kexec)', () => {
    const r = calls(
      ['--cap-add', 'SYS_ADMIN'],
      [
        ['mount', '"none", "/mnt", "tmpfs", 0, 0'],
        ['keyctl', '0, -3, 0, 0, 0'],
        ['kexec_load', '0, 0, 0, 0x7fff0000'],
      ],
    )
    assert.equal(r.get('mount'), '0 -')
    assert.equal(r.get('keyctl'), '-1 EPERM')
    assert.equal(r.get('kexec_load'), '-1 EPERM')
    clean()
  })

  it('without libseccomp, pivot run fails in one line naming the package, before any container exists (never unconfined)', () => {
    // In a private mount namespace: libseccomp.so.2 hidden under an empty file, and an empty
    // /run/pivot so that no filter compiled before can stand in for it.
    const lib = fs.realpathSync('/usr/lib/x86_64-linux-gnu/libseccomp.so.2')
    const empty = path.join(tempDir('pivot-walls-nolib'), 'empty')
    fs.writeFileSync(empty, '')
    const script = [
      'mount --make-rprivate /',
      `mount --bind ${empty} ${lib}`,
      'mkdir -p /run/pivot && mount -t tmpfs -o mode=700 none /run/pivot',
      `exec ${PIVOT_BIN} run --rm ${B} true`,
    ].join(' && ')
    const env: NodeJS.ProcessEnv = {...process.env, PIVOT_CACHE_DIR: box.dir}
    delete env.NODE_EXTRA_CA_CERTS
    const r = spawnSync('unshare', ['-m', 'sh', '-c', script], {encoding: 'utf8', env, timeout: 60_000})
    assert.equal(r.status, 125, r.stderr)
    assert.equal(r.stdout, '')
    const lines = r.stderr.split('\n').filter(Boolean)
    assert.equal(lines.length, 1, r.stderr)
    assert.match(
      lines[0],
      /^pivot: cannot build the seccomp filter: libseccomp\.so\.2 cannot be loaded \(.*\): install the libseccomp2 package .*, or run with --security-opt seccomp=unconfined$/,
    )
    clean()
  })

  it('compiled filters are kept root-only (0700 directory, 0600 files)', () => {
    const dir = '/run/pivot/seccomp'
    if (!fs.existsSync(dir)) return
    assert.equal(fs.statSync(dir).mode & 0o777, 0o700)
    assert.equal(fs.statSync('/run/pivot').mode & 0o077, 0)
    for (const f of fs.readdirSync(dir)) {
      const st = fs.statSync(`${dir}/${f}`)
      assert.equal(st.uid, 0)
      assert.equal(st.mode & 0o077, 0, f)
    }
  })
})
