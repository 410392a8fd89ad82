import {test} from 'node:test'
import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {Store} from '../../../src/store'
import {Lease, liveLeases, withGcExclusive} from '../../../src/store/gc-lock'

function tempStore(t: {after: (fn: () => void) => void}): Store {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pivot-gc-lock-'))
  t.after(() => fs.rmSync(dir, {recursive: true, force: true}))
  return Store.open(path.join(dir, 'cache'))
}

const layer = (n: number) => `sha256:${String(n).padStart(64, '0')}`

test('a lease on disk says exactly what its pins kept, after each pin, in one file, and goes on release', async t => {
  const store = tempStore(t)
  const dir = store.path('leases')
  const lease = new Lease(store, 'build')
  await lease.pin(() => undefined)
  assert.equal(fs.existsSync(dir) && fs.readdirSync(dir).length > 0, false, 'a pin that keeps nothing writes nothing')
  const seen: unknown[] = []
  for (let n = 1; n <= 3; n++) {
    await lease.pin(() => lease.keepLayers([layer(n), layer(n - 1)]))
    const files = fs.readdirSync(dir)
    assert.equal(files.length, 1, `one lease file, no temp file: ${files.join(' ')}`)
    seen.push(JSON.parse(fs.readFileSync(path.join(dir, files[0]), 'utf8')))
  }
  await lease.pin(() => lease.keepImage('sha256:' + 'f'.repeat(64)))
  const last = JSON.parse(fs.readFileSync(path.join(dir, fs.readdirSync(dir)[0]), 'utf8')) as {
    owner: {pid: number}
    purpose: string
    layers: string[]
    images: string[]
  }
  assert.deepEqual(
    seen.map(l => (l as {layers: string[]}).layers),
    [
      [layer(1), layer(0)],
      [layer(1), layer(0), layer(2)],
      [layer(1), layer(0), layer(2), layer(3)],
    ],
  )
  assert.equal(last.owner.pid, process.pid)
  assert.equal(last.purpose, 'build')
  assert.deepEqual(last.images, ['sha256:' + 'f'.repeat(64)])
  // What prune reads, under its exclusive lock: this live process's pins.
  const live = await withGcExclusive(store, () => liveLeases(store))
  assert.deepEqual([...live.layers].sort(), [layer(0), layer(1), layer(2), layer(3)])
  assert.deepEqual(live.pids, [process.pid])
  lease.release()
  assert.deepEqual(fs.readdirSync(dir), [])
  lease.release()
})
