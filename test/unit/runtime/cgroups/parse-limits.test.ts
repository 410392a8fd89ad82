import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {CgroupError, DEFAULT_PIDS_LIMIT, PIDS_UNLIMITED, parseCpus, parseMemory, parsePidsLimit} from '../../../../src/runtime/cgroups'
import {resolveLimits} from '../../../../src/runtime/cgroups/parse-limits'
import {RUN_FLAGS} from '../../../../src/runtime/run-flags'

const KiB = 1024
const MiB = 1024 ** 2
const GiB = 1024 ** 3

function assertCgroupError(fn: () => unknown, code: string, message?: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof CgroupError, `expected a CgroupError, got ${String(error)}`)
    assert.equal(error.code, code)
    assert.ok(!error.message.includes('\n'), 'one line')
    if (message) assert.match(error.message, message)
    return true
  })
}

describe('parseMemory', () => {
  const valid: Array<[string, number]> = [
    ['256m', 256 * MiB],
    ['256M', 256 * MiB],
    ['256mb', 256 * MiB],
    ['256MiB', 256 * MiB],
    ['1g', GiB],
    ['1G', GiB],
    ['1.5g', 1.5 * GiB],
    ['6m', 6 * MiB],
    ['6144k', 6 * MiB],
    ['6144kb', 6 * MiB],
    ['7340032', 7 * MiB],
    ['7340032b', 7 * MiB],
    ['8 m', 8 * MiB],
    [' 1g ', GiB],
    ['2t', 2 * 1024 * GiB],
    ['0', 0], // docker: 0 = no limit
    ['0m', 0],
  ]
  for (const [text, bytes] of valid) {
    it(`accepts ${JSON.stringify(text)}`, () => assert.equal(parseMemory(text), bytes))
  }

  const invalid: Array<[string, string]> = [
    ['', 'CGROUP_BAD_MEMORY'],
    ['abc', 'CGROUP_BAD_MEMORY'],
    ['-1', 'CGROUP_BAD_MEMORY'],
    ['-256m', 'CGROUP_BAD_MEMORY'],
    ['1x', 'CGROUP_BAD_MEMORY'],
    ['1gg', 'CGROUP_BAD_MEMORY'],
    ['1.2.3m', 'CGROUP_BAD_MEMORY'],
    ['.5g', 'CGROUP_BAD_MEMORY'],
    ['1ib', 'CGROUP_BAD_MEMORY'],
    ['m', 'CGROUP_BAD_MEMORY'],
    ['1e9', 'CGROUP_BAD_MEMORY'],
    ['0x100000', 'CGROUP_BAD_MEMORY'],
    ['1024b', 'CGROUP_BAD_MEMORY'], // valid syntax, below docker's 6 MiB floor
    ['4m', 'CGROUP_BAD_MEMORY'],
    ['6143k', 'CGROUP_BAD_MEMORY'],
    ['99999999p', 'CGROUP_BAD_MEMORY'], // beyond a safe integer
  ]
  for (const [text, code] of invalid) {
    it(`refuses ${JSON.stringify(text)}`, () => assertCgroupError(() => parseMemory(text), code))
  }

  it('names the minimum when too small', () => {
    assertCgroupError(() => parseMemory('1024b'), 'CGROUP_BAD_MEMORY', /minimum is 6m/)
  })

  it('shows the syntax when unreadable', () => {
    assertCgroupError(() => parseMemory('lots'), 'CGROUP_BAD_MEMORY', /"lots".*512m/)
  })

  it('parses 1024b and 512k exactly (below the floor only because of the floor)', () => {
    assert.equal(parseMemory(String(6 * MiB)), 6 * MiB)
    assert.equal(parseMemory(`${6 * 1024}k`), 6 * 1024 * KiB)
  })
})

