import {test} from 'node:test'
import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {containerEnv, mergeEnv, resolveCommand, userEnv, checkHostname, checkContainerName, DEFAULT_PATH} from '../../../src/runtime/container-config'
import {resolveUser} from '../../../src/runtime/user'
import {checkFlags} from '../../../src/cli/run'

test('command: docker rules for Entrypoint, Cmd, arguments and --entrypoint', () => {
  const img = {Entrypoint: ['/entry'], Cmd: ['default']}
  assert.deepEqual(resolveCommand(img, []), ['/entry', 'default'])
  assert.deepEqual(resolveCommand(img, ['x', 'y']), ['/entry', 'x', 'y'])
  assert.deepEqual(resolveCommand(img, [], '/other'), ['/other'], 'a new entrypoint drops the image Cmd')
  assert.deepEqual(resolveCommand(img, ['a'], '/other'), ['/other', 'a'])
  assert.throws(() => resolveCommand(img, [], ''), /no command specified/, '--entrypoint "" drops the image Cmd too (docker: No command specified)')
  assert.deepEqual(resolveCommand(img, ['a', 'b'], ''), ['a', 'b'])
  assert.deepEqual(resolveCommand({Cmd: ['/bin/sh']}, []), ['/bin/sh'])
  assert.throws(
    () => resolveCommand({}, []),
    (e: Error & {exitCode: number}) => /no command specified/.test(e.message) && e.exitCode === 125,
  )
  assert.throws(() => resolveCommand({Entrypoint: ['/e']}, [], ''), /no command specified/)
})

test("env: later wins in place; PATH first (the image's in place of the default), then HOSTNAME, as docker orders them", () => {
  assert.deepEqual(mergeEnv(['A=1', 'B=2'], ['A=3', 'C=4']), ['A=3', 'B=2', 'C=4'])
  assert.deepEqual(containerEnv(['X=1'], 'h'), [`PATH=${DEFAULT_PATH}`, 'HOSTNAME=h', 'X=1'])
  assert.deepEqual(containerEnv(['PATH=/bin', 'HOSTNAME=mine'], 'h'), ['PATH=/bin', 'HOSTNAME=mine'])
  assert.deepEqual(containerEnv(['A=1', 'PATH=/bin'], 'h'), ['PATH=/bin', 'HOSTNAME=h', 'A=1'])
})

test('-e and --env-file: files first, KEY alone from the host, comments skipped', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pivot-env-'))
  try {
    const file = path.join(dir, 'env')
    fs.writeFileSync(file, '# comment\nA=from-file\n\nB=b\r\nFROM_HOST\nMISSING\n')
    assert.deepEqual(userEnv(['A=flag', 'FROM_HOST'], [file], {FROM_HOST: 'h'}), ['A=from-file', 'B=b', 'FROM_HOST=h', 'A=flag', 'FROM_HOST=h'])
    assert.throws(() => userEnv([], [path.join(dir, 'nope')]), /--env-file .*no such file/)
    assert.throws(() => userEnv(['=x'], []), /the name is empty/)
    assert.throws(() => userEnv(['A=\0'], []), /NUL/)
  } finally {
    fs.rmSync(dir, {recursive: true, force: true})
  }
})

test('names and hostnames', () => {
  checkContainerName('web-1.a_b')
  assert.throws(() => checkContainerName('-bad'), /invalid container name/)
  assert.throws(() => checkContainerName('a'), /invalid container name/)
  checkHostname('my-host.example')
  checkHostname('ci_box')
  checkHostname('x'.repeat(64))
  for (const bad of ['', 'x'.repeat(65), 'a b', 'a\nb', 'a#b', 'a/b', 'a\tb']) assert.throws(() => checkHostname(bad), /invalid hostname/, JSON.stringify(bad))
})

