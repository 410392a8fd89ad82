// A command waiting on a lock another process holds says so within a second, on stderr, naming
// what it waits for and who holds it (pid and command line), instead of a silent wait.
import {before, test} from 'node:test'
import assert from 'node:assert/strict'
import {spawn, type ChildProcess} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {BUSYBOX_IMAGE, PIVOT_BIN, REPO_ROOT, pivot, tempDir} from '../../helpers/fixtures'

let cache: string

before(() => {
  cache = tempDir('pivot-lock-wait')
  const r = pivot(['pull', BUSYBOX_IMAGE], {cacheDir: cache})
  assert.equal(r.status, 0, r.stderr)
})

/** Holds `file` with flock(1) for `seconds`; resolves once the lock is taken. */
async function holdLock(file: string, seconds: number, shared = false): Promise<ChildProcess> {
  const holder = spawn('flock', [shared ? '-s' : '-x', file, '-c', `echo held; sleep ${seconds}`], {stdio: ['ignore', 'pipe', 'inherit']})
  await new Promise<void>((resolve, reject) => {
    holder.stdout!.once('data', () => resolve())
    holder.once('exit', code => reject(new Error(`flock exited ${code}`)))
  })
  return holder
}

interface Timed {
  status: number | null
  stdout: string
  stderr: string
  /** Milliseconds from the spawn to the first `pivot: waiting for` line on stderr. */
  noticeAt?: number
  ms: number
}

function pivotTimed(args: string[]): Promise<Timed> {
  const env: NodeJS.ProcessEnv = {...process.env, PIVOT_CACHE_DIR: cache}
  delete env.NODE_EXTRA_CA_CERTS
  const started = Date.now()
  const child = spawn(PIVOT_BIN, args, {cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe']})
  const result: Timed = {status: null, stdout: '', stderr: '', ms: 0}
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (result.stdout += c))
  child.stderr!.setEncoding('utf8').on('data', (c: string) => {
    result.stderr += c
    if (result.noticeAt === undefined && result.stderr.includes('pivot: waiting for ')) result.noticeAt = Date.now() - started
  })
  return new Promise(resolve =>
    child.on('close', status => {
      result.status = status
      result.ms = Date.now() - started
      resolve(result)
    }),
  )
}

test("prune waiting on another prune says so, with the holder's pid and command, then does its work", async t => {
  const file = path.join(cache, 'locks', 'prune.lock')
  const holder = await holdLock(file, 6)
  t.after(() => holder.kill())
  const r = await pivotTimed(['prune'])
  assert.equal(r.status, 0, r.stderr)
  const lines = r.stderr.split('\n').filter(l => l !== '')
  assert.deepEqual(lines, [`pivot: waiting for another prune of this cache (held by pid ${holder.pid}: flock -x ${file} -c echo held; sleep 6)`])
  // Within a second of starting to wait; a node start on this loaded machine can take two more.
  assert.ok(r.noticeAt! < 3500, `the notice came after ${r.noticeAt} ms`)
  assert.ok(r.ms > r.noticeAt!, 'the notice came while it waited')
  assert.match(r.stdout, /^Total reclaimed space/m)
})

test("run waiting for a prune's garbage collection says so, and --json output stays clean", async t => {
  const file = path.join(cache, 'locks')
  const holder = await holdLock(file, 4)
  t.after(() => holder.kill())
  const [run, images] = await Promise.all([pivotTimed(['run', '--rm', BUSYBOX_IMAGE, 'echo', 'ran']), pivotTimed(['prune', '--json'])])
  assert.equal(run.status, 0, run.stderr)
  assert.equal(run.stdout, 'ran\n')
  assert.equal(run.stderr, `pivot: waiting for a prune of this cache to finish (held by pid ${holder.pid}: flock -x ${file} -c echo held; sleep 4)\n`)
  assert.ok(run.noticeAt! < 3500, `the notice came after ${run.noticeAt} ms`)
  // prune --json waits for the same lock (exclusively): its notice goes to stderr, never into the JSON.
  assert.equal(images.status, 0, images.stderr)
  assert.doesNotThrow(() => JSON.parse(images.stdout))
  assert.match(images.stderr, /^pivot: waiting for other pivot processes to finish looking up layers \(held by pid \d+/)
})

test('a short wait stays silent', async t => {
  const file = path.join(cache, 'locks')
  const holder = spawn('flock', ['-x', file, '-c', 'sleep 0.2'], {stdio: 'ignore'})
  t.after(() => holder.kill())
  const r = await pivotTimed(['run', '--rm', BUSYBOX_IMAGE, 'true'])
  assert.equal(r.status, 0, r.stderr)
  assert.equal(r.stderr, '')
  assert.ok(fs.existsSync(file))
})
