/**
 * Go's archive/tar (the reader docker uses) as a test oracle: builds go-tar-list/main.go with
 * Debian's golang-go (offline: it uses only the standard library) into a cache dir keyed by the
 * source's hash, and lists archives with it. See archives-differential.test.ts.
 */
import {execFileSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import type {Listing} from './pivot-tar-list'
import {REPO_ROOT} from './fixtures'

const SOURCE = path.join(REPO_ROOT, 'test', 'helpers', 'go-tar-list', 'main.go')

let built: string | undefined

/** The path of the built lister (built once per source version; kept between runs in the temp dir). */
export function goTarListBinary(): string {
  if (built) return built
  const source = fs.readFileSync(SOURCE)
  const dir = path.join(os.tmpdir(), `pivot-go-tar-list-${createHash('sha256').update(source).digest('hex').slice(0, 16)}`)
  const binary = path.join(dir, 'go-tar-list')
  if (!fs.existsSync(binary)) {
    fs.mkdirSync(dir, {recursive: true})
    fs.copyFileSync(SOURCE, path.join(dir, 'main.go'))
    const temp = `${binary}.${process.pid}`
    execFileSync('go', ['build', '-o', temp, 'main.go'], {
      cwd: dir,
      env: {...process.env, GO111MODULE: 'off', GOPATH: path.join(dir, 'gopath'), GOCACHE: path.join(dir, 'cache'), GOFLAGS: ''},
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 300_000,
    })
    fs.renameSync(temp, binary)
  }
  built = binary
  return binary
}

/** Go's view of each archive (global pax headers, which Go returns as entries and docker skips, left out). */
export function goTarList(files: string[]): Listing[] {
  const out = execFileSync(goTarListBinary(), files, {encoding: 'utf8', maxBuffer: 64 << 20})
  return out
    .trim()
    .split('\n')
    .map(line => JSON.parse(line) as Listing)
    .map(l => ({...l, entries: l.entries.filter(e => e.type !== 'g')}))
}
