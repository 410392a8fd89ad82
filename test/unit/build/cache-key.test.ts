import {test} from 'node:test'
import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {baseCacheKey, stepCacheKey} from '../../../src/build/cache-key'
import {copyKeyMaterial, planCopy} from '../../../src/build/copy-step'
import {LayerView} from '../../../src/unpack/layer-view'
import {type CopyStep, parseRecipe} from '../../../src/build/recipe'

function tempDir(t: {after: (fn: () => void) => void}, prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  t.after(() => fs.rmSync(dir, {recursive: true, force: true}))
  return dir
}

const noOpaque = () => false
const state = {env: ['PATH=/bin'], workdir: '/'}

function copyKey(context: string, step: CopyStep, view = new LayerView([], noOpaque)): string {
  const plan = planCopy(step, {context, view, workdir: '/', where: 'steps[0].copy'})
  return stepCacheKey(baseCacheKey(undefined), step, state, copyKeyMaterial(plan))
}

test('step keys are stable: same inputs, same key, computed twice', () => {
  const recipe = parseRecipe('from: scratch\nsteps:\n  - run: echo hi\n', {file: 'r.yaml', dir: '/'})
  const a = stepCacheKey(baseCacheKey('sha256:' + 'a'.repeat(64)), recipe.steps[0].def, state)
  const b = stepCacheKey(baseCacheKey('sha256:' + 'a'.repeat(64)), recipe.steps[0].def, state)
  assert.equal(a, b)
  assert.match(a, /^sha256:[0-9a-f]{64}$/)
})

test('step keys change with the parent, the base, the definition, the env and the workdir', () => {
  const step = {kind: 'run' as const, run: 'echo hi'}
  const base = baseCacheKey('sha256:' + 'a'.repeat(64))
  const key = stepCacheKey(base, step, state)
  assert.notEqual(stepCacheKey(baseCacheKey('sha256:' + 'b'.repeat(64)), step, state), key)
  assert.notEqual(stepCacheKey(baseCacheKey(undefined), step, state), key)
  assert.notEqual(stepCacheKey(base, {kind: 'run', run: 'echo ho'}, state), key)
  assert.notEqual(stepCacheKey(base, {kind: 'run', run: ['echo', 'hi']}, state), key)
  assert.notEqual(stepCacheKey(base, step, {env: ['PATH=/bin', 'A=1'], workdir: '/'}), key)
  assert.notEqual(stepCacheKey(base, step, {env: ['PATH=/bin'], workdir: '/srv'}), key)
  // A chain: the key of step 2 depends on step 1's.
  const next = {kind: 'run' as const, run: 'true'}
  assert.notEqual(stepCacheKey(key, next, state), stepCacheKey(stepCacheKey(base, {kind: 'run', run: 'echo ho'}, state), next, state))
})

test('copy keys: content, mode, owner and path count; mtime does not', t => {
  const context = tempDir(t, 'pivot-key-')
  fs.mkdirSync(path.join(context, 'dir'))
  fs.writeFileSync(path.join(context, 'dir', 'a.txt'), 'one\n')
  fs.writeFileSync(path.join(context, 'dir', 'b.txt'), 'two\n')
  fs.writeFileSync(path.join(context, 'tool'), '#!/bin/sh\n', {mode: 0o644})
  const dirStep: CopyStep = {kind: 'copy', src: ['dir'], dest: '/srv/'}
  const fileStep: CopyStep = {kind: 'copy', src: ['tool'], dest: '/usr/local/bin/tool', mode: 0o755}
  const dirKey = copyKey(context, dirStep)
  const fileKey = copyKey(context, fileStep)

  // Touching the files (new mtimes, same content) changes nothing.
  const later = new Date(Date.now() + 3_600_000)
  for (const f of ['dir/a.txt', 'dir/b.txt', 'tool', 'dir']) fs.utimesSync(path.join(context, f), later, later)
  assert.equal(copyKey(context, dirStep), dirKey)
  assert.equal(copyKey(context, fileStep), fileKey)

  // Content.
  fs.writeFileSync(path.join(context, 'dir', 'b.txt'), 'TWO\n')
  assert.notEqual(copyKey(context, dirStep), dirKey)
  fs.writeFileSync(path.join(context, 'dir', 'b.txt'), 'two\n')
  assert.equal(copyKey(context, dirStep), dirKey)

  // A source file's mode (when the step sets none), the step's mode, its owner.
  fs.chmodSync(path.join(context, 'dir', 'a.txt'), 0o600)
  assert.notEqual(copyKey(context, dirStep), dirKey)
  fs.chmodSync(path.join(context, 'dir', 'a.txt'), 0o644)
  assert.equal(copyKey(context, dirStep), dirKey)
  assert.notEqual(copyKey(context, {...fileStep, mode: 0o700}), fileKey)
  assert.notEqual(copyKey(context, {...fileStep, owner: '1000'}), fileKey)
  // The source tool's own mode does not count when the step sets one.
  fs.chmodSync(path.join(context, 'tool'), 0o600)
  assert.equal(copyKey(context, fileStep), fileKey)

  // A new file, a renamed file, another destination.
  fs.writeFileSync(path.join(context, 'dir', 'c.txt'), '')
  assert.notEqual(copyKey(context, dirStep), dirKey)
  fs.renameSync(path.join(context, 'dir', 'c.txt'), path.join(context, 'dir', 'd.txt'))
  const renamed = copyKey(context, dirStep)
  assert.notEqual(renamed, dirKey)
  fs.rmSync(path.join(context, 'dir', 'd.txt'))
  assert.equal(copyKey(context, dirStep), dirKey)
  assert.notEqual(copyKey(context, {...dirStep, dest: '/opt/'}), dirKey)
})
