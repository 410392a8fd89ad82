import {test} from 'node:test'
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {BuildError} from '../../../src/build/build-error'
import {type CopyEntry, planCopy} from '../../../src/build/copy-step'
import {LayerView} from '../../../src/unpack/layer-view'
import type {CopyStep} from '../../../src/build/recipe'

/** Who owns the directories these tests make in the lower layers: an existing directory keeps its owner. */
const ME = `${process.getuid?.()}:${process.getgid?.()}`

function tempDir(t: {after: (fn: () => void) => void}, prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  t.after(() => fs.rmSync(dir, {recursive: true, force: true}))
  return dir
}

/** Layers as plain directories (bottom first); `opaque` lists host dirs to treat as opaque. */
function view(layers: string[], opaque: string[] = []): LayerView {
  return new LayerView(layers, dir => opaque.includes(dir))
}

function plan(context: string, step: CopyStep, v: LayerView, workdir = '/'): CopyEntry[] {
  return planCopy(step, {context, view: v, workdir, where: 'r.yaml: steps[0].copy'}).entries
}

function summary(entries: CopyEntry[]): string[] {
  return entries.map(e => `${e.type} ${e.path} ${e.mode.toString(8)} ${e.uid}:${e.gid}${e.linkTarget ? ' -> ' + e.linkTarget : ''}`)
}

function refused(fn: () => unknown, code: string, message: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof BuildError, String(e))
    assert.equal(e.code, code)
    assert.match(e.message, message)
    return true
  })
}

test('a file to a path, into a directory (trailing slash or existing), relative to the workdir', t => {
  const ctx = tempDir(t, 'pivot-ctx-')
  const lower = tempDir(t, 'pivot-layer-')
  fs.writeFileSync(path.join(ctx, 'tool.sh'), 'echo\n', {mode: 0o640})
  fs.mkdirSync(path.join(lower, 'opt'), {mode: 0o750})
  const v = view([lower])
  assert.deepEqual(summary(plan(ctx, {kind: 'copy', src: ['tool.sh'], dest: '/usr/local/bin/tool'}, v)), [
    'dir usr 755 0:0',
    'dir usr/local 755 0:0',
    'dir usr/local/bin 755 0:0',
    'file usr/local/bin/tool 640 0:0',
  ])
  assert.deepEqual(summary(plan(ctx, {kind: 'copy', src: ['tool.sh'], dest: '/x/', mode: 0o755}, v)), ['dir x 755 0:0', 'file x/tool.sh 755 0:0'])
  // /opt exists in the image: into it, and the layer keeps its mode so the merge does not change it.
  assert.deepEqual(summary(plan(ctx, {kind: 'copy', src: ['tool.sh'], dest: '/opt'}, v)), [`dir opt 750 ${ME}`, 'file opt/tool.sh 640 0:0'])
  assert.deepEqual(summary(plan(ctx, {kind: 'copy', src: ['tool.sh'], dest: 'bin/t'}, v, '/opt')), [
    `dir opt 750 ${ME}`,
    'dir opt/bin 755 0:0',
    'file opt/bin/t 640 0:0',
  ])
  const [file] = plan(ctx, {kind: 'copy', src: ['tool.sh'], dest: '/t'}, v)
  assert.equal(file.source, fs.realpathSync(path.join(ctx, 'tool.sh')))
  assert.equal(file.digest, 'sha256:' + require('node:crypto').createHash('sha256').update('echo\n').digest('hex'))
})

