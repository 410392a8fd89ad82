// The progress reporter pull uses (src/cli/progress): plain lines for logs, silence for --json and
// --quiet. (Kept next to the pull tests: pull is its first user.)
import assert from 'node:assert/strict'
import {PassThrough} from 'node:stream'
import {describe, it} from 'node:test'
import {createProgress, progressMode} from '../../../src/cli/progress'

function capture(): {stream: PassThrough; text: () => string} {
  const stream = new PassThrough()
  let text = ''
  stream.on('data', d => (text += d))
  return {stream, text: () => text}
}

describe('progress', () => {
  it('chooses the mode from the flags and the terminal', () => {
    assert.equal(progressMode({json: true}, {isTTY: true}, {}), 'json')
    assert.equal(progressMode({quiet: true}, {isTTY: true}, {}), 'quiet')
    assert.equal(progressMode({}, {isTTY: true}, {TERM: 'xterm'}), 'tty')
    assert.equal(progressMode({}, {isTTY: true}, {TERM: 'dumb'}), 'plain')
    assert.equal(progressMode({}, {isTTY: true}, {CI: 'true'}), 'plain')
    assert.equal(progressMode({}, {isTTY: false}, {}), 'plain')
  })

  it('plain: one line per step and per layer status change, warnings on stderr', async () => {
    const out = capture()
    const err = capture()
    const p = createProgress('plain', out.stream, err.stream)
    p.onProgress({type: 'phase', title: 'Pulling busybox:latest'})
    p.onProgress({type: 'pull', id: 'latest', status: 'Pulling from library/busybox'})
    p.onProgress({type: 'pull', id: 'abc', status: 'Downloading', current: 1, total: 10})
    p.onProgress({type: 'pull', id: 'abc', status: 'Downloading', current: 5, total: 10})
    p.onProgress({type: 'pull', id: 'abc', status: 'Pull complete'})
    p.onProgress({type: 'pull', status: 'Status: Downloaded newer image'})
    p.onProgress({type: 'warning', message: 'registry unreachable'})
    p.onProgress({type: 'detail', title: 'Unpacking layer 1/1'})
    await p.finish()
    assert.equal(
      out.text(),
      'Pulling busybox:latest\nlatest: Pulling from library/busybox\nabc: Downloading\nabc: Pull complete\nStatus: Downloaded newer image\nUnpacking layer 1/1\n',
    )
    assert.equal(err.text(), 'pivot: warning: registry unreachable\n')
    assert.deepEqual(p.warnings, ['registry unreachable'])
  })

  for (const mode of ['json', 'quiet'] as const) {
    it(`${mode}: prints nothing, keeps the warnings`, async () => {
      const out = capture()
      const err = capture()
      const p = createProgress(mode, out.stream, err.stream)
      p.onProgress({type: 'phase', title: 'Pulling'})
      p.onProgress({type: 'warning', message: 'w'})
      await p.finish(new Error('x'))
      assert.equal(out.text() + err.text(), '')
      assert.deepEqual(p.warnings, ['w'])
    })
  }
})
