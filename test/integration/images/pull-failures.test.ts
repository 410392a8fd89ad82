// `pivot pull` failing: each failure is one line on stderr, a non-zero exit, and a cache exactly
// as it was. A pull killed mid-stream leaves nothing under layers/ or images/, and the next pull
// sweeps its staging dir (and its export container).
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {before, describe, it} from 'node:test'
import {BUSYBOX_IMAGE, DEBIAN_IMAGE, PIVOT_BIN, REPO_ROOT, docker, pivot, tempDir, type PivotResult} from '../../helpers/fixtures'

/** Every path under the cache with its type, size and mtime: "the cache is exactly as before". */
function snapshot(root: string): string[] {
  const out: string[] = []
  const walk = (dir: string, depth: number) => {
    for (const e of fs.readdirSync(dir).sort()) {
      const full = path.join(dir, e)
      const st = fs.lstatSync(full)
      out.push(`${path.relative(root, full)} ${st.mode.toString(8)} ${st.isDirectory() ? '' : st.size} ${st.mtimeMs}`)
      // Layer trees are big and content-addressed: their top is enough.
      if (st.isDirectory() && depth < 3 && !full.includes(`${path.sep}rootfs`)) walk(full, depth + 1)
    }
  }
  walk(root, 0)
  return out
}

function failsInOneLine(r: PivotResult, pattern: RegExp): void {
  assert.notEqual(r.status, 0, `should fail\nstdout: ${r.stdout}\nstderr: ${r.stderr}`)
  const lines = r.stderr.split('\n').filter(Boolean)
  assert.equal(lines.length, 1, `one line on stderr, got:\n${r.stderr}`)
  assert.match(lines[0], /^pivot: /)
  assert.match(lines[0], pattern)
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace')
}

function exportContainers(): string[] {
  return docker(['ps', '-aq', '--filter', 'label=io.pivot.export']).split('\n').filter(Boolean)
}

describe('pivot pull: failures leave the cache untouched', () => {
  let cache: string
  before(() => {
    cache = path.join(tempDir('pivot-pull-fail'), 'cache')
    assert.equal(pivot(['pull', BUSYBOX_IMAGE], {cacheDir: cache, timeout: 300_000}).status, 0)
  })

  it('a daemon that is not running: one line naming the socket', () => {
    const was = snapshot(cache)
    const r = pivot(['pull', '--source', 'daemon', BUSYBOX_IMAGE], {cacheDir: cache, env: {DOCKER_HOST: 'unix:///nonexistent.sock'}})
    failsInOneLine(r, /cannot connect to the Docker daemon at unix:\/\/\/nonexistent\.sock/)
    assert.deepEqual(snapshot(cache), was)
  })

  it('a tcp DOCKER_HOST where nothing listens: one line naming it', () => {
    const was = snapshot(cache)
    const r = pivot(['pull', '--source', 'daemon', BUSYBOX_IMAGE], {cacheDir: cache, env: {DOCKER_HOST: 'tcp://127.0.0.1:1'}})
    failsInOneLine(r, /tcp:\/\/127\.0\.0\.1:1 .*connection refused/)
    assert.deepEqual(snapshot(cache), was)
  })

  it('a malformed reference: one line', () => {
    const was = snapshot(cache)
    for (const bad of ['Busybox', 'busybox:', 'localhost:5000/UP/case', `busybox@sha256:${'0'.repeat(10)}`, 'a b']) {
      failsInOneLine(pivot(['pull', bad], {cacheDir: cache}), /invalid reference/)
    }
    assert.deepEqual(snapshot(cache), was)
  })

  it('an unknown image: one line', () => {
    const was = snapshot(cache)
    const r = pivot(['pull', 'localhost:5000/pivot-test/no-such-image:latest'], {cacheDir: cache})
    failsInOneLine(r, /no-such-image:latest not found/)
    assert.deepEqual(snapshot(cache), was)
  })

  it('an unknown image with --json: the error as JSON, exit non-zero', () => {
    // auto asks the registry itself (and then the daemon for a copy); --source daemon the daemon.
    for (const [source, code] of [
      ['auto', 'REGISTRY_NOT_FOUND'],
      ['daemon', 'DAEMON_IMAGE_NOT_FOUND'],
    ]) {
      const r = pivot(['pull', '--json', '--source', source, 'localhost:5000/pivot-test/no-such-image:latest'], {cacheDir: cache})
      assert.notEqual(r.status, 0)
      assert.equal(JSON.parse(r.stdout).error.code, code)
    }
  })
})

