// Two builds of the same recipe at once: the step runs once, the second build waits for it and
// takes its result (same layers), and both names are set.
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {BUSYBOX_IMAGE, PIVOT_BIN, REPO_ROOT, pivot, tempDir} from '../../helpers/fixtures'

function run(args: string[], env: NodeJS.ProcessEnv): Promise<{code: number | null; stdout: string; stderr: string}> {
  return new Promise(resolve => {
    const child = spawn(PIVOT_BIN, args, {cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => (stdout += c))
    child.stderr.on('data', (c: Buffer) => (stderr += c))
    child.on('close', code => resolve({code, stdout, stderr}))
  })
}

test('the same step built twice at once runs once', async () => {
  const cache = tempDir('pivot-build-cache-')
  const pulled = pivot(['pull', BUSYBOX_IMAGE], {cacheDir: cache})
  assert.equal(pulled.status, 0, pulled.stderr)
  const dir = tempDir('pivot-build-conc-')
  const recipe = path.join(dir, 'r.yaml')
  // The step prints a line each time it runs: counting it in both builds' output counts runs.
  fs.writeFileSync(recipe, `from: ${BUSYBOX_IMAGE}\nsteps:\n  - run: echo step-ran; sleep 2; date > /stamp\n`)
  const env: NodeJS.ProcessEnv = {...process.env, PIVOT_CACHE_DIR: cache}
  delete env.NODE_EXTRA_CA_CERTS
  const [a, b] = await Promise.all([
    run(['build', recipe, '-t', 'pivot-test/conc-a', '--json'], env),
    run(['build', recipe, '-t', 'pivot-test/conc-b', '--json'], env),
  ])
  assert.equal(a.code, 0, a.stderr)
  assert.equal(b.code, 0, b.stderr)
  const ran = (a.stderr + b.stderr).split('\n').filter(l => l === 'step-ran').length
  assert.equal(ran, 1, `the step ran ${ran} times`)
  const ja = JSON.parse(a.stdout) as {layers: string[]; id: string; steps: Array<{cached: boolean}>}
  const jb = JSON.parse(b.stdout) as {layers: string[]; id: string; steps: Array<{cached: boolean}>}
  assert.deepEqual(ja.layers, jb.layers)
  assert.equal(ja.id, jb.id)
  assert.deepEqual([ja.steps[0].cached, jb.steps[0].cached].sort(), [false, true])
  assert.deepEqual(
    fs.readdirSync(path.join(cache, 'locks')).filter(f => f.startsWith('build-')),
    [],
  )
})
