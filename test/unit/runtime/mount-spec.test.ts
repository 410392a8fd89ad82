// -v, --mount, --tmpfs and --ulimit as docker reads them: what each spelling becomes, and docker's
// message for each malformed one (the integration test compares the exit status with docker's).
import assert from 'node:assert/strict'
import {test} from 'node:test'
import {MS_NOEXEC, MS_NOSUID, MS_RDONLY} from '../../../src/sys'
import {parseMountFlag, parseTmpfsFlag, parseVolumeFlag} from '../../../src/runtime/mounts/mount-spec'
import {checkDuplicateTargets} from '../../../src/runtime/mounts/resolve-mounts'
import {parseUlimits} from '../../../src/runtime/ulimits'

const message = (fn: () => unknown) => {
  try {
    fn()
  } catch (error) {
    return (error as Error).message
  }
  return 'no error'
}

test('-v: binds, named and anonymous volumes, modes', () => {
  assert.deepEqual(parseVolumeFlag('/h/a/../b:/c/'), {type: 'bind', source: '/h/b', target: '/c', readOnly: false, createSource: true})
  assert.deepEqual(parseVolumeFlag('/h:/c:ro'), {type: 'bind', source: '/h', target: '/c', readOnly: true, createSource: true})
  assert.deepEqual(parseVolumeFlag('data:/var/lib/x:ro,nocopy'), {type: 'volume', name: 'data', target: '/var/lib/x', readOnly: true, noCopy: true})
  assert.deepEqual(parseVolumeFlag('/anon'), {type: 'volume', target: '/anon', readOnly: false, noCopy: false})
  assert.equal(
    message(() => parseVolumeFlag('')),
    'invalid empty volume spec',
  )
  assert.equal(
    message(() => parseVolumeFlag('/h:/c:bogus')),
    'invalid mode: bogus',
  )
  assert.equal(
    message(() => parseVolumeFlag('a:b:c:d')),
    "invalid volume specification: 'a:b:c:d'",
  )
  assert.match(
    message(() => parseVolumeFlag('/h:/')),
    /destination can't be '\/'/,
  )
  assert.match(
    message(() => parseVolumeFlag('/h:rel')),
    /invalid mount path: 'rel' mount path must be absolute/,
  )
  assert.match(
    message(() => parseVolumeFlag('bad name:/m')),
    /includes invalid characters for a local volume name/,
  )
  assert.match(
    message(() => parseVolumeFlag('/h:/proc/x')),
    /\/proc and \/sys are the kernel's/,
  )
})

test("--mount: keys, spellings, booleans and docker's errors", () => {
  assert.deepEqual(parseMountFlag('type=bind,src=/h,dst=/c,readonly'), {type: 'bind', source: '/h', target: '/c', readOnly: true, createSource: false})
  assert.deepEqual(parseMountFlag('source=vv,target=/c,volume-nocopy=true'), {type: 'volume', name: 'vv', target: '/c', readOnly: false, noCopy: true})
  assert.deepEqual(parseMountFlag('type=tmpfs,destination=/t,tmpfs-size=64m,tmpfs-mode=1770'), {
    type: 'tmpfs',
    target: '/t',
    readOnly: false,
    flags: MS_NOSUID | MS_NOEXEC,
    data: `size=${64 * 1024 * 1024},mode=1770`,
  })
  assert.equal(parseMountFlag('"type=bind","src=/a,b",dst=/c').type, 'bind')
  assert.match(
    message(() => parseMountFlag('')),
    /"--mount" flag: EOF$/,
  )
  assert.match(
    message(() => parseMountFlag('target')),
    /invalid field 'target' must be a key=value pair/,
  )
  assert.match(
    message(() => parseMountFlag('type=bind,src=/a,target=/m,bogus=1')),
    /unexpected key 'bogus' in 'bogus=1'/,
  )
  assert.match(
    message(() => parseMountFlag('source=/tmp')),
    /target is required/,
  )
  assert.match(
    message(() => parseMountFlag('type=bind,src=/a,dst=/m,ro=maybe')),
    /invalid value for ro: maybe/,
  )
  assert.match(
    message(() => parseMountFlag('type=bind,src=/a,dst=/m,tmpfs-size=1')),
    /cannot mix 'tmpfs-\*' options with mount type 'bind'/,
  )
  assert.match(
    message(() => parseMountFlag('type=foo,target=/m')),
    /invalid mount config for type "foo": mount type unknown/,
  )
  assert.match(
    message(() => parseMountFlag('type=bind,target=/m')),
    /field Source must not be empty/,
  )
  assert.match(
    message(() => parseMountFlag('type=tmpfs,source=x,target=/m')),
    /field Source must not be specified/,
  )
  assert.match(
    message(() => parseMountFlag('type=bind,src=/a,dst=/m,bind-propagation=shared')),
    /always private/,
  )
})

test("--tmpfs: docker's defaults, flags and data options; dev is refused", () => {
  assert.deepEqual(parseTmpfsFlag('/t'), {type: 'tmpfs', target: '/t', readOnly: false, flags: MS_NOSUID | MS_NOEXEC, data: ''})
  assert.deepEqual(parseTmpfsFlag('/t:ro,exec,size=1m,mode=700,uid=5'), {
    type: 'tmpfs',
    target: '/t',
    readOnly: true,
    flags: MS_NOSUID | MS_RDONLY,
    data: 'size=1m,mode=700,uid=5',
  })
  assert.equal(
    message(() => parseTmpfsFlag('/t:bogus')),
    'invalid tmpfs option ["bogus"]',
  )
  assert.match(
    message(() => parseTmpfsFlag('/t:dev')),
    /nodev/,
  )
  assert.match(
    message(() => parseTmpfsFlag('/t:size=abc')),
    /size=abc/,
  )
  assert.match(
    message(() => parseTmpfsFlag('rel')),
    /must be absolute/,
  )
})

test('duplicate mount points across -v, --mount and --tmpfs', () => {
  assert.equal(
    message(() => checkDuplicateTargets([parseVolumeFlag('/h:/m'), parseTmpfsFlag('/m/')])),
    'Duplicate mount point: /m',
  )
  assert.equal(
    message(() => checkDuplicateTargets([parseVolumeFlag('/h:/m'), parseTmpfsFlag('/n')])),
    'no error',
  )
})

test("--ulimit: soft[:hard], -1 unlimited, the last of a name wins, docker's messages", () => {
  assert.deepEqual(parseUlimits(['nofile=100:200', 'core=-1', 'nofile=50']), [
    {name: 'nofile', soft: 50, hard: 50},
    {name: 'core', soft: -1, hard: -1},
  ])
  assert.match(
    message(() => parseUlimits(['foo=1'])),
    /invalid ulimit type: foo/,
  )
  assert.match(
    message(() => parseUlimits(['nofile'])),
    /invalid ulimit argument: nofile/,
  )
  assert.match(
    message(() => parseUlimits(['nofile=abc'])),
    /strconv.ParseInt: parsing "abc": invalid syntax/,
  )
  assert.match(
    message(() => parseUlimits(['nofile=200:100'])),
    /soft limit must be less than or equal to hard limit: 200 > 100/,
  )
})
