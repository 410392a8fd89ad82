// The parsed-recipe cache of `pivot build` (src/cli/cached-recipe.ts): what it returns is what
// the parser returns; it is keyed by the text, the build arguments and the file's place; only
// valid recipes are kept, and only when the caller says so.
import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {after, test} from 'node:test'
import {loadRecipe} from '../../../src/build/recipe'
import {loadRecipeCached} from '../../../src/cli/cached-recipe'

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pivot-cached-recipe-'))
after(() => fs.rmSync(dir, {recursive: true, force: true}))
const cacheRoot = path.join(dir, 'cache')
const file = path.join(dir, 'r.yaml')
const entries = () => (fs.existsSync(path.join(cacheRoot, 'recipes')) ? fs.readdirSync(path.join(cacheRoot, 'recipes')) : [])

test('a recipe is parsed once, kept when asked, then read back as the parser gave it', () => {
  fs.writeFileSync(file, 'from: scratch\nargs: {V: "1"}\nsteps:\n  - run: echo ${V}\n  - env: {A: b}\n')
  const first = loadRecipeCached(file, {V: '2'}, cacheRoot)
  assert.deepEqual(first.recipe, loadRecipe(file, {V: '2'}))
  assert.deepEqual(entries(), [], 'nothing is written before keep()')
  first.keep()
  assert.equal(entries().length, 1)
  const again = loadRecipeCached(file, {V: '2'}, cacheRoot)
  assert.deepEqual(again.recipe, first.recipe)
  // It really comes from the entry: an entry edited by hand is what is returned.
  const entry = path.join(cacheRoot, 'recipes', entries()[0])
  fs.writeFileSync(entry, JSON.stringify({...first.recipe, from: 'edited'}))
  assert.equal(loadRecipeCached(file, {V: '2'}, cacheRoot).recipe.from, 'edited')
  // Other build arguments or another text: another entry, parsed afresh.
  assert.equal(loadRecipeCached(file, {V: '3'}, cacheRoot).recipe.steps[0].text, 'run: echo 3')
  fs.appendFileSync(file, '  - workdir: /w\n')
  const changed = loadRecipeCached(file, {V: '2'}, cacheRoot)
  assert.equal(changed.recipe.from, 'scratch')
  assert.equal(changed.recipe.steps.length, 3)
})

test('a broken entry is parsed again and rewritten', () => {
  fs.writeFileSync(file, 'from: scratch\nsteps:\n  - run: "true"\n')
  loadRecipeCached(file, {}, cacheRoot).keep()
  const before = new Set(entries())
  const {recipe} = loadRecipeCached(file, {}, cacheRoot)
  const entry = path.join(
    cacheRoot,
    'recipes',
    [...before].find(e => JSON.parse(fs.readFileSync(path.join(cacheRoot, 'recipes', e), 'utf8')).steps[0]?.text === 'run: true')!,
  )
  fs.writeFileSync(entry, '{"from": ')
  const reparsed = loadRecipeCached(file, {}, cacheRoot)
  assert.deepEqual(reparsed.recipe, recipe)
  reparsed.keep()
  assert.deepEqual(JSON.parse(fs.readFileSync(entry, 'utf8')), recipe)
})

test('an invalid or missing recipe fails as loadRecipe does, and nothing is kept', () => {
  const count = entries().length
  fs.writeFileSync(file, 'from: scratch\nsteps:\n  - frobnicate: x\n')
  const expected = (() => {
    try {
      loadRecipe(file, {})
    } catch (error) {
      return error as Error & {code: string}
    }
    throw new Error('the recipe should be invalid')
  })()
  assert.throws(
    () => loadRecipeCached(file, {}, cacheRoot),
    (e: Error & {code: string}) => e.code === expected.code && e.message === expected.message,
  )
  assert.throws(() => loadRecipeCached(path.join(dir, 'none.yaml'), {}, cacheRoot), /none\.yaml: no such file/)
  assert.equal(entries().length, count)
})
