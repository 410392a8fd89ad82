/* eslint-disable @typescript-eslint/no-explicit-any -- the tests edit config.json (runtime-spec JSON) freely, as any runtime-spec document */
import * as assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {test} from 'node:test'
import {translateConfig} from '../../../src/oci/oci-config'
import {planOciContainer} from '../../../src/oci/oci-plan'
import {parseSignal} from '../../../src/oci/runtime-cli'

const bundle = fs.mkdtempSync(path.join(os.tmpdir(), 'pivot-unit-oci-'))
fs.mkdirSync(path.join(bundle, 'rootfs'))
process.on('exit', () => fs.rmSync(bundle, {recursive: true, force: true}))

function spec(edit: (c: any) => void = () => undefined): any {
  const c: any = {
    ociVersion: '1.0.2-dev',
    root: {path: 'rootfs'},
    process: {
      user: {uid: 0, gid: 0},
      args: ['sh'],
      env: ['PATH=/bin'],
      cwd: '/',
      capabilities: {bounding: ['CAP_KILL'], effective: ['CAP_KILL'], permitted: ['CAP_KILL']},
      rlimits: [{type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024}],
    },
    hostname: 'h',
    mounts: [{destination: '/proc', type: 'proc', source: 'proc'}],
    linux: {namespaces: [{type: 'pid'}, {type: 'mount'}, {type: 'uts'}], maskedPaths: ['/proc/kcore'], readonlyPaths: ['/proc/sys']},
  }
  edit(c)
  return c
}

const noSeccomp = () => {
  throw new Error('no seccomp expected')
}

test('a plain config translates: namespaces, rlimits, root, hostname', () => {
  const t = translateConfig(spec(), bundle, noSeccomp)
  assert.equal(t.init.rootfs, path.join(bundle, 'rootfs'))
  assert.deepEqual(t.pidNamespace, {})
  assert.equal(t.init.hostname, 'h')
  assert.deepEqual(t.init.process.rlimits, [{resource: 7, soft: '1024', hard: '1024'}])
})

test('unknown capability and rlimit names, unknown fields and user namespaces are refused by name', () => {
  const refuse = (edit: (c: any) => void, pattern: RegExp) => assert.throws(() => translateConfig(spec(edit), bundle, noSeccomp), pattern)
  refuse(c => c.process.capabilities.bounding.push('CAP_TEST'), /process.capabilities.bounding: unknown capability "CAP_TEST"/)
  refuse(c => c.process.rlimits.push({type: 'RLIMIT_TEST', soft: 1, hard: 1}), /unknown rlimit "RLIMIT_TEST"/)
  refuse(c => (c.linux.intelRdt = {}), /linux.intelRdt is not supported by pivot/)
  refuse(c => c.linux.namespaces.push({type: 'user'}), /user namespace.*not supported by pivot/)
  refuse(c => (c.linux.namespaces = [{type: 'pid'}]), /unable to restrict sys entries without a private MNT namespace/)
  refuse(c => (c.hooks = {createContainer: [{path: '/bin/true'}]}), /hooks.createContainer/)
  refuse(c => (c.linux.seccomp = {defaultAction: 'SCMP_ACT_KILL'}), /defaultAction "SCMP_ACT_KILL" is not supported/)
  refuse(c => (c.linux.cgroupsPath = 'system.slice:docker:x'), /systemd slice/)
  refuse(c => (c.linux.sysctl = {'kernel.panic': '1'}), /kernel.panic is not a sysctl of a namespace/)
})

test('unset resource sections (empty objects, zeros) are not refused', () => {
  const t = translateConfig(
    spec(c => (c.linux.resources = {blockIO: {}, cpu: {shares: 0, realtimeRuntime: 0}, memory: {swappiness: null}, pids: {limit: 0}})),
    bundle,
    noSeccomp,
  )
  assert.equal(t.cpu, undefined)
})

test('the plan waits for start after the command is checked and before the identity and walls', () => {
  const t = translateConfig(spec(), bundle, noSeccomp)
  const ops = planOciContainer({...t.init, controlFd: 3, preserveFds: 0, fifo: '/x'}, {fifoFd: 9}).map(s => s.op)
  const at = (op: string) => ops.indexOf(op as never)
  assert.ok(at('pivotRoot') < at('maskPath'))
  assert.ok(at('resolveCommand') < at('waitStart'))
  assert.ok(at('waitStart') < at('capBounding'))
  assert.ok(at('setIds') < at('capabilities'))
  assert.equal(ops[ops.length - 1], 'exec')
})

test('signals by number and name', () => {
  assert.equal(parseSignal('9'), 9)
  assert.equal(parseSignal('KILL'), 9)
  assert.equal(parseSignal('SIGTERM'), 15)
  assert.throws(() => parseSignal('NOPE'), /unknown signal "NOPE"/)
})
