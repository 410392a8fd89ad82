import {test} from 'node:test'
import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {BuildError} from '../../../src/build/build-error'
import {loadRecipe, parseBuildArgs, parseRecipe} from '../../../src/build/recipe'
import {substituteArgs} from '../../../src/build/substitute-args'

const FILE = 'images/x.yaml'

function parse(text: string, buildArgs: Record<string, string> = {}) {
  return parseRecipe(text, {file: FILE, dir: '/ctx', buildArgs})
}

function parseError(text: string, buildArgs: Record<string, string> = {}): string {
  try {
    parse(text, buildArgs)
  } catch (error) {
    assert.ok(error instanceof BuildError, `expected a BuildError, got ${String(error)}`)
    assert.equal(error.code, 'BUILD_RECIPE_INVALID')
    return error.message
  }
  assert.fail('expected the recipe to be refused')
}

test('a full recipe parses into steps with their 1-based index, path and one-line text', () => {
  const recipe = parse(`
from: localhost:5000/pivot-test/debian:bookworm
env:
  LANG: C.UTF-8
  N: 3
workdir: /srv
user: app
cmd: ["/bin/bash"]
entrypoint: /entry.sh
labels:
  org.example.team: ci
steps:
  - run: apt-get update
  - run: ["/bin/busybox", "--install", "-s", "/bin"]
  - copy: {src: hello.sh, dest: /usr/local/bin/, mode: "0755", owner: "app:app"}
  - copy: {src: [a, b], dest: /opt/}
  - env: {DEBUG: true}
  - workdir: sub
  - run: |
      set -e
      echo hi
`)
  assert.equal(recipe.from, 'localhost:5000/pivot-test/debian:bookworm')
  assert.deepEqual(recipe.env, [
    ['LANG', 'C.UTF-8'],
    ['N', '3'],
  ])
  assert.equal(recipe.workdir, '/srv')
  assert.equal(recipe.user, 'app')
  assert.deepEqual(recipe.cmd, ['/bin/bash'])
  assert.deepEqual(recipe.entrypoint, ['/bin/sh', '-c', '/entry.sh'])
  assert.deepEqual(recipe.labels, {'org.example.team': 'ci'})
  assert.equal(recipe.steps.length, 7)
  assert.deepEqual(
    recipe.steps.map(s => [s.index, s.path, s.text]),
    [
      [1, 'steps[0]', 'run: apt-get update'],
      [2, 'steps[1]', 'run: ["/bin/busybox", "--install", "-s", "/bin"]'],
      [3, 'steps[2]', 'copy: hello.sh -> /usr/local/bin/ (mode 0755, owner app:app)'],
      [4, 'steps[3]', 'copy: a b -> /opt/'],
      [5, 'steps[4]', 'env: DEBUG=true'],
      [6, 'steps[5]', 'workdir: sub'],
      [7, 'steps[6]', 'run: set -e ...'],
    ],
  )
  assert.deepEqual(recipe.steps[2].def, {kind: 'copy', src: ['hello.sh'], dest: '/usr/local/bin/', mode: 0o755, owner: 'app:app'})
  assert.deepEqual(recipe.steps[1].def, {kind: 'run', run: ['/bin/busybox', '--install', '-s', '/bin']})
  assert.equal((recipe.steps[6].def as {run: string}).run, 'set -e\necho hi\n')
})

test('from: scratch and a recipe with no steps are fine; cmd: null clears', () => {
  const recipe = parse('from: scratch\ncmd: null\n')
  assert.equal(recipe.from, 'scratch')
  assert.deepEqual(recipe.steps, [])
  assert.equal(recipe.cmd, null)
  assert.equal(recipe.entrypoint, undefined)
})

