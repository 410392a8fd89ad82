// pivot tag, save, load, history and image inspect against the oracles: docker (load, run,
// history, image inspect, save), skopeo (oci: layouts, zstd) and ctr (image export). Every docker
// tag made here has `imagefiles` in its name and is removed at the end.
import {after, before, test} from 'node:test'
import assert from 'node:assert/strict'
import {execFileSync, spawnSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {BUSYBOX_IMAGE, DEBIAN_IMAGE, DOCKER_BIN, docker, pivot, tempDir, type PivotResult} from '../../helpers/fixtures'
import {assertOneLineError, cacheSnapshot} from '../../helpers/security'
import {TarBuilder} from '../../helpers/tar-builder'
import type {ImageSummary} from '../../../src/images/list-images'

const TAG = `imagefiles-${process.pid}`
const dockerTags: string[] = []
let cache: string
let work: string

function ok(r: PivotResult): string {
  assert.equal(r.status, 0, r.stderr)
  return r.stdout
}

function idOf(cacheDir: string, name: string): string {
  const images = JSON.parse(ok(pivot(['images', '--json'], {cacheDir}))) as ImageSummary[]
  const image = images.find(i => i.names.includes(name))
  assert.ok(image, `${name} not in ${JSON.stringify(images.map(i => i.names))}`)
  return image.id
}

function dockerStatus(args: string[]): {status: number | null; stdout: string; stderr: string} {
  const r = spawnSync(DOCKER_BIN, args, {encoding: 'utf8'})
  return {status: r.status, stdout: r.stdout, stderr: r.stderr}
}

function sha256File(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex')
}

function skopeo(args: string[]): void {
  execFileSync('skopeo', ['--insecure-policy', ...args], {stdio: ['ignore', 'ignore', 'pipe'], timeout: 120_000})
}

before(() => {
  cache = tempDir('pivot-imagefiles-cache')
  work = tempDir('pivot-imagefiles-work')
  ok(pivot(['pull', '-q', BUSYBOX_IMAGE], {cacheDir: cache}))
})

after(() => {
  for (const tag of dockerTags) spawnSync(DOCKER_BIN, ['rmi', '-f', tag], {stdio: 'ignore'})
})

test('tag: both names list the image, a tag moves, an unknown source fails as docker does', () => {
  ok(pivot(['tag', BUSYBOX_IMAGE, `${TAG}:a`], {cacheDir: cache}))
  const id = idOf(cache, BUSYBOX_IMAGE)
  assert.equal(idOf(cache, `docker.io/library/${TAG}:a`), id)
  const table = ok(pivot(['images'], {cacheDir: cache}))
  assert.match(table, new RegExp(`^${TAG}:a\\s+${id.slice(7, 19)}`, 'm'))
  assert.match(table, new RegExp(`^${BUSYBOX_IMAGE.replace(/[.]/g, '\\.')}\\s+${id.slice(7, 19)}`, 'm'))

  const missing = pivot(['tag', `${TAG}-nosuch`, `${TAG}:b`], {cacheDir: cache})
  const dockerMissing = dockerStatus(['tag', `${TAG}-nosuch`, `${TAG}:b`])
  assert.equal(missing.status, dockerMissing.status)
  assertOneLineError(missing, new RegExp(`^pivot: no such image: ${TAG}-nosuch:latest$`), 1)
  assert.match(dockerMissing.stderr, new RegExp(`No such image: ${TAG}-nosuch:latest`))

  const digest = pivot(['tag', BUSYBOX_IMAGE, `${TAG}@sha256:${'a'.repeat(64)}`], {cacheDir: cache})
  assert.equal(digest.status, dockerStatus(['tag', BUSYBOX_IMAGE, `${TAG}@sha256:${'a'.repeat(64)}`]).status)
  assertOneLineError(digest, /refusing to create a tag with a digest reference/, 1)

  // The name moves to another image (here: one imported from an empty rootfs).
  const empty = path.join(work, 'empty.tar')
  fs.writeFileSync(empty, new TarBuilder().dir('./').end().toBuffer())
  ok(pivot(['import', empty, `${TAG}-empty`], {cacheDir: cache}))
  ok(pivot(['tag', `${TAG}-empty`, `${TAG}:a`], {cacheDir: cache}))
  assert.equal(idOf(cache, `docker.io/library/${TAG}:a`), idOf(cache, `docker.io/library/${TAG}-empty:latest`))
  ok(pivot(['tag', BUSYBOX_IMAGE, `${TAG}:a`], {cacheDir: cache}))
  assert.equal(idOf(cache, `docker.io/library/${TAG}:a`), id)
})

test('save -> docker load -> docker run prints what pivot run prints; two saves are byte-identical', () => {
  ok(pivot(['tag', BUSYBOX_IMAGE, `${TAG}:saved`], {cacheDir: cache}))
  const a = path.join(work, 'a.tar')
  const b = path.join(work, 'b.tar')
  ok(pivot(['save', `${TAG}:saved`, '-o', a], {cacheDir: cache}))
  ok(pivot(['save', `${TAG}:saved`, '-o', b], {cacheDir: cache}))
  assert.equal(sha256File(a), sha256File(b), 'two saves of one image differ')
  assert.equal(fs.statSync(a).mode & 0o777, 0o600)

  dockerTags.push(`${TAG}:saved`)
  assert.match(docker(['load', '-i', a]), new RegExp(`Loaded image: ${TAG}:saved`))
  const cmd = ['sh', '-c', 'echo hello from $(hostname -s | wc -c) ; ls /bin/busybox ; cat /etc/passwd | head -1']
  const viaDocker = docker(['run', '--rm', `${TAG}:saved`, ...cmd])
  const viaPivot = ok(pivot(['run', '--rm', `${TAG}:saved`, ...cmd], {cacheDir: cache}))
  assert.equal(viaPivot.split('\n').slice(1).join('\n'), viaDocker.split('\n').slice(1).join('\n'))
  assert.ok(viaDocker.includes('/bin/busybox'))
  // docker checked every diff id against the layer tars while loading; its config says the same.
  const layers = JSON.parse(docker(['image', 'inspect', '--format', '{{json .RootFS.Layers}}', `${TAG}:saved`])) as string[]
  const manifest = JSON.parse(execFileSync('tar', ['-xOf', a, 'manifest.json'], {encoding: 'utf8'})) as Array<{Layers: string[]; RepoTags: string[]}>
  assert.deepEqual(manifest[0]!.RepoTags, [`${TAG}:saved`])
  assert.deepEqual(
    layers,
    manifest[0]!.Layers.map(l => `sha256:${path.basename(l)}`),
  )
})

test('save to stdout and to a directory: an OCI layout skopeo reads; a failed save leaves nothing', () => {
  const viaStdout = spawnSync('bash', ['-c', `PIVOT_CACHE_DIR=${cache} ${path.resolve(__dirname, '../../../../bin/pivot')} save ${TAG}:a | sha256sum`], {
    encoding: 'utf8',
    env: {...process.env, NODE_EXTRA_CA_CERTS: ''},
  })
  const file = path.join(work, 'c.tar')
  ok(pivot(['save', `${TAG}:a`, '-o', file], {cacheDir: cache}))
  assert.equal(viaStdout.stdout.split(' ')[0], sha256File(file))

  const dir = path.join(work, 'layout/')
  ok(pivot(['save', `${TAG}:a`, '-o', dir], {cacheDir: cache}))
  assert.deepEqual(JSON.parse(fs.readFileSync(path.join(dir, 'oci-layout'), 'utf8')), {imageLayoutVersion: '1.0.0'})
  const inspected = JSON.parse(execFileSync('skopeo', ['inspect', `oci:${dir}:a`], {encoding: 'utf8'})) as {Layers: string[]}
  assert.equal(inspected.Layers.length, 1)
  // Every blob is named by its digest.
  for (const blob of fs.readdirSync(path.join(dir, 'blobs', 'sha256'))) assert.equal(sha256File(path.join(dir, 'blobs', 'sha256', blob)), blob)

  const failed = path.join(work, 'failed.tar')
  const r = pivot(['save', `${TAG}:a`, `${TAG}-nosuch`, '-o', failed], {cacheDir: cache})
  assertOneLineError(r, /no such image/, 1)
  assert.ok(!fs.existsSync(failed))
  assert.deepEqual(
    fs.readdirSync(work).filter(f => f.includes('.tmp')),
    [],
  )
})

test('docker save -> pivot load gives the image id pivot pull gives', () => {
  const fresh = tempDir('pivot-imagefiles-load')
  const archive = path.join(work, 'docker-save.tar')
  execFileSync(DOCKER_BIN, ['save', '-o', archive, BUSYBOX_IMAGE])
  const r = pivot(['load', '-i', archive], {cacheDir: fresh})
  assert.equal(ok(r), `Loaded image: ${BUSYBOX_IMAGE}\n`)
  assert.equal(idOf(fresh, BUSYBOX_IMAGE), idOf(cache, BUSYBOX_IMAGE))
  // ...from standard input, gzip-compressed, as docker load takes it.
  const gz = path.join(work, 'docker-save.tar.gz')
  execFileSync('sh', ['-c', `gzip -c ${archive} > ${gz}`])
  const again = tempDir('pivot-imagefiles-load')
  ok(pivot(['load'], {cacheDir: again, input: fs.readFileSync(gz)}))
  assert.equal(idOf(again, BUSYBOX_IMAGE), idOf(cache, BUSYBOX_IMAGE))
})

test('skopeo oci: layouts (gzip, zstd, as a dir and as a tar) load to the id pivot pull gives', () => {
  for (const zstd of [false, true]) {
    const dir = path.join(work, `skopeo-${zstd ? 'zstd' : 'gzip'}`)
    skopeo(['copy', ...(zstd ? ['--dest-compress-format', 'zstd'] : []), `docker-daemon:${BUSYBOX_IMAGE}`, `oci:${dir}:busybox`])
    const manifest = fs.readFileSync(path.join(dir, 'index.json'), 'utf8')
    assert.ok(manifest.includes('"busybox"'))
    const fresh = tempDir('pivot-imagefiles-skopeo')
    // skopeo names the image with a bare tag, which names no repository: loaded by id, as docker.
    const out = ok(pivot(['load', '-i', dir], {cacheDir: fresh}))
    assert.equal(out, `Loaded image ID: ${idOf(cache, BUSYBOX_IMAGE)}\n`)
    const tar = `${dir}.tar`
    execFileSync('tar', ['-C', dir, '-cf', tar, '.'])
    const viaTar = tempDir('pivot-imagefiles-skopeo')
    assert.equal(ok(pivot(['load', '-i', tar], {cacheDir: viaTar})), out)
  }
})

test('ctr image export (containerd) loads with its name', {skip: !fs.existsSync('/run/docker/containerd/containerd.sock') && 'no containerd socket'}, () => {
  const ns = `pivot-${TAG}`
  const ctr = (args: string[]) =>
    execFileSync('ctr', ['--address', '/run/docker/containerd/containerd.sock', '-n', ns, ...args], {encoding: 'utf8', timeout: 120_000})
  const layout = path.join(work, 'for-ctr')
  skopeo(['copy', `docker-daemon:${BUSYBOX_IMAGE}`, `oci:${layout}:busybox`])
  const tar = path.join(work, 'for-ctr.tar')
  execFileSync('tar', ['-C', layout, '-cf', tar, '.'])
  const name = `example.test/${TAG}:busybox`
  try {
    ctr(['image', 'import', '--base-name', `example.test/${TAG}`, '--no-unpack', tar])
    const exported = path.join(work, 'ctr-export.tar')
    ctr(['image', 'export', exported, name])
    const fresh = tempDir('pivot-imagefiles-ctr')
    assert.equal(ok(pivot(['load', '-i', exported], {cacheDir: fresh})), `Loaded image: ${name}\n`)
    assert.equal(idOf(fresh, name), idOf(cache, BUSYBOX_IMAGE))
  } finally {
    spawnSync('ctr', ['--address', '/run/docker/containerd/containerd.sock', '-n', ns, 'image', 'rm', name], {stdio: 'ignore'})
    const content = spawnSync('ctr', ['--address', '/run/docker/containerd/containerd.sock', '-n', ns, 'content', 'ls', '-q'], {encoding: 'utf8'})
      .stdout.split('\n')
      .filter(Boolean)
    if (content.length) spawnSync('ctr', ['--address', '/run/docker/containerd/containerd.sock', '-n', ns, 'content', 'rm', ...content], {stdio: 'ignore'})
    spawnSync('ctr', ['--address', '/run/docker/containerd/containerd.sock', 'namespace', 'rm', ns], {stdio: 'ignore'})
  }
})

test('round trip: save -> load into fresh caches gives one id, and saving that gives the same bytes', () => {
  const first = path.join(work, 'trip-1.tar')
  ok(pivot(['save', `${TAG}:saved`, '-o', first], {cacheDir: cache}))
  const c1 = tempDir('pivot-imagefiles-trip')
  const c2 = tempDir('pivot-imagefiles-trip')
  ok(pivot(['load', '-i', first], {cacheDir: c1}))
  ok(pivot(['load', '-i', first], {cacheDir: c2}))
  const name = `docker.io/library/${TAG}:saved`
  assert.equal(idOf(c1, name), idOf(c2, name))
  const second = path.join(work, 'trip-2.tar')
  ok(pivot(['save', `${TAG}:saved`, '-o', second], {cacheDir: c1}))
  assert.equal(sha256File(second), sha256File(first))
  // A name that points elsewhere moves, and load says so as docker does.
  const empty = path.join(work, 'trip-empty.tar')
  fs.writeFileSync(empty, new TarBuilder().dir('./').end().toBuffer())
  ok(pivot(['import', '--force', empty, `${TAG}:saved`], {cacheDir: c2}))
  const other = idOf(c2, name)
  assert.equal(
    ok(pivot(['load', '-i', first], {cacheDir: c2})).split('\n')[0],
    `The image ${TAG}:saved already exists, renaming the old one with ID ${other} to empty string`,
  )
  assert.equal(idOf(c2, name), idOf(c1, name))
  // A second load of the same archive changes nothing and unpacks nothing.
  const before = cacheSnapshot(c1).filter(l => !l.includes('locks/') && !l.includes('/tmp'))
  assert.deepEqual(JSON.parse(ok(pivot(['load', '--json', '-i', first], {cacheDir: c1})))[0].unpacked, 0)
  assert.equal(
    cacheSnapshot(c1).filter(l => !l.includes('locks/') && !l.includes('/tmp') && !l.includes('images/')).length,
    before.filter(l => !l.includes('images/')).length,
  )
})

test('history and image inspect match docker field by field for an image loaded from docker save', () => {
  const fresh = tempDir('pivot-imagefiles-inspect')
  const archive = path.join(work, 'debian-save.tar')
  execFileSync(DOCKER_BIN, ['save', '-o', archive, DEBIAN_IMAGE])
  ok(pivot(['load', '-i', archive], {cacheDir: fresh}))
  for (const image of [DEBIAN_IMAGE]) {
    const ours = JSON.parse(ok(pivot(['image', 'inspect', image], {cacheDir: fresh})))[0]
    const theirs = JSON.parse(docker(['image', 'inspect', image]))[0]
    for (const key of ['RepoTags', 'Created', 'Architecture', 'Os', 'RootFS']) assert.deepEqual(ours[key], theirs[key], key)
    for (const key of ['Env', 'Cmd', 'Entrypoint', 'WorkingDir', 'User', 'Labels']) assert.deepEqual(ours.Config[key], theirs.Config[key], `Config.${key}`)
    // Sizes: docker counts the layer tar's content, pivot the unpacked files: within 2%.
    assert.ok(Math.abs(ours.Size - theirs.Size) / theirs.Size < 0.02, `Size ${ours.Size} vs ${theirs.Size}`)
    assert.deepEqual(JSON.parse(ok(pivot(['inspect', image], {cacheDir: fresh}))), [ours])

    const rows = JSON.parse(ok(pivot(['history', '--json', image], {cacheDir: fresh}))) as Array<{CreatedBy: string; Comment: string; CreatedAt: string}>
    const dockerRows = docker(['history', '--no-trunc', '--format', '{{json .}}', image])
      .trim()
      .split('\n')
      .map(l => JSON.parse(l) as {CreatedBy: string; Comment: string; CreatedAt: string})
    assert.deepEqual(
      rows.map(r => [r.CreatedBy, r.Comment, (Date.parse(r.CreatedAt) / 1000) | 0]),
      dockerRows.map(r => [r.CreatedBy, r.Comment, (Date.parse(r.CreatedAt) / 1000) | 0]),
    )
    const table = ok(pivot(['history', image], {cacheDir: fresh})).split('\n')
    assert.match(table[0]!, /^IMAGE\s+CREATED\s+CREATED BY\s+SIZE\s+COMMENT$/)
    assert.equal(
      ok(pivot(['history', '-q', image], {cacheDir: fresh}))
        .trim()
        .split('\n').length,
      dockerRows.length,
    )
  }
  const missing = pivot(['image', 'inspect', `${TAG}-nosuch`], {cacheDir: fresh})
  assert.equal(missing.status, dockerStatus(['image', 'inspect', `${TAG}-nosuch`]).status)
  assert.equal(missing.stdout.trim(), '[]')
})

test("a multi-layer image with deletions and an opaque directory: save -> docker load shows docker's tree; docker save -> load keeps its history", () => {
  const ctx = tempDir('pivot-imagefiles-ctx')
  const built = `localhost:5000/pivot-test/${TAG}-layers:1`
  fs.writeFileSync(
    path.join(ctx, 'Dockerfile'),
    [
      `FROM ${BUSYBOX_IMAGE}`,
      'RUN mkdir -p /d/sub && echo one > /d/sub/a && echo keep > /d/b && rm /etc/group',
      'ENV STAGE=two',
      'RUN rm -rf /d && mkdir /d && echo two > /d/c && rm /d/../etc/passwd',
      // (not all of /etc: docker adds /etc/mtab at run time, pivot does not)
      'CMD ["/bin/sh", "-c", "find /d | sort; cat /d/c; for f in group passwd hosts; do test -e /etc/$f && echo has $f; done; true"]',
    ].join('\n') + '\n',
  )
  dockerTags.push(built)
  docker(['build', '-q', '-t', built, ctx], {timeout: 300_000})
  const fresh = tempDir('pivot-imagefiles-layers')
  // Never pushed: pull falls back to the daemon's copy.
  ok(pivot(['pull', '-q', built], {cacheDir: fresh}))
  const expected = docker(['run', '--rm', built])
  assert.match(expected, /^\/d\/c$/m)
  assert.doesNotMatch(expected, /\/d\/sub|has group|has passwd/)
  assert.equal(ok(pivot(['run', '--rm', built], {cacheDir: fresh})), expected)

  const archive = path.join(work, 'layers.tar')
  ok(pivot(['save', built, '-o', archive], {cacheDir: fresh}))
  const reloaded = `${TAG}-reloaded:1`
  ok(pivot(['tag', built, reloaded], {cacheDir: fresh}))
  const both = path.join(work, 'layers-both.tar')
  ok(pivot(['save', built, reloaded, '-o', both], {cacheDir: fresh}))
  dockerTags.push(reloaded)
  docker(['rmi', built])
  const loaded = docker(['load', '-i', both])
  assert.match(loaded, new RegExp(`Loaded image: ${reloaded}`))
  assert.equal(docker(['run', '--rm', reloaded]), expected)
  assert.equal(docker(['image', 'inspect', '--format', '{{len .RootFS.Layers}}', reloaded]).trim(), '3')

  // docker save of that image -> pivot load: the history is docker's, row by row.
  const saved = path.join(work, 'layers-docker.tar')
  execFileSync(DOCKER_BIN, ['save', '-o', saved, reloaded])
  const c = tempDir('pivot-imagefiles-layers-load')
  ok(pivot(['load', '-i', saved], {cacheDir: c}))
  const rows = JSON.parse(ok(pivot(['history', '--json', reloaded], {cacheDir: c}))) as Array<{CreatedBy: string; Size: number}>
  const dockerRows = docker(['history', '--no-trunc', '--format', '{{json .}}', reloaded])
    .trim()
    .split('\n')
    .map(l => JSON.parse(l) as {CreatedBy: string; Size: string})
  assert.deepEqual(
    rows.map(r => r.CreatedBy),
    dockerRows.map(r => r.CreatedBy),
  )
  assert.deepEqual(
    rows.map(r => r.Size === 0),
    dockerRows.map(r => r.Size === '0B'),
  )
  assert.equal(ok(pivot(['run', '--rm', reloaded], {cacheDir: c})), expected)
})

test('save to a terminal and load from one are refused as docker refuses them (exit 1)', () => {
  // script(1) gives the command a pty for stdin and stdout.
  const onTty = (command: string) =>
    spawnSync('script', ['-qec', command, '/dev/null'], {encoding: 'utf8', env: {...process.env, NODE_EXTRA_CA_CERTS: '', PIVOT_CACHE_DIR: cache}, input: ''})
  const bin = path.resolve(__dirname, '../../../../bin/pivot')
  const save = onTty(`${bin} save ${BUSYBOX_IMAGE}`)
  const dockerSave = onTty(`${DOCKER_BIN} save ${BUSYBOX_IMAGE}`)
  assert.equal(save.status, 1, save.stdout)
  assert.equal(save.status, dockerSave.status)
  assert.match(save.stdout, /^pivot: cowardly refusing to save to a terminal: use the -o flag or redirect standard output\r?\n$/)
  const load = onTty(`${bin} load`)
  assert.equal(load.status, 1, load.stdout)
  assert.equal(load.status, onTty(`${DOCKER_BIN} load`).status)
  assert.match(load.stdout, /^pivot: standard input is a terminal: use -i FILE, or pipe an archive into `pivot load`\r?\n$/)
})
