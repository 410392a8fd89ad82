/**
 * The unpack child (started by unpackLayer): `node unpack-worker.js <dest>`, the uncompressed tar
 * on stdin, one JSON line on fd 3 at the end ({ok, entries, bytes} or {ok: false, code, message}).
 *
 * It loads everything it will ever need first (these imports, koffi and libc), then chroot()s
 * into dest: from there on every name in the archive — '../x', '/etc/passwd', a symlink to '/'
 * followed by a write through it, a hardlink to '/etc/shadow' — resolves inside dest, by the
 * kernel rather than by string checks. Nothing is looked up by name after the chroot (owners are
 * the archive's numeric ids; NSS would read the image's /etc), no code from the archive runs, and
 * all work is synchronous on this one thread.
 */
import {PR_SET_PDEATHSIG} from '../sys/constants'
import {KoffiSyscalls} from '../sys/koffi-syscalls'
import {TarExtractor} from './extract-tar'
import {BlockInput, writeAllSync} from './sync-io'
import {UnpackError, toReport} from './unpack-error'

const REPORT_FD = 3

function report(message: object): void {
  writeAllSync(REPORT_FD, Buffer.from(`${JSON.stringify(message)}\n`))
}

function main(): number {
  const dest = process.argv[2]
  if (!dest || !dest.startsWith('/')) {
    report({ok: false, code: 'UNPACK_WORKER_FAILED', message: 'usage: unpack-worker.js /absolute/dest'})
    return 2
  }
  try {
    const sys = new KoffiSyscalls()
    // If pivot dies, the worker goes with it rather than finishing a layer nobody will commit.
    sys.prctl(PR_SET_PDEATHSIG, 9)
    try {
      sys.chroot(dest)
      sys.chdir('/')
    } catch (error) {
      throw new UnpackError('UNPACK_WRITE_FAILED', `cannot unpack into ${dest}: ${(error as Error).message}`, {cause: error})
    }
    // Modes come from the archive, exactly: 1777 must not become 1755.
    sys.umask(0)
    const input = new BlockInput(0)
    const extractor = new TarExtractor(input, sys)
    extractor.run()
    report({ok: true, entries: extractor.entries, bytes: input.total})
    return 0
  } catch (error) {
    if (error instanceof UnpackError) {
      report({ok: false, ...toReport(error)})
    } else {
      report({ok: false, code: 'UNPACK_WORKER_FAILED', message: `unpack worker: ${(error as Error)?.stack ?? String(error)}`})
    }
    return 1
  }
}

process.exitCode = main()
