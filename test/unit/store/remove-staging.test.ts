import {test} from 'node:test'
import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {removeStaging} from '../../../src/store/store'

function tempDir(t: {after: (fn: () => void) => void}): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pivot-remove-staging-'))
  t.after(() => fs.rmSync(dir, {recursive: true, force: true}))
  return dir
}

/** What the container directory of a run holds when `--rm` removes it, and a symlink out of it. */
function containerLike(dir: string, outside: string): void {
  fs.mkdirSync(path.join(dir, 'init', 'etc'), {recursive: true})
  for (const d of ['proc', 'sys', 'dev']) fs.mkdirSync(path.join(dir, 'init', d))
  for (const f of ['hostname', 'hosts', 'resolv.conf']) fs.writeFileSync(path.join(dir, 'init', 'etc', f), f)
  for (const d of ['rootfs', 'upper/tmp/deep', 'work/work']) fs.mkdirSync(path.join(dir, d), {recursive: true})
  fs.writeFileSync(path.join(dir, 'state.json'), '{}')
  fs.writeFileSync(path.join(dir, 'config.json'), '{}')
  fs.writeFileSync(path.join(dir, 'upper', 'tmp', 'deep', 'file'), 'x')
  fs.symlinkSync(outside, path.join(dir, 'upper', 'tmp', 'out'))
  fs.symlinkSync('/nonexistent', path.join(dir, 'upper', 'dangling'))
}

test('removeStaging removes a whole tree and never follows a symlink in it', t => {
  const root = tempDir(t)
  const outside = path.join(root, 'outside')
  fs.mkdirSync(outside)
  fs.writeFileSync(path.join(outside, 'keep'), 'kept')
  const dir = path.join(root, 'c')
  containerLike(dir, outside)
  removeStaging(dir)
  assert.equal(fs.existsSync(dir), false)
  assert.equal(fs.readFileSync(path.join(outside, 'keep'), 'utf8'), 'kept', 'the directory a symlink pointed to is untouched')
})

test('removeStaging of a symlink to a directory removes the link only; of a file, the file; of nothing, nothing', t => {
  const root = tempDir(t)
  const target = path.join(root, 'target')
  fs.mkdirSync(target)
  fs.writeFileSync(path.join(target, 'keep'), 'kept')
  fs.symlinkSync(target, path.join(root, 'link'))
  removeStaging(path.join(root, 'link'))
  assert.equal(fs.existsSync(path.join(root, 'link')), false)
  assert.equal(fs.readFileSync(path.join(target, 'keep'), 'utf8'), 'kept')
  fs.writeFileSync(path.join(root, 'file'), 'x')
  removeStaging(path.join(root, 'file'))
  assert.equal(fs.existsSync(path.join(root, 'file')), false)
  removeStaging(path.join(root, 'never-was'))
  assert.deepEqual(fs.readdirSync(root).sort(), ['target'])
})
