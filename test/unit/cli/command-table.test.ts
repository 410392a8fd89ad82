// bin/pivot's lean path (src/cli) against oclif's command classes, which stay the reference: the
// root help's summaries and the hot commands' flags must say what commands/*.ts say, and argv
// the lean parser does not fully understand must go to oclif.
import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {test} from 'node:test'
import {LEAN_COMMANDS, SUMMARIES} from '../../../src/cli/command-table'
import {parseLeanArgv} from '../../../src/cli/parse-argv'

const COMMANDS_DIR = path.resolve(__dirname, '..', '..', '..', 'commands')

interface OclifFlag {
  type: 'boolean' | 'option'
  char?: string
  multiple?: boolean
  allowNo?: boolean
}
interface CommandClass {
  summary?: string
  enableJsonFlag?: boolean
  strict?: boolean
  flags?: Record<string, OclifFlag>
  baseFlags?: Record<string, OclifFlag>
  args?: Record<string, {required?: boolean}>
}

function commandClass(id: string): CommandClass {
  return (require(path.join(COMMANDS_DIR, `${id.split(' ').join(path.sep)}.js`)) as {default: CommandClass}).default
}

// Topics (commands/image/inspect.js) are `image inspect`, as oclif names them with topicSeparator ' '.
const ids = (fs.readdirSync(COMMANDS_DIR, {recursive: true}) as string[]).filter(f => f.endsWith('.js')).map(f => f.slice(0, -3).split(path.sep).join(' '))

test('the lean root help has every command, with the summary of its class', () => {
  assert.deepEqual(
    Object.keys(SUMMARIES).sort(),
    [...ids, 'help'].sort(),
    'a command without a summary in src/cli/command-table.ts makes `pivot --help` load oclif',
  )
  for (const id of ids) assert.equal(SUMMARIES[id], commandClass(id).summary, id)
})

test('the lean commands declare exactly the flags and arguments of their oclif classes', () => {
  for (const [id, spec] of Object.entries(LEAN_COMMANDS)) {
    const cls = commandClass(id)
    const flags = {...cls.baseFlags, ...cls.flags}
    const declared = Object.fromEntries(spec.flags.map(f => [f.name, f]))
    assert.deepEqual(Object.keys(flags).sort(), [...spec.flags.map(f => f.name), 'cache-dir'].sort(), `${id}: flags`)
    for (const [name, flag] of Object.entries(cls.flags ?? {})) {
      assert.equal(declared[name].kind, flag.type === 'boolean' ? 'boolean' : flag.multiple ? 'multiple' : 'string', `${id} --${name}: kind`)
      assert.equal(declared[name].char, flag.char, `${id} --${name}: char`)
      assert.ok(!flag.allowNo, `${id} --${name}: the lean parser knows no --no- flags`)
    }
    assert.equal(spec.json, cls.enableJsonFlag === true, `${id}: --json`)
    const args = Object.entries(cls.args ?? {})
    assert.deepEqual(
      spec.args,
      args.map(([name]) => name),
      `${id}: arguments`,
    )
    assert.ok(
      args.every(([, a]) => a.required),
      `${id}: the lean parser knows only required arguments`,
    )
    assert.notEqual(cls.strict, false, `${id}: strict`)
  }
})

test('plain argv parses as oclif would read it', () => {
  const ps = LEAN_COMMANDS.ps
  assert.deepEqual(parseLeanArgv([], ps), {flags: {}, args: {}, json: false})
  assert.deepEqual(parseLeanArgv(['-aq', '--json'], ps), {flags: {all: true, quiet: true, json: true}, args: {}, json: true})
  assert.deepEqual(parseLeanArgv(['--cache-dir', '/c', '--all'], ps), {flags: {'cache-dir': '/c', all: true}, args: {}, json: false})
  assert.deepEqual(parseLeanArgv(['--cache-dir=/c'], ps), {flags: {'cache-dir': '/c'}, args: {}, json: false})
  assert.deepEqual(parseLeanArgv(['busybox', '-q', '--flat'], LEAN_COMMANDS.pull), {flags: {quiet: true, flat: true}, args: {image: 'busybox'}, json: false})
  assert.deepEqual(parseLeanArgv(['r.yaml', '-t', 'app', '--build-arg', 'A=1', '--build-arg=B=2'], LEAN_COMMANDS.build), {
    flags: {tag: 'app', 'build-arg': ['A=1', 'B=2']},
    args: {recipe: 'r.yaml'},
    json: false,
  })
})

test('anything else is left to oclif', () => {
  const ps = LEAN_COMMANDS.ps
  const pull = LEAN_COMMANDS.pull
  for (const argv of [
    ['--bogus'],
    ['-x'],
    ['-ax'],
    ['--help'],
    ['-h'],
    ['--'],
    ['--all=false'],
    ['--json=1'],
    ['-a', '-a'],
    ['--cache-dir'],
    ['--cache-dir='],
    ['--cache-dir', '--json'],
    ['extra'],
    ['-'],
  ]) {
    assert.equal(parseLeanArgv(argv, ps), undefined, argv.join(' '))
  }
  for (const argv of [[], ['a', 'b'], ['--flat'], ['-q', '--', 'busybox'], ['busybox', '--help']]) {
    assert.equal(parseLeanArgv(argv, pull), undefined, argv.join(' '))
  }
  // oclif's multiple flags take the arguments after them; values that look like flags are errors there
  const build = LEAN_COMMANDS.build
  for (const argv of [
    ['--build-arg', 'A=1', 'r.yaml'],
    ['--build-arg', 'A=1', '-q', 'r.yaml'],
    ['r.yaml', '-tapp'],
    ['r.yaml', '-t=app'],
    ['r.yaml', '-qt', 'app'],
    ['r.yaml', '--tag=--json'],
    ['r.yaml', '-t', '--json'],
  ]) {
    assert.equal(parseLeanArgv(argv, build), undefined, argv.join(' '))
  }
  assert.equal(parseLeanArgv(['--json'], {flags: [], json: false, args: []}), undefined, '--json only where the command has it')
})