test('a directory copies its contents; symlinks inside are copied as links, never followed', t => {
  const ctx = tempDir(t, 'pivot-ctx-')
  fs.mkdirSync(path.join(ctx, 'app', 'lib'), {recursive: true})
  fs.writeFileSync(path.join(ctx, 'app', 'main'), 'x')
  fs.writeFileSync(path.join(ctx, 'app', 'lib', 'a'), 'y')
  fs.symlinkSync('/etc/shadow', path.join(ctx, 'app', 'shadow-link'))
  fs.chmodSync(path.join(ctx, 'app'), 0o755)
  fs.chmodSync(path.join(ctx, 'app', 'lib'), 0o700)
  const entries = plan(ctx, {kind: 'copy', src: ['app'], dest: '/srv/app', owner: '10:20'}, view([]))
  assert.deepEqual(summary(entries), [
    'dir srv 755 10:20',
    'dir srv/app 755 10:20',
    'dir srv/app/lib 700 10:20',
    'file srv/app/lib/a 644 10:20',
    'file srv/app/main 644 10:20',
    'symlink srv/app/shadow-link 777 10:20 -> /etc/shadow',
  ])
  // The whole context.
  assert.ok(summary(plan(ctx, {kind: 'copy', src: ['.'], dest: '/'}, view([]))).includes('file app/main 644 0:0'))
})

test("the destination follows the image's own symlinks (usr-merge), never the host's", t => {
  const ctx = tempDir(t, 'pivot-ctx-')
  const base = tempDir(t, 'pivot-layer-')
  const top = tempDir(t, 'pivot-layer-')
  fs.writeFileSync(path.join(ctx, 'busybox'), 'bb')
  fs.mkdirSync(path.join(base, 'usr', 'bin'), {recursive: true, mode: 0o755})
  fs.symlinkSync('usr/bin', path.join(base, 'bin'))
  // An absolute link in the image resolves against the image's root, not the host's /.
  fs.mkdirSync(path.join(top, 'etc'))
  fs.symlinkSync('/usr/bin', path.join(top, 'etc', 'tools'))
  const v = view([base, top])
  assert.deepEqual(summary(plan(ctx, {kind: 'copy', src: ['busybox'], dest: '/bin/busybox'}, v)), [
    `dir usr 755 ${ME}`,
    `dir usr/bin 755 ${ME}`,
    'file usr/bin/busybox 644 0:0',
  ])
  assert.deepEqual(
    plan(ctx, {kind: 'copy', src: ['busybox'], dest: '/etc/tools/'}, v).map(e => e.path),
    ['usr', 'usr/bin', 'usr/bin/busybox'],
  )
  fs.symlinkSync('../../../../../../../tmp', path.join(top, 'up'))
  assert.deepEqual(
    plan(ctx, {kind: 'copy', src: ['busybox'], dest: '/up/x'}, v).map(e => e.path),
    ['tmp', 'tmp/x'],
  )
})

test('LayerView: upper layers win, opaque directories hide lower contents, loops are caught', t => {
  const base = tempDir(t, 'pivot-layer-')
  const top = tempDir(t, 'pivot-layer-')
  fs.mkdirSync(path.join(base, 'etc'))
  fs.writeFileSync(path.join(base, 'etc', 'a'), 'base a')
  fs.writeFileSync(path.join(base, 'etc', 'b'), 'base b')
  fs.mkdirSync(path.join(top, 'etc'))
  fs.writeFileSync(path.join(top, 'etc', 'a'), 'top a')
  fs.symlinkSync('loop2', path.join(top, 'loop1'))
  fs.symlinkSync('loop1', path.join(top, 'loop2'))
  const v = view([base, top])
  assert.equal(v.readFile('/etc/a')?.toString(), 'top a')
  assert.equal(v.readFile('/etc/b')?.toString(), 'base b')
  assert.equal(v.readFile('/etc/c'), undefined)
  assert.equal(v.readFile('/loop1'), undefined)
  assert.throws(() => v.resolve('/loop1'), /too many levels of symbolic links/)
  const opaque = view([base, top], [path.join(top, 'etc')])
  assert.equal(opaque.readFile('/etc/a')?.toString(), 'top a')
  assert.equal(opaque.readFile('/etc/b'), undefined)
  assert.equal(v.resolve('/etc/../etc/./a').path, '/etc/a')
})

