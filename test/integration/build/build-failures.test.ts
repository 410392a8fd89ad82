// pivot build when things go wrong: a failing step (its exit status, its name, its output, no tag
// moved, no leftovers), recipes refused with messages naming the key, and copy sources outside
// the build context.
import {before, test} from 'node:test'
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {BUSYBOX_IMAGE, PIVOT_BIN, REPO_ROOT, pivot, tempDir} from '../../helpers/fixtures'

let cache: string

function ok(r: {status: number | null; stdout: string; stderr: string}): string {
  assert.equal(r.status, 0, r.stderr)
  return r.stdout
}

function recipeFile(text: string, name = 'recipe.yaml'): string {
  const dir = tempDir('pivot-build-fail-')
  const file = path.join(dir, name)
  fs.writeFileSync(file, text)
  return file
}

function entries(dir: string): string[] {
  try {
    return fs.readdirSync(dir).filter(e => e !== 'names')
  } catch {
    return []
  }
}

before(() => {
  cache = tempDir('pivot-build-cache-')
  ok(pivot(['pull', BUSYBOX_IMAGE], {cacheDir: cache}))
})

test('a failing step stops the build with its exit status, named, its output shown, no tag moved, nothing left', () => {
  const good = recipeFile(`from: ${BUSYBOX_IMAGE}\nsteps:\n  - run: echo good > /state\n`)
  ok(pivot(['build', good, '-t', 'pivot-test/failing'], {cacheDir: cache}))
  const goodId = fs.readFileSync(path.join(cache, 'refs', encodeURIComponent('docker.io/pivot-test/failing:latest')), 'utf8').trim()
  const layersBefore = entries(path.join(cache, 'layers')).sort()

  const bad = recipeFile(
    [
      `from: ${BUSYBOX_IMAGE}`,
      'steps:',
      '  - run: echo first > /first',
      '  - run: |',
      '      echo partial > /partial',
      '      echo on-stdout',
      '      echo on-stderr >&2',
      '      exit 42',
      '  - run: echo never',
      '',
    ].join('\n'),
  )
  const r = pivot(['build', bad, '-t', 'pivot-test/failing'], {cacheDir: cache})
  assert.equal(r.status, 42)
  assert.match(r.stdout, /^Step 2\/3: run: echo partial > \/partial \.\.\.$/m)
  assert.match(r.stdout, /^on-stdout$/m)
  assert.match(r.stderr, /^on-stderr$/m)
  assert.match(r.stderr, /^pivot: step 2\/3 failed with exit code 42: run: echo partial > \/partial \.\.\.$/m)
  assert.doesNotMatch(r.stdout, /never/)

  // The name still points at the good build.
  assert.equal(fs.readFileSync(path.join(cache, 'refs', encodeURIComponent('docker.io/pivot-test/failing:latest')), 'utf8').trim(), goodId)
  assert.equal(ok(pivot(['run', '--rm', 'pivot-test/failing', 'cat', '/state'], {cacheDir: cache})), 'good\n')
  // No staging, no container, no layer of the failed step (only step 1's, which succeeded).
  assert.deepEqual(entries(path.join(cache, 'tmp')), [])
  assert.deepEqual(entries(path.join(cache, 'containers')), [])
  const added = entries(path.join(cache, 'layers')).filter(l => !layersBefore.includes(l))
  assert.equal(added.length, 1)
  for (const l of added) assert.equal(fs.existsSync(path.join(cache, 'layers', l, 'rootfs', 'partial')), false)

  // --json: only the error document on stdout, the step's output on stderr.
  const json = pivot(['build', bad, '-t', 'pivot-test/failing', '--json'], {cacheDir: cache})
  assert.equal(json.status, 42)
  assert.deepEqual(JSON.parse(json.stdout), {
    error: {code: 'BUILD_STEP_FAILED', message: 'step 2/3 failed with exit code 42: run: echo partial > /partial ...'},
  })
  assert.match(json.stderr, /on-stdout/)

  // A command that does not exist: the runtime's 127, the step named.
  const missing = pivot(['build', recipeFile(`from: ${BUSYBOX_IMAGE}\nsteps:\n  - run: ["/no/such/program"]\n`), '-t', 'pivot-test/failing'], {cacheDir: cache})
  assert.equal(missing.status, 127, missing.stderr)
  assert.match(missing.stderr, /^pivot: step 1\/1 failed \(.*\/no\/such\/program.*\): run: \["\/no\/such\/program"\]$/m)
  assert.deepEqual(entries(path.join(cache, 'containers')), [])
  assert.deepEqual(entries(path.join(cache, 'tmp')), [])
})

