// build as a user other than root (issue 14): steps run in the user's namespace, the committed
// layer keeps the owners the step gave (inside) and its deletions (whiteouts, opaque dirs).
import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {describe, it} from 'node:test'
import {BUSYBOX_IMAGE} from '../helpers/fixtures'
import {ROOTLESS_UID, pivotRootless, rootlessHome} from '../helpers/rootless'

describe('rootless: build', () => {
  it('builds a recipe whose step chowns and replaces a directory, and runs the result', () => {
    const home = rootlessHome()
    const recipe = path.join(home.home, 'recipe.yaml')
    fs.writeFileSync(
      recipe,
      [
        `from: ${BUSYBOX_IMAGE}`,
        'steps:',
        '  - run: mkdir -p /home/u && echo hi > /home/u/f && chown -R 1000:1000 /home/u && rm -rf /etc && mkdir /etc && echo x > /etc/new && rm /bin/vi',
        '',
      ].join('\n'),
    )
    fs.chownSync(recipe, ROOTLESS_UID, ROOTLESS_UID)
    const b = pivotRootless(home, ['build', recipe, '-t', 'rootless-built:1'], {cwd: home.home})
    assert.equal(b.status, 0, b.stderr)
    assert.match(b.stdout, /Successfully tagged rootless-built:1/)
    const r = pivotRootless(home, ['run', '--rm', 'rootless-built:1', 'sh', '-c', 'stat -c "%u:%g %n" /home/u/f; ls /etc; test -e /bin/vi || echo no-vi'])
    assert.equal(r.status, 0, r.stderr)
    const lines = r.stdout.trim().split('\n')
    assert.equal(lines[0], '1000:1000 /home/u/f')
    // /etc was replaced: only the new file and the files every container gets.
    assert.ok(lines.includes('new') && !lines.includes('passwd') && !lines.includes('group'), r.stdout)
    assert.equal(lines[lines.length - 1], 'no-vi')
    // No container is left by the build or the --rm run.
    assert.deepEqual(
      fs.readdirSync(path.join(home.cache, 'containers')).filter(n => n !== 'names'),
      [],
    )
  })
})