test("owner names come from the image's /etc/passwd and /etc/group", t => {
  const ctx = tempDir(t, 'pivot-ctx-')
  const layer = tempDir(t, 'pivot-layer-')
  fs.writeFileSync(path.join(ctx, 'f'), '')
  fs.mkdirSync(path.join(layer, 'etc'))
  fs.writeFileSync(path.join(layer, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nci:x:1000:1001:CI:/home/ci:/bin/bash\n')
  fs.writeFileSync(path.join(layer, 'etc', 'group'), 'root:x:0:\nci:x:1001:\nstaff:x:50:\n')
  const v = view([layer])
  const owner = (o: string) => {
    const e = plan(ctx, {kind: 'copy', src: ['f'], dest: '/f', owner: o}, v)[0]
    return `${e.uid}:${e.gid}`
  }
  assert.equal(owner('ci'), '1000:1001')
  assert.equal(owner('ci:staff'), '1000:50')
  assert.equal(owner('1000'), '1000:1000')
  assert.equal(owner('0:ci'), '0:1001')
  refused(() => owner('nobody'), 'BUILD_USER_NOT_FOUND', /^r\.yaml: steps\[0\]\.copy\.owner: no user "nobody" in the image's \/etc\/passwd$/)
  refused(() => owner('ci:wheel'), 'BUILD_USER_NOT_FOUND', /no group "wheel" in the image's \/etc\/group/)
  // The host's /etc/passwd is never read.
  refused(() => plan(ctx, {kind: 'copy', src: ['f'], dest: '/f', owner: 'root'}, view([])), 'BUILD_USER_NOT_FOUND', /no user "root"/)
})

test('sources outside the context are refused: ../, absolute, symlinks resolving outside', t => {
  const outer = tempDir(t, 'pivot-outer-')
  const ctx = path.join(outer, 'ctx')
  fs.mkdirSync(path.join(ctx, 'sub'), {recursive: true})
  fs.writeFileSync(path.join(outer, 'secret'), 'no')
  fs.writeFileSync(path.join(ctx, 'ok'), 'yes')
  fs.symlinkSync('/etc/passwd', path.join(ctx, 'abs-link'))
  fs.symlinkSync('../secret', path.join(ctx, 'rel-link'))
  fs.symlinkSync('../..', path.join(ctx, 'sub', 'up'))
  fs.symlinkSync('ok', path.join(ctx, 'in-link'))
  const v = view([])
  const copy = (src: string) => plan(ctx, {kind: 'copy', src: [src], dest: '/x'}, v)
  refused(() => copy('../secret'), 'BUILD_COPY_OUTSIDE_CONTEXT', /^r\.yaml: steps\[0\]\.copy\.src: \.\.\/secret is outside the build context/)
  refused(() => copy('/etc/passwd'), 'BUILD_COPY_OUTSIDE_CONTEXT', /\/etc\/passwd is absolute/)
  refused(() => copy('abs-link'), 'BUILD_COPY_OUTSIDE_CONTEXT', /abs-link resolves to \/etc\/passwd, outside the build context/)
  refused(() => copy('rel-link'), 'BUILD_COPY_OUTSIDE_CONTEXT', /rel-link resolves to .*\/secret, outside the build context/)
  refused(() => copy('sub/up/secret'), 'BUILD_COPY_OUTSIDE_CONTEXT', /resolves to .*\/secret, outside the build context/)
  refused(() => copy('sub/up'), 'BUILD_COPY_OUTSIDE_CONTEXT', /outside the build context/)
  refused(() => copy('missing'), 'BUILD_COPY_NOT_FOUND', /missing: no such file in the build context/)
  // A link to a file inside the context is followed (its content is copied).
  assert.deepEqual(summary(copy('in-link')), ['file x 644 0:0'])
  // A special file is refused.
  execFileSync('mkfifo', [path.join(ctx, 'sub', 'fifo')])
  refused(() => copy('sub'), 'BUILD_COPY_UNSUPPORTED', /fifo.*only files, directories and symlinks/)
  refused(() => plan(path.join(outer, 'nope'), {kind: 'copy', src: ['ok'], dest: '/x'}, v), 'BUILD_CONTEXT_NOT_FOUND', /is not a directory/)
})