test('a run step on an empty scratch image is refused before anything runs', () => {
  const r = pivot(['build', recipeFile('from: scratch\nsteps:\n  - run: echo hi\n', 'empty.yaml'), '-t', 'pivot-test/empty'], {cacheDir: cache})
  assert.equal(r.status, 125)
  assert.match(r.stderr, /^pivot: .*empty\.yaml: steps\[0\]\.run: the image is empty here \(from: scratch\): copy a program in before running one$/m)
})

test('recipe validation errors name the file and the key, and nothing is built', () => {
  const cases: Array<[string, string]> = [
    [
      'from: scratch\nsteps:\n  - run: a\n  - run: b\n  - copy: {src: x, dest: /x, mode: 755}\n',
      'steps[2].copy.mode: expected an octal string like "0755", found the number 755',
    ],
    ['steps: []\n', 'from: required: a base image name, or scratch'],
    ['from: scratch\nsteps:\n  - cp: {src: a, dest: /a}\n', 'steps[0].cp: unknown step kind (expected one of run, copy, env, workdir)'],
    ['from: scratch\nsteps:\n  - run: echo ${NOPE}\n', 'steps[0].run: unknown build argument ${NOPE} (pass --build-arg NOPE=..., or declare it under args:)'],
    ['from: scratch\nsteps:\n  - copy: {src: ../x, dest: /x}\n', 'steps[0].copy.src: "../x" is outside the build context'],
    ['from: scratch\nsteps:\n  - env: {A: [1]}\n', 'steps[0].env.A: expected a string, found a list'],
  ]
  for (const [text, message] of cases) {
    const file = recipeFile(text, 'bad.yaml')
    const r = pivot(['build', file, '-t', 'pivot-test/bad'], {cacheDir: cache})
    assert.equal(r.status, 125, `${text}: ${r.stderr}`)
    assert.equal(r.stderr, `pivot: ${file}: ${message}\n`)
    assert.equal(r.stdout, '')
  }
  const json = pivot(['build', recipeFile('from: scratch\nsteps:\n  - run: [1]\n', 'bad.yaml'), '--json'], {cacheDir: cache})
  assert.equal(json.status, 125)
  assert.equal((JSON.parse(json.stdout) as {error: {code: string}}).error.code, 'BUILD_RECIPE_INVALID')
  const yaml = pivot(['build', recipeFile('from: scratch\nfrom: x\n', 'dup.yaml')], {cacheDir: cache})
  assert.match(yaml.stderr, /^pivot: .*dup\.yaml:2:1: invalid YAML: Map keys must be unique\n$/)
  const missing = pivot(['build', '/nonexistent/recipe.yaml'], {cacheDir: cache})
  assert.equal(missing.stderr, 'pivot: /nonexistent/recipe.yaml: no such file\n')
  const badName = pivot(['build', recipeFile('from: scratch\n'), '-t', 'UPPER/Case'], {cacheDir: cache})
  assert.equal(badName.status, 125)
  assert.match(badName.stderr, /^pivot: invalid/)
  assert.equal(fs.existsSync(path.join(cache, 'refs', encodeURIComponent('docker.io/pivot-test/bad:latest'))), false)
})

