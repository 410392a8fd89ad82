// Docker's rules for capabilities and --security-opt, the seccomp profile as data, and the parsers
// of what a #! line and an ELF file ask the kernel to run. Pure functions: no root.
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {RecordingSyscalls} from '../../../src/sys'
import {capabilityMask, DEFAULT_CAPABILITIES, knownCapabilities, normalizeCapability, resolveCapabilities} from '../../../src/runtime/security/capabilities'
import {CLONE_NAMESPACE_FLAGS, ENOSYS, seccompRules} from '../../../src/runtime/security/seccomp-profile'
import {parseSecurityOpts, securityConfig} from '../../../src/runtime/security/security-options'
import {elfInterpreter, shebang} from '../../../src/runtime/security/exec-guard'
import {parseRunArgs} from '../../../src/runtime/run-flags'
import {checkFlags} from '../../../src/cli/run'

const ALL = (1n << 41n) - 1n

test("docker's default capabilities are CapEff 00000000a80425fb", () => {
  assert.equal(capabilityMask(DEFAULT_CAPABILITIES).toString(16), 'a80425fb')
  assert.equal(DEFAULT_CAPABILITIES.length, 14)
  assert.equal(capabilityMask(resolveCapabilities({}, ALL)).toString(16), 'a80425fb')
})

test('cap names as docker spells them: any case, with or without CAP_, ALL; unknown is an error', () => {
  assert.equal(normalizeCapability('sys_admin', '--cap-add'), 'CAP_SYS_ADMIN')
  assert.equal(normalizeCapability('CAP_NET_ADMIN', '--cap-add'), 'CAP_NET_ADMIN')
  assert.equal(normalizeCapability('Cap_Chown', '--cap-drop'), 'CAP_CHOWN')
  assert.equal(normalizeCapability('all', '--cap-drop'), 'ALL')
  assert.throws(
    () => normalizeCapability('NET_FLY', '--cap-add'),
    (e: Error & {exitCode?: number}) => /invalid --cap-add "NET_FLY": unknown capability/.test(e.message) && e.exitCode === 125,
  )
})

test("cap-add / cap-drop / ALL / --privileged by docker's TweakCapabilities", () => {
  const mask = (o: Parameters<typeof resolveCapabilities>[0]) => capabilityMask(resolveCapabilities(o, ALL))
  assert.equal(mask({capDrop: ['ALL']}), 0n)
  assert.equal(mask({capAdd: ['SYS_ADMIN']}), 0xa80425fbn | (1n << 21n))
  assert.equal(mask({capDrop: ['chown', 'NET_RAW']}), 0xa80425fbn & ~1n & ~(1n << 13n))
  assert.equal(mask({capDrop: ['ALL'], capAdd: ['NET_BIND_SERVICE']}), 1n << 10n)
  assert.equal(mask({capAdd: ['ALL'], capDrop: ['SYS_ADMIN']}), ALL & ~(1n << 21n))
  assert.equal(mask({privileged: true, capDrop: ['ALL']}), ALL)
  // "every capability" is the ones pivot holds (its bounding set), not more.
  assert.equal(capabilityMask(resolveCapabilities({privileged: true}, ALL & ~(1n << 24n))), ALL & ~(1n << 24n))
  assert.deepEqual(knownCapabilities(0b101n), ['CAP_CHOWN', 'CAP_DAC_READ_SEARCH'])
})

test("--security-opt: no-new-privileges in docker's spellings, seccomp=unconfined, nothing else", () => {
  assert.deepEqual(parseSecurityOpts([]), {noNewPrivileges: false, seccomp: 'default'})
  for (const v of ['no-new-privileges', 'no-new-privileges:true', 'no-new-privileges=true']) assert.equal(parseSecurityOpts([v]).noNewPrivileges, true)
  assert.equal(parseSecurityOpts(['no-new-privileges', 'no-new-privileges:false']).noNewPrivileges, false)
  assert.equal(parseSecurityOpts(['seccomp=unconfined']).seccomp, 'unconfined')
  assert.equal(parseSecurityOpts(['seccomp:unconfined']).seccomp, 'unconfined')
  for (const bad of ['apparmor=unconfined', 'seccomp=/tmp/p.json', 'label=disable', 'no-new-privileges:maybe']) {
    assert.throws(
      () => parseSecurityOpts([bad]),
      (e: Error & {exitCode?: number}) => e.message.startsWith(`invalid --security-opt ${JSON.stringify(bad)}`) && e.exitCode === 125,
    )
  }
})

