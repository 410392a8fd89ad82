/* eslint-disable @typescript-eslint/no-explicit-any -- the tests edit config.json (runtime-spec JSON) freely, as any runtime-spec document */
import {execFileSync, spawn, spawnSync, type SpawnSyncReturns} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {BUSYBOX_IMAGE, DOCKER_BIN, REPO_ROOT} from './fixtures'

/** The OCI runtime entry point under test, and the reference. */
export const RUNTIME_BIN = path.join(REPO_ROOT, 'bin', 'pivot-runtime')
export const RUNC_BIN = '/usr/sbin/runc'
export const RUNTIME_TOOLS_DIR = '/var/cache/pivot-test/oci-runtime-tools/runtime-tools'

/** A clean environment for the runtimes: NODE_EXTRA_CA_CERTS alone costs ~40 ms per node start. */
export function cleanEnv(): NodeJS.ProcessEnv {
  const env = {...process.env}
  delete env.NODE_EXTRA_CA_CERTS
  return env
}

export interface Run {
  status: number | null
  stdout: string
  stderr: string
}

export function run(cmd: string, args: string[], opts: {timeout?: number; input?: string; cwd?: string} = {}): Run {
  const r: SpawnSyncReturns<string> = spawnSync(cmd, args, {
    encoding: 'utf8',
    env: cleanEnv(),
    timeout: opts.timeout ?? 60_000,
    input: opts.input ?? '',
    cwd: opts.cwd,
  })
  return {status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? ''}
}

/**
 * Like run, for `create`: the container inherits the runtime's stdio, so pipes would stay open
 * as long as it lives; files do not make the caller wait.
 */
export function runCreate(cmd: string, args: string[]): Run {
  const dir = fs.mkdtempSync('/tmp/pivot-oci-io-')
  const out = fs.openSync(path.join(dir, 'out'), 'w')
  const err = fs.openSync(path.join(dir, 'err'), 'w')
  try {
    const r = spawnSync(cmd, args, {env: cleanEnv(), timeout: 60_000, stdio: ['ignore', out, err]})
    return {status: r.status, stdout: fs.readFileSync(path.join(dir, 'out'), 'utf8'), stderr: fs.readFileSync(path.join(dir, 'err'), 'utf8')}
  } finally {
    fs.closeSync(out)
    fs.closeSync(err)
    fs.rmSync(dir, {recursive: true, force: true})
  }
}

/** The busybox fixture's filesystem, exported once per process into a temp dir (docker export). */
let rootfsCache: string | undefined
export function busyboxRootfs(): string {
  if (rootfsCache) return rootfsCache
  const dir = fs.mkdtempSync('/tmp/pivot-oci-rootfs-')
  const name = `pivot-ociruntime-export-${process.pid}`
  execFileSync(DOCKER_BIN, ['create', '--name', name, BUSYBOX_IMAGE, 'true'], {stdio: 'ignore'})
  try {
    execFileSync('sh', ['-c', `${DOCKER_BIN} export ${name} | tar -xf - -C ${dir}`])
  } finally {
    execFileSync(DOCKER_BIN, ['rm', '-f', name], {stdio: 'ignore'})
  }
  rootfsCache = dir
  process.on('exit', () => fs.rmSync(dir, {recursive: true, force: true}))
  return dir
}

/** A bundle with runc's default config (`runc spec`), the busybox rootfs, and `edit` applied. */
export function makeBundle(edit: (config: Record<string, any>) => void = () => undefined): string {
  const bundle = fs.mkdtempSync('/tmp/pivot-oci-bundle-')
  execFileSync(RUNC_BIN, ['spec', '--bundle', bundle])
  const file = path.join(bundle, 'config.json')
  const config = JSON.parse(fs.readFileSync(file, 'utf8'))
  config.root.path = busyboxRootfs()
  config.process.terminal = false
  edit(config)
  fs.writeFileSync(file, JSON.stringify(config, null, 2))
  return bundle
}

/** The mounts, cgroups and state entries naming `needle`: what a removed container must not leave. */
export function leftovers(needle: string, roots: string[]): string[] {
  const found: string[] = []
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) if (line.includes(needle)) found.push(`mount: ${line}`)
  const cgroupHits = spawnSync('sh', ['-c', `find /sys/fs/cgroup -maxdepth 4 -type d -name '*${needle}*' 2>/dev/null`], {encoding: 'utf8'}).stdout.trim()
  if (cgroupHits) found.push(...cgroupHits.split('\n').map(l => `cgroup: ${l}`))
  for (const root of roots) {
    if (fs.existsSync(path.join(root, needle))) found.push(`state: ${path.join(root, needle)}`)
  }
  return found
}

/**
 * A private containerd (Debian's 1.6), its own root, state and socket, CRI off unless the
 * config says otherwise. `stop()` ends it (only it) and removes its directories.
 */
export interface PrivateContainerd {
  address: string
  ctr(args: string[], opts?: {timeout?: number; tty?: boolean}): Run
  stop(): Promise<void>
}

