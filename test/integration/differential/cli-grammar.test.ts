// docker's grammar for words that name no command (src/cli/command-grammar.ts), row by row: pivot's
// exit status and streams against docker's, and its stderr line by line against docker's with
// docker's name made pivot's (a first line docker prints bare gets pivot's `pivot: `).
//
// The words are docker 28's (its CLI is /usr/local/bin/docker here); Debian's 20.10 client, the
// suite's DOCKER_BIN, exits with the same statuses but prints a group's whole help for an unknown
// sub-command and no error line. So each row records docker 28's stderr: with a 28-style client
// on the machine the row checks the recording against it too; the statuses and which stream is
// written are always checked against every docker client there is.
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import {after, before, test} from 'node:test'
import {DOCKER_BIN, pivot, tempDir} from '../../helpers/fixtures'

interface Row {
  args: string[]
  status: number
  /** docker 28's stderr, compared line by line. */
  stderr?: string
  /** Or, where what differs in content goes (a help text, a version, pivot's one-line count
   * error): only the stream is compared, and that the other one stays empty. */
  output?: 'stdout' | 'stderr'
}

const unknown = (group: string, word: string, usage = group) =>
  `docker: unknown command: docker ${group} ${word}\n\nUsage:  docker ${usage}\n\nRun 'docker ${group} --help' for more information\n`
const ROOT_FLAG_USAGE = "\n\nUsage:  docker [OPTIONS] COMMAND [ARG...]\n\nRun 'docker --help' for more information\n"

const ROWS: Row[] = [
  {args: ['bogus'], status: 1, stderr: "docker: unknown command: docker bogus\n\nRun 'docker --help' for more information\n"},
  {args: ['bogus', 'x', 'y'], status: 1, stderr: "docker: unknown command: docker bogus\n\nRun 'docker --help' for more information\n"},
  {args: ['network', 'bogus'], status: 1, stderr: unknown('network', 'bogus')},
  {args: ['network', 'bogus', 'x'], status: 1, stderr: unknown('network', 'bogus')},
  {args: ['volume', 'bogus'], status: 1, stderr: unknown('volume', 'bogus', 'volume COMMAND')},
  {args: ['container', 'bogus'], status: 1, stderr: unknown('container', 'bogus')},
  {args: ['container', 'bogus', 'x'], status: 1, stderr: unknown('container', 'bogus')},
  {args: ['image', 'bogus'], status: 1, stderr: unknown('image', 'bogus')},
  {args: ['--bogus'], status: 125, stderr: `unknown flag: --bogus${ROOT_FLAG_USAGE}`},
  {args: ['-x'], status: 125, stderr: `unknown shorthand flag: 'x' in -x${ROOT_FLAG_USAGE}`},
  {args: ['--bogus', 'ps'], status: 125, stderr: `unknown flag: --bogus${ROOT_FLAG_USAGE}`},
  {
    args: ['container', '-x'],
    status: 125,
    stderr: "unknown shorthand flag: 'x' in -x\n\nUsage:  docker container\n\nRun 'docker container --help' for more information\n",
  },
  {
    args: ['container', '--bogus', 'ls'],
    status: 125,
    stderr: "unknown flag: --bogus\n\nUsage:  docker container\n\nRun 'docker container --help' for more information\n",
  },
  {args: ['help', 'bogus'], status: 1, stderr: 'unknown help topic: bogus\n'},
  {args: ['help', 'logs', 'x'], status: 1, stderr: 'unknown help topic: x\n'},
  {args: ['help', 'network', 'bogus'], status: 1, stderr: 'unknown help topic: bogus\n'},
  {args: ['help', 'image', 'bogus'], status: 1, stderr: 'unknown help topic: bogus\n'},
  {args: ['network'], status: 0, output: 'stderr'},
  {args: ['volume'], status: 0, output: 'stderr'},
  {args: ['container'], status: 0, output: 'stderr'},
  {args: ['image'], status: 0, output: 'stderr'},
  {args: ['bogus', '--help'], status: 0, output: 'stdout'},
  {args: ['network', 'bogus', '--help'], status: 0, output: 'stdout'},
  {args: ['image', 'bogus', '--help'], status: 0, output: 'stdout'},
  {args: ['help', 'network'], status: 0, output: 'stdout'},
  {args: ['help', 'network', 'ls'], status: 0, output: 'stdout'},
  {args: ['help'], status: 0, output: 'stdout'},
  // version: pivot's own words (no daemon, no Server section), docker's statuses.
  {args: ['version'], status: 0, output: 'stdout'},
  {args: ['version', 'bogus'], status: 1, output: 'stderr'},
  {args: ['version', '--bogus'], status: 125, output: 'stderr'},
  {args: ['--version'], status: 0, output: 'stdout'},
  {args: ['--version', 'bogus'], status: 0, output: 'stdout'},
  {args: ['-v'], status: 0, output: 'stdout'},
]

