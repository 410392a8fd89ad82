import * as assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {after, test} from 'node:test'
import {RUNC_BIN, RUNTIME_BIN, makeBundle, run} from '../helpers/oci'

/**
 * A config.json without a mount namespace (runtime-tools' linux_ns_itype): as runc, the container's
 * mounts are made in the caller's mount namespace (here a private one of the test's, made by
 * unshare) and its root is a chroot. The process shares the caller's mount namespace, sees its own
 * root, and delete leaves the caller's mount table as it found it (runc leaves them; the
 * comparison looks only at mounts on the container's root: other helpers' docker mounts come and go). exec is refused clearly, and
 * masked or read-only paths are refused as runc refuses them.
 */
const work = fs.mkdtempSync('/tmp/pivot-oci-nomnt-')
const bundle = makeBundle(c => {
  c.linux.namespaces = c.linux.namespaces.filter((ns: {type: string}) => ns.type !== 'mount')
  // runc refuses masks without a mount namespace (a test below checks pivot does too).
  delete c.linux.maskedPaths
  delete c.linux.readonlyPaths
  c.process.args = ['sh', '-c', 'echo started > /dev/null; sleep 1000']
})

after(() => {
  fs.rmSync(work, {recursive: true, force: true})
  fs.rmSync(bundle, {recursive: true, force: true})
})

test('no mount namespace: mounts in the caller namespace, a chroot, nothing left after delete, exec refused', () => {
  const rootfs = (JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8')) as {root: {path: string}}).root.path
  const seen: Record<string, string> = {}
  for (const [name, bin] of [
    ['runc', RUNC_BIN],
    ['pivot', RUNTIME_BIN],
  ] as const) {
    const root = path.join(work, `${name}-root`)
    const id = `oci-nomnt-${name}`
    const script = `
set -u
R=${root}; B=${bin}; ID=${id}
mounts() { awk '{print $5}' /proc/self/mountinfo | grep "^${rootfs}" | sort; }
mounts > ${work}/${name}.before
$B --root $R create --bundle ${bundle} $ID </dev/null >/dev/null 2>${work}/${name}.err || { echo "create failed: $(cat ${work}/${name}.err)"; exit 1; }
$B --root $R start $ID
PID=$($B --root $R state $ID | tr -d ' \\n' | sed 's/.*"pid":\\([0-9]*\\).*/\\1/')
echo "same mnt ns: $([ "$(readlink /proc/$PID/ns/mnt)" = "$(readlink /proc/self/ns/mnt)" ] && echo yes || echo no)"
echo "root: $(readlink /proc/$PID/root)"
echo "proc mounted below the root: $(grep -c " $(readlink -f /proc/$PID/root)/proc " /proc/self/mountinfo)"
${name === 'pivot' ? 'echo "exec: $($B --root $R exec $ID true 2>&1; echo $?)" >&2' : ''}
$B --root $R kill $ID 9
sleep 0.3
$B --root $R delete $ID; echo "delete: $?"
mounts > ${work}/${name}.after
echo "mounts as before: $(cmp -s ${work}/${name}.before ${work}/${name}.after && echo yes || echo no)"
`
    const r = run('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script], {timeout: 60_000})
    seen[name] = `${r.status} ${r.stdout}`
    if (name === 'pivot') assert.match(r.stderr, /exec in a container without a mount namespace is not supported by pivot-runtime.*\n255/)
  }
  console.log(JSON.stringify(seen, null, 2))
  assert.match(seen.runc!, /same mnt ns: yes/)
  assert.match(seen.runc!, new RegExp(`root: ${rootfs}\n`))
  assert.match(seen.runc!, /proc mounted below the root: 1\n/)
  // runc leaves the container's mounts in the caller's namespace; pivot's delete takes them down.
  assert.match(seen.runc!, /mounts as before: no/)
  assert.equal(seen.pivot, seen.runc!.replace(/mounts as before: no/, 'mounts as before: yes'))
  assert.match(seen.pivot!, /mounts as before: yes/)
})

test("no mount namespace with masked paths: refused with runc's message", () => {
  const masked = makeBundle(c => (c.linux.namespaces = c.linux.namespaces.filter((ns: {type: string}) => ns.type !== 'mount')))
  try {
    const out: string[] = []
    for (const bin of [RUNC_BIN, RUNTIME_BIN]) {
      const r = run(bin, ['--root', path.join(work, 'masked-root'), 'create', '--bundle', masked, 'oci-nomnt-masked'])
      out.push(`${r.status} ${/unable to restrict sys entries without a private MNT namespace/.test(r.stderr)}`)
    }
    assert.deepEqual(out, ['1 true', '1 true'])
    assert.deepEqual(
      fs.readdirSync(path.join(work, 'masked-root')).filter(n => !n.startsWith('.')),
      [],
    )
  } finally {
    fs.rmSync(masked, {recursive: true, force: true})
  }
})