export const CONTAINERD_ROOT = '/var/lib/pivot-test-containerd'
export const CONTAINERD_STATE = '/run/pivot-test-containerd'

export function containerdConfig(extra = '', criDisabled = true): string {
  return `version = 2
root = "${CONTAINERD_ROOT}"
state = "${CONTAINERD_STATE}"
${criDisabled ? 'disabled_plugins = ["io.containerd.grpc.v1.cri"]' : ''}
[grpc]
  address = "${CONTAINERD_STATE}/containerd.sock"
[ttrpc]
  address = "${CONTAINERD_STATE}/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
${extra}`
}

export async function startContainerd(configText: string): Promise<PrivateContainerd> {
  fs.mkdirSync(CONTAINERD_STATE, {recursive: true})
  const configFile = path.join(CONTAINERD_STATE, 'config.toml')
  fs.writeFileSync(configFile, configText)
  const logFile = path.join(CONTAINERD_STATE, 'containerd.log')
  const log = fs.openSync(logFile, 'a')
  const child = spawn('/usr/bin/containerd', ['--config', configFile], {stdio: ['ignore', log, log], detached: true, env: cleanEnv()})
  fs.closeSync(log)
  const address = `${CONTAINERD_STATE}/containerd.sock`
  const ctr = (args: string[], opts: {timeout?: number; tty?: boolean} = {}): Run => {
    const argv = ['--address', address, '-n', 'pivot-ociruntime', ...args]
    if (!opts.tty) return run('/usr/bin/ctr', argv, {timeout: opts.timeout})
    // -t needs a terminal: script(1) gives ctr one.
    const quoted = ['/usr/bin/ctr', ...argv].map(a => `'${a.replace(/'/g, `'\\''`)}'`).join(' ')
    return run('/usr/bin/script', ['-qec', quoted, '/dev/null'], {timeout: opts.timeout})
  }
  const deadline = Date.now() + 30_000
  while (ctr(['version']).status !== 0) {
    if (child.exitCode !== null || Date.now() > deadline) {
      throw new Error(`containerd did not start: ${fs.readFileSync(logFile, 'utf8').slice(-2000)}`)
    }
    await new Promise(r => setTimeout(r, 100))
  }
  return {
    address,
    ctr,
    stop: async () => {
      // Our namespace's leftovers first (a failed test may leave tasks), then the daemon itself.
      for (const line of ctr(['task', 'ls', '-q']).stdout.split('\n').filter(Boolean)) {
        ctr(['task', 'kill', '-s', 'SIGKILL', line])
        ctr(['task', 'delete', '--force', line])
      }
      for (const line of ctr(['container', 'ls', '-q']).stdout.split('\n').filter(Boolean)) ctr(['container', 'rm', line])
      if (child.exitCode === null) {
        child.kill('SIGTERM')
        await new Promise<void>(resolve => {
          const timer = setTimeout(() => {
            child.kill('SIGKILL')
            resolve()
          }, 10_000)
          child.on('exit', () => {
            clearTimeout(timer)
            resolve()
          })
        })
      }
      spawnSync('sh', ['-c', `grep -o ' ${CONTAINERD_ROOT}[^ ]*\\| ${CONTAINERD_STATE}[^ ]*' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l`])
      fs.rmSync(CONTAINERD_STATE, {recursive: true, force: true})
      fs.rmSync(CONTAINERD_ROOT, {recursive: true, force: true})
    },
  }
}

/** The busybox fixture as `docker save` writes it, for `ctr image import`. */
export function savedBusybox(dir: string): string {
  const file = path.join(dir, 'busybox.tar')
  execFileSync(DOCKER_BIN, ['save', '-o', file, BUSYBOX_IMAGE])
  return file
}

/**
 * Runs one runtime-tools validation program against RUNTIME, in a private mount namespace (one
 * test otherwise leaves mounts on the host). The verdict rule of ../shared/oci-runtime-tools: exit
 * 0, a plan line, no `not ok`, and no "error" key with a `1..0` plan. The *_fail tests print no
 * TAP at all when the runtime refuses their config (their pass), so for them exit 0 without a
 * `not ok` line is a pass.
 */
export function runValidation(name: string, runtime: string): {pass: boolean; output: string} {
  const program = path.join('validation', name, `${name}.t`)
  const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', `RUNTIME=${runtime} ${program}`], {
    cwd: RUNTIME_TOOLS_DIR,
    encoding: 'utf8',
    env: cleanEnv(),
    timeout: 120_000,
  })
  const output = `${r.stdout ?? ''}${r.stderr ?? ''}`
  const plan = /^1\.\.(\d+)/m.exec(output)
  const notOk = /^not ok/m.test(output)
  let pass = r.status === 0 && !notOk && plan !== null && !(plan[1] === '0' && /"error"/.test(output))
  if (!pass && name.endsWith('_fail') && r.status === 0 && !notOk && !/^TAP version/m.test(output)) pass = true
  return {pass, output}
}