test('copy sources outside the build context are refused; --context chooses the context', () => {
  const outer = tempDir('pivot-build-ctx-')
  const ctx = path.join(outer, 'ctx')
  const other = path.join(outer, 'other')
  fs.mkdirSync(ctx)
  fs.mkdirSync(other)
  fs.writeFileSync(path.join(outer, 'secret'), 'secret\n')
  fs.writeFileSync(path.join(other, 'payload'), 'from other\n')
  fs.symlinkSync('/etc/shadow', path.join(ctx, 'shadow'))
  fs.symlinkSync('../secret', path.join(ctx, 'secret-link'))
  const write = (name: string, src: string) => {
    const file = path.join(ctx, name)
    fs.writeFileSync(file, `from: ${BUSYBOX_IMAGE}\nsteps:\n  - copy: {src: ${JSON.stringify(src)}, dest: /x}\n`)
    return file
  }
  const refused = (file: string, pattern: RegExp, extra: string[] = []) => {
    const r = pivot(['build', file, '-t', 'pivot-test/ctx', ...extra], {cacheDir: cache})
    assert.equal(r.status, 125, r.stderr)
    assert.match(r.stderr, pattern)
  }
  refused(write('up.yaml', '../secret'), /steps\[0\]\.copy\.src: "\.\.\/secret" is outside the build context$/m)
  refused(write('abs.yaml', '/etc/passwd'), /steps\[0\]\.copy\.src: "\/etc\/passwd" is absolute: sources are paths inside the build context$/m)
  refused(write('link.yaml', 'shadow'), /steps\[0\]\.copy\.src: shadow resolves to \/etc\/shadow, outside the build context /m)
  refused(write('link2.yaml', 'secret-link'), /steps\[0\]\.copy\.src: secret-link resolves to .*\/secret, outside the build context /m)
  // The same recipe reads another directory only when the command line says so.
  const payload = write('payload.yaml', 'payload')
  refused(payload, /payload: no such file in the build context/)
  refused(payload, /build context .*\/nope is not a directory/, ['--context', path.join(outer, 'nope')])
  ok(pivot(['build', payload, '-t', 'pivot-test/ctx', '--context', other], {cacheDir: cache}))
  assert.equal(ok(pivot(['run', '--rm', 'pivot-test/ctx', 'cat', '/x'], {cacheDir: cache})), 'from other\n')
  assert.deepEqual(entries(path.join(cache, 'tmp')), [])
})

test('an interrupted build (SIGINT) kills the running step at once: exit 130, no tag, nothing left', async () => {
  const file = recipeFile(`from: ${BUSYBOX_IMAGE}\nsteps:\n  - run: echo started; sleep 60; echo finished > /done\n`)
  const env: NodeJS.ProcessEnv = {...process.env, PIVOT_CACHE_DIR: cache}
  delete env.NODE_EXTRA_CA_CERTS
  const child = spawn(PIVOT_BIN, ['build', file, '-t', 'pivot-test/interrupted'], {cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe']})
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (c: Buffer) => (stdout += c))
  child.stderr.on('data', (c: Buffer) => (stderr += c))
  const exited = new Promise<number | null>(resolve => child.on('close', code => resolve(code)))
  const deadline = Date.now() + 30_000
  while (!stdout.includes('started') && Date.now() < deadline) await new Promise(r => setTimeout(r, 50))
  assert.match(stdout, /started/, stderr)
  const sent = Date.now()
  child.kill('SIGINT')
  assert.equal(await exited, 130)
  assert.ok(Date.now() - sent < 5000, `took ${Date.now() - sent} ms to stop`)
  assert.match(stderr, /^pivot: the build was interrupted$/m)
  assert.equal(fs.existsSync(path.join(cache, 'refs', encodeURIComponent('docker.io/pivot-test/interrupted:latest'))), false)
  assert.deepEqual(entries(path.join(cache, 'containers')), [])
  assert.deepEqual(entries(path.join(cache, 'tmp')), [])
})