test("limits: docker's values, 0 (and pids below 0) meaning no limit; bad ones are one line, 125", () => {
  assert.deepEqual(checkFlags({'pids-limit': '20', memory: '256m', cpus: '0.5'}).limits, {pids: 20, memory: 256 * 1024 * 1024, cpus: 0.5})
  assert.deepEqual(checkFlags({'pids-limit': '0', memory: '0', cpus: '0'}).limits, {pids: -1, memory: 0, cpus: 0})
  assert.deepEqual(checkFlags({'pids-limit': '-1'}).limits, {pids: -1})
  assert.deepEqual(checkFlags({'pids-limit': '-2'}).limits, {pids: -1})
  for (const [flag, value, re] of [
    ['pids-limit', 'abc', /invalid --pids-limit "abc"/],
    ['pids-limit', '1.5', /invalid --pids-limit "1.5"/],
    ['memory', '12q', /invalid memory size "12q"/],
    ['memory', '-1', /invalid memory size "-1"/],
    ['memory', '1k', /too small/],
    ['cpus', '-1', /invalid CPU count/],
    ['cpus', '999', /invalid CPU count/],
  ] as const) {
    assert.throws(
      () => checkFlags({[flag]: value}),
      (e: Error & {exitCode: number}) => re.test(e.message) && !e.message.includes('\n') && e.exitCode === 125,
      `${flag} ${value}`,
    )
  }
})

test('users: names and numbers against the container passwd and group', () => {
  const passwd = 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001:App:/home/app:/bin/sh\n'
  const group = 'root:x:0:\nappg:x:1001:\nwheel:x:10:app,other\naudio:x:29:app\n'
  // docker: the primary gid is always a supplementary group; /etc/group memberships only when -u names no group.
  assert.deepEqual(resolveUser(undefined, passwd, group), {uid: 0, gid: 0, groups: [0], home: '/root'})
  assert.deepEqual(resolveUser('app', passwd, group), {uid: 1000, gid: 1001, groups: [1001, 10, 29], home: '/home/app'})
  assert.deepEqual(resolveUser('1000', passwd, group), {uid: 1000, gid: 1001, groups: [1001, 10, 29], home: '/home/app'})
  assert.deepEqual(resolveUser('1000:0', passwd, group), {uid: 1000, gid: 0, groups: [0], home: '/home/app'})
  assert.deepEqual(resolveUser('4242', passwd, group), {uid: 4242, gid: 0, groups: [0], home: '/'})
  assert.deepEqual(resolveUser('4242:77', passwd, group), {uid: 4242, gid: 77, groups: [77], home: '/'})
  assert.deepEqual(resolveUser('app:wheel', passwd, group).gid, 10)
  assert.deepEqual(resolveUser('app:wheel', passwd, group).groups, [10])
  // runc: an empty user part is uid 0, looked up (root's home and groups).
  assert.deepEqual(resolveUser(':29', passwd, group), {uid: 0, gid: 29, groups: [29], home: '/root'})
  assert.deepEqual(resolveUser(':', passwd, group), {uid: 0, gid: 0, groups: [0], home: '/root'})
  assert.throws(() => resolveUser('nobody', passwd, group), /unable to find user nobody: no matching entries in passwd file/)
  assert.throws(() => resolveUser('app:nogroup', passwd, group), /unable to find group nogroup/)
  assert.deepEqual(resolveUser('5', undefined, undefined), {uid: 5, gid: 0, groups: [0], home: '/'})
  // An id out of the kernel's range from the files fails as in docker (a uid of -1 would leave the command root).
  const odd = 'neg:x:-1:0::/:/bin/sh\nnegg:x:7:-1::/:/bin/sh\nbig:x:4294967296:0::/:/bin/sh\nm:x:8:8::/:/bin/sh\n'
  for (const user of ['neg', 'negg', 'big', 'm']) {
    assert.throws(
      () => resolveUser(user, odd, 'g:x:-7:m\n'),
      (e: Error & {code: string}) => e.code === 'RUN_BAD_USER' && e.message === 'uids and gids must be in range 0-2147483647',
      user,
    )
  }
  assert.deepEqual(resolveUser('m:8', odd, 'g:x:-7:m\n').groups, [8])
})
