// The argument-count rule of every command (src/cli/arity.ts): docker's words and exit 1, the
// flags read as oclif reads them, and no command left without a rule.
import assert from 'node:assert/strict'
import {test} from 'node:test'
import {ARITY, ArgCountError, arityWords, checkArgCount, countPositionals, type FlagShape} from '../../../src/cli/arity'
import {SUMMARIES} from '../../../src/cli/command-table'

test('every command has an argument rule', () => {
  for (const command of Object.keys(SUMMARIES).filter(c => c !== 'help')) assert.ok(ARITY[command] !== undefined, command)
})

test("docker's words for each kind of rule", () => {
  assert.equal(arityWords('logs', {min: 1, max: 1}), '"pivot logs" requires exactly 1 argument.')
  assert.equal(arityWords('cp', {min: 2, max: 2}), '"pivot cp" requires exactly 2 arguments.')
  assert.equal(arityWords('rm', {min: 1}), '"pivot rm" requires at least 1 argument.')
  assert.equal(arityWords('login', {min: 0, max: 1}), '"pivot login" requires at most 1 argument.')
  assert.equal(arityWords('port', {min: 1, max: 2}), '"pivot port" requires at least 1 and at most 2 arguments.')
  assert.equal(arityWords('ps', {min: 0, max: 0}), '"pivot ps" accepts no arguments.')
})

test('a wrong count is ArgCountError, exit 1, one line naming the help', () => {
  assert.doesNotThrow(() => checkArgCount('logs', 1))
  assert.doesNotThrow(() => checkArgCount('rm', 7))
  for (const [command, count] of [
    ['logs', 0],
    ['logs', 2],
    ['rm', 0],
    ['volume create', 2],
  ] as const) {
    assert.throws(
      () => checkArgCount(command, count),
      (e: unknown) =>
        e instanceof ArgCountError &&
        e.exitCode === 1 &&
        e.code === 'CLI_ARG_COUNT' &&
        !e.message.includes('\n') &&
        e.message.endsWith(` See 'pivot ${command} --help'.`),
    )
  }
})

test('positional arguments are counted past the flags as oclif reads them', () => {
  const flags: Record<string, FlagShape> = {
    follow: {type: 'boolean', char: 'f'},
    tail: {type: 'option', char: 'n'},
    'sig-proxy': {type: 'boolean', allowNo: true},
  }
  const count = (argv: string[], stopsAtFirst = false) => countPositionals(argv, flags, stopsAtFirst)
  assert.equal(count([]), 0)
  assert.equal(count(['a']), 1)
  assert.equal(count(['-n', '5', 'a']), 1)
  assert.equal(count(['--tail', '5']), 0)
  assert.equal(count(['--tail=5', 'a', 'b']), 2)
  assert.equal(count(['-fn', '5', 'a']), 1)
  assert.equal(count(['-n5', 'a']), 1)
  assert.equal(count(['--no-sig-proxy', 'a']), 1)
  assert.equal(count(['-', 'a']), 2)
  assert.equal(count(['--', '-f', 'x']), 2)
  // An unknown flag: the parser's error (125), not a count.
  assert.equal(count(['--bogus', 'a']), undefined)
  assert.equal(count(['-x']), undefined)
  assert.equal(count(['--no-follow']), undefined)
  assert.equal(count(['--follow=1', 'a']), undefined)
  // run, exec, top: the first argument ends pivot's flags.
  assert.equal(count(['-f', 'c', '-o', 'pid'], true), 3)
})
