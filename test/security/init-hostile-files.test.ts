// The container's init (pivot-init) reads files of the image as root on the host, before the
// walls are up: -u reads /etc/passwd and /etc/group. An image can make one of them endless (a link
// to /dev/zero, the container's own device): read to its end, the init took memory without bound
// (node's readFileSync, in the node init, stopped at 2 GiB). It reads at most 64 MiB and says so.
import {after, before, test} from 'node:test'
import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {BUSYBOX_IMAGE, pivot, tempDir} from '../helpers/fixtures'
import {seedImage} from '../helpers/seed-image'
import {assertNothingLeft, assertOneLineError, cleanUp} from '../helpers/security'

let cache: string

after(() => cleanUp(cache))

before(() => {
  cache = tempDir('pivot-cinitreview-files')
  seedImage(cache, BUSYBOX_IMAGE)
})

test('-u with an /etc/passwd that never ends: one line, 125, and the init did not keep reading', () => {
  const etc = tempDir('pivot-cinitreview-etc')
  fs.writeFileSync(path.join(etc, 'group'), 'root:x:0:\n')
  fs.symlinkSync('/dev/zero', path.join(etc, 'passwd'))
  // The memory limit keeps a regression from taking the machine's memory: it would be an OOM kill.
  const r = pivot(['run', '--rm', '--memory', '512m', '-v', `${etc}:/etc:ro`, '-u', 'nobody', BUSYBOX_IMAGE, 'true'], {cacheDir: cache, timeout: 60_000})
  assertOneLineError(r, /^pivot: container setup failed: read \/etc\/passwd: EFBIG$/, 125)
  assertNothingLeft(cache)
})

test('control: the same volume with a real passwd runs the command as that user', () => {
  const etc = tempDir('pivot-cinitreview-etc')
  fs.writeFileSync(path.join(etc, 'group'), 'root:x:0:\nnogroup:x:65534:\n')
  fs.writeFileSync(path.join(etc, 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n')
  const r = pivot(['run', '--rm', '-v', `${etc}:/etc:ro`, '-u', 'nobody', BUSYBOX_IMAGE, 'id', '-u'], {cacheDir: cache, timeout: 60_000})
  assert.deepEqual([r.status, r.stdout, r.stderr], [0, '65534\n', ''])
})
