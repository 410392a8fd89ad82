// The lifecycle commands' pure parts: signals, --tail, --since, STATUS text, and how a container
// is named (full id, name, unique prefix) and judged (running, exited, dead) from its files.
import {test} from 'node:test'
import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {containerStatus, parseSignal, resolveContainer} from '../../../src/runtime/lifecycle/containers'
import {parseSince, parseTail} from '../../../src/runtime/lifecycle/logs'
import {statusText} from '../../../src/runtime/list-containers'
import {currentOwner, writeState, type ContainerState} from '../../../src/store/container-record'
import {reserveName} from '../../../src/runtime/container-name'
import {Store} from '../../../src/store/store'
import {isPivotError} from '../../../src/errors'

test('signals: names with or without SIG in any case, numbers 1-64, real-time names; others refused (exit 1)', () => {
  assert.equal(parseSignal('KILL'), 9)
  assert.equal(parseSignal('sigterm'), 15)
  assert.equal(parseSignal('usr1'), 10)
  assert.equal(parseSignal('10'), 10)
  assert.equal(parseSignal('64'), 64)
  assert.equal(parseSignal('RTMIN'), 34)
  assert.equal(parseSignal('SIGRTMIN+2'), 36)
  assert.equal(parseSignal('RTMAX-1'), 63)
  for (const bad of ['FOO', '0', '65', '-1', '', 'SIG', 'RTMIN+40']) {
    assert.throws(
      () => parseSignal(bad),
      (e: unknown) => isPivotError(e) && e.code === 'CONTAINER_BAD_SIGNAL' && e.exitCode === 1,
      bad,
    )
  }
})

test('--tail: all, N, a negative number means all; junk refused (125)', () => {
  assert.equal(parseTail(undefined), undefined)
  assert.equal(parseTail('all'), undefined)
  assert.equal(parseTail('0'), 0)
  assert.equal(parseTail('12'), 12)
  assert.equal(parseTail('-1'), undefined)
  assert.throws(
    () => parseTail('ten'),
    (e: unknown) => isPivotError(e) && e.exitCode === 125,
  )
})

test('--since: RFC 3339, Unix timestamps, Go durations before now', () => {
  const now = Date.parse('2026-12-04T12:00:00Z')
  assert.equal(parseSince('2026-12-04T11:00:00Z', now), Date.parse('2026-12-04T11:00:00Z'))
  assert.equal(parseSince('1700000000', now), 1700000000_000)
  assert.equal(parseSince('1700000000.5', now), 1700000000_500)
  assert.equal(parseSince('10m', now), now - 600_000)
  assert.equal(parseSince('1h30m', now), now - 5_400_000)
  assert.equal(parseSince('1.5s', now), now - 1500)
  for (const bad of ['yesterday', '10x', '', '2026-13-45'])
    assert.throws(
      () => parseSince(bad, now),
      (e: unknown) => isPivotError(e) && e.exitCode === 125,
      bad,
    )
})

test('STATUS as docker ps shows it', () => {
  const now = Date.parse('2026-12-04T12:00:00Z')
  const ago = (ms: number) => new Date(now - ms).toISOString()
  assert.equal(statusText({state: 'running', started: ago(3000)}, now), 'Up 3 seconds')
  assert.equal(statusText({state: 'running', started: ago(500)}, now), 'Up Less than a second')
  assert.equal(statusText({state: 'running', started: ago(61_000)}, now), 'Up About a minute')
  assert.equal(statusText({state: 'exited', exitCode: 0, finished: ago(120_000)}, now), 'Exited (0) 2 minutes ago')
  assert.equal(statusText({state: 'exited', exitCode: 137, finished: ago(3 * 3_600_000)}, now), 'Exited (137) 3 hours ago')
  assert.equal(statusText({state: 'created'}, now), 'Created')
  assert.equal(statusText({state: 'dead'}, now), 'Dead')
})

function record(id: string, extra: Partial<ContainerState> = {}): ContainerState {
  return {
    id,
    image: 'sha256:' + 'e'.repeat(64),
    layers: [],
    command: ['true'],
    hostname: id.slice(0, 12),
    status: 'running',
    owner: currentOwner(),
    limits: {},
    remove: false,
    created: new Date().toISOString(),
    ...extra,
  }
}