/** Starts a pull, signals it once a staging dir holds some unpacked files, waits for it to end. */
async function killMidStream(cache: string, args: string[], signal: NodeJS.Signals = 'SIGKILL'): Promise<{code: number | null; stderr: string}> {
  const env: NodeJS.ProcessEnv = {...process.env, PIVOT_CACHE_DIR: cache}
  delete env.NODE_EXTRA_CA_CERTS
  const child = spawn(PIVOT_BIN, ['pull', ...args], {cwd: REPO_ROOT, env, stdio: ['ignore', 'ignore', 'pipe']})
  let stderr = ''
  child.stderr.on('data', d => (stderr += d))
  const exited = new Promise<number | null>(resolve => child.on('close', code => resolve(code)))
  const deadline = Date.now() + 120_000
  const tmp = path.join(cache, 'tmp')
  for (;;) {
    assert.ok(Date.now() < deadline, 'the pull never started unpacking')
    const staged = fs.existsSync(tmp) ? fs.readdirSync(tmp) : []
    const busy = staged.some(e => {
      try {
        return fs.readdirSync(path.join(tmp, e, 'rootfs')).length > 3
      } catch {
        return false
      }
    })
    if (busy) break
    await new Promise(resolve => setTimeout(resolve, 20))
  }
  child.kill(signal)
  const code = await exited
  // The unpack worker sees its input end and exits by itself.
  if (signal === 'SIGKILL') await new Promise(resolve => setTimeout(resolve, 500))
  return {code, stderr}
}

describe('pivot pull: Ctrl-C mid-stream', () => {
  for (const mode of ['daemon', 'registry', 'flat']) {
    it(`${mode === 'flat' ? 'flat' : `layered from the ${mode}`}: exit 130, one line, the cache as before, no container left`, async () => {
      const cache = path.join(tempDir('pivot-pull-int'), 'cache')
      const before = exportContainers()
      const r = await killMidStream(cache, [...(mode === 'flat' ? ['--flat'] : ['--source', mode]), DEBIAN_IMAGE], 'SIGINT')
      assert.equal(r.code, 130)
      assert.equal(r.stderr, 'pivot: pull interrupted\n')
      for (const dir of ['layers', 'images', 'refs', 'l']) assert.deepEqual(fs.readdirSync(path.join(cache, dir)), [], dir)
      // From a registry, the interrupted download stays for the next pull to resume, nothing else.
      assert.deepEqual(fs.readdirSync(path.join(cache, 'tmp')), mode === 'registry' ? ['downloads'] : [], 'tmp')
      if (mode === 'registry') assert.equal(fs.readdirSync(path.join(cache, 'tmp', 'downloads')).length, 1)
      assert.deepEqual(exportContainers(), before)
    })
  }
})

describe('pivot pull: SIGKILL mid-stream', () => {
  it('layered: nothing under layers/ or images/; the next pull sweeps tmp/', async () => {
    const cache = path.join(tempDir('pivot-pull-kill'), 'cache')
    await killMidStream(cache, ['--source', 'daemon', DEBIAN_IMAGE])
    assert.deepEqual(fs.readdirSync(path.join(cache, 'layers')), [])
    assert.deepEqual(fs.readdirSync(path.join(cache, 'images')), [])
    assert.deepEqual(fs.readdirSync(path.join(cache, 'refs')), [])
    assert.ok(fs.readdirSync(path.join(cache, 'tmp')).length > 0, 'the killed pull left its staging dir')
    assert.equal(pivot(['pull', '--source', 'daemon', BUSYBOX_IMAGE], {cacheDir: cache, timeout: 300_000}).status, 0)
    assert.deepEqual(fs.readdirSync(path.join(cache, 'tmp')), [])
  })

  it('from a registry: the staging dir is swept, the partial download resumed and then dropped', async () => {
    const cache = path.join(tempDir('pivot-pull-kill-reg'), 'cache')
    await killMidStream(cache, ['--source', 'registry', DEBIAN_IMAGE])
    assert.deepEqual(fs.readdirSync(path.join(cache, 'layers')), [])
    assert.deepEqual(fs.readdirSync(path.join(cache, 'images')), [])
    const parts = fs.readdirSync(path.join(cache, 'tmp', 'downloads'))
    assert.equal(parts.length, 1)
    const kept = fs.statSync(path.join(cache, 'tmp', 'downloads', parts[0])).size
    assert.ok(kept > 0, 'some bytes were kept')
    const r = pivot(['pull', '--source', 'registry', DEBIAN_IMAGE], {cacheDir: cache, timeout: 300_000})
    assert.equal(r.status, 0, r.stderr)
    assert.match(r.stdout, /^[0-9a-f]{12}: Resuming at [\d.]+ [kM]?B$/m)
    assert.deepEqual(fs.readdirSync(path.join(cache, 'tmp')), [], 'the download was dropped once committed')
  })

  it('flat: the next flat pull also removes the orphaned export container', async () => {
    const cache = path.join(tempDir('pivot-pull-kill-flat'), 'cache')
    const before = exportContainers()
    await killMidStream(cache, ['--flat', DEBIAN_IMAGE])
    assert.deepEqual(fs.readdirSync(path.join(cache, 'layers')), [])
    assert.deepEqual(fs.readdirSync(path.join(cache, 'images')), [])
    assert.equal(exportContainers().length, before.length + 1, 'the killed pull left its container')
    assert.equal(pivot(['pull', '--flat', BUSYBOX_IMAGE], {cacheDir: cache, timeout: 300_000}).status, 0)
    assert.deepEqual(exportContainers(), before)
    assert.deepEqual(fs.readdirSync(path.join(cache, 'tmp')), [])
  })
})
