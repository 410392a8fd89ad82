import {test} from 'node:test'
import assert from 'node:assert/strict'
import {imageConfig} from '../../../src/build/build-image'
import {mergeEnv} from '../../../src/runtime/container-config'
import {parseRecipe} from '../../../src/build/recipe'

const recipe = (text: string) => parseRecipe(text, {file: 'r.yaml', dir: '/'})

test('mergeEnv: a name set again is replaced in place, new names are appended', () => {
  assert.deepEqual(mergeEnv(['PATH=/bin', 'A=1'], ['A=2', 'B=3'], ['PATH=/usr/bin']), ['PATH=/usr/bin', 'A=2', 'B=3'])
})

test("imageConfig: the base config, the steps' env and workdir, then the recipe's metadata", () => {
  const base = {Env: ['PATH=/bin'], Cmd: ['/bin/bash'], Entrypoint: null, User: 'nobody', Labels: {a: '1', b: '2'}, ExposedPorts: {'80/tcp': {}}}
  const state = {env: ['PATH=/bin', 'CI=true'], workdir: '/srv'}
  assert.deepEqual(imageConfig(base, recipe('from: x\nlabels: {b: "3", c: "4"}\n'), state, true), {
    Env: ['PATH=/bin', 'CI=true'],
    Cmd: ['/bin/bash'],
    WorkingDir: '/srv',
    User: 'nobody',
    ExposedPorts: {'80/tcp': {}},
    Labels: {a: '1', b: '3', c: '4'},
  })
  // An entrypoint drops the base's cmd (docker's rule); cmd given with it is kept.
  assert.deepEqual(imageConfig(base, recipe('from: x\nentrypoint: ["/e"]\n'), state, false).Cmd, undefined)
  assert.deepEqual(imageConfig(base, recipe('from: x\nentrypoint: ["/e"]\ncmd: ["-v"]\n'), state, false), {
    Env: ['PATH=/bin', 'CI=true'],
    Cmd: ['-v'],
    Entrypoint: ['/e'],
    User: 'nobody',
    ExposedPorts: {'80/tcp': {}},
    Labels: {a: '1', b: '2'},
  })
  // null clears; a workdir nobody set is not recorded.
  const cleared = imageConfig({Cmd: ['sh']}, recipe('from: x\ncmd: null\nuser: "1000:1000"\n'), {env: [], workdir: '/'}, false)
  assert.deepEqual(cleared, {User: '1000:1000'})
})
