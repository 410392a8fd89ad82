// The dependency check that test/run-all.sh runs before the tests: it must name every import
// that breaks the layer rule, in every form an import takes, and pass imports that keep it.
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {test} from 'node:test'
import {checkDependencies} from '../../deps/check-deps'

function tree(t: {after(fn: () => void): void}, files: Record<string, string>): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'pivot-check-deps-'))
  t.after(() => fs.rmSync(root, {recursive: true, force: true}))
  for (const [file, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, file)), {recursive: true})
    fs.writeFileSync(path.join(root, file), text)
  }
  return root
}

test('check-deps: names each import against the rule, with its file and line', t => {
  const root = tree(t, {
    'src/errors.ts': 'export class PivotError {}\n',
    'src/common/fs-util.ts': "import {PivotError} from '../errors'\n",
    'src/store/store.ts': "import {isErrno} from '../common/fs-util'\nimport {Syscalls} from '../sys'\n",
    'src/sys/index.ts': "\n\nimport type {Store} from '../store/store'\n",
    'src/images/a.ts': "// import {b} from '../runtime/b' (a comment is no import)\nconst b = require('../runtime/b') as typeof import('../runtime/b')\n",
    'src/runtime/b.ts': "export async function f() {\n  await import('../images/a')\n}\n",
    'src/runtime/sub/c.ts': "import {x} from '../b'\nexport {y} from '../../store'\n",
    'src/build/d.ts': "import {a} from '../images/a'\nimport {e} from '../cli/e'\n",
    'src/cli/e.ts': "import {a} from '../images/a'\n",
    'src/newthing/f.ts': '',
    'commands/run.ts': "import {e} from '../src/cli/e'\nimport {h} from '../test/helpers/h'\n",
  })
  const rule = 'common -> sys -> userns -> store -> reference/daemon/registry/network -> unpack -> images/runtime -> build/oci -> cli -> commands'
  assert.deepEqual(checkDependencies(root), [
    'commands/run.ts:2: imports ../test/helpers/h, outside src/ and commands/',
    `src/build/d.ts:2: build imports cli (../cli/e), which is a higher layer; the rule: ${rule}`,
    `src/images/a.ts:2: images imports runtime (../runtime/b), which is the same layer; the rule: ${rule}`,
    `src/images/a.ts:2: images imports runtime (../runtime/b), which is the same layer; the rule: ${rule}`,
    'src/newthing/f.ts:1: module "newthing" is in no layer of the dependency rule (test/deps/check-deps.ts): add it there',
    `src/runtime/b.ts:2: runtime imports images (../images/a), which is the same layer; the rule: ${rule}`,
    `src/sys/index.ts:3: sys imports store (../store/store), which is a higher layer; the rule: ${rule}`,
  ])
})

test('check-deps: a tree that keeps the rule passes, and the script exits 0', t => {
  const root = tree(t, {
    'src/errors.ts': '',
    'src/store/store.ts': "import {PivotError} from '../errors'\n",
    'src/cli/e.ts': "import {Store} from '../store/store'\nimport * as fs from 'node:fs'\nimport {Command} from '@oclif/core'\n",
    'commands/run.ts': "import {e} from '../src/cli/e'\n",
  })
  assert.deepEqual(checkDependencies(root), [])
  const script = path.join(__dirname, '..', '..', 'deps', 'check-deps.js')
  const ok = spawnSync(process.execPath, [script, root], {encoding: 'utf8'})
  assert.equal(ok.status, 0, ok.stderr)
  fs.writeFileSync(path.join(root, 'src', 'store', 'bad.ts'), "import {e} from '../cli/e'\n")
  const bad = spawnSync(process.execPath, [script, root], {encoding: 'utf8'})
  assert.equal(bad.status, 1)
  assert.match(bad.stderr, /^check-deps: src\/store\/bad\.ts:1: store imports cli \(\.\.\/cli\/e\), which is a higher layer; .*\n$/)
})
