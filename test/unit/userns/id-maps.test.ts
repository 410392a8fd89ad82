import {test} from 'node:test'
import assert from 'node:assert/strict'
import {
  chooseWriter,
  formatMap,
  hostId,
  insideId,
  OVERFLOW_ID,
  starterOptions,
  mapArgs,
  mapSize,
  overlaps,
  parseSubIds,
  rangesOf,
  rootlessMap,
  writeMaps,
  type MapIo,
  type UsernsSpec,
} from '../../../src/userns'

const SUBUID = `# comment
alice:100000:65536
1001:200000:1000

bob:300000:65536
alice:500000:10
broken line
carol:x:5
dave:1:0
`

test('subordinate ranges: by name or uid, several per user, bad lines skipped', () => {
  const entries = parseSubIds(SUBUID)
  assert.deepEqual(
    entries.map(e => `${e.owner}:${e.start}:${e.count}`),
    ['alice:100000:65536', '1001:200000:1000', 'bob:300000:65536', 'alice:500000:10'],
  )
  assert.deepEqual(
    rangesOf(entries, {name: 'alice', uid: 1001}).map(e => e.start),
    [100000, 200000, 500000],
  )
  assert.deepEqual(
    rangesOf(entries, {uid: 1001}).map(e => e.start),
    [200000],
  )
  assert.deepEqual(rangesOf(entries, {name: 'nobody', uid: 65534}), [])
})

test('a rootless map: own id as root, then the ranges back to back; none: the single-id map', () => {
  const ranges = parseSubIds('u:100000:65536\nu:300000:10\n')
  const map = rootlessMap(1000, ranges)
  assert.deepEqual(map, [
    {inside: 0, outside: 1000, count: 1},
    {inside: 1, outside: 100000, count: 65536},
    {inside: 65537, outside: 300000, count: 10},
  ])
  assert.equal(mapSize(map), 65547)
  assert.equal(hostId(map, 1000), 100999)
  assert.equal(hostId(map, 0), 1000)
  assert.equal(hostId(map, 65547), undefined)
  assert.equal(formatMap(map), '0 1000 1\n1 100000 65536\n65537 300000 10\n')
  assert.deepEqual(mapArgs(map), ['0', '1000', '1', '1', '100000', '65536', '65537', '300000', '10'])
  assert.deepEqual(rootlessMap(65534, []), [{inside: 0, outside: 65534, count: 1}])
  // A range holding the user's own id is skipped: the kernel refuses a host id mapped twice.
  assert.deepEqual(rootlessMap(100005, ranges).length, 2)
})

test('overlap of ranges', () => {
  assert.equal(overlaps({start: 10, count: 5}, {start: 14, count: 1}), true)
  assert.equal(overlaps({start: 10, count: 5}, {start: 15, count: 1}), false)
  assert.equal(overlaps({start: 10, count: 5}, {start: 5, count: 5}), false)
})

function recordingIo(euid: number, egid: number, fail?: string): MapIo & {calls: string[]} {
  const calls: string[] = []
  return {
    euid,
    egid,
    calls,
    writeFile(file, text) {
      calls.push(`write ${file} ${JSON.stringify(text)}`)
      if (fail && file.endsWith(fail)) throw Object.assign(new Error('denied'), {code: 'EPERM'})
    },
    async runMapper(tool, args) {
      calls.push(`${tool} ${args.join(' ')}`)
    },
  }
}

const wide: UsernsSpec = {maps: {uid: [{inside: 0, outside: 100000, count: 65536}], gid: [{inside: 0, outside: 200000, count: 65536}]}}
const single: UsernsSpec = {maps: {uid: [{inside: 0, outside: 1000, count: 1}], gid: [{inside: 0, outside: 1000, count: 1}]}}

test('root writes both maps itself, uid first, setgroups left allowed', async () => {
  const io = recordingIo(0, 0)
  await writeMaps(42, wide, io)
  assert.deepEqual(io.calls, ['write /proc/42/uid_map "0 100000 65536\\n"', 'write /proc/42/gid_map "0 200000 65536\\n"'])
})

test('a user with only its own id: setgroups deny before the gid map', async () => {
  const io = recordingIo(1000, 1000)
  assert.equal(chooseWriter(single, 1000, 1000), 'single')
  await writeMaps(7, single, io)
  assert.deepEqual(io.calls, ['write /proc/7/uid_map "0 1000 1\\n"', 'write /proc/7/setgroups "deny"', 'write /proc/7/gid_map "0 1000 1\\n"'])
})

test('a user with subordinate ranges goes through newuidmap and newgidmap', async () => {
  const io = recordingIo(1000, 1000)
  assert.equal(chooseWriter(wide, 1000, 1000), 'newidmap')
  await writeMaps(7, wide, io)
  assert.deepEqual(io.calls, ['newuidmap 7 0 100000 65536', 'newgidmap 7 0 200000 65536'])
})

test('a refused map write is one UsernsError naming the file and the errno', async () => {
  const io = recordingIo(0, 0, 'gid_map')
  await assert.rejects(writeMaps(9, wide, io), (e: Error & {code?: string}) => {
    assert.equal(e.code, 'USERNS_MAP_FAILED')
    assert.equal(e.message, 'cannot write /proc/9/gid_map (0 200000 65536): EPERM')
    return true
  })
})

test('insideId inverts hostId; an id the map lacks is undefined (the caller shows it as OVERFLOW_ID, nobody)', () => {
  const map = rootlessMap(1000, parseSubIds('u:100000:65536\n'))
  for (const inside of [0, 1, 999, 65536]) assert.equal(insideId(map, hostId(map, inside)!), inside)
  assert.equal(insideId(map, 5), undefined)
  assert.equal(insideId(map, 165536), undefined)
  assert.equal(OVERFLOW_ID, 65534)
})

test('starterOptions: the starter arguments between -c FD and -- for a spec (what the monitor passes on with -o)', () => {
  assert.deepEqual(starterOptions({maps: {uid: [], gid: []}}), [])
  assert.deepEqual(
    starterOptions({
      maps: {uid: [], gid: []},
      newNetwork: true,
      staging: '/run/pivot-userns',
      idmapDirs: ['/a', {source: '/b', target: '/run/pivot-userns/l0'}],
      binds: [{source: '/c/rw', target: '/run/pivot-userns/rw'}],
      dirs: ['/run/pivot-userns/rootfs'],
    }),
    ['-n', '-s', '/run/pivot-userns', '-i', '/a', '-i', '/b=/run/pivot-userns/l0', '-b', '/c/rw=/run/pivot-userns/rw', '-d', '/run/pivot-userns/rootfs'],
  )
})
