/**
 * Malformed and hostile input at the CLI: image names with shell metacharacters, control
 * characters or NUL, absurd limits, NUL in flag values, env files that are not files. The safe
 * outcome: one line on stderr (so a name cannot forge more output, or escape sequences, in a
 * terminal or a CI log), exit 125, nothing run by a shell, nothing created (no container dir, no
 * cgroup, no mount, no image), and quickly.
 */
import assert from 'node:assert/strict'
import {spawn, spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {createCgroup} from '../../src/runtime/cgroups'
import {BUSYBOX_IMAGE, PIVOT_BIN, REPO_ROOT, pivot, tempDir, type PivotResult} from '../helpers/fixtures'
import {seedImage} from '../helpers/seed-image'
import {assertNothingLeft, assertOneLineError, cacheSnapshot, cleanUp, uniqueName} from '../helpers/security'

const B = BUSYBOX_IMAGE
let cache: string

after(() => cleanUp(cache))

before(() => {
  cache = tempDir('pivot-attack-input')
  seedImage(cache, B)
})

/** Nothing created: no container, cgroup or mount, and the cache as it was. */
function assertUntouched(before: string[]): void {
  assertNothingLeft(cache)
  assert.deepEqual(cacheSnapshot(cache), before, 'the cache is byte-identical')
}

/**
 * `pivot run ARGS` through src/cli/run's main() in a node subprocess, the args passed as JSON on
 * stdin: argv itself cannot carry a NUL (the kernel ends the string there), but main() is also
 * what commands/run.ts calls with whatever strings it was handed.
 */
function runMain(args: string[]): PivotResult {
  const script = `let s = ''; process.stdin.on('data', d => (s += d)).on('end', () => require(${JSON.stringify(
    path.join(REPO_ROOT, 'dist', 'src', 'cli', 'run.js'),
  )}).main(JSON.parse(s)))`
  const env: NodeJS.ProcessEnv = {...process.env, PIVOT_CACHE_DIR: cache}
  delete env.NODE_EXTRA_CA_CERTS
  const r = spawnSync(process.execPath, ['-e', script], {
    input: JSON.stringify(args),
    encoding: 'utf8',
    env,
    cwd: REPO_ROOT,
    timeout: 30_000,
    killSignal: 'SIGKILL',
  })
  if (r.error) throw r.error
  return {status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr}
}

describe('hostile image names', {timeout: 180_000}, () => {
  it('shell metacharacters, a newline, an escape sequence: refused by every command in one line, no shell ever runs', () => {
    const marker = path.join(tempDir('pivot-metachar'), 'ran')
    const names = [
      `busybox;touch ${marker}`,
      `$(touch ${marker})`,
      `\`touch ${marker}\``,
      `busybox|touch ${marker}`,
      `busybox&&touch ${marker}`,
      `busybox\ntouch ${marker}`,
      `busybox\u001b[2J\u001b[Hfake`,
      '../../../../etc/passwd',
    ]
    const before = cacheSnapshot(cache)
    const tar = path.join(tempDir('pivot-metachar-tar'), 'x.tar')
    fs.writeFileSync(tar, Buffer.alloc(1024))
    // Every command and name is tried before failing, so that a failure lists them all.
    const failures: string[] = []
    for (const name of names) {
      for (const [args, status] of [
        [['run', name, 'true'], 125],
        [['run', '--pull', 'never', name, 'true'], 125],
        [['run', '--pull', 'always', name, 'true'], 125],
        [['pull', name], undefined],
        [['import', tar, name], undefined],
        [['rmi', name], undefined],
        [['export', name, '-o', path.join(path.dirname(tar), 'out.tar')], undefined],
      ] as Array<[string[], number | undefined]>) {
        const r = pivot(args, {cacheDir: cache, timeout: 60_000})
        try {
          assertOneLineError(r, /./, status)
          assert.ok(!r.stderr.includes('\u001b'), 'a raw escape sequence reached the terminal')
          assert.equal(r.stdout, '')
        } catch (error) {
          failures.push(`pivot ${JSON.stringify(args)}: ${(error as Error).message.split('\n')[0]} -- stderr: ${JSON.stringify(r.stderr)}`)
        }
      }
    }
    assert.deepEqual(failures, [])
    assert.equal(fs.existsSync(marker), false, 'no shell ran the name')
    assert.equal(fs.existsSync(path.join(path.dirname(tar), 'out.tar')), false)
    assertUntouched(before)
  })

  it('a NUL byte in the image, a flag value or the command (through main()): exit 125, one line, nothing created', () => {
    const before = cacheSnapshot(cache)
    const dir = tempDir('pivot-nul')
    const envFile = path.join(dir, 'env')
    fs.writeFileSync(envFile, 'A=1\n')
    const cases: Array<[string[], RegExp]> = [
      [[`${B}\0;touch /tmp/x`, 'true'], /NUL/],
      [['-v', `${dir}\0/../etc:/x`, B, 'true'], /NUL/],
      [['-v', `${dir}:/x\0/../../etc`, B, 'true'], /NUL/],
      [['--volume=' + `${dir}:/x\0`, B, 'true'], /NUL/],
      [['--env', 'A=b\0c', B, 'true'], /NUL/],
      [['-eA=b\0LD_PRELOAD=/x', B, 'true'], /NUL/],
      [['--env-file', `${envFile}\0.evil`, B, 'true'], /NUL/],
      [['-w', '/tmp\0/../etc', B, 'true'], /NUL/],
      [['-u', 'root\0nobody', B, 'true'], /NUL/],
      [['--hostname', 'a\0b', B, 'true'], /NUL/],
      [['--name', 'a\0b', B, 'true'], /NUL/],
      [['--entrypoint', '/bin/sh\0-c', B, 'true'], /NUL/],
      [['--memory', '64m\0', B, 'true'], /NUL/],
      [[B, 'echo', 'a\0b'], /NUL/],
    ]
    for (const [args, re] of cases) {
      const r = runMain(args)
      assert.doesNotThrow(() => assertOneLineError(r, re, 125), `${JSON.stringify(args)}: ${r.stderr}`)
      assert.equal(r.stdout, '')
      assertNothingLeft(cache)
    }
    // Positive control: main() runs a good command line.
    assert.equal(runMain(['--rm', B, 'echo', 'ok']).stdout, 'ok\n')
    assertUntouched(before)
  })
})

describe('absurd limits and broken flag values', {timeout: 120_000}, () => {
  it('huge, exponent, hex, NaN and Infinity values of --memory, --pids-limit, --cpus: exit 125, one line, nothing created', () => {
    const before = cacheSnapshot(cache)
    const cases: Array<[string, string, RegExp]> = [
      ['--memory', '1e999', /invalid memory size "1e999"/],
      ['--memory', '99999999999999999999', /too large/],
      ['--memory', '8388608p', /too large/],
      ['--memory', 'Infinity', /invalid memory size/],
      ['--memory', 'NaN', /invalid memory size/],
      ['--memory', '0x10', /invalid memory size/],
      ['--memory', '-1', /invalid memory size/],
      ['--pids-limit', '99999999999999', /too large/],
      ['--pids-limit', '99999999999999999999999', /too large|invalid/],
      ['--pids-limit', '4194305', /too large/],
      ['--pids-limit', '1e3', /invalid --pids-limit/],
      ['--pids-limit', '0x10', /invalid --pids-limit/],
      ['--pids-limit', 'Infinity', /invalid --pids-limit/],
      ['--cpus', '1e999', /invalid CPU count/],
      ['--cpus', 'Infinity', /invalid CPU count/],
      ['--cpus', '1e-9', /invalid CPU count/],
      ['--cpus', '99999', /invalid CPU count/],
    ]
    for (const [flag, value, re] of cases) {
      const r = pivot(['run', '--rm', flag, value, B, 'true'], {cacheDir: cache, timeout: 30_000})
      assert.doesNotThrow(() => assertOneLineError(r, re, 125), `${flag} ${value}: ${r.stderr}`)
      assertNothingLeft(cache)
    }
    assertUntouched(before)
  })

  it('--env-file that is missing, a directory, or an endless device: exit 125 in one line, quickly, in bounded memory', async () => {
    const before = cacheSnapshot(cache)
    assertOneLineError(pivot(['run', '--rm', '--env-file', 'no/such/file', B, 'true'], {cacheDir: cache}), /--env-file no\/such\/file: no such file/, 125)
    assertOneLineError(pivot(['run', '--rm', '--env-file', '/', B, 'true'], {cacheDir: cache}), /--env-file \//, 125)
    assertNothingLeft(cache)

    // /dev/zero never ends and has no newline: docker's reader stops at its line limit. Run in
    // a 256 MiB cgroup for 20 s, so that a pivot that reads it all cannot take the host with it.
    const cgroup = createCgroup(uniqueName('test-attack-envfile'), {memory: 256 * 1024 * 1024, pids: 64})
    try {
      const env: NodeJS.ProcessEnv = {...process.env, PIVOT_CACHE_DIR: cache}
      delete env.NODE_EXTRA_CA_CERTS
      const child = spawn('/bin/sh', ['-c', 'read go; exec "$@"', 'sh', PIVOT_BIN, 'run', '--rm', '--env-file', '/dev/zero', B, 'true'], {
        cwd: REPO_ROOT,
        env,
        stdio: ['pipe', 'pipe', 'pipe'],
      })
      let stderr = ''
      child.stderr!.on('data', d => (stderr += d))
      const guard = setTimeout(() => child.kill('SIGKILL'), 20_000)
      const done = new Promise<{code: number | null; signal: NodeJS.Signals | null}>(resolve => child.on('close', (code, signal) => resolve({code, signal})))
      cgroup.addProcess(child.pid!)
      child.stdin!.end('go\n')
      const result = await done
      clearTimeout(guard)
      assert.equal(result.signal, null, `pivot was killed (${result.signal}): it read an endless --env-file without bound`)
      assertOneLineError({status: result.code, signal: null, stdout: '', stderr}, /--env-file \/dev\/zero/, 125)
    } finally {
      await cgroup.remove()
    }
    assertUntouched(before)
  })
})
