// Lock files do not pile up in locks/: every lock's file goes with it on release (pull's
// per-image lock, tag's per-name one, the download and build-step locks), prune removes those a
// killed holder left, and a pull racing prune leaves a consistent cache.
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {BUSYBOX_IMAGE, DEBIAN_IMAGE, PIVOT_BIN, pivot, tempDir} from '../../helpers/fixtures'

function ok(r: {status: number | null; stdout: string; stderr: string}, what: string): string {
  assert.equal(r.status, 0, `${what} (${r.status}): ${r.stderr}${r.stdout}`)
  return r.stdout
}

const locks = (cache: string) => fs.readdirSync(path.join(cache, 'locks')).sort()

test('pulls, re-pulls, tags and rmi leave no lock file; prune removes what a killed holder left', () => {
  const cache = tempDir('pivot-lock-files')
  const run = (args: string[]) => ok(pivot(args, {cacheDir: cache, timeout: 300_000}), args.join(' '))
  for (const image of [BUSYBOX_IMAGE, DEBIAN_IMAGE, BUSYBOX_IMAGE]) run(['pull', '-q', image])
  for (let n = 1; n <= 3; n++) run(['tag', BUSYBOX_IMAGE, `pivot-test/lock-files:${n}`])
  run(['rmi', 'pivot-test/lock-files:1', 'pivot-test/lock-files:2', 'pivot-test/lock-files:3'])
  assert.deepEqual(locks(cache), [])
  // A holder killed before its release leaves its file (nobody holds it): prune takes it.
  const left = `pull-${'a'.repeat(64)}.lock`
  fs.writeFileSync(path.join(cache, 'locks', left), '')
  const report = JSON.parse(run(['prune', '--json'])) as {locks: string[]}
  assert.deepEqual(report.locks, [left])
  assert.deepEqual(locks(cache), [])
  run(['check'])
})

test('a held lock is not removed by prune; a pull racing prune leaves the cache consistent', () => {
  const cache = tempDir('pivot-lock-race')
  const run = (args: string[]) => ok(pivot(args, {cacheDir: cache, timeout: 300_000}), args.join(' '))
  run(['pull', '-q', BUSYBOX_IMAGE])
  // Held by flock(1) while prune runs: it stays.
  const held = path.join(cache, 'locks', `pull-${'b'.repeat(64)}.lock`)
  const holder = spawnSync('flock', ['-x', held, PIVOT_BIN, 'prune', '--json', '--cache-dir', cache], {encoding: 'utf8', timeout: 120_000})
  assert.equal(holder.status, 0, holder.stderr)
  assert.deepEqual((JSON.parse(holder.stdout) as {locks: string[]}).locks, [])
  assert.ok(fs.existsSync(held))
  run(['prune'])
  // Pulls of an image (removed between rounds) while prune runs again and again.
  const script = `(for i in 1 2 3 4 5 6 7 8; do "$0" prune --cache-dir "$1" >/dev/null || exit 9; done) & for i in 1 2 3; do "$0" pull -q --cache-dir "$1" "$2" >/dev/null || exit 8; "$0" rmi --cache-dir "$1" "$2" >/dev/null || exit 7; done; wait $!; echo "pruned $?"`
  const race = spawnSync('bash', ['-c', script, PIVOT_BIN, cache, DEBIAN_IMAGE], {encoding: 'utf8', timeout: 600_000})
  assert.equal(race.status, 0, race.stderr)
  assert.equal(race.stdout.trim(), 'pruned 0', race.stderr)
  run(['check'])
  run(['prune'])
  assert.deepEqual(locks(cache), [])
  assert.equal(run(['run', '--rm', BUSYBOX_IMAGE, 'echo', 'fine']), 'fine\n')
})
