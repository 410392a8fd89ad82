// Runs ./bin/pivot as the unprivileged test user that test/env/rootless.sh makes (issue 14):
// setpriv drops to its uid and gid with its own supplementary groups, the environment is cleared
// to what a login would give (a temp HOME of its own, XDG dirs below it), so the cache lands in
// $HOME/.local/share/pivot as for any user.
import {spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {PIVOT_BIN, runToEnd, tempDir, type PivotResult} from './fixtures'

export const ROOTLESS_USER = 'pivot-rootless'
export const ROOTLESS_UID = 2000
/** The subordinate range rootless.sh gives the user (in /etc/subuid and /etc/subgid). */
export const ROOTLESS_SUB_START = 100000
export const ROOTLESS_SUB_COUNT = 65536
/** The cgroup root delegates to the user below each v1 hierarchy (rootless.sh). */
export const ROOTLESS_CGROUP = 'pivot-rootless-test'

export interface RootlessHome {
  home: string
  /** $XDG_RUNTIME_DIR of the user's runs. */
  runtime: string
  /** Where pivot keeps the user's cache by default: $HOME/.local/share/pivot. */
  cache: string
}

/** A fresh home owned by the test user (0700), removed at exit (as root, subordinate-owned files included). */
export function rootlessHome(): RootlessHome {
  const home = tempDir('pivot-rootless-home')
  const runtime = path.join(home, 'run')
  fs.mkdirSync(runtime, {mode: 0o700})
  for (const dir of [home, runtime]) {
    fs.chownSync(dir, ROOTLESS_UID, ROOTLESS_UID)
    fs.chmodSync(dir, 0o700)
  }
  return {home, runtime, cache: path.join(home, '.local', 'share', 'pivot')}
}

export interface RootlessOptions {
  env?: NodeJS.ProcessEnv
  /**
   * Run with no subordinate ranges: /etc/subuid and /etc/subgid read as empty, in a private mount
   * namespace of this one command (the host's files are not touched).
   */
  noSubIds?: boolean
  /** Run as if uidmap were not installed: /dev/null (not executable) over newuidmap, in the same way. */
  withoutNewuidmap?: boolean
  input?: string | Buffer
  /** Milliseconds; default 120 s. */
  timeout?: number
  cwd?: string
}

let checked = false

/** The test user must be able to run the checkout's bin/pivot (not so under /root, 0700). */
function checkAccess(): void {
  if (checked) return
  const r = spawnSync('setpriv', ['--reuid', String(ROOTLESS_UID), '--regid', String(ROOTLESS_UID), '--init-groups', 'test', '-x', PIVOT_BIN], {
    encoding: 'utf8',
  })
  if (r.status !== 0) {
    throw new Error(
      `uid ${ROOTLESS_UID} (${ROOTLESS_USER}) cannot run ${PIVOT_BIN}: the checkout must be readable by other users for the rootless tests ` +
        `(a parent directory is not; move the checkout or chmod o+x it): ${r.stderr.trim()}`,
    )
  }
  checked = true
}

/** The argv that runs ARGS as the test user with HOME's environment (for spawn and spawnSync alike). */
export function rootlessArgv(home: RootlessHome, args: string[], env: NodeJS.ProcessEnv = {}): string[] {
  checkAccess()
  const vars = {
    HOME: home.home,
    USER: ROOTLESS_USER,
    LOGNAME: ROOTLESS_USER,
    PATH: '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin',
    XDG_RUNTIME_DIR: home.runtime,
    ...env,
  }
  const assignments = Object.entries(vars)
    .filter((entry): entry is [string, string] => entry[1] !== undefined)
    .map(([k, v]) => `${k}=${v}`)
  return ['--reuid', String(ROOTLESS_UID), '--regid', String(ROOTLESS_UID), '--init-groups', '--', 'env', '-i', ...assignments, PIVOT_BIN, ...args]
}

/** Runs `bin/pivot ARGS` as the test user and returns what it did (never throws for a failed command). */
export function pivotRootless(home: RootlessHome, args: string[], opts: RootlessOptions = {}): PivotResult {
  const timeout = opts.timeout ?? 120_000
  const argv = rootlessArgv(home, args, opts.env)
  const hide = [...(opts.noSubIds ? ['/etc/subuid', '/etc/subgid'] : []), ...(opts.withoutNewuidmap ? ['/usr/bin/newuidmap'] : [])]
  const [cmd, cmdArgs] =
    hide.length > 0
      ? [
          'unshare',
          [
            '--mount',
            '--propagation',
            'private',
            '--',
            'sh',
            '-c',
            `${hide.map(f => `mount --bind /dev/null ${f} && `).join('')}exec setpriv "$@"`,
            'sh',
            ...argv,
          ],
        ]
      : ['setpriv', argv]
  return runToEnd(cmd, cmdArgs, {cwd: opts.cwd, input: opts.input, timeout}, `pivot ${args.join(' ')} (as ${ROOTLESS_USER})`)
}

/** Runs any program as the test user, with the same environment as pivotRootless (for runc, tar...). */
export function runAsRootless(home: RootlessHome, argv: string[], opts: {cwd?: string; timeout?: number} = {}): PivotResult {
  const env = [`HOME=${home.home}`, `USER=${ROOTLESS_USER}`, 'PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin', `XDG_RUNTIME_DIR=${home.runtime}`]
  const r = spawnSync('setpriv', ['--reuid', String(ROOTLESS_UID), '--regid', String(ROOTLESS_UID), '--init-groups', '--', 'env', '-i', ...env, ...argv], {
    cwd: opts.cwd ?? home.home,
    encoding: 'utf8',
    timeout: opts.timeout ?? 120_000,
    killSignal: 'SIGKILL',
  })
  if (r.error) throw new Error(`${argv.join(' ')} (as ${ROOTLESS_USER}): ${r.error.message}`)
  return {status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr}
}
