// `pivot run --userns remap`: root's container in a user namespace from pivot's range. What a user
// checks: the map inside, where a file written inside lands on the host, the image's ownership
// intact inside, whiteouts and opaque directories, the same walls as without it, the record, and
// nothing left on the host (no mount, cgroup, process, container dir).
import {before, test} from 'node:test'
import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {BUSYBOX_IMAGE, DEBIAN_IMAGE, pivot, tempDir, type PivotResult} from '../../helpers/fixtures'
import {seedImage} from '../../helpers/seed-image'
import {remapRange} from '../../../src/userns/remap-range'
import {assertRemapClean} from '../../helpers/remap'

const B = BUSYBOX_IMAGE
let cache: string
let base: number

before(() => {
  cache = tempDir('pivot-userns-run')
  seedImage(cache, B)
  ok(pivot(['pull', DEBIAN_IMAGE], {cacheDir: cache, timeout: 300_000}))
  base = remapRange().uid
})

function run(args: string[], timeout = 60_000): PivotResult {
  return pivot(['run', ...args], {cacheDir: cache, timeout, input: ''})
}

function ok(r: PivotResult): string {
  assert.equal(r.status, 0, `exit ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`)
  return r.stdout
}

function clean(): void {
  assertRemapClean(cache)
}

test('container root is the range base on the host; uid 1000 inside lands as base+1000; inspect says remap', () => {
  const out = ok(
    run([
      '--userns',
      'remap',
      '--name',
      'remap1',
      B,
      'sh',
      '-c',
      'cat /proc/self/uid_map /proc/self/gid_map; id -u; touch /a; touch /b; chown 1000:1000 /b; echo $$',
    ]),
  )
  const lines = out.trim().split('\n')
  assert.deepEqual(lines[0].trim().split(/\s+/), ['0', String(base), '65536'])
  assert.deepEqual(lines[1].trim().split(/\s+/), ['0', String(base), '65536'])
  assert.equal(lines[2], '0')
  assert.equal(lines[3], '1')
  const id = ok(pivot(['inspect', '--format', '{{.Id}}', 'remap1'], {cacheDir: cache})).trim()
  const upper = path.join(cache, 'containers', id, 'upper')
  assert.equal(fs.statSync(path.join(upper, 'a')).uid, base)
  assert.equal(fs.statSync(path.join(upper, 'b')).uid, base + 1000)
  assert.equal(fs.statSync(path.join(upper, 'b')).gid, base + 1000)
  const inspect = JSON.parse(ok(pivot(['inspect', 'remap1'], {cacheDir: cache}))) as Array<{HostConfig: {UsernsMode: string}}>
  assert.equal(inspect[0].HostConfig.UsernsMode, 'remap')
  assert.deepEqual(
    ok(pivot(['diff', 'remap1'], {cacheDir: cache}))
      .trim()
      .split('\n')
      .sort(),
    ['A /a', 'A /b'],
  )
  ok(pivot(['rm', 'remap1'], {cacheDir: cache}))
  // Without the flag: docker's "" (the host's user namespace).
  ok(run(['--name', 'plain1', B, 'true']))
  assert.equal((JSON.parse(ok(pivot(['inspect', 'plain1'], {cacheDir: cache}))) as Array<{HostConfig: {UsernsMode: string}}>)[0].HostConfig.UsernsMode, '')
  ok(pivot(['rm', 'plain1'], {cacheDir: cache}))
  clean()
})

test("the image's ownership is intact inside (idmapped layers), setuid binaries included", () => {
  const script = 'stat -c "%u %g %a %n" /etc/shadow /usr/bin/passwd /var/mail /root; ls /etc/passwd >/dev/null'
  const remapped = ok(run(['--rm', '--userns', 'remap', DEBIAN_IMAGE, 'sh', '-c', script]))
  const plain = ok(run(['--rm', DEBIAN_IMAGE, 'sh', '-c', script]))
  assert.equal(remapped, plain)
  assert.match(remapped, /^0 42 640 \/etc\/shadow$/m)
  assert.match(remapped, /^0 0 4755 \/usr\/bin\/passwd$/m)
  clean()
})