test('containers by full id, name or unique prefix; unknown and ambiguous ones are errors with exit 1', () => {
  const store = Store.open(fs.mkdtempSync(path.join(os.tmpdir(), 'pivot-unit-lifecycle-')))
  try {
    const a = 'ab' + '1'.repeat(62)
    const b = 'ab' + '2'.repeat(62)
    const c = 'cd' + '3'.repeat(62)
    for (const id of [a, b, c]) {
      fs.mkdirSync(store.path('containers', id))
      writeState(store, record(id))
    }
    reserveName(store, 'web', c)
    assert.equal(resolveContainer(store, a), a)
    assert.equal(resolveContainer(store, 'ab1'), a)
    assert.equal(resolveContainer(store, 'web'), c)
    assert.equal(resolveContainer(store, '/web'), c)
    assert.equal(resolveContainer(store, 'c'), c)
    assert.throws(
      () => resolveContainer(store, 'ab'),
      (e: unknown) => isPivotError(e) && e.code === 'CONTAINER_AMBIGUOUS' && e.exitCode === 1,
    )
    for (const bad of ['nope', 'ef', '', '../x']) {
      assert.throws(
        () => resolveContainer(store, bad),
        (e: unknown) => isPivotError(e) && e.code === 'CONTAINER_NOT_FOUND' && e.exitCode === 1,
        bad,
      )
    }
    // Running with a live owner; the monitor's exit record wins over a stale "running"; a dead owner.
    assert.equal(containerStatus(store, a)!.state, 'running')
    fs.writeFileSync(store.path('containers', b, 'exit.json'), '{"exitCode":3,"finished":"2026-12-04T12:00:00Z"}\n')
    assert.deepEqual([containerStatus(store, b)!.state, containerStatus(store, b)!.exitCode], ['exited', 3])
    writeState(store, record(c, {owner: {pid: 2 ** 22 + 1, startTime: '1'}}))
    assert.equal(containerStatus(store, c)!.state, 'dead')
  } finally {
    fs.rmSync(store.root, {recursive: true, force: true})
  }
})

test("--restart: docker's policies and messages", async () => {
  const {parseRestartPolicy} = await import('../../../src/cli/run')
  assert.deepEqual(parseRestartPolicy('no'), {name: 'no', maximumRetryCount: 0})
  assert.deepEqual(parseRestartPolicy('on-failure:3'), {name: 'on-failure', maximumRetryCount: 3})
  assert.deepEqual(parseRestartPolicy('always'), {name: 'always', maximumRetryCount: 0})
  assert.deepEqual(parseRestartPolicy('unless-stopped'), {name: 'unless-stopped', maximumRetryCount: 0})
  assert.throws(() => parseRestartPolicy('sometimes'), /invalid restart policy 'sometimes'/)
  assert.throws(() => parseRestartPolicy('on-failure:x'), /maximum retry count must be an integer/)
  assert.throws(() => parseRestartPolicy('always:2'), /maximum retry count cannot be used with restart policy 'always'/)
})

test('inspect templates: fields, json, nested; an unknown field is an error', async () => {
  const {renderTemplate} = await import('../../../src/runtime/lifecycle/inspect')
  const v = {State: {Status: 'running', Pid: 12, Running: true}, Config: {Cmd: ['sleep', '1']}, Name: '/web'}
  assert.equal(renderTemplate('{{.State.Status}} {{.State.Pid}} {{.State.Running}}', v), 'running 12 true')
  assert.equal(renderTemplate('{{json .Config.Cmd}}', v), '["sleep","1"]')
  assert.equal(renderTemplate('{{.Config.Cmd}}', v), '[sleep 1]')
  assert.equal(renderTemplate('name={{ .Name }}', v), 'name=/web')
  assert.throws(() => renderTemplate('{{.Nope}}', v), /can't evaluate field Nope/)
  assert.throws(() => renderTemplate('{{range .Config.Cmd}}', v), /unsupported/)
})

test('STATUS of paused and restarting containers', () => {
  const now = Date.parse('2026-12-04T12:00:10Z')
  assert.equal(statusText({state: 'running', paused: true, started: '2026-12-04T12:00:07Z'}, now), 'Up 3 seconds (Paused)')
  assert.equal(statusText({state: 'restarting', exitCode: 1, finished: '2026-12-04T12:00:08Z'}, now), 'Restarting (1) 2 seconds ago')
})
