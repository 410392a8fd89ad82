// pivot build, end to end: the shipped recipes, the step cache (an unchanged rebuild runs nothing,
// a change re-runs that step and what follows), build arguments, and the built image as a normal
// cache image (run, export -> docker import -> docker run, images, rmi).
import {after, before, test} from 'node:test'
import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {spawnSync} from 'node:child_process'
import {BUSYBOX_IMAGE, DEBIAN_IMAGE, PIVOT_BIN, REPO_ROOT, docker, pivot, tempDir} from '../../helpers/fixtures'

interface BuildJson {
  name: string | null
  id: string
  layers: string[]
  steps: Array<{index: number; text: string; cached: boolean; seconds: number}>
}

let cache: string

function ok(r: {status: number | null; stdout: string; stderr: string}, what = 'pivot'): string {
  assert.equal(r.status, 0, `${what} failed (${r.status}): ${r.stderr}${r.stdout}`)
  return r.stdout
}

function build(args: string[], opts: {cwd?: string} = {}): BuildJson {
  return JSON.parse(ok(pivot(['build', ...args, '--json'], {cacheDir: cache, timeout: 300_000, ...opts}), `build ${args.join(' ')}`)) as BuildJson
}

function cachedFlags(result: BuildJson): boolean[] {
  return result.steps.map(s => s.cached)
}

/** The debian-ci recipe and its files, copied to a temp dir the test may edit. */
function debianCiCopy(): string {
  const dir = tempDir('pivot-build-recipe-')
  fs.copyFileSync(path.join(REPO_ROOT, 'images', 'debian-ci.yaml'), path.join(dir, 'debian-ci.yaml'))
  fs.cpSync(path.join(REPO_ROOT, 'images', 'debian-ci'), path.join(dir, 'debian-ci'), {recursive: true, preserveTimestamps: true})
  return dir
}

before(() => {
  cache = tempDir('pivot-build-cache-')
})

after(() => {
  // Mounts never outlive a container; this catches a leak before the temp dir removal trips on it.
  const leftovers = fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter(l => l.includes(cache))
  assert.deepEqual(leftovers, [])
})

test('debian-ci builds; an unchanged rebuild runs no step; the image runs with its config', () => {
  const first = build(['images/debian-ci.yaml', '-t', 'pivot-test/debian-ci'])
  assert.equal(first.name, 'docker.io/pivot-test/debian-ci:latest')
  assert.equal(first.steps.length, 7)
  assert.deepEqual(cachedFlags(first), [false, false, false, false, false, false, false])
  assert.ok(first.layers.length >= 2)

  const ref = path.join(cache, 'refs', encodeURIComponent('docker.io/pivot-test/debian-ci:latest'))
  const refBefore = fs.statSync(ref)
  const again = build(['images/debian-ci.yaml', '-t', 'pivot-test/debian-ci'])
  assert.deepEqual(cachedFlags(again), [true, true, true, true, true, true, true])
  assert.equal(again.id, first.id)
  assert.deepEqual(again.layers, first.layers)
  // The name already on the image: the ref is not rewritten; the build leaves no lease, lock or staging.
  const refAfter = fs.statSync(ref)
  assert.deepEqual([refAfter.ino, refAfter.mtimeMs], [refBefore.ino, refBefore.mtimeMs])
  for (const dir of ['leases', 'tmp']) assert.deepEqual(fs.existsSync(path.join(cache, dir)) ? fs.readdirSync(path.join(cache, dir)) : [], [], dir)
  assert.deepEqual(
    fs.readdirSync(path.join(cache, 'locks')).filter(f => f.startsWith('ref-')),
    [],
  )
  // The name moved to another image: an unchanged rebuild moves it back.
  ok(pivot(['tag', DEBIAN_IMAGE, 'pivot-test/debian-ci'], {cacheDir: cache}))
  assert.notEqual(fs.readFileSync(ref, 'utf8').trim(), first.id)
  assert.equal(build(['images/debian-ci.yaml', '-t', 'pivot-test/debian-ci']).id, first.id)
  assert.equal(fs.readFileSync(ref, 'utf8').trim(), first.id)

  // The config the recipe set: user, workdir, env, cmd.
  const info = ok(pivot(['run', '--rm', 'pivot-test/debian-ci', 'ci-info'], {cacheDir: cache}))
  assert.match(info, /^user: +ci \(1000:1000\)$/m)
  assert.match(info, /^workdir: \/home\/ci\/work$/m)
  assert.match(info, /^ci: +true$/m)
  const files = ok(
    pivot(
      ['run', '--rm', '--user', 'root', 'pivot-test/debian-ci', 'stat', '-c', '%a %U:%G %n', '/usr/local/bin/ci-info', '/home/ci/.gitconfig', '/home/ci/work'],
      {cacheDir: cache},
    ),
  )
  assert.equal(files, '750 ci:ci /usr/local/bin/ci-info\n644 ci:ci /home/ci/.gitconfig\n755 ci:ci /home/ci/work\n')
  // The step that deleted /etc/motd from the base: gone in the built image, still in the base.
  assert.equal(pivot(['run', '--rm', 'pivot-test/debian-ci', 'test', '-e', '/etc/motd'], {cacheDir: cache}).status, 1)
  assert.equal(pivot(['run', '--rm', DEBIAN_IMAGE, 'test', '-e', '/etc/motd'], {cacheDir: cache}).status, 0)

  const images = JSON.parse(ok(pivot(['images', '--json'], {cacheDir: cache}))) as Array<{names: string[]; id: string; source: {kind: string; recipe?: string}}>
  const built = images.find(i => i.names.includes('docker.io/pivot-test/debian-ci:latest'))
  assert.ok(built)
  assert.equal(built.id, first.id)
  assert.deepEqual(built.source, {kind: 'build', recipe: path.join(REPO_ROOT, 'images', 'debian-ci.yaml')})
})

