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

test('unknown capability and rlimit names and unknown fields are refused by name', () => {
  const refuse = (edit: (c: any) => void, pattern: RegExp) => assert.throws(() => translateConfig(spec(edit), bundle, noSeccomp), pattern)
  refuse(c => c.process.capabilities.bounding.push('CAP_TEST'), /process.capabilities.bounding: unknown capability "CAP_TEST"/)
  refuse(c => c.process.rlimits.push({type: 'RLIMIT_TEST', soft: 1, hard: 1}), /unknown rlimit "RLIMIT_TEST"/)
  refuse(c => (c.linux.intelRdt = {}), /linux.intelRdt is not supported by pivot/)
  refuse(c => c.linux.namespaces.push({type: 'user'}), /linux.uidMappings: a new user namespace needs uid and gid mappings/)
  refuse(c => (c.linux.namespaces = [{type: 'pid'}]), /unable to restrict sys entries without a private MNT namespace/)
  refuse(c => (c.hooks = {createContainer: [{path: '/bin/true'}]}), /hooks.createContainer/)
  refuse(c => (c.linux.seccomp = {defaultAction: 'SCMP_ACT_KILL'}), /defaultAction "SCMP_ACT_KILL" is not supported/)
  refuse(c => (c.linux.cgroupsPath = 'system.slice:docker:x'), /systemd slice/)
  refuse(c => (c.linux.sysctl = {'kernel.panic': '1'}), /kernel.panic is not a sysctl of a namespace/)
})

test('a user namespace: maps for a new one, every namespace path joined before it, devices bound', () => {
  const maps = (c: any) => {
    c.linux.uidMappings = [
      {containerID: 0, hostID: 100000, size: 1000},
      {containerID: 1000, hostID: 200000, size: 10},
    ]
    c.linux.gidMappings = [{containerID: 0, hostID: 100000, size: 65536}]
  }
  const made = translateConfig(
    spec(c => {
      maps(c)
      c.linux.namespaces = [{type: 'pid', path: '/proc/1/ns/pid'}, {type: 'network', path: '/proc/1/ns/net'}, {type: 'mount'}, {type: 'uts'}, {type: 'user'}]
    }),
    bundle,
    noSeccomp,
  )
  assert.deepEqual(made.userNamespace, {
    maps: {
      uid: [
        {inside: 0, outside: 100000, count: 1000},
        {inside: 1000, outside: 200000, count: 10},
      ],
      gid: [{inside: 0, outside: 100000, count: 65536}],
    },
  })
  // Joined by the starter, with the host's privileges, before the user namespace exists.
  assert.deepEqual(made.starterJoins, ['/proc/1/ns/pid', '/proc/1/ns/net'])
  assert.deepEqual(made.init.join, [])
  assert.equal(made.init.userns, true)
  const devices = planOciContainer({...made.init, controlFd: 3, preserveFds: 0, fifo: '/x'}, {fifoFd: 9}).filter(s => s.op === 'ociDevice')
  assert.ok(devices.length > 0 && devices.every(s => s.op === 'ociDevice' && s.bind === true))

  const joined = translateConfig(
    spec(c => c.linux.namespaces.push({type: 'user', path: '/proc/1/ns/user'})),
    bundle,
    noSeccomp,
  )
  assert.deepEqual(joined.userNamespace, {path: '/proc/1/ns/user'})
  assert.equal(translateConfig(spec(), bundle, noSeccomp).userNamespace, null)

  const refuse = (edit: (c: any) => void, pattern: RegExp) => assert.throws(() => translateConfig(spec(edit), bundle, noSeccomp), pattern)
  refuse(maps, /mappings are given, but linux.namespaces has no user namespace/)
  refuse(c => {
    maps(c)
    c.linux.namespaces.push({type: 'user', path: '/proc/1/ns/user'})
  }, /with a user namespace path are not supported by pivot/)
  refuse(c => {
    maps(c)
    c.linux.namespaces = [{type: 'pid'}, {type: 'uts'}, {type: 'user'}]
    c.linux.maskedPaths = []
    c.linux.readonlyPaths = []
  }, /with a user namespace but no mount namespace is not supported by pivot/)
  refuse(c => {
    maps(c)
    c.linux.namespaces.push({type: 'user'})
    c.linux.gidMappings.push({containerID: 5, hostID: 1, size: 1})
  }, /linux.gidMappings: entries 0 and 1 overlap inside the container/)
  refuse(c => {
    maps(c)
    c.linux.namespaces.push({type: 'user'})
    c.linux.uidMappings[1].size = 0
  }, /linux.uidMappings\[1\].size: must be an integer from 1/)
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
