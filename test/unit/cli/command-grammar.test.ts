// Which words name a command, and docker's error when they do not (src/cli/command-grammar.ts).
import assert from 'node:assert/strict'
import {test} from 'node:test'
import {CliError} from '../../../src/cli/cli-error'
import {CONTAINER_COMMANDS, GROUPS, noCommandError, resolveCommand} from '../../../src/cli/command-grammar'
import {SUMMARIES} from '../../../src/cli/command-table'

test('words resolve to the command they name and what follows it', () => {
  assert.deepEqual(resolveCommand([]), {path: [], rest: []})
  assert.deepEqual(resolveCommand(['bogus', 'x']), {path: [], rest: ['bogus', 'x']})
  assert.deepEqual(resolveCommand(['logs', 'c1']), {path: ['logs'], rest: ['c1']})
  assert.deepEqual(resolveCommand(['network', 'ls', 'x']), {path: ['network', 'ls'], rest: ['x']})
  assert.deepEqual(resolveCommand(['network', 'bogus']), {path: ['network'], rest: ['bogus']})
  assert.deepEqual(resolveCommand(['image', 'inspect', 'busybox']), {path: ['image', 'inspect'], rest: ['busybox']})
  // Object's own names are no commands.
  assert.deepEqual(resolveCommand(['constructor']), {path: [], rest: ['constructor']})
})

test("the groups' sub-commands are commands pivot has", () => {
  for (const id of Object.values(CONTAINER_COMMANDS)) assert.ok(Object.hasOwn(SUMMARIES, id), id)
  assert.deepEqual(GROUPS.image.subcommands, ['inspect'])
  for (const group of Object.keys(GROUPS)) assert.ok(Object.hasOwn(SUMMARIES, group) || Object.keys(SUMMARIES).some(id => id.startsWith(`${group} `)), group)
})

const error = (argv: string[]) => {
  const e = noCommandError(argv)
  assert.ok(e instanceof CliError)
  return {status: e.exitCode, code: e.code, lines: `pivot: ${e.message}`.split('\n')}
}

test("an unknown command is docker's three lines, exit 1", () => {
  assert.deepEqual(error(['bogus', 'x', '-y']), {
    status: 1,
    code: 'CLI_UNKNOWN_COMMAND',
    lines: ['pivot: unknown command: pivot bogus', '', "Run 'pivot --help' for more information"],
  })
})

test("an unknown sub-command names its group's usage, exit 1", () => {
  assert.deepEqual(error(['volume', 'bogus']).lines, [
    'pivot: unknown command: pivot volume bogus',
    '',
    'Usage:  pivot volume COMMAND',
    '',
    "Run 'pivot volume --help' for more information",
  ])
  assert.deepEqual(error(['container', 'bogus', 'x']).lines[2], 'Usage:  pivot container')
  assert.equal(error(['image', 'bogus']).status, 1)
})

test('a flag before any command is the flag error, exit 125', () => {
  assert.deepEqual(error(['--bogus=1', 'images']), {
    status: 125,
    code: 'CLI_UNKNOWN_FLAG',
    lines: ['pivot: unknown flag: --bogus', '', 'Usage:  pivot [OPTIONS] COMMAND [ARG...]', '', "Run 'pivot --help' for more information"],
  })
  assert.deepEqual(error(['container', '-xy', 'ls']).lines.slice(0, 3), ["pivot: unknown shorthand flag: 'x' in -xy", '', 'Usage:  pivot container'])
  assert.equal(error(['--', 'bogus']).lines[0], 'pivot: unknown command: pivot bogus')
})
