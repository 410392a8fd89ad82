// The copy step's parts that need root (mknod for a whiteout, chown of what it writes); the rest
// of its tests are in test/unit/build/copy-step.test.ts.
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {planCopy, writeCopyTree} from '../../../src/build/copy-step'
import {LayerView} from '../../../src/unpack/layer-view'

function tempDir(t: {after: (fn: () => void) => void}, prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  t.after(() => fs.rmSync(dir, {recursive: true, force: true}))
  return dir
}

function view(layers: string[]): LayerView {
  return new LayerView(layers, () => false)
}

test('LayerView: a whiteout (0/0 character device) hides the lower file', t => {
  const base = tempDir(t, 'pivot-layer-')
  const top = tempDir(t, 'pivot-layer-')
  fs.mkdirSync(path.join(base, 'etc'))
  fs.writeFileSync(path.join(base, 'etc', 'motd'), 'hello')
  fs.mkdirSync(path.join(top, 'etc'))
  execFileSync('mknod', [path.join(top, 'etc', 'motd'), 'c', '0', '0'])
  assert.equal(view([base]).readFile('/etc/motd')?.toString(), 'hello')
  assert.equal(view([base, top]).readFile('/etc/motd'), undefined)
  assert.equal(view([base, top]).resolve('/etc/motd').entry, undefined)
})

test('writeCopyTree writes contents, modes (setuid kept after chown), owners and times', t => {
  const ctx = tempDir(t, 'pivot-ctx-')
  const out = tempDir(t, 'pivot-tree-')
  fs.mkdirSync(path.join(ctx, 'd'))
  fs.writeFileSync(path.join(ctx, 'd', 'su'), 'x')
  fs.symlinkSync('su', path.join(ctx, 'd', 'l'))
  fs.utimesSync(path.join(ctx, 'd', 'su'), 1_000_000, 1_000_000)
  const p = planCopy({kind: 'copy', src: ['d'], dest: '/opt/d', mode: 0o4755, owner: '7:8'}, {context: ctx, view: view([]), workdir: '/', where: 'w'})
  writeCopyTree(p, out, 'w')
  const su = fs.lstatSync(path.join(out, 'opt', 'd', 'su'))
  assert.equal(su.mode & 0o7777, 0o4755)
  assert.equal(`${su.uid}:${su.gid}`, '7:8')
  assert.equal(Math.floor(su.mtimeMs / 1000), 1_000_000)
  assert.equal(fs.readFileSync(path.join(out, 'opt', 'd', 'su'), 'utf8'), 'x')
  assert.equal(fs.readlinkSync(path.join(out, 'opt', 'd', 'l')), 'su')
  assert.equal(fs.lstatSync(path.join(out, 'opt')).mode & 0o7777, 0o755)
  assert.equal(fs.lstatSync(path.join(out, 'opt')).uid, 7)
  // A source that changed after planning fails the step instead of committing a stale layer.
  const out2 = tempDir(t, 'pivot-tree-')
  fs.writeFileSync(path.join(ctx, 'd', 'su'), 'changed')
  assert.throws(() => writeCopyTree(p, out2, 'w'), /changed during the build/)
})