test('bad recipes are refused with the file, the offending key and what was expected', () => {
  const cases: Array<[string, string | RegExp]> = [
    ['', 'images/x.yaml: the recipe is empty (it needs at least `from:`)'],
    ['- a\n- b\n', 'images/x.yaml: expected a mapping of keys (from, steps, ...), found a list'],
    ['steps: []\n', 'images/x.yaml: from: required: a base image name, or scratch'],
    ['from: [a]\n', 'images/x.yaml: from: expected an image name or scratch, found a list'],
    ['from: scratch\nfrom: x\n', /^images\/x\.yaml:2:1: invalid YAML: Map keys must be unique/],
    ['from: scratch\nsteps: [\n', /^images\/x\.yaml:\d+:\d+: invalid YAML: /],
    ['from: scratch\nstep: []\n', 'images/x.yaml: step: unknown key (expected one of from, args, env, workdir, user, entrypoint, cmd, labels, steps)'],
    ['from: scratch\nsteps: {run: x}\n', 'images/x.yaml: steps: expected a list of steps, found a mapping'],
    ['from: scratch\nsteps: [echo]\n', 'images/x.yaml: steps[0]: expected a step (a mapping with one of run, copy, env, workdir), found the string "echo"'],
    ['from: scratch\nsteps:\n  - cpy: {}\n', 'images/x.yaml: steps[0].cpy: unknown step kind (expected one of run, copy, env, workdir)'],
    ['from: scratch\nsteps:\n  - run: a\n    env: {A: b}\n', 'images/x.yaml: steps[0]: a step has exactly one of run, copy, env, workdir, found run and env'],
    ['from: scratch\nsteps:\n  - run: "  "\n', 'images/x.yaml: steps[0].run: the command is empty'],
    ['from: scratch\nsteps:\n  - run: []\n', 'images/x.yaml: steps[0].run: the command is empty'],
    ['from: scratch\nsteps:\n  - run: [ls, 3]\n', 'images/x.yaml: steps[0].run[1]: expected a string, found the number 3'],
    ['from: scratch\nsteps:\n  - run: {a: b}\n', 'images/x.yaml: steps[0].run: expected a shell command string or a list of arguments, found a mapping'],
    [
      'from: scratch\nsteps:\n  - run: a\n  - run: b\n  - copy: {src: x, dest: /x, mode: 755}\n',
      'images/x.yaml: steps[2].copy.mode: expected an octal string like "0755", found the number 755',
    ],
    [
      'from: scratch\nsteps:\n  - copy: {src: x, dest: /x, mode: "rwx"}\n',
      'images/x.yaml: steps[0].copy.mode: expected an octal string like "0755", found "rwx"',
    ],
    [
      'from: scratch\nsteps:\n  - copy: {src: x, dest: /x, mode: "0789"}\n',
      'images/x.yaml: steps[0].copy.mode: expected an octal string like "0755", found "0789"',
    ],
    ['from: scratch\nsteps:\n  - copy: {dest: /x}\n', 'images/x.yaml: steps[0].copy.src: required: a path in the build context, or a list of them'],
    ['from: scratch\nsteps:\n  - copy: {src: x}\n', 'images/x.yaml: steps[0].copy.dest: required: where the files go in the image'],
    [
      'from: scratch\nsteps:\n  - copy: {src: x, dest: /x, chmod: "0755"}\n',
      'images/x.yaml: steps[0].copy.chmod: unknown key (expected one of src, dest, mode, owner)',
    ],
    ['from: scratch\nsteps:\n  - copy: {src: ../x, dest: /x}\n', 'images/x.yaml: steps[0].copy.src: "../x" is outside the build context'],
    ['from: scratch\nsteps:\n  - copy: {src: a/../../x, dest: /x}\n', 'images/x.yaml: steps[0].copy.src: "a/../../x" is outside the build context'],
    [
      'from: scratch\nsteps:\n  - copy: {src: /etc/passwd, dest: /x}\n',
      'images/x.yaml: steps[0].copy.src: "/etc/passwd" is absolute: sources are paths inside the build context',
    ],
    [
      'from: scratch\nsteps:\n  - copy: {src: [a, /b], dest: /x/}\n',
      'images/x.yaml: steps[0].copy.src[1]: "/b" is absolute: sources are paths inside the build context',
    ],
    [
      'from: scratch\nsteps:\n  - copy: {src: [a, b], dest: /x}\n',
      'images/x.yaml: steps[0].copy.dest: with several sources the destination is a directory: write it with a trailing slash ("/x/")',
    ],
    [
      'from: scratch\nsteps:\n  - copy: {src: a, dest: /x, owner: "a b"}\n',
      'images/x.yaml: steps[0].copy.owner: expected user[:group] (names or numbers) like "app" or "1000:1000", found "a b"',
    ],
    [
      'from: scratch\nsteps:\n  - env: {1A: b}\n',
      'images/x.yaml: steps[0].env.1A: a variable name is made of letters, digits and _ and does not start with a digit',
    ],
    ['from: scratch\nsteps:\n  - env: {A: [b]}\n', 'images/x.yaml: steps[0].env.A: expected a string, found a list'],
    ['from: scratch\nsteps:\n  - env: {}\n', 'images/x.yaml: steps[0].env: expected at least one NAME: value'],
    ['from: scratch\nsteps:\n  - workdir: 3\n', 'images/x.yaml: steps[0].workdir: expected a string, found the number 3'],
    ['from: scratch\nworkdir: app\n', 'images/x.yaml: workdir: expected an absolute path, found "app"'],
    ['from: scratch\nuser: "a:b:c"\n', 'images/x.yaml: user: expected a user name or uid, optionally :group or :gid, found "a:b:c"'],
    ['from: scratch\ncmd: {a: b}\n', 'images/x.yaml: cmd: expected a list of arguments, a shell command string, or null, found a mapping'],
    ['from: scratch\nlabels: [a]\n', 'images/x.yaml: labels: expected a mapping of label: value, found a list'],
    ['from: scratch\nargs: [A]\n', 'images/x.yaml: args: expected a mapping of NAME: default, found a list'],
    ['from: scratch\nargs: {A-B: x}\n', 'images/x.yaml: args.A-B: an argument name is made of letters, digits and _ and does not start with a digit'],
    [
      'from: scratch\nsteps:\n  - run: echo ${NOPE}\n',
      'images/x.yaml: steps[0].run: unknown build argument ${NOPE} (pass --build-arg NOPE=..., or declare it under args:)',
    ],
    ['from: scratch\nargs: {V: null}\nsteps:\n  - run: echo ${V}\n', 'images/x.yaml: steps[0].run: build argument ${V} has no default: pass --build-arg V=...'],
    ['from: ${BASE}\n', 'images/x.yaml: from: unknown build argument ${BASE} (pass --build-arg BASE=..., or declare it under args:)'],
    ['from: scratch\nsteps:\n  - run: echo ${A\n', 'images/x.yaml: steps[0].run: unterminated "${" (write "$$" for a literal "$")'],
    [
      'from: scratch\nsteps:\n  - run: echo ${A-b}\n',
      'images/x.yaml: steps[0].run: bad substitution "${A-b}": expected ${NAME} (write "$$" for a literal "$")',
    ],
    [
      'from: scratch\nsteps:\n  - copy: {src: "${F}", dest: /x}\n',
      'images/x.yaml: steps[0].copy.src: unknown build argument ${F} (pass --build-arg F=..., or declare it under args:)',
    ],
  ]
  for (const [text, expected] of cases) {
    const message = parseError(text)
    if (typeof expected === 'string') assert.equal(message, expected, `for recipe ${JSON.stringify(text)}`)
    else assert.match(message, expected, `for recipe ${JSON.stringify(text)}`)
  }
})

