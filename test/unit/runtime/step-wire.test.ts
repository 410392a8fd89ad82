// The wire format of the container's C init (src/runtime/rootfs/step-wire.ts): bytes checked by hand.
import {test} from 'node:test'
import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {encodeInitMessage, WIRE_OPS} from '../../../src/runtime/rootfs/step-wire'

const SRC = path.join(__dirname, '..', '..', '..', '..', 'src')

/** The payload's fields, after checking the length header. */
function fields(message: Buffer): string[] {
  const nl = message.indexOf(10)
  const payload = message.subarray(nl + 1)
  assert.equal(Number(message.subarray(0, nl).toString()), payload.length)
  assert.equal(payload[payload.length - 1], 0)
  return payload.subarray(0, -1).toString('utf8').split('\0')
}

test('the header, the parent and the end', () => {
  const message = encodeInitMessage([], 4242)
  assert.equal(message.toString('latin1'), '29\npivot-init 1\0parent\x004242\0end\0')
  assert.deepEqual(fields(encodeInitMessage([], undefined)), ['pivot-init 1', 'parent', '0', 'end'])
})

test('a mount: nullable strings as - or +, flags as decimal', () => {
  assert.deepEqual(fields(encodeInitMessage([{op: 'mount', source: null, target: '/', fstype: null, flags: 0x44000, data: null}], 1)).slice(3), [
    'mount',
    '-',
    '/',
    '-',
    String(0x44000),
    '-',
    'end',
  ])
  assert.deepEqual(
    fields(encodeInitMessage([{op: 'mount', source: 'proc', target: '/r/proc', fstype: 'proc', flags: 14, data: 'mode=755,size=1k'}], 1)).slice(3, -1),
    ['mount', '+proc', '/r/proc', '+proc', '14', '+mode=755,size=1k'],
  )
})

test('lists, booleans, masks and the mountInRoot restriction', () => {
  const message = encodeInitMessage(
    [
      {op: 'switchUser', user: undefined},
      {op: 'switchUser', user: 'app:staff', groupAdd: ['audio', '44']},
      {op: 'bindDevice', source: '/dev/sda', target: '/r/dev/sda', major: 8, minor: 0, block: true},
      {op: 'capBounding', keep: 0xffffffffffffffffn},
      {op: 'setrlimit', resource: 7, soft: -1n, hard: 1048576n},
      {op: 'mountInRoot', root: '/r', inside: '/data', kind: 'dir', source: '/v', fstype: null, flags: 20480, data: null, restrict: {readOnly: true}},
      {op: 'mountInRoot', root: '/r', inside: '/t', kind: 'dir', source: 'tmpfs', fstype: 'tmpfs', flags: 4, data: 'size=1m'},
      {op: 'resolveCommand', command: ['sh', '-c', 'echo é'], env: []},
      {op: 'exec'},
    ],
    99,
  )
  assert.deepEqual(fields(message).slice(3), [
    'switchUser', '-', '0',
    'switchUser', '+app:staff', '2', 'audio', '44',
    'bindDevice', '/dev/sda', '/r/dev/sda', '8', '0', '1',
    'capBounding', '18446744073709551615',
    'setrlimit', '7', '-1', '1048576',
    'mountInRoot', '/r', '/data', 'dir', '/v', '-', '20480', '-', '1',
    'mountInRoot', '/r', '/t', 'dir', 'tmpfs', '+tmpfs', '4', '+size=1m', '-1',
    'resolveCommand', '3', 'sh', '-c', 'echo é', '0',
    'exec',
    'end',
  ]) // prettier-ignore
  // The length counts bytes, not characters.
  assert.equal(message.length, message.indexOf(10) + 1 + Number(message.subarray(0, message.indexOf(10)).toString()))
})

test('a NUL in a field or a number out of range is refused, not sent', () => {
  assert.throws(() => encodeInitMessage([{op: 'chdir', path: 'a\0b'}], 1), /NUL/)
  assert.throws(() => encodeInitMessage([{op: 'capBounding', keep: -1n}], 1), /does not fit/)
})

test('every op of Step is in the wire table, and the C init knows each', () => {
  const declared = [...fs.readFileSync(path.join(SRC, 'runtime/rootfs/steps.ts'), 'utf8').matchAll(/[{\s]op: '(\w+)'/g)].map(m => m[1])
  assert.ok(declared.length > 25)
  assert.deepEqual([...WIRE_OPS].sort(), [...new Set(declared)].sort())
  const c = fs.readFileSync(path.join(SRC, 'runtime/monitor/container-init.c'), 'utf8')
  for (const op of WIRE_OPS) assert.match(c, new RegExp(`\\{"${op}", "[sniuba]*"\\}`), op)
})
