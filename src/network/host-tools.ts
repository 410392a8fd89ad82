import {spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import {CLONE_NEWNET} from '../sys/constants'
import {KoffiSyscalls} from '../sys/koffi-syscalls'
import {NetworkError} from './network-error'

/**
 * pivot drives the kernel's network configuration with Debian's iproute2 (`ip -batch -`) and
 * nftables (`nft -f -`), one process per batch, rather than speaking netlink through koffi:
 * a container's whole setup is one `ip` batch (run in its namespace) and, with -p, one `nft`
 * batch, ~3-5 ms each on a quiet machine, against a ~90 ms start; the tools' error messages name the
 * object at fault; and a netlink encoder for veth, bridge, address, route and nftables
 * messages would be the largest part of the runtime for no measurable gain (docs/DESIGN.md).
 */

const TOOL_PATHS: Record<string, string[]> = {
  ip: ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'],
  nft: ['/usr/sbin/nft', '/sbin/nft', '/usr/bin/nft'],
}
const PACKAGE: Record<string, string> = {ip: 'iproute2', nft: 'nftables'}
const found = new Map<string, string>()

function toolPath(tool: 'ip' | 'nft'): string {
  let p = found.get(tool)
  if (p === undefined) {
    p = TOOL_PATHS[tool].find(c => fs.existsSync(c))
    if (p === undefined) throw new NetworkError('NET_TOOL_FAILED', `container networking needs the ${tool} program: apt-get install ${PACKAGE[tool]}`)
    found.set(tool, p)
  }
  return p
}

export interface ToolResult {
  status: number
  stdout: string
  stderr: string
}

/** Runs `tool args` with `input` on stdin; never throws for a non-zero status. */
export function runTool(tool: 'ip' | 'nft', args: string[], input?: string, fd3?: number): ToolResult {
  const r = spawnSync(toolPath(tool), args, {
    input,
    encoding: 'utf8',
    env: {PATH: '/usr/sbin:/usr/bin:/sbin:/bin'},
    timeout: 30_000,
    stdio: fd3 === undefined ? 'pipe' : ['pipe', 'pipe', 'pipe', fd3],
  })
  if (r.error) throw new NetworkError('NET_TOOL_FAILED', `${tool}: ${r.error.message}`)
  return {status: r.status ?? 1, stdout: r.stdout ?? '', stderr: r.stderr ?? ''}
}

/** Runs a batch and throws with the tool's first error line when it fails. */
export function runBatch(tool: 'ip' | 'nft', lines: string[], what: string, fd3?: number): void {
  const r = runTool(tool, tool === 'ip' ? ['-batch', '-'] : ['-f', '-'], lines.join('\n') + '\n', fd3)
  if (r.status !== 0) {
    const line = r.stderr.split('\n').find(l => l.trim() !== '') ?? `exit status ${r.status}`
    throw new NetworkError('NET_TOOL_FAILED', `${what}: ${tool}: ${line.trim()}`)
  }
}

export const sys = new KoffiSyscalls()

/**
 * Runs `fn` with the main thread in the network namespace `nsPath` (a /proc/PID/ns/net), then
 * back in its own. A child spawned meanwhile is born in that namespace: libuv forks on the
 * calling thread, and setns(CLONE_NEWNET) works in a threaded process (unlike a mount namespace).
 * `fn` must be synchronous: an await would let other work run in the container's namespace.
 */
export function inNetns<T>(nsPath: string, fn: () => T): T {
  const own = fs.openSync('/proc/thread-self/ns/net', 'r')
  try {
    const target = fs.openSync(nsPath, 'r')
    try {
      sys.setns(target, CLONE_NEWNET)
    } finally {
      fs.closeSync(target)
    }
    try {
      return fn()
    } finally {
      sys.setns(own, CLONE_NEWNET)
    }
  } finally {
    fs.closeSync(own)
  }
}