test('the walls are the same as without a user namespace: capabilities, seccomp, no_new_privs, masked paths', () => {
  const script =
    'grep -E "^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp):" /proc/self/status; cat /proc/kcore 2>&1 | head -c 0; wc -c < /proc/kcore; ls /proc/acpi 2>&1 | wc -l; touch /proc/sys/kernel/x 2>&1 | sed "s/^touch: //"'
  for (const extra of [[], ['--cap-drop', 'ALL'], ['--security-opt', 'no-new-privileges']]) {
    const remapped = ok(run(['--rm', '--userns', 'remap', ...extra, B, 'sh', '-c', script]))
    const plain = ok(run(['--rm', ...extra, B, 'sh', '-c', script]))
    assert.equal(remapped, plain, `with ${extra.join(' ') || 'no flags'}`)
    assert.match(remapped, /^Seccomp:\s+2$/m)
  }
  clean()
})

test('inside: a few device nodes only, /sys read-only, no way to the host as root', () => {
  const out = ok(
    run([
      '--rm',
      '--userns',
      'remap',
      B,
      'sh',
      '-c',
      'ls /dev | tr "\\n" " "; echo; touch /sys/x 2>&1 | sed "s/^touch: //"; mknod /tmp/sda b 8 0 2>&1 | sed "s/^mknod: //"; echo 1 > /proc/sys/kernel/ns_last_pid 2>&1 | sed "s/^.*: //"',
    ]),
  )
  const [devs, sys, mknod] = out.trim().split('\n')
  assert.deepEqual(
    devs.trim().split(' ').sort(),
    ['console', 'fd', 'full', 'mqueue', 'null', 'ptmx', 'pts', 'random', 'shm', 'stderr', 'stdin', 'stdout', 'tty', 'urandom', 'zero'].filter(
      d => d !== 'console',
    ),
  )
  assert.match(sys, /Read-only file system/)
  assert.match(mknod, /Operation not permitted/)
  clean()
})

test("--net none and --net bridge: network namespaces the user namespace owns (a fresh sysfs, ping works); --net host: the host's /sys bound read-only", () => {
  const none = ok(run(['--rm', '--userns', 'remap', '--net', 'none', B, 'sh', '-c', 'ls /sys/class/net']))
  assert.equal(none, 'lo\n')
  const bridge = ok(
    run([
      '--rm',
      '--userns',
      'remap',
      '--net',
      'bridge',
      B,
      'sh',
      '-c',
      'ls /sys/class/net | tr "\\n" " "; echo; ping -c1 -W5 $(ip route | awk "/default/{print \\$3}") >/dev/null && echo pinged',
    ]),
  )
  assert.equal(bridge, 'eth0 lo \npinged\n')
  const host = ok(run(['--rm', '--userns', 'remap', B, 'sh', '-c', 'ls /sys/class/net | grep -c . ; touch /sys/class/x 2>&1 | sed "s/^touch: //"']))
  assert.match(host, /Read-only file system/)
  clean()
})

test('whiteouts and opaque directories of an image built by pivot read right inside the user namespace', () => {
  const dir = tempDir('pivot-userns-build-')
  fs.writeFileSync(
    path.join(dir, 'recipe.yaml'),
    `from: ${DEBIAN_IMAGE}\nsteps:\n  - run: rm /etc/motd && rm -rf /usr/share/doc && mkdir /usr/share/doc && echo new > /usr/share/doc/only\n`,
  )
  ok(pivot(['build', path.join(dir, 'recipe.yaml'), '-t', 'pivot-test/userns-opaque'], {cacheDir: cache, timeout: 300_000}))
  const script = 'ls /usr/share/doc; test -e /etc/motd && echo motd still there; echo done'
  assert.equal(ok(run(['--rm', '--userns', 'remap', 'pivot-test/userns-opaque', 'sh', '-c', script])), 'only\ndone\n')
  clean()
})

test('bad input: an unknown mode: one line, nothing made', () => {
  const bad = run(['--rm', '--userns', 'other', '-v', 'pivot-test-remap-vol:/data', B, 'true'])
  assert.equal(bad.status, 125)
  assert.equal(bad.stderr, `pivot: invalid argument "other" for --userns: use host or remap (see 'pivot run --help')\n`)
  assert.equal(ok(pivot(['volume', 'ls', '-q'], {cacheDir: cache})), '')
  clean()
})