test('changing the last step re-runs only it; changing a copied file re-runs from that step; touching it re-runs nothing', () => {
  const dir = debianCiCopy()
  const recipe = path.join(dir, 'debian-ci.yaml')
  fs.appendFileSync(recipe, '  - run: echo one > /last\n')
  const base = build([recipe, '-t', 'pivot-test/edited'])
  assert.equal(base.steps[7].cached, false)

  fs.writeFileSync(recipe, fs.readFileSync(recipe, 'utf8').replace('echo one > /last', 'echo two > /last'))
  const edited = build([recipe, '-t', 'pivot-test/edited'])
  assert.deepEqual(cachedFlags(edited), [true, true, true, true, true, true, true, false])
  assert.deepEqual(edited.layers.slice(0, -1), base.layers.slice(0, -1))
  assert.notEqual(edited.layers.at(-1), base.layers.at(-1))
  assert.equal(ok(pivot(['run', '--rm', 'pivot-test/edited', 'cat', '/last'], {cacheDir: cache})), 'two\n')

  // The gitconfig is copied by step 4: steps 1-3 stay cached, 4 and everything after re-run.
  const gitconfig = path.join(dir, 'debian-ci', 'gitconfig')
  fs.appendFileSync(gitconfig, '# changed\n')
  assert.deepEqual(cachedFlags(build([recipe, '-t', 'pivot-test/edited'])), [true, true, true, false, false, false, false, false])

  // A new mtime with the same content is not a change.
  const later = new Date(Date.now() + 60_000)
  fs.utimesSync(gitconfig, later, later)
  fs.utimesSync(path.join(dir, 'debian-ci', 'ci-info.sh'), later, later)
  assert.deepEqual(cachedFlags(build([recipe, '-t', 'pivot-test/edited'])), [true, true, true, true, true, true, true, true])

  // --no-cache runs everything; a copy layer comes out identical (same files, same times).
  const fresh = build([recipe, '-t', 'pivot-test/edited', '--no-cache'])
  assert.deepEqual(cachedFlags(fresh), [false, false, false, false, false, false, false, false])
  const again = build([recipe, '-t', 'pivot-test/edited', '--no-cache'])
  const copyLayer = (r: BuildJson) => r.layers[r.layers.length - 4]
  assert.equal(copyLayer(again), copyLayer(fresh), 'the ci-info copy layer is reproducible')
  assert.notEqual(again.layers.at(-1), fresh.layers.at(-1), 'a run layer is not (file times differ)')
  ok(pivot(['rmi', 'pivot-test/edited'], {cacheDir: cache}))
})

