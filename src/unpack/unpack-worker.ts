/**
 * The unpack child (started by unpackLayer): `node unpack-worker.js <dest> [--tar-split]`, the
 * uncompressed tar on stdin, one JSON line on fd 3 at the end ({ok, entries, bytes, stoppedEarly}
 * or {ok: false, code, message}). With --tar-split, the tar's tar-split (tar-split.ts) goes to
 * stdout, which the parent opened on the file.
 *
 * It loads everything it will ever need first (these imports, koffi and libc), then chroot()s
 * into dest: from there on every name in the archive — '../x', '/etc/passwd', a symlink to '/'
 * followed by a write through it, a hardlink to '/etc/shadow' — resolves inside dest, by the
 * kernel rather than by string checks. Nothing is looked up by name after the chroot (owners are
 * the archive's numeric ids; NSS would read the image's /etc), no code from the archive runs, and
 * all work is synchronous on this one thread.
 */
import {TarExtractor} from './extract-tar'
import {ownIdMaps} from './own-id-maps'
import {runChrootedWorker} from './run-chrooted-worker'
import {BlockInput, writeAllSync} from './sync-io'
import {TarSplitWriter} from './tar-split'
import {UnpackError} from './unpack-error'

const userns = ownIdMaps()

runChrootedWorker({
  usage: 'usage: unpack-worker.js /absolute/dest (or -: its length and path on stdin first)',
  dirOnStdin: true,
  chrootFailure: (dest, error) => new UnpackError('UNPACK_WRITE_FAILED', `cannot unpack into ${dest}: ${error.message}`, {cause: error}),
  work: sys => {
    // Modes come from the archive, exactly: 1777 must not become 1755.
    sys.umask(0)
    const input = new BlockInput(0)
    const split = process.argv[3] === '--tar-split' ? new TarSplitWriter(member => writeAllSync(1, member)) : undefined
    input.tap = split?.tap
    const extractor = new TarExtractor(input, sys, userns, split)
    extractor.run()
    if (split) {
      split.end()
      if (split.total !== extractor.reader.consumed) {
        throw new UnpackError('UNPACK_WORKER_FAILED', `the tar-split covers ${split.total} bytes of the ${extractor.reader.consumed} the archive has`)
      }
    }
    return {entries: extractor.entries, bytes: extractor.reader.consumed, stoppedEarly: extractor.reader.stoppedEarly}
  },
  otherFailure: error => ({code: 'UNPACK_WORKER_FAILED', message: `unpack worker: ${(error as Error)?.stack ?? String(error)}`}),
})
