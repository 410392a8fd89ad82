import assert from 'node:assert/strict'
import {execFile, spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as http from 'node:http'
import * as os from 'node:os'
import * as path from 'node:path'
import {Readable} from 'node:stream'
import {after, before, describe, it} from 'node:test'
import {DaemonError, classifyPullError, connectDaemon, followProgress, resolveEndpoint} from '../../../src/daemon'

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pivot-daemon-unit-'))
after(() => fs.rmSync(dir, {recursive: true, force: true}))

describe('resolveEndpoint (DOCKER_HOST)', () => {
  it('defaults to /var/run/docker.sock', () => {
    assert.deepEqual(resolveEndpoint({}), {kind: 'unix', socketPath: '/var/run/docker.sock', display: 'unix:///var/run/docker.sock', fromEnv: false})
  })
  it('reads unix://', () => {
    const ep = resolveEndpoint({DOCKER_HOST: 'unix:///run/user/1000/docker.sock'})
    assert.equal(ep.kind, 'unix')
    assert.equal(ep.kind === 'unix' && ep.socketPath, '/run/user/1000/docker.sock')
    assert.equal(ep.fromEnv, true)
  })
  it('reads tcp:// with and without a port, and TLS from DOCKER_TLS_VERIFY', () => {
    const plain = resolveEndpoint({DOCKER_HOST: 'tcp://10.0.0.5:2375'})
    assert.equal(plain.kind === 'tcp' && `${plain.host}:${plain.port}:${Boolean(plain.tls)}`, '10.0.0.5:2375:false')
    const noPort = resolveEndpoint({DOCKER_HOST: 'tcp://dockerhost'})
    assert.equal(noPort.kind === 'tcp' && noPort.port, 2375)
    const tls = resolveEndpoint({DOCKER_HOST: 'tcp://dockerhost', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: dir})
    assert.equal(tls.kind === 'tcp' && tls.port, 2376)
    assert.equal(tls.kind === 'tcp' && tls.tls?.verify, true)
    assert.equal(tls.display, 'https://dockerhost:2376')
    const v6 = resolveEndpoint({DOCKER_HOST: 'tcp://[::1]:2375'})
    assert.equal(v6.kind === 'tcp' && v6.host, '::1')
  })
  it('rejects schemes it cannot use, in one line', () => {
    assert.throws(
      () => resolveEndpoint({DOCKER_HOST: 'ssh://me@host'}),
      (e: DaemonError) => e.code === 'DAEMON_BAD_HOST' && /ssh/.test(e.message),
    )
    assert.throws(
      () => resolveEndpoint({DOCKER_HOST: 'tcp://'}),
      (e: DaemonError) => e.code === 'DAEMON_BAD_HOST' && !e.message.includes('\n'),
    )
  })
})

describe('followProgress', () => {
  const lines = (...events: unknown[]) => events.map(e => JSON.stringify(e) + '\n').join('')
  it('reports progress events, split across chunks at any byte', async () => {
    const text = lines(
      {status: 'Pulling from pivot-test/busybox', id: 'latest'},
      {status: 'Downloading', id: 'abc', progressDetail: {current: 5, total: 10}, progress: '[==>  ]'},
      {status: 'Status: Downloaded newer image for x'},
    )
    const chunks = [...Buffer.from(text)].map(b => Buffer.from([b]))
    const seen: unknown[] = []
    await followProgress(Readable.from(chunks), e => seen.push(e), 'pull')
    assert.deepEqual(seen, [
      {status: 'Pulling from pivot-test/busybox', id: 'latest'},
      {status: 'Downloading', id: 'abc', current: 5, total: 10},
      {status: 'Status: Downloaded newer image for x'},
    ])
  })
  it('rejects on an error event inside a 200 stream', async () => {
    const text = lines(
      {status: 'Downloading', id: 'abc'},
      {errorDetail: {message: 'read tcp: connection reset by peer'}, error: 'read tcp: connection reset by peer'},
    )
    await assert.rejects(
      followProgress(Readable.from([text]), undefined, 'cannot pull x'),
      (e: DaemonError) => e.code === 'DAEMON_REGISTRY_UNREACHABLE' && e.message === 'cannot pull x: read tcp: connection reset by peer',
    )
  })
  it('classifies the daemon words', () => {
    assert.equal(classifyPullError('manifest for x:latest not found: manifest unknown: manifest unknown'), 'DAEMON_IMAGE_NOT_FOUND')
    assert.equal(classifyPullError("pull access denied for foo, repository does not exist or may require 'docker login'"), 'DAEMON_IMAGE_NOT_FOUND')
    assert.equal(classifyPullError('Get "http://localhost:5999/v2/": dial tcp 127.0.0.1:5999: connect: connection refused'), 'DAEMON_REGISTRY_UNREACHABLE')
    assert.equal(
      classifyPullError('Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io: no such host'),
      'DAEMON_REGISTRY_UNREACHABLE',
    )
    assert.equal(classifyPullError('failed to register layer: no space left on device'), 'DAEMON_PULL_FAILED')
  })
})

/** A pretend daemon on a unix socket: enough of the API to test the dockerode implementation. */
describe('DockerodeDaemon against a pretend daemon', () => {
  const socket = path.join(dir, 'docker.sock')
  const requests: string[] = []
  let server: http.Server
  before(async () => {
    server = http.createServer((req, res) => {
      requests.push(`${req.method} ${req.url}`)
      const url = new URL(req.url ?? '/', 'http://x')
      res.setHeader('Api-Version', '1.39')
      if (url.pathname === '/_ping') return res.end('OK')
      if (url.pathname === '/v1.39/images/known:latest/json') {
        res.setHeader('Content-Type', 'application/json')
        return res.end(
          JSON.stringify({
            Id: 'sha256:' + 'b'.repeat(64),
            RepoTags: ['known:latest'],
            RepoDigests: [],
            Created: '2024-01-01T00:00:00Z',
            Config: {Env: ['PATH=/bin'], Cmd: ['/bin/sh'], Entrypoint: null, WorkingDir: '', User: '', Labels: null},
            RootFS: {Type: 'layers', Layers: ['sha256:' + 'c'.repeat(64)]},
            Size: 42,
            Os: 'linux',
            Architecture: 'amd64',
          }),
        )
      }
      if (url.pathname.endsWith('/json')) {
        res.statusCode = 404
        return res.end(JSON.stringify({message: 'No such image: nope:latest'}))
      }
      if (url.pathname === '/v1.39/images/create') {
        res.setHeader('Content-Type', 'application/json')
        if (url.searchParams.get('fromImage') === 'missing') {
          res.statusCode = 404
          return res.end(JSON.stringify({message: 'manifest for missing:latest not found: manifest unknown: manifest unknown'}))
        }
        res.write(JSON.stringify({status: 'Pulling from x', id: 'latest'}) + '\n')
        if (url.searchParams.get('fromImage') === 'broken') {
          res.write(JSON.stringify({status: 'Downloading', id: 'abc', progressDetail: {current: 1, total: 2}}) + '\n')
          return res.end(JSON.stringify({errorDetail: {message: 'failed to register layer: no space left on device'}, error: 'x'}) + '\n')
        }
        return res.end(JSON.stringify({status: 'Status: Image is up to date'}) + '\n')
      }
      if (url.pathname === '/v1.39/images/get') {
        // Half an archive, then the "daemon" dies.
        res.write(Buffer.alloc(10_000))
        setTimeout(() => res.socket?.destroy(), 20)
        return
      }
      res.statusCode = 500
      res.end(JSON.stringify({message: 'not in the pretend daemon'}))
    })
    await new Promise<void>(resolve => server.listen(socket, resolve))
  })
  after(() => server.close())

  it('reads the API version from the Api-Version header of an unversioned /_ping', async () => {
    requests.length = 0
    const daemon = await connectDaemon({DOCKER_HOST: `unix://${socket}`})
    assert.equal(daemon.apiVersion, '1.39')
    assert.equal(daemon.endpoint, `unix://${socket}`)
    assert.deepEqual(requests, ['GET /_ping'])
  })

  it('speaks the version the daemon announced and maps inspect', async () => {
    const daemon = await connectDaemon({DOCKER_HOST: `unix://${socket}`})
    assert.equal(daemon.apiVersion, '1.39')
    const image = await daemon.inspectImage('known:latest')
    assert.equal(image.id, 'sha256:' + 'b'.repeat(64))
    assert.deepEqual(image.diffIds, ['sha256:' + 'c'.repeat(64)])
    assert.deepEqual(image.config, {Env: ['PATH=/bin'], Cmd: ['/bin/sh']})
    assert.ok(requests.includes('GET /v1.39/images/known:latest/json'))
  })

  it('an unknown image is DAEMON_IMAGE_NOT_FOUND', async () => {
    const daemon = await connectDaemon({DOCKER_HOST: `unix://${socket}`})
    await assert.rejects(daemon.inspectImage('nope:latest'), (e: DaemonError) => e.code === 'DAEMON_IMAGE_NOT_FOUND')
    await assert.rejects(daemon.pullImage('missing:latest'), (e: DaemonError) => e.code === 'DAEMON_IMAGE_NOT_FOUND' && /manifest unknown/.test(e.message))
  })

  it('a pull resolves at the end of the stream and rejects on an error event in it', async () => {
    const daemon = await connectDaemon({DOCKER_HOST: `unix://${socket}`})
    const seen: string[] = []
    await daemon.pullImage('fine:latest', e => seen.push(e.status))
    assert.deepEqual(seen, ['Pulling from x', 'Status: Image is up to date'])
    await assert.rejects(daemon.pullImage('broken:latest'), (e: DaemonError) => e.code === 'DAEMON_PULL_FAILED' && /no space left/.test(e.message))
  })

  it('a pull asks for the repository and the tag or digest', async () => {
    const daemon = await connectDaemon({DOCKER_HOST: `unix://${socket}`})
    const digest = `sha256:${'a'.repeat(64)}`
    await daemon.pullImage('localhost:5000/a/b:v1')
    await daemon.pullImage(`docker.io/library/x@${digest}`)
    const pulls = requests.filter(r => r.startsWith('POST ')).map(r => Object.fromEntries(new URL(r.slice(5), 'http://x').searchParams))
    assert.deepEqual(pulls.slice(-2), [
      {fromImage: 'localhost:5000/a/b', tag: 'v1'},
      {fromImage: 'docker.io/library/x', tag: digest},
    ])
  })

  it('a save stream cut by a dying daemon errors with DAEMON_STREAM_FAILED', async () => {
    const daemon = await connectDaemon({DOCKER_HOST: `unix://${socket}`})
    const stream = await daemon.saveImage('sha256:' + 'b'.repeat(64))
    await assert.rejects(
      (async () => {
        for await (const _ of stream as AsyncIterable<Buffer>) void _
      })(),
      (e: DaemonError) => e.code === 'DAEMON_STREAM_FAILED' && e.message.includes(socket),
    )
  })

  it('dockerode loads with the first call the socket client leaves to it, not for ping, pull or inspect', async () => {
    const script = `
      const loaded = () => Object.keys(require.cache).some(k => k.includes('/node_modules/dockerode/'))
      const {connectDaemon} = require(${JSON.stringify(path.resolve(__dirname, '../../../src/daemon'))})
      require(${JSON.stringify(path.resolve(__dirname, '../../../src/images/pull-image'))})
      const beforeCall = loaded()
      ;(async () => {
        const daemon = await connectDaemon({DOCKER_HOST: 'unix://${socket}'})
        await daemon.pullImage('fine:latest')
        await daemon.inspectImage('known:latest')
        const afterPull = loaded()
        await daemon.listContainers('x').catch(() => undefined)
        console.log(JSON.stringify({beforeCall, afterPull, afterList: loaded()}))
      })()`
    const out = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, ['-e', script], {encoding: 'utf8'}, (err, stdout) => (err ? reject(err) : resolve(stdout))),
    )
    assert.deepEqual(JSON.parse(out), {beforeCall: false, afterPull: false, afterList: true})
  })

  it('the socket client and dockerode answer ping, inspect and pull alike, errors included', async () => {
    const {connectDaemon: viaDockerode} = await import('../../../src/daemon/dockerode-daemon')
    const env = {DOCKER_HOST: `unix://${socket}`}
    const outcome = async (p: Promise<unknown>) =>
      p.then(
        value => ({value}),
        (e: DaemonError) => ({code: e.code, message: e.message, exitCode: e.exitCode}),
      )
    const calls = async (daemon: Awaited<ReturnType<typeof connectDaemon>>) => [
      daemon.apiVersion,
      daemon.endpoint,
      await outcome(daemon.inspectImage('known:latest')),
      await outcome(daemon.inspectImage('nope:latest')),
      await outcome(daemon.pullImage('fine:latest')),
      await outcome(daemon.pullImage('missing:latest')),
      await outcome(daemon.pullImage('broken:latest')),
    ]
    const socketDaemon = await connectDaemon(env)
    const dockerode = await viaDockerode(env)
    assert.notEqual(socketDaemon.constructor, dockerode.constructor)
    assert.deepEqual(await calls(socketDaemon), await calls(dockerode))
  })

  it('a daemon that is not there: DAEMON_UNREACHABLE naming the socket', async () => {
    const missing = path.join(dir, 'nonexistent.sock')
    await assert.rejects(
      connectDaemon({DOCKER_HOST: `unix://${missing}`}),
      (e: DaemonError) =>
        e.code === 'DAEMON_UNREACHABLE' && e.message.includes(`unix://${missing}`) && e.message.includes('DOCKER_HOST') && !e.message.includes('\n'),
    )
  })

  it('`pivot images` never loads dockerode', () => {
    // What a cached image's commands load: they never talk to the daemon (`pivot run` of a cached
    // image: test/integration/images/pull.test.ts).
    const hook = path.join(dir, 'report-dockerode.js')
    fs.writeFileSync(
      hook,
      `process.on('exit', () => require('fs').writeSync(2, 'dockerode loaded: ' + Object.keys(require.cache).some(k => k.includes('/node_modules/dockerode/')) + '\\n'))`,
    )
    const env: NodeJS.ProcessEnv = {...process.env, PIVOT_CACHE_DIR: path.join(dir, 'cache'), DOCKER_HOST: `unix://${socket}`}
    delete env.NODE_EXTRA_CA_CERTS
    const r = spawnSync(process.execPath, ['-r', hook, path.resolve(__dirname, '../../../../bin/pivot'), 'images', '--json'], {encoding: 'utf8', env})
    assert.equal(r.status, 0, r.stderr)
    assert.deepEqual(JSON.parse(r.stdout), [])
    assert.match(r.stderr, /^dockerode loaded: false$/m)
  })

  it('a socket nobody listens on: connection refused', async () => {
    const dead = path.join(dir, 'dead.sock')
    const s = http.createServer()
    await new Promise<void>(resolve => s.listen(dead, resolve))
    await new Promise<void>(resolve => s.close(() => resolve()))
    fs.writeFileSync(dead, '') // a plain file where the socket was
    await assert.rejects(connectDaemon({DOCKER_HOST: `unix://${dead}`}), (e: DaemonError) => e.code === 'DAEMON_UNREACHABLE')
  })
})