test("export -> docker import -> docker run shows the recipe's files, contents and modes", t => {
  const out = path.join(tempDir('pivot-build-export-'), 'debian-ci.tar')
  ok(pivot(['export', 'pivot-test/debian-ci', '-o', out], {cacheDir: cache, timeout: 300_000}))
  const tag = `pivot-test/build-export:${randomBytes(4).toString('hex')}`
  docker(['import', out, tag], {timeout: 300_000})
  t.after(() => {
    try {
      docker(['rmi', '-f', tag])
    } catch {
      // already gone
    }
  })
  const script = [
    'stat -c "%a %u:%g %n" /usr/local/bin/ci-info /home/ci/.gitconfig /home/ci/work',
    'md5sum /usr/local/bin/ci-info /home/ci/.gitconfig',
    'grep -c "^ci:x:1000:1000:" /etc/passwd',
    'if test -e /etc/motd; then echo motd present; else echo motd absent; fi',
  ].join('; ')
  const shown = docker(['run', '--rm', '--network', 'none', tag, '/bin/sh', '-c', script])
  const md5 = (f: string) =>
    require('node:crypto')
      .createHash('md5')
      .update(fs.readFileSync(path.join(REPO_ROOT, 'images', 'debian-ci', f)))
      .digest('hex')
  assert.equal(
    shown,
    [
      '750 1000:1000 /usr/local/bin/ci-info',
      '644 1000:1000 /home/ci/.gitconfig',
      '755 1000:1000 /home/ci/work',
      `${md5('ci-info.sh')}  /usr/local/bin/ci-info`,
      `${md5('gitconfig')}  /home/ci/.gitconfig`,
      '1',
      'motd absent',
      '',
    ].join('\n'),
  )
  // And no trace of the whiteout itself in the flat tar.
  assert.equal(docker(['run', '--rm', '--network', 'none', tag, '/bin/sh', '-c', 'ls -a /etc | grep -c "^\\.wh\\." || true']).trim(), '0')
})

test("images/busybox.yaml: from scratch with the host's busybox-static, given /bin as the context", () => {
  const first = build(['images/busybox.yaml', '--context', '/bin', '-t', 'pivot-test/busybox-built'])
  assert.deepEqual(cachedFlags(first), [false, false, false])
  assert.equal(first.layers.length, 3)
  const shown = ok(
    pivot(['run', '--rm', 'pivot-test/busybox-built', 'sh', '-c', 'stat -c "%a %n" /tmp /root; head -1 /etc/passwd; readlink /bin/ls; echo $PATH'], {
      cacheDir: cache,
    }),
  )
  assert.equal(shown, '1777 /tmp\n700 /root\nroot:x:0:0:root:/root:/bin/sh\n/bin/busybox\n/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n')
  // The default command is a shell.
  assert.equal(ok(pivot(['run', '--rm', '-i', 'pivot-test/busybox-built'], {cacheDir: cache, input: 'echo from-cmd\n'})), 'from-cmd\n')
  assert.deepEqual(cachedFlags(build(['images/busybox.yaml', '--context', '/bin', '-t', 'pivot-test/busybox-built'])), [true, true, true])
  // Without the context it needs, the recipe cannot reach the host's /bin.
  const refused = pivot(['build', 'images/busybox.yaml', '-t', 'pivot-test/busybox-built'], {cacheDir: cache})
  assert.equal(refused.status, 125)
  assert.match(refused.stderr, /^pivot: images\/busybox\.yaml: steps\[0\]\.copy\.src: busybox: no such file in the build context /m)
})

test('--build-arg substitutes ${NAME}; the value is part of the cache key', () => {
  const dir = tempDir('pivot-build-args-')
  const recipe = path.join(dir, 'args.yaml')
  fs.writeFileSync(
    recipe,
    [
      'args:',
      `  BASE: ${BUSYBOX_IMAGE}`,
      '  GREETING: hello',
      'from: ${BASE}',
      'env:',
      '  GREETING: ${GREETING}',
      'steps:',
      '  - run: echo "${GREETING} $$GREETING" > /greeting',
      '',
    ].join('\n'),
  )
  build([recipe, '-t', 'pivot-test/args'])
  assert.equal(ok(pivot(['run', '--rm', 'pivot-test/args', 'cat', '/greeting'], {cacheDir: cache})), 'hello hello\n')
  const other = build([recipe, '-t', 'pivot-test/args', '--build-arg', 'GREETING=bye'])
  assert.deepEqual(cachedFlags(other), [false])
  assert.equal(ok(pivot(['run', '--rm', 'pivot-test/args', 'cat', '/greeting'], {cacheDir: cache})), 'bye bye\n')
  assert.deepEqual(cachedFlags(build([recipe, '-t', 'pivot-test/args'])), [true])

  const unknown = pivot(['build', recipe, '-t', 'pivot-test/args', '--build-arg', 'NOPE=1'], {cacheDir: cache})
  assert.equal(unknown.status, 0, unknown.stderr)
  assert.match(unknown.stderr, /pivot: warning: build argument NOPE was given but the recipe does not use it/)
  ok(pivot(['rmi', 'pivot-test/args'], {cacheDir: cache}))
})