test('run flags: --cap-add/--cap-drop/--security-opt repeatable, --privileged boolean; bad names fail before anything runs', () => {
  const p = parseRunArgs(['--cap-add', 'SYS_ADMIN', '--cap-add=net_admin', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges', '--privileged', 'img'])
  assert.deepEqual(p.flags['cap-add'], ['SYS_ADMIN', 'net_admin'])
  assert.deepEqual(p.flags['cap-drop'], ['ALL'])
  assert.deepEqual(p.flags['security-opt'], ['no-new-privileges'])
  assert.equal(p.flags.privileged, true)
  assert.throws(() => checkFlags(parseRunArgs(['--cap-drop', 'bogus', 'img']).flags), /invalid --cap-drop "bogus": unknown capability/)
  const s = checkFlags(parseRunArgs(['--security-opt', 'no-new-privileges:true', '--security-opt', 'seccomp=unconfined', 'img']).flags)
  assert.equal(s.security.noNewPrivileges, true)
  assert.equal(s.security.seccomp, 'unconfined')
})

test('the seccomp profile: clone without namespace flags, clone3 ENOSYS, the dangerous calls absent by default', () => {
  const rules = seccompRules(DEFAULT_CAPABILITIES, 'x64')
  const by = (name: string) => rules.filter(r => r.name === name)
  assert.deepEqual(by('clone'), [{name: 'clone', errno: undefined, args: [{index: 0, op: 'maskedEq', value: CLONE_NAMESPACE_FLAGS, valueTwo: 0n}]}])
  assert.deepEqual(by('clone3'), [{name: 'clone3', errno: ENOSYS, args: []}])
  for (const denied of [
    'mount',
    'umount2',
    'unshare',
    'setns',
    'pivot_root',
    'kexec_load',
    'kexec_file_load',
    'init_module',
    'finit_module',
    'delete_module',
    'bpf',
    'keyctl',
    'add_key',
    'request_key',
    'open_by_handle_at',
    'perf_event_open',
    'userfaultfd',
    'reboot',
    'swapon',
    'sethostname',
    'io_uring_setup',
    'io_uring_enter',
  ]) {
    assert.deepEqual(by(denied), [], `${denied} is not allowed by default`)
  }
  for (const allowed of ['read', 'execve', 'execveat', 'capset', 'prctl', 'close_range', 'rt_sigaction', 'ptrace', 'chroot', 'arch_prctl', 'setresuid']) {
    assert.equal(by(allowed).length, 1, `${allowed} is allowed`)
  }
  assert.equal(by('personality').length, 5)
  assert.deepEqual(by('socket')[0].args, [{index: 0, op: 'ne', value: 40n}])
  assert.equal(new Set(rules.filter(r => r.args.length === 0).map(r => r.name)).size, rules.filter(r => r.args.length === 0).length, 'no duplicate')
  assert.deepEqual(
    seccompRules(DEFAULT_CAPABILITIES, 'arm64').filter(r => r.name === 'arch_prctl'),
    [],
  )
})

test("the seccomp profile follows the capabilities as docker's does", () => {
  const admin = seccompRules([...DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN'], 'x64')
  for (const name of ['mount', 'umount2', 'unshare', 'setns', 'sethostname']) assert.equal(admin.filter(r => r.name === name).length, 1, name)
  assert.deepEqual(
    admin.filter(r => r.name === 'clone'),
    [{name: 'clone', errno: undefined, args: []}],
  )
  assert.deepEqual(
    admin.filter(r => r.name === 'clone3'),
    [{name: 'clone3', errno: undefined, args: []}],
  )
  assert.deepEqual(
    admin.filter(r => r.name === 'keyctl' || r.name === 'kexec_load'),
    [],
    'never, whatever the capabilities',
  )
  const mod = seccompRules([...DEFAULT_CAPABILITIES, 'CAP_SYS_MODULE'], 'x64')
  assert.equal(mod.filter(r => r.name === 'init_module').length, 1)
  const noChroot = seccompRules(
    DEFAULT_CAPABILITIES.filter(c => c !== 'CAP_SYS_CHROOT'),
    'x64',
  )
  assert.deepEqual(
    noChroot.filter(r => r.name === 'chroot'),
    [],
  )
})

test('securityConfig: a compiled filter by default; none with --privileged or seccomp=unconfined; a missing libseccomp is one line', () => {
  const sys = new RecordingSyscalls()
  const d = securityConfig({}, sys, null)
  assert.equal(capabilityMask(d.capabilities), 0xa80425fbn)
  assert.equal(d.privileged, false)
  assert.equal(typeof d.seccompFilter, 'string')
  assert.equal(sys.calls[0].call, 'seccomp_compile')
  assert.equal(securityConfig({seccomp: 'unconfined'}, sys, null).seccompFilter, null)
  assert.equal(securityConfig({privileged: true}, sys, null).seccompFilter, null)
  const missing = new RecordingSyscalls()
  missing.seccompCompile = () => {
    const {SysLibraryError} = require('../../../src/sys') as typeof import('../../../src/sys')
    throw new SysLibraryError('libseccomp.so.2', 'not found', 'install the libseccomp2 package')
  }
  assert.throws(
    () => securityConfig({}, missing, null),
    (e: Error & {exitCode?: number}) =>
      !e.message.includes('\n') && /libseccomp2/.test(e.message) && /seccomp=unconfined/.test(e.message) && e.exitCode === 125,
  )
})

test('#! lines parsed as binfmt_script does', () => {
  const sb = (s: string) => shebang(Buffer.from(s))
  assert.deepEqual(sb('#!/bin/sh\n'), {interpreter: '/bin/sh', arg: undefined})
  assert.deepEqual(sb('#! /usr/bin/env  python3 -u  \nx'), {interpreter: '/usr/bin/env', arg: 'python3 -u'})
  assert.deepEqual(sb('#!/bin/sh\t-e\n'), {interpreter: '/bin/sh', arg: '-e'})
  assert.equal(sb('#!\n'), undefined)
  assert.equal(sb('#!   \n'), undefined)
  assert.equal(sb('#!/' + 'a'.repeat(300)), undefined, 'an interpreter name cut by the 256-byte buffer')
  assert.deepEqual(sb('#!/bin/sh ' + 'x'.repeat(300)), {interpreter: '/bin/sh', arg: 'x'.repeat(245)})
})

test('PT_INTERP of 64- and 32-bit ELF files; none for static or non-ELF', () => {
  const sys = new RecordingSyscalls()
  const elf64 = Buffer.alloc(0x200)
  elf64.write('\x7fELF', 0, 'latin1')
  elf64[4] = 2
  elf64[5] = 1
  elf64.writeBigUInt64LE(64n, 0x20)
  elf64.writeUInt16LE(56, 0x36)
  elf64.writeUInt16LE(2, 0x38)
  elf64.writeUInt32LE(1, 64) // PT_LOAD
  elf64.writeUInt32LE(3, 64 + 56) // PT_INTERP
  elf64.writeBigUInt64LE(0x180n, 64 + 56 + 8)
  elf64.writeBigUInt64LE(28n, 64 + 56 + 0x20)
  elf64.write('/lib64/ld-linux-x86-64.so.2\0', 0x180)
  assert.equal(elfInterpreter(sys, 3, elf64), '/lib64/ld-linux-x86-64.so.2')
  const elf32 = Buffer.alloc(0x200)
  elf32.write('\x7fELF', 0, 'latin1')
  elf32[4] = 1
  elf32[5] = 1
  elf32.writeUInt32LE(52, 0x1c)
  elf32.writeUInt16LE(32, 0x2a)
  elf32.writeUInt16LE(1, 0x2c)
  elf32.writeUInt32LE(3, 52)
  elf32.writeUInt32LE(0x100, 52 + 4)
  elf32.writeUInt32LE(19, 52 + 0x10)
  elf32.write('/lib/ld-linux.so.2\0', 0x100)
  assert.equal(elfInterpreter(sys, 3, elf32), '/lib/ld-linux.so.2')
  const stat = Buffer.from(elf64)
  stat.writeUInt32LE(1, 64 + 56)
  assert.equal(elfInterpreter(sys, 3, stat), undefined)
  assert.equal(elfInterpreter(sys, 3, Buffer.from('#!/bin/sh\n')), undefined)
})