describe('parseCpus', () => {
  const valid: Array<[string, number, number]> = [
    ['1', 1, 2],
    ['2', 2, 2],
    ['1.5', 1.5, 2],
    ['0.5', 0.5, 2],
    ['.5', 0.5, 2],
    ['2.', 2, 2],
    ['0.01', 0.01, 1],
    ['0', 0, 2], // docker: 0 = no limit
    ['0.000', 0, 2],
    ['64', 64, 64],
  ]
  for (const [text, cpus, host] of valid) {
    it(`accepts ${JSON.stringify(text)} on ${host} CPUs`, () => assert.equal(parseCpus(text, host), cpus))
  }

  const invalid: Array<[string, number]> = [
    ['', 2],
    ['one', 2],
    ['-1', 2],
    ['-0.5', 2],
    ['1,5', 2],
    ['1e0', 2],
    ['Infinity', 2],
    ['NaN', 2],
    ['0.001', 2], // below the kernel's 1 ms quota per 100 ms period
    ['0.009', 2],
    ['2.5', 2], // more than the host has (docker's rule)
    ['3', 2],
    ['1.01', 1],
  ]
  for (const [text, host] of invalid) {
    it(`refuses ${JSON.stringify(text)} on ${host} CPUs`, () => assertCgroupError(() => parseCpus(text, host), 'CGROUP_BAD_CPUS'))
  }

  it('names the range, like docker', () => {
    assertCgroupError(() => parseCpus('3', 2), 'CGROUP_BAD_CPUS', /range is from 0\.01 to 2, as there are only 2 CPUs/)
  })

  it('defaults to the CPUs this process may use', () => {
    assert.equal(parseCpus('1'), 1)
    assertCgroupError(() => parseCpus('100000'), 'CGROUP_BAD_CPUS')
  })
})

describe('parsePidsLimit', () => {
  const valid: Array<[string, number]> = [
    ['1', 1],
    ['20', 20],
    ['+20', 20],
    [' 100 ', 100],
    ['4194304', 4194304],
    ['0', PIDS_UNLIMITED], // docker: <= 0 = unlimited
    ['-1', PIDS_UNLIMITED],
    ['-100', PIDS_UNLIMITED],
  ]
  for (const [text, pids] of valid) {
    it(`accepts ${JSON.stringify(text)}`, () => assert.equal(parsePidsLimit(text), pids))
  }

  for (const text of ['', 'x', '1.5', '10k', '1e3', '0x10', '4194305', '99999999999999999999']) {
    it(`refuses ${JSON.stringify(text)}`, () => assertCgroupError(() => parsePidsLimit(text), 'CGROUP_BAD_PIDS'))
  }

  it('applies the default that pivot run --help states', () => {
    const flag = RUN_FLAGS.find(f => f.name === 'pids-limit')
    const stated = /\[default: (\d+)\]/.exec(flag?.description ?? '')
    assert.ok(stated, `no default in: ${flag?.description}`)
    assert.equal(resolveLimits({}, 2).pids, Number(stated[1]))
  })
})

describe('resolveLimits (limits that did not come through parse*)', () => {
  it('applies the default pids limit', () => {
    assert.deepEqual(resolveLimits({}, 2), {pids: DEFAULT_PIDS_LIMIT, pidsRequested: false})
  })

  it('turns "no limit" values into no limit', () => {
    assert.deepEqual(resolveLimits({pids: -1, memory: 0, cpus: 0}, 2), {pids: 'max', pidsRequested: false})
  })

  it('turns cpus into a quota per 100 ms period', () => {
    assert.equal(resolveLimits({cpus: 1.5}, 2).cpuQuotaUs, 150_000)
    assert.equal(resolveLimits({cpus: 0.01}, 2).cpuQuotaUs, 1_000)
    assert.equal(resolveLimits({cpus: 1 / 3}, 2).cpuQuotaUs, 33_333)
  })

  it('refuses what the parse functions refuse', () => {
    assertCgroupError(() => resolveLimits({pids: 1.5}, 2), 'CGROUP_BAD_PIDS')
    assertCgroupError(() => resolveLimits({pids: 5_000_000}, 2), 'CGROUP_BAD_PIDS')
    assertCgroupError(() => resolveLimits({memory: 1024}, 2), 'CGROUP_BAD_MEMORY')
    assertCgroupError(() => resolveLimits({memory: 7 * MiB + 0.5}, 2), 'CGROUP_BAD_MEMORY')
    assertCgroupError(() => resolveLimits({memory: -1}, 2), 'CGROUP_BAD_MEMORY')
    assertCgroupError(() => resolveLimits({cpus: 3}, 2), 'CGROUP_BAD_CPUS')
    assertCgroupError(() => resolveLimits({cpus: Number.NaN}, 2), 'CGROUP_BAD_CPUS')
  })
})