test("a built image is a normal cache image: rmi, then prune keeps the build cache's layers", () => {
  const dir = tempDir('pivot-build-prune-')
  const recipe = path.join(dir, 'p.yaml')
  fs.writeFileSync(recipe, `from: ${BUSYBOX_IMAGE}\nsteps:\n  - run: echo kept > /kept\n`)
  const built = build([recipe, '-t', 'pivot-test/prune-me'])
  ok(pivot(['rmi', 'pivot-test/prune-me'], {cacheDir: cache}))
  ok(pivot(['prune'], {cacheDir: cache}))
  // The step's layer survived in the build cache: the rebuild runs nothing.
  const again = build([recipe, '-t', 'pivot-test/prune-me'])
  assert.deepEqual(cachedFlags(again), [true])
  assert.deepEqual(again.layers, built.layers)
  assert.equal(ok(pivot(['run', '--rm', 'pivot-test/prune-me', 'cat', '/kept'], {cacheDir: cache})), 'kept\n')
})

test('prune drops the build-cache records no build can use, prune -a all of them; a build racing prune -a stays consistent', () => {
  const own = tempDir('pivot-build-cache-prune-')
  const dir = tempDir('pivot-build-cache-recipes-')
  const run = (args: string[]) => ok(pivot(args, {cacheDir: own, timeout: 300_000}), args.join(' '))
  const recipes = [1, 2, 3].map(n => {
    const file = path.join(dir, `r${n}.yaml`)
    fs.writeFileSync(file, `from: ${BUSYBOX_IMAGE}\nsteps:\n  - run: echo ${n} > /n\n`)
    run(['build', file, '-t', `pivot-test/cache-prune-${n}`, '-q'])
    return file
  })
  run(['rmi', 'pivot-test/cache-prune-1', 'pivot-test/cache-prune-2'])
  const records = () => fs.readdirSync(path.join(own, 'build-cache')).sort()
  const built = records()
  // A record listing a layer the cache does not have, and a temp file of a writer that died.
  const stale = `${'e'.repeat(64)}.json`
  fs.writeFileSync(path.join(own, 'build-cache', stale), JSON.stringify({key: 'k', layers: [`sha256:${'d'.repeat(64)}`], config: {}, created: ''}))
  const temp = `${'f'.repeat(64)}.json.4194303.x.tmp`
  fs.writeFileSync(path.join(own, 'build-cache', temp), '{')
  const plain = JSON.parse(run(['prune', '--json'])) as {buildCache: string[]; layers: string[]}
  assert.deepEqual(plain.buildCache.sort(), [stale, temp].sort())
  assert.deepEqual(plain.layers, [], 'the usable records keep their layers')
  assert.deepEqual(records(), built)
  // rmi'd images rebuild from the cache.
  const again = JSON.parse(run(['build', recipes[0], '-t', 'pivot-test/cache-prune-1', '--json'])) as BuildJson
  assert.deepEqual(cachedFlags(again), [true])
  run(['rmi', 'pivot-test/cache-prune-1'])

  const all = JSON.parse(run(['prune', '-a', '--json'])) as {buildCache: string[]; layers: string[]}
  assert.deepEqual(all.buildCache.sort(), built)
  assert.equal(all.layers.length, 2, "the two removed images' step layers go with their records")
  assert.deepEqual(records(), [])
  run(['check'])
  assert.equal(run(['run', '--rm', 'pivot-test/cache-prune-3', 'cat', '/n']), '3\n')

  // A build while prune -a runs again and again: each side finishes, and the cache is consistent.
  const script = `(for i in 1 2 3 4 5 6; do "$0" prune -a --cache-dir "$1" >/dev/null || exit 9; done) & "$0" build -q --cache-dir "$1" "$2" -t pivot-test/cache-prune-race; b=$?; wait $!; p=$?; echo "$b $p"`
  const race = spawnSync('bash', ['-c', script, PIVOT_BIN, own, recipes[1]], {encoding: 'utf8', timeout: 300_000})
  assert.equal(race.stdout.trim().split('\n').pop(), '0 0', race.stderr)
  run(['check'])
  assert.equal(run(['run', '--rm', 'pivot-test/cache-prune-race', 'cat', '/n']), '2\n')
  run(['prune', '-a'])
  run(['check'])
})