test('build arguments: --build-arg over the declared default, $$ escapes, other $ left for the shell', () => {
  const text = `
args:
  BASE: localhost:5000/pivot-test/debian:bookworm
  GREETING: hello
from: \${BASE}
env:
  MSG: \${GREETING} world
steps:
  - run: echo "\${GREETING} $HOME $$HOME $\${HOME} costs $$5"
  - copy: {src: "\${GREETING}.txt", dest: "/srv/\${GREETING}"}
`
  const plain = parse(text)
  assert.equal(plain.from, 'localhost:5000/pivot-test/debian:bookworm')
  assert.deepEqual(plain.env, [['MSG', 'hello world']])
  assert.equal((plain.steps[0].def as {run: string}).run, 'echo "hello $HOME $HOME ${HOME} costs $5"')
  assert.deepEqual(plain.unusedArgs, [])

  const given = parse(text, {BASE: 'other:1', GREETING: 'bye', EXTRA: 'x'})
  assert.equal(given.from, 'other:1')
  assert.deepEqual(given.steps[1].def, {kind: 'copy', src: ['bye.txt'], dest: '/srv/bye'})
  assert.deepEqual(given.unusedArgs, ['EXTRA'])
  // The substituted value is in the step definition, so it is in the step's cache key.
  assert.notDeepEqual(plain.steps[0].def, given.steps[0].def)
})

