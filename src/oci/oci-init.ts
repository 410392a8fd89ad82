/**
 * The container's init in the OCI runtime mode: `node dist/src/oci/oci-init.js CONTROL_FD`,
 * spawned by `pivot-runtime create` as the container's PID 1 (or joined into its pid namespace).
 * Everything synchronous, on the main thread (unshare and setns move only the calling thread). It reads its config (one JSON line) from CONTROL_FD, sets the container up
 * to the point just before exec, says `{"ready":true}` and blocks on the start fifo; `start`
 * releases it and it execs the process in place, so its pid (the one create wrote in --pid-file)
 * is the process's. create exits meanwhile: the init is re-parented to the caller's subreaper
 * (containerd's shim), which reaps the process's exit status itself.
 */
import * as fs from 'node:fs'
import {O_CLOEXEC, O_PATH, PR_SET_DUMPABLE} from '../sys/constants'
import {KoffiSyscalls} from '../sys/koffi-syscalls'
import {nodeSetupFs} from '../runtime/rootfs/execute'
import type {OciInitConfig} from './oci-config'
import {executeOciSteps, planOciContainer} from './oci-plan'

function readLine(fd: number): string | undefined {
  const chunks: Buffer[] = []
  const buf = Buffer.allocUnsafe(64 * 1024)
  for (;;) {
    const n = fs.readSync(fd, buf, 0, buf.length, null)
    if (n === 0) return undefined
    const nl = buf.indexOf(10)
    if (nl !== -1 && nl < n) {
      chunks.push(Buffer.from(buf.subarray(0, nl)))
      return Buffer.concat(chunks).toString('utf8')
    }
    chunks.push(Buffer.from(buf.subarray(0, n)))
  }
}

function main(): void {
  const controlFd = Number(process.argv[2])
  // `kill` forwards SIGUSR1 before the exec too; by default node would answer it by opening its
  // inspector on 127.0.0.1:9229, a debugger into a root process. A listener replaces that handler.
  process.on('SIGUSR1', () => undefined)
  const sys = new KoffiSyscalls()
  // Non-dumpable until exec: the container must not reach the host's node binary (CVE-2019-5736).
  sys.prctl(PR_SET_DUMPABLE, 0)
  const line = readLine(controlFd)
  if (line === undefined) process.exit(1)
  const fail = (message: string, exitCode: number): never => {
    try {
      fs.writeSync(controlFd, JSON.stringify({message, exitCode}) + '\n')
    } catch {
      // After "ready" create is gone: the container's stderr is where the caller looks.
      try {
        fs.writeSync(2, `pivot-runtime: ${message}\n`)
      } catch {
        // no stderr either
      }
    }
    process.exit(exitCode)
  }
  try {
    const config = JSON.parse(line) as OciInitConfig
    // Host paths, opened before the mount namespace changes: the fifo as an O_PATH descriptor
    // (reopened for writing through /proc/self/fd at the end), the console socket connected.
    const fifoFd = config.fifoFd ?? sys.open(config.fifo, O_PATH | O_CLOEXEC)
    const consoleFd = !config.process.terminal ? undefined : (config.consoleFd ?? (config.consoleSocket ? sys.unixConnect(config.consoleSocket) : undefined))
    executeOciSteps(planOciContainer(config, {fifoFd, consoleFd}), sys, nodeSetupFs())
    fail('container init: the setup ended without exec', 1)
  } catch (error) {
    const e = error as {message?: string; exitCode?: number}
    fail(e.message ?? String(error), 1)
  }
}

main()
