// The CLI as a user meets it: help for every command, one-line usage errors.
import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {test} from 'node:test'
import {REPO_ROOT, pivot, tempDir} from '../../helpers/fixtures'

const commands = fs
  .readdirSync(path.join(REPO_ROOT, 'commands'))
  .filter(f => f.endsWith('.ts'))
  .map(f => f.slice(0, -3))
  .sort()

test('pivot --help lists every command with a one-line summary', () => {
  const r = pivot(['--help'])
  assert.equal(r.status, 0, r.stderr)
  for (const name of commands) assert.match(r.stdout, new RegExp(`^  ${name} +\\S.*$`, 'm'), name)
  assert.ok(commands.length >= 9, `commands: ${commands.join(' ')}`)
})

test('every command has --help with usage and examples', () => {
  for (const name of commands) {
    const r = pivot([name, '--help'])
    assert.equal(r.status, 0, `${name}: ${r.stderr}`)
    assert.match(r.stdout, new RegExp(`\\$ pivot ${name}\\b`), `${name} usage`)
    assert.match(r.stdout, /^EXAMPLES$/m, `${name} has examples`)
  }
})

test('pivot --version and pivot help COMMAND work', () => {
  assert.match(pivot(['--version']).stdout, /^pivot\/\d+\.\d+\.\d+ /)
  const help = pivot(['help', 'pull'])
  assert.equal(help.status, 0, help.stderr)
  assert.match(help.stdout, /\$ pivot pull IMAGE/)
})

test('usage errors are one line on stderr, exit 125, and touch no cache', () => {
  const cache = tempDir('pivot-cli')
  const cases: Array<[string[], RegExp]> = [
    [['pull', '--foo', 'x'], /^pivot: Nonexistent flag: --foo \(see 'pivot pull --help'\)$/],
    [['build', 'images/busybox.yaml', '--build-arg'], /^pivot: Flag --build-arg expects a value/],
    [['images', '--bogus'], /^pivot: Nonexistent flag: --bogus/],
    [['run', '--bogus', 'busybox'], /^pivot: /],
  ]
  for (const [args, message] of cases) {
    const r = pivot(args, {cacheDir: cache})
    assert.equal(r.status, 125, `${args.join(' ')}: ${r.stderr}`)
    assert.equal(r.stdout, '', args.join(' '))
    assert.equal(r.stderr.split('\n').filter(Boolean).length, 1, `one line for ${args.join(' ')}: ${r.stderr}`)
    assert.match(r.stderr.trim(), message)
  }
  // A wrong number of arguments: docker's exit 1 and words (after the flags are checked).
  for (const [args, message] of [
    [['export'], /^pivot: "pivot export" requires exactly 1 argument\. See 'pivot export --help'\.$/],
    [['images', 'x'], /^pivot: "pivot images" accepts no arguments\. See 'pivot images --help'\.$/],
    [['tag', 'x'], /^pivot: "pivot tag" requires exactly 2 arguments\./],
  ] as Array<[string[], RegExp]>) {
    const r = pivot(args, {cacheDir: cache})
    assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`)
    assert.equal(r.stdout, '', args.join(' '))
    assert.match(r.stderr.trim(), message)
    assert.equal(r.stderr.split('\n').filter(Boolean).length, 1, `one line for ${args.join(' ')}: ${r.stderr}`)
  }
  assert.deepEqual(fs.readdirSync(cache), [], 'a usage error creates no cache')
})
