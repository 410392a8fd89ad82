/**
 * The reassembly child (started by reassembleLayer): `node tar-split-worker.js <rootfs>`, the
 * layer's uncompressed tar-split (tar-split.ts) on stdin, the original tar on stdout, one JSON
 * line on fd 3 at the end ({ok, entries, bytes} or an error).
 *
 * It chroot()s into the layer's rootfs first, like the unpack worker did when it wrote the
 * files: a path of the tar-split resolves exactly as it did then (through the layer's own
 * symlinks, if the archive went through one), never to the host's files. The file named last on
 * a path is opened with O_NOFOLLOW and must be a regular file of the recorded size: a layer
 * changed since its unpack fails here, and a change of equal size fails the parent's digest.
 */
import * as fs from 'node:fs'
import {runChrootedWorker} from './run-chrooted-worker'
import {BlockOutput} from './sync-io'
import {TarSplitReader} from './tar-split'
import {UnpackError} from './unpack-error'

const {O_RDONLY, O_NOFOLLOW, O_NONBLOCK, S_IFMT, S_IFREG} = fs.constants

/** Exact reads from a descriptor; null at a clean end of input. */
function exactReads(fd: number): (n: number) => Buffer | null {
  const buf = Buffer.allocUnsafe(1 << 20)
  let start = 0
  let end = 0
  let eof = false
  return n => {
    const out = Buffer.allocUnsafe(n)
    let got = 0
    while (got < n) {
      if (start === end) {
        if (eof) break
        start = 0
        end = fs.readSync(fd, buf, 0, buf.length, null)
        if (end === 0) eof = true
        continue
      }
      const take = Math.min(n - got, end - start)
      buf.copy(out, got, start, start + take)
      start += take
      got += take
    }
    return got === 0 && n > 0 ? null : out.subarray(0, got)
  }
}

function shownPath(p: Buffer): string {
  return p.toString('utf8')
}

runChrootedWorker({
  usage: 'usage: tar-split-worker.js /absolute/rootfs',
  chrootFailure: (dir, error) => new UnpackError('UNPACK_TAR_SPLIT', `cannot read ${dir}: ${error.message}`, {cause: error}),
  work: () => {
    const out = new BlockOutput(1)
    const reader = new TarSplitReader(exactReads(0))
    let files = 0
    for (;;) {
      let record
      try {
        record = reader.next()
      } catch (error) {
        throw new UnpackError('UNPACK_TAR_SPLIT', `the tar-split is damaged: ${(error as Error).message}`)
      }
      if (record === null) break
      if (record.kind === 'raw') out.write(record.data)
      else if (record.kind === 'zeros') out.zeros(record.size)
      else if (record.kind === 'file') {
        files++
        const name = shownPath(record.path)
        let fd: number
        try {
          // O_NONBLOCK: a FIFO put in the file's place must not hang the open.
          fd = fs.openSync(record.path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK)
        } catch (error) {
          throw new UnpackError('UNPACK_TAR_SPLIT', `"${name}" cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, {
            entry: name,
          })
        }
        try {
          const st = fs.fstatSync(fd)
          if ((st.mode & S_IFMT) !== S_IFREG) throw new UnpackError('UNPACK_TAR_SPLIT', `"${name}" is no longer a regular file`, {entry: name})
          if (st.size !== record.size) {
            throw new UnpackError('UNPACK_TAR_SPLIT', `"${name}" has ${st.size} bytes, not the ${record.size} the layer's tar had`, {entry: name})
          }
          if (out.copyFrom(fd, record.size) !== record.size) throw new UnpackError('UNPACK_TAR_SPLIT', `"${name}" shrank while being read`, {entry: name})
        } finally {
          fs.closeSync(fd)
        }
      }
    }
    out.flush()
    return {entries: files, bytes: out.total}
  },
  otherFailure: error => {
    const e = error as NodeJS.ErrnoException
    if (e.code === 'EPIPE') return {code: 'UNPACK_TAR_SPLIT', message: 'the tar stream was closed by its reader'}
    return {code: 'UNPACK_TAR_SPLIT', message: `cannot rebuild the layer's tar: ${e.message}`}
  },
})
