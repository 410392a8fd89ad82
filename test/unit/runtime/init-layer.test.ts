import {test} from 'node:test'
import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {prepareInitLayer} from '../../../src/runtime/init-layer'

function layers(): {top: string; base: string; out: string; done: () => void} {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'pivot-init-layer-'))
  const top = path.join(root, 'top')
  const base = path.join(root, 'base')
  fs.mkdirSync(path.join(base, 'usr', 'share'), {recursive: true})
  fs.mkdirSync(path.join(base, 'bin'), {recursive: true})
  fs.writeFileSync(path.join(base, 'bin', 'sh'), '')
  fs.mkdirSync(path.join(top, 'etc'), {recursive: true})
  fs.symlinkSync('/usr', path.join(top, 'link'))
  return {top, base, out: path.join(root, 'init'), done: () => fs.rmSync(root, {recursive: true, force: true})}
}

function prepare(l: ReturnType<typeof layers>, workdir: string | undefined): void {
  prepareInitLayer(l.out, {hostname: 'h', net: 'none', mountTargets: [], imageLayers: [l.top, l.base], workdir})
}

test('--read-only: a working directory the image lacks is made in the init layer, 0755', () => {
  const l = layers()
  try {
    prepare(l, '/made/deep')
    const st = fs.statSync(path.join(l.out, 'made', 'deep'))
    assert.ok(st.isDirectory())
    assert.equal(st.mode & 0o7777, 0o755)
  } finally {
    l.done()
  }
})

test("--read-only: the image's own directory, a path through its symlink or its file is left to the container", () => {
  for (const workdir of ['/usr/share', '/link/share', '/link/new', '/bin/sh', '/bin/sh/x']) {
    const l = layers()
    try {
      prepare(l, workdir)
      const first = workdir.split('/')[1]
      assert.equal(fs.existsSync(path.join(l.out, first)), false, `${workdir}: nothing made at /${first}`)
    } finally {
      l.done()
    }
  }
})

test('without a workdir nothing but the standard entries is made', () => {
  const l = layers()
  try {
    prepare(l, undefined)
    assert.deepEqual(fs.readdirSync(l.out).sort(), ['dev', 'etc', 'proc', 'sys'])
  } finally {
    l.done()
  }
})