interface Side {
  status: number | null
  stdout: string
  stderr: string
}

function run(bin: string, args: string[]): Side {
  const r = spawnSync(bin, args, {encoding: 'utf8', timeout: 60_000})
  if (r.error) throw r.error
  return {status: r.status, stdout: r.stdout, stderr: r.stderr}
}

/** docker's lines as pivot prints them: its name, and `pivot: ` before a bare first line. */
function asPivot(stderr: string): string[] {
  return stderr.split('\n').map((line, i) => {
    const named = line.replaceAll('docker', 'pivot')
    return i === 0 && !named.startsWith('pivot: ') ? `pivot: ${named}` : named
  })
}

/** The docker clients here: DOCKER_BIN, and the first other one that speaks docker 28's words. */
function dockers(): {all: string[]; modern: string | undefined} {
  const all = [DOCKER_BIN]
  const speaks28 = (bin: string) => run(bin, ['bogus']).stderr.startsWith('docker: unknown command: docker bogus')
  const other = ['/usr/local/bin/docker', '/usr/bin/docker'].find(bin => bin !== DOCKER_BIN && fs.existsSync(bin))
  if (other !== undefined) all.push(other)
  return {all, modern: all.find(speaks28)}
}

let cache: string
let clients: {all: string[]; modern: string | undefined}

before(() => {
  cache = tempDir('pivot-cli-grammar')
  clients = dockers()
})

after(() => fs.rmSync(cache, {recursive: true, force: true}))

for (const row of ROWS) {
  test(`grammar: ${row.args.join(' ')}`, t => {
    const p = pivot(row.args, {cacheDir: cache, timeout: 60_000})
    const what = (side: Side, name: string) =>
      `${name} ${row.args.join(' ')}: ${side.status} ${JSON.stringify(side.stdout.slice(0, 200))} ${JSON.stringify(side.stderr)}`
    assert.equal(p.status, row.status, what(p, 'pivot'))
    for (const bin of clients.all) {
      const d = run(bin, row.args)
      assert.equal(d.status, row.status, what(d, bin))
      if (row.output !== undefined) {
        for (const [side, name] of [
          [d, bin],
          [p, 'pivot'],
        ] as const) {
          const [used, unused] = row.output === 'stdout' ? [side.stdout, side.stderr] : [side.stderr, side.stdout]
          assert.ok(used.length > 0 && unused === '', `output on ${row.output} only: ${what(side, name)}`)
        }
      } else if (bin === clients.modern) {
        assert.equal(d.stderr, row.stderr, `the recording is docker's: ${what(d, bin)}`)
      }
      if (row.stderr !== undefined) assert.equal(d.stdout, '', what(d, bin))
    }
    if (row.stderr !== undefined) {
      assert.equal(p.stdout, '', what(p, 'pivot'))
      assert.deepEqual(p.stderr.split('\n'), asPivot(row.stderr), what(p, 'pivot'))
    }
    if (clients.modern === undefined) t.diagnostic('no docker 28 client here: the lines were compared with the recording only')
  })
}
