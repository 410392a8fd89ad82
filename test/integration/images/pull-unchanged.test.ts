// The quick unchanged re-pull (src/images/pull-unchanged.ts) as a user meets it: a tag served by a
// small registry front of this test (ports 5250-5299) that maps `pivot-test/moving:latest` onto
// the fixture registry's busybox or Debian image, so the test can move the tag without touching
// the shared registry. It logs every request: an unchanged re-pull must cost one manifest GET and
// print exactly what the full pull prints for a cached image; a moved tag must be pulled.
import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as http from 'node:http'
import * as path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {tempDir, type PivotResult} from '../../helpers/fixtures'
import {listenInRange} from '../../helpers/listen'
import {pivotAsync} from '../../helpers/pivot-async'
import type {PullResult} from '../../../src/images/pull-image'

const TARGETS = {busybox: {repo: 'pivot-test/busybox', tag: 'latest'}, debian: {repo: 'pivot-test/debian', tag: 'bookworm'}}

interface Front {
  host: string
  target: keyof typeof TARGETS
  log: string[]
  close(): Promise<void>
}

/** Forwards to 127.0.0.1:5000, `pivot-test/moving` read as the current target's repository and `latest` as its tag. */
async function startFront(): Promise<Front> {
  const front: Front = {host: '', target: 'busybox', log: [], close: async () => undefined}
  const server = http.createServer((req, res) => {
    const t = TARGETS[front.target]
    front.log.push(`${req.method} ${req.url}`)
    const upstreamPath = (req.url ?? '/').replace('/v2/pivot-test/moving/', `/v2/${t.repo}/`).replace(/\/manifests\/latest$/, `/manifests/${t.tag}`)
    const up = http.request({host: '127.0.0.1', port: 5000, path: upstreamPath, method: req.method, headers: {...req.headers, host: '127.0.0.1:5000'}}, r => {
      res.writeHead(r.statusCode ?? 502, r.headers)
      r.pipe(res)
    })
    up.on('error', error => res.destroy(error))
    req.pipe(up)
  })
  front.host = `127.0.0.1:${await listenInRange(server, 5250, 5299)}`
  front.close = () =>
    new Promise<void>(resolve => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
  return front
}

function ok(r: PivotResult): string {
  assert.equal(r.status, 0, `exit ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`)
  assert.equal(r.stderr, '')
  return r.stdout
}

describe('an unchanged re-pull', () => {
  let front: Front
  let image: string
  let refFile: string
  const cache = path.join(tempDir('pivot-pull-unchanged'), 'cache')
  const pull = (...args: string[]) => pivotAsync(['pull', ...args, image], {cacheDir: cache, timeout: 300_000})

  before(async () => {
    front = await startFront()
    image = `${front.host}/pivot-test/moving:latest`
    refFile = path.join(cache, 'refs', encodeURIComponent(image))
  })
  after(() => front.close())

  it('asks the registry for the manifest once, and prints what the full pull prints for a cached image', async () => {
    front.target = 'busybox'
    const first = JSON.parse(ok(await pull('--json'))) as PullResult
    assert.equal(first.reused, false)

    front.log = []
    const quick = ok(await pull())
    assert.deepEqual(front.log, ['GET /v2/pivot-test/moving/manifests/latest'], 'no ping, token, config or blob request')
    assert.match(
      quick,
      new RegExp(
        `^Pulling ${image.replace(/\./g, '\\.')} from registry ${front.host}\n[0-9a-f]{12}: Already exists\nPulled ${image.replace(/\./g, '\\.')} \\(sha256:`,
      ),
    )

    // Without the name the quick path has nothing to compare: the full pull runs (ping, config...)
    // and finds the image cached. What it prints is the reference.
    fs.rmSync(refFile)
    front.log = []
    const full = ok(await pull())
    assert.ok(front.log.includes('GET /v2/'), `the full pull pings: ${front.log.join(', ')}`)
    assert.equal(quick, full)

    fs.rmSync(refFile)
    const fullJson = ok(await pull('--json'))
    front.log = []
    assert.equal(ok(await pull('--json')), fullJson)
    assert.equal(front.log.length, 1)
    assert.equal((JSON.parse(fullJson) as PullResult).id, first.id)

    front.log = []
    assert.equal(ok(await pull('-q')), '')
    assert.equal(front.log.length, 1)
    assert.equal(fs.readFileSync(refFile, 'utf8').trim(), first.id)
  })

  it('notices a tag that moved and pulls the new image', async () => {
    front.target = 'busybox'
    const before = JSON.parse(ok(await pull('--json'))) as PullResult
    front.target = 'debian'
    front.log = []
    const after = JSON.parse(ok(await pull('--json'))) as PullResult
    assert.equal(after.reused, false)
    assert.notEqual(after.id, before.id)
    assert.notEqual(after.digest, before.digest)
    assert.ok(
      front.log.some(l => /\/blobs\/sha256:/.test(l)),
      `the new image's config and layer are fetched: ${front.log.join(', ')}`,
    )
    assert.equal(fs.readFileSync(refFile, 'utf8').trim(), after.id)
    // And back: busybox is still cached, so the full pull only moves the name.
    front.target = 'busybox'
    const back = JSON.parse(ok(await pull('--json'))) as PullResult
    assert.equal(back.id, before.id)
    assert.equal(back.reused, true)
  })

  it('leaves a damaged or foreign-platform record to the full pull', async () => {
    front.target = 'busybox'
    const pulled = JSON.parse(ok(await pull('--json'))) as PullResult
    // A layer whose layer.json is gone counts as absent: the full pull fetches it again.
    const layerJson = path.join(cache, 'layers', pulled.layers[0].slice(7), 'layer.json')
    fs.rmSync(layerJson)
    front.log = []
    const repaired = await pull()
    assert.equal(repaired.status, 0, repaired.stderr)
    assert.ok(fs.existsSync(layerJson))
    assert.ok(front.log.length > 1, `the full pull ran: ${front.log.join(', ')}`)

    // A record made for another platform is not what a plain pull gives here.
    const recordFile = path.join(cache, 'images', `${pulled.id.slice(7)}.json`)
    const record = JSON.parse(fs.readFileSync(recordFile, 'utf8')) as {source: {platform?: string}}
    fs.writeFileSync(recordFile, JSON.stringify({...record, source: {...record.source, platform: 'linux/s390x'}}))
    front.log = []
    ok(await pull('-q'))
    assert.ok(front.log.length > 1, `the full pull ran: ${front.log.join(', ')}`)
  })
})
