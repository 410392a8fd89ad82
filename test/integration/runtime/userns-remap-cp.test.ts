// `pivot cp` into a STOPPED --userns remap container: the same copies as into a running one give
// the same owners, modes and contents inside once it is started (the stopped one's overlay is
// mounted in its user namespace over its idmapped layers, so image directories copied up on the
// way keep the image's owners), the same host ownership in the writable layer, and nothing left
// on the host (no mount, staging, process).
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
let cache: string
let base: number

before(() => {
  cache = tempDir('pivot-userns-cp-stopped')
  seedImage(cache, B)
  base = remapRange().uid
})

function p(args: string[], input = ''): PivotResult {
  return pivot(args, {cacheDir: cache, input, timeout: 60_000})
}

function ok(args: string[], input = ''): string {
  const r = p(args, input)
  assert.equal(r.status, 0, `pivot ${args.join(' ')}: exit ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`)
  return r.stdout
}

function clean(): void {
  assertRemapClean(cache)
}

const SEEN = '/etc /etc/copied /etc/copied/sub /etc/copied/sub/x /secret /usr /usr/bin /usr/bin/t /home /home/u /home/u/secret'

test('cp into a stopped remapped container gives what cp into a running one gives (owners, modes, contents inside; host ids)', () => {
  const host = tempDir('pivot-userns-cp-src')
  fs.writeFileSync(path.join(host, 'secret'), 'in\n', {mode: 0o600})
  fs.mkdirSync(path.join(host, 'copied', 'sub'), {recursive: true})
  fs.writeFileSync(path.join(host, 'copied', 'sub', 'x'), 'x\n')
  fs.mkdirSync(path.join(host, 'tarred'))
  fs.writeFileSync(path.join(host, 'tarred', 't'), 't\n')
  fs.chownSync(path.join(host, 'tarred', 't'), 1000, 1000)
  const tar = spawnSync('tar', ['-C', path.join(host, 'tarred'), '--numeric-owner', '-cf', '-', 't'])
  assert.equal(tar.status, 0)

  const views: Record<string, string> = {}
  for (const mode of ['running', 'stopped']) {
    const name = `pivot-test-remapvol-cp-${mode}`
    // A directory only uid 1000 may write (cp makes entries as its owner).
    const id = ok([
      'run',
      '-d',
      '--userns',
      'remap',
      '--name',
      name,
      B,
      'sh',
      '-c',
      'mkdir -p /home/u && chown 1000:1000 /home/u && chmod 700 /home/u && touch /made && exec sleep 600',
    ]).trim()
    const upper = path.join(cache, 'containers', id, 'upper')
    const deadline = Date.now() + 30_000
    while (!fs.existsSync(path.join(upper, 'made')) && Date.now() < deadline) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100)
    if (mode === 'stopped') ok(['stop', '-t', '0', name])
    // Into image directories not yet copied up (/etc, /usr/bin), the root, uid 1000's directory, and a tar stream.
    ok(['cp', path.join(host, 'copied'), `${name}:/etc/`])
    ok(['cp', path.join(host, 'secret'), `${name}:/secret`])
    ok(['cp', path.join(host, 'tarred', 't'), `${name}:/usr/bin/t`])
    ok(['cp', path.join(host, 'secret'), `${name}:/home/u/`])
    ok(['cp', '-', `${name}:/home`], tar.stdout as unknown as string)
    if (mode === 'stopped') {
      assert.equal(ok(['inspect', '--format', '{{.State.Status}}', name]), 'exited\n', 'cp did not start it')
      ok(['start', name])
    }
    views[mode] = ok(['exec', name, 'sh', '-c', `stat -c "%u %g %a %n" ${SEEN}; cat /secret /home/u/secret /etc/copied/sub/x /usr/bin/t`])
    assert.equal(fs.statSync(path.join(upper, 'secret')).uid, base)
    assert.equal(fs.statSync(path.join(upper, 'etc')).uid, base, "the copied-up /etc is the container's root's")
    assert.equal(fs.statSync(path.join(upper, 'home', 't')).uid, base + 1000)
    ok(['rm', '-f', name])
  }
  assert.equal(views.stopped, views.running)
  assert.match(views.running, /^0 0 755 \/etc\n0 0 755 \/etc\/copied\n.*\n1000 1000 700 \/home\/u\n0 0 600 \/home\/u\/secret\nin\nin\nx\nt\n$/s)
  assert.match(views.running, /^0 0 600 \/secret$/m)
  clean()
})
