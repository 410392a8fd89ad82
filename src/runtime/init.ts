/**
 * The container's init: `node dist/src/runtime/init.js`, spawned by `pivot run` (run-container.ts)
 * as PID 1 of a new PID namespace, with the container's stdio on 0-2 and a socket on fd 3.
 *
 * It reads its config (one JSON line, which is also the "go": the parent sends it once the init
 * is in the container's cgroup), sets the container up and execs the command. Everything here is
 * synchronous and on the main thread: unshare() moves only the calling thread, so an async fs call
 * would run on a libuv thread still in the host's mount namespace and root. It loads only the sys
 * bindings and the plan, nothing heavy: its start is on every `pivot run`'s critical path.
 *
 * On failure before exec it writes an InitFailure line to fd 3 and exits with its status; on
 * success fd 3 is closed by the exec (close-on-exec), and the parent reads EOF.
 */
import * as fs from 'node:fs'
import {PR_SET_DUMPABLE, PR_SET_PDEATHSIG} from '../sys/constants'
import {KoffiSyscalls} from '../sys/koffi-syscalls'
import {isAlive} from '../common/process-identity'
import type {InitConfig, InitFailure} from './init-config'
import {executeSteps, nodeSetupFs} from './rootfs/execute'
import {planContainer} from './rootfs/plan'

const CONTROL_FD = 3
const SIGKILL = 9

function readLine(fd: number): string | undefined {
  const chunks: Buffer[] = []
  const buf = Buffer.allocUnsafe(64 * 1024)
  for (;;) {
    let n: number
    try {
      n = fs.readSync(fd, buf, 0, buf.length, null)
    } catch (error) {
      // The socket is blocking in the child, but be safe if it ever is not.
      if ((error as NodeJS.ErrnoException).code === 'EAGAIN') {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1)
        continue
      }
      throw error
    }
    if (n === 0) return undefined
    const nl = buf.indexOf(10, 0)
    if (nl !== -1 && nl < n) {
      chunks.push(Buffer.from(buf.subarray(0, nl)))
      return Buffer.concat(chunks).toString('utf8')
    }
    chunks.push(Buffer.from(buf.subarray(0, n)))
  }
}

function fail(failure: InitFailure): never {
  try {
    fs.writeSync(CONTROL_FD, JSON.stringify(failure) + '\n')
  } catch {
    // The parent is gone: nobody to tell.
  }
  process.exit(failure.exitCode)
}

function main(): void {
  // `pivot run` forwards SIGUSR1 (as docker does) to this process before the exec too; by default
  // Node would answer it by opening its inspector on 127.0.0.1:9229, a debugger into a root
  // process. A listener replaces that handler; the loop never runs here, and resetSignals gives
  // the command the default disposition back.
  process.on('SIGUSR1', () => undefined)
  const sys = new KoffiSyscalls()
  // Non-dumpable until exec: this process is the host's node binary, and a container process
  // must not reach it through /proc/1/exe or ptrace (CVE-2019-5736's shape). exec resets it.
  sys.prctl(PR_SET_DUMPABLE, 0)
  // Die with `pivot run`: a SIGKILLed parent cannot clean up, so the container must not outlive it.
  sys.prctl(PR_SET_PDEATHSIG, SIGKILL)
  // EOF before the config: the parent died before "go" (the death signal raced the prctl).
  const line = readLine(CONTROL_FD)
  if (line === undefined) process.exit(125)
  let config: InitConfig
  try {
    config = JSON.parse(line) as InitConfig
  } catch {
    fail({code: 'RUN_INIT_FAILED', message: 'container init: unreadable config', exitCode: 125})
  }
  // The parent may have sent the config and died before the prctl above: no death signal came,
  // and the config was still buffered. /proc here is still the host's, so its pid is visible.
  if (config.parentPid !== undefined && !isAlive(config.parentPid)) process.exit(125)
  try {
    executeSteps(planContainer(config), sys, nodeSetupFs())
    fail({code: 'RUN_INIT_FAILED', message: 'container init: the setup ended without exec', exitCode: 125})
  } catch (error) {
    const e = error as {code?: string; message?: string; exitCode?: number}
    fail({code: e.code ?? 'RUN_SETUP_FAILED', message: e.message ?? String(error), exitCode: e.exitCode ?? 125})
  }
}

main()
