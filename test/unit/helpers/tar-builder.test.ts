import {test} from 'node:test'
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {makeTar} from '../../helpers/tar-builder'

// The other image tests trust this writer to say what they mean; GNU tar checks it.
test('tar-builder: GNU tar reads its archives back with the fields given', () => {
  const tar = makeTar([
    {path: 'dir/', mode: 0o1777},
    {path: 'dir/file', data: 'hello', mode: 0o4755, uid: 1000, gid: 1001},
    {path: 'dir/link', type: 'symlink', linkname: '/etc/passwd'},
    {path: 'dir/hard', type: 'hardlink', linkname: 'dir/file'},
    {path: 'dir/null', type: 'char', devmajor: 1, devminor: 3},
    {path: 'x'.repeat(60) + '/' + 'y'.repeat(60), data: 'long'},
  ])
  const listing = execFileSync('tar', ['-tvf', '-', '--numeric-owner'], {input: tar, encoding: 'utf8'})
  assert.match(listing, /^drwxrwxrwt 0\/0 +0 .* dir\/$/m)
  assert.match(listing, /^-rwsr-xr-x 1000\/1001 +5 .* dir\/file$/m)
  assert.match(listing, /^lrwxrwxrwx 0\/0 +0 .* dir\/link -> \/etc\/passwd$/m)
  assert.match(listing, /^hrw-r--r-- 0\/0 +0 .* dir\/hard link to dir\/file$/m)
  assert.match(listing, /^crw-r--r-- 0\/0 +1,3 .* dir\/null$/m)
  assert.match(listing, new RegExp(`${'x'.repeat(60)}/${'y'.repeat(60)}$`, 'm'))
})
