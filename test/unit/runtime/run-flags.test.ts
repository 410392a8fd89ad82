import {netMode} from '../../../src/runtime/container-network'
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {parseRunArgs, RUN_FLAGS} from '../../../src/runtime/run-flags'

test('flags stop at IMAGE: the rest is the command, untouched', () => {
  const p = parseRunArgs(['--rm', '-e', 'A=1', '--env=B=2', '-eC=3', 'busybox', 'ls', '--help', '-e', 'x'])
  assert.equal(p.image, 'busybox')
  assert.deepEqual(p.command, ['ls', '--help', '-e', 'x'])
  assert.equal(p.flags.rm, true)
  assert.deepEqual(p.flags.env, ['A=1', 'B=2', 'C=3'])
  assert.equal(p.help, false)
})

test('--help before IMAGE asks for help; after it belongs to the command', () => {
  assert.equal(parseRunArgs(['--help']).help, true)
  // docker run's -h is --hostname, never help: `-h box1 IMG cmd` runs cmd.
  const h = parseRunArgs(['-h', 'box1', 'img', 'sh'])
  assert.equal(h.help, false)
  assert.equal(h.flags.hostname, 'box1')
  assert.equal(h.image, 'img')
  assert.equal(parseRunArgs(['-h=box2', 'img']).flags.hostname, 'box2')
  assert.equal(parseRunArgs(['-ith', 'box3', 'img']).flags.hostname, 'box3')
  assert.throws(() => parseRunArgs(['-h']), /flag needs an argument: 'h' in -h/)
  assert.equal(parseRunArgs(['img', '--help']).help, false)
})

test('grouped booleans and a value flag at the end of a group', () => {
  const p = parseRunArgs(['-it', '-ew=1', 'img'])
  assert.equal(p.flags.interactive, true)
  assert.equal(p.flags.tty, true)
  assert.deepEqual(p.flags.env, ['w=1'])
  const q = parseRunArgs(['-itv', '/a:/b', 'img'])
  assert.deepEqual(q.flags.volume, ['/a:/b'])
})

test('--network is --net; options are checked', () => {
  assert.equal(parseRunArgs(['--network', 'none', 'img']).flags.net, 'none')
  assert.equal(parseRunArgs(['--net', 'bridge', 'img']).flags.net, 'bridge')
  assert.deepEqual(netMode('container:web'), {kind: 'container', ref: 'web'})
  assert.deepEqual(netMode('app'), {kind: 'network', name: 'app'})
  assert.throws(() => netMode('no such/net'), /invalid --net "no such\/net": use host, none, bridge, a network name or container:NAME/)
  assert.throws(() => netMode('container:'), /name the container/)
  assert.throws(() => parseRunArgs(['--pull=sometimes', 'img']), /--pull/)
})

test('unknown flags and missing values are one-line errors with exit 125', () => {
  for (const [argv, re] of [
    [['--bogus', 'img'], /^unknown flag: --bogus \(see 'pivot run --help'\)$/],
    [['-Z', 'img'], /unknown shorthand flag: 'Z'/],
    [['--name'], /flag needs an argument: --name/],
    [['--rm=maybe', 'img'], /true or false/],
  ] as const) {
    assert.throws(
      () => parseRunArgs(argv),
      (e: Error & {exitCode: number}) => re.test(e.message) && e.exitCode === 125 && !e.message.includes('\n'),
    )
  }
})

test('-- ends the flags; a value may look like a flag', () => {
  const p = parseRunArgs(['--entrypoint', '--weird', '--', '-img-', 'x'])
  assert.equal(p.flags.entrypoint, '--weird')
  assert.equal(p.image, '-img-')
  assert.deepEqual(p.command, ['x'])
})

test('no IMAGE: image undefined (the CLI reports it)', () => {
  assert.equal(parseRunArgs(['--rm']).image, undefined)
})

test('the flag table has every flag issue 4 asks for', () => {
  const names = RUN_FLAGS.map(f => f.name)
  for (const n of [
    'rm',
    'name',
    'hostname',
    'pids-limit',
    'memory',
    'cpus',
    'env',
    'env-file',
    'volume',
    'workdir',
    'user',
    'entrypoint',
    'net',
    'read-only',
    'pull',
  ]) {
    assert.ok(names.includes(n), n)
  }
  const chars = RUN_FLAGS.filter(f => f.char).map(f => f.char)
  assert.equal(new Set(chars).size, chars.length, 'short flags are unique')
})
