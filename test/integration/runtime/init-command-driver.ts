// The TypeScript side of init-command.test.ts: the node init's command steps (resolveCommand,
// switchUser, exec of src/runtime/rootfs/execute.ts, with KoffiSyscalls and nodeSetupFs, as
// src/runtime/init.ts ran them) on one case inside a rootfs, with the arguments and the output of
// init-command-driver.c (see there). Run by `unshare --mount --propagation private node THIS ...`.
import * as fs from 'node:fs'
import {MNT_DETACH, MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_REC} from '../../../src/sys/constants'
import {KoffiSyscalls} from '../../../src/sys/koffi-syscalls'
import {executeSteps, nodeSetupFs} from '../../../src/runtime/rootfs/execute'
import {RuntimeError} from '../../../src/runtime/runtime-error'
import type {Step} from '../../../src/runtime/rootfs/steps'

function main(argv: string[]): void {
  let i = 0
  const rootfs = argv[i++]
  const cwd = argv[i++]
  const user = argv[i++]
  const list = (): string[] => {
    const n = Number(argv[i++])
    const out = argv.slice(i, i + n)
    i += n
    return out
  }
  const groupAdd = list()
  const command = list()
  const env = list()
  const binds = list()

  const sys = new KoffiSyscalls()
  // Everything this process loads is loaded by now (koffi binds libc on the first call): after
  // pivot_root the host's files are gone, as for the node init.
  sys.mount(rootfs, rootfs, null, MS_BIND | MS_REC, null)
  sys.mount('proc', `${rootfs}/proc`, 'proc', MS_NOSUID | MS_NODEV | MS_NOEXEC, null)
  for (let b = 0; b + 1 < binds.length; b += 2) sys.mount(binds[b], rootfs + binds[b + 1], null, MS_BIND, null)
  sys.chdir(rootfs)
  sys.pivotRoot('.', '.')
  sys.umount2('.', MNT_DETACH)
  sys.chdir('/')
  sys.chdir(cwd)

  const steps: Step[] = [
    {op: 'resolveCommand', command, env},
    {op: 'switchUser', user: user === '-' ? undefined : user, ...(groupAdd.length ? {groupAdd} : {})},
    // node's stdio is close-on-exec: the plan's closeFds clears that on 0-2, as the C init needs no such step.
    {op: 'closeFds'},
    {op: 'exec'},
  ]
  try {
    executeSteps(steps, sys, nodeSetupFs())
  } catch (error) {
    if (!(error instanceof RuntimeError)) throw error
    fs.writeSync(1, JSON.stringify({code: error.code, message: error.message, exitCode: error.exitCode}) + '\n')
    process.exit(error.exitCode)
  }
}

main(process.argv.slice(2))