test('substituteArgs on its own', () => {
  const fail = (message: string): never => {
    throw new Error(message)
  }
  const lookup = (name: string) => ({A: '1', B: '$B'})[name] ?? fail(`unknown ${name}`)
  assert.equal(substituteArgs('no dollars', lookup, fail), 'no dollars')
  assert.equal(substituteArgs('${A}${B}', lookup, fail), '1$B')
  assert.equal(substituteArgs('$$${A}', lookup, fail), '$1')
  assert.equal(substituteArgs('$', lookup, fail), '$')
  assert.equal(substituteArgs('a$', lookup, fail), 'a$')
  assert.equal(substituteArgs('$A ${A}', lookup, fail), '$A 1')
  // A value is not substituted again.
  assert.equal(
    substituteArgs('${B}', () => '${A}', fail),
    '${A}',
  )
  assert.throws(() => substituteArgs('${C}', lookup, fail), /unknown C/)
  assert.throws(() => substituteArgs('${}', lookup, fail), /bad substitution/)
})

test('parseBuildArgs: NAME=VALUE, a bare NAME from the environment, bad names refused', () => {
  assert.deepEqual(parseBuildArgs(['A=1', 'B=x=y', 'C=', 'D'], {D: 'from-env'}), {A: '1', B: 'x=y', C: '', D: 'from-env'})
  assert.throws(() => parseBuildArgs(['=1']), /--build-arg "=1": expected NAME=VALUE/)
  assert.throws(() => parseBuildArgs(['E'], {}), /--build-arg E: no value given and E is not set in the environment/)
})

test('loadRecipe: a missing file is named; the recipe directory is the default context', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pivot-recipe-'))
  try {
    fs.writeFileSync(path.join(dir, 'r.yaml'), 'from: scratch\n')
    const recipe = loadRecipe('r.yaml', {}, dir)
    assert.equal(recipe.dir, dir)
    assert.equal(recipe.file, 'r.yaml')
    assert.throws(
      () => loadRecipe('nope.yaml', {}, dir),
      (e: unknown) => e instanceof BuildError && e.code === 'BUILD_RECIPE_NOT_FOUND' && e.message === 'nope.yaml: no such file',
    )
  } finally {
    fs.rmSync(dir, {recursive: true, force: true})
  }
})

test('the shipped recipes parse', () => {
  const root = path.resolve(__dirname, '..', '..', '..', '..')
  for (const name of ['busybox.yaml', 'debian-ci.yaml']) {
    const recipe = loadRecipe(path.join(root, 'images', name))
    assert.ok(recipe.steps.length > 0, name)
  }
})
