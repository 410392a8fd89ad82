import {PR_SET_PDEATHSIG} from '../sys/constants'
import {KoffiSyscalls} from '../sys/koffi-syscalls'
import {readExactSync, writeAllSync} from './sync-io'
import {UnpackError, toReport} from './unpack-error'

/** Where a worker writes its one JSON report line (the parent's fourth stdio entry). */
const REPORT_FD = 3

export interface ChrootedWorker {
  /** The usage line for a missing or relative directory argument. */
  usage: string
  /**
   * Whether the directory may come on stdin (argument `-`): a worker started before its
   * directory is known (prepareUnpacker) gets it there, as a 4-byte big-endian length and the
   * path, ahead of its input.
   */
  dirOnStdin?: boolean
  /** The error for a directory the worker cannot chroot into. */
  chrootFailure(dir: string, error: Error): UnpackError
  /** The work, inside the chroot; all synchronous, on this one thread. */
  work(sys: KoffiSyscalls): {entries: number; bytes: number}
  /** The report for a failure that is not already an UnpackError. */
  otherFailure(error: unknown): {code: string; message: string}
}

/**
 * The life of the pack and unpack workers (`node <worker>.js /absolute/dir`): die with pivot,
 * chroot() into the directory, do the work, and say how it went in one JSON line on fd 3
 * ({ok, entries, bytes} or {ok: false, code, message}). Sets the process's exit code.
 */
export function runChrootedWorker(worker: ChrootedWorker): void {
  process.exitCode = run(worker)
}

function run(worker: ChrootedWorker): number {
  let dir = process.argv[2]
  if (dir === '-' && worker.dirOnStdin) {
    const length = readExactSync(0, 4)
    // The parent dropped a worker it did not need: nothing to do, nothing to report.
    if (length.length === 0) return 0
    dir = length.length === 4 ? readExactSync(0, length.readUInt32BE(0)).toString('utf8') : ''
  }
  if (!dir || !dir.startsWith('/')) {
    report({ok: false, code: 'UNPACK_WORKER_FAILED', message: worker.usage})
    return 2
  }
  try {
    const sys = new KoffiSyscalls()
    // If pivot dies, the worker goes with it rather than finishing work nobody will use.
    sys.prctl(PR_SET_PDEATHSIG, 9)
    try {
      sys.chroot(dir)
      sys.chdir('/')
    } catch (error) {
      throw worker.chrootFailure(dir, error as Error)
    }
    report({ok: true, ...worker.work(sys)})
    return 0
  } catch (error) {
    report({ok: false, ...(error instanceof UnpackError ? toReport(error) : worker.otherFailure(error))})
    return 1
  }
}

function report(message: object): void {
  writeAllSync(REPORT_FD, Buffer.from(`${JSON.stringify(message)}\n`))
}
