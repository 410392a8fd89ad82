/**
 * Blocking reads and writes on a pipe for the worker processes, which do all their work on the
 * main thread with sync calls (they chroot, and libuv's threads would not help a tar stream).
 */
import * as fs from 'node:fs'
import {BLOCK} from './tar-format'
import {UnpackError} from './unpack-error'

const sleeper = new Int32Array(new SharedArrayBuffer(4))

/** Node gives a child blocking stdio, but a descriptor above 2 (or one a parent set O_NONBLOCK on) may not be: wait and retry. */
function retryAgain<T>(call: () => T): T {
  for (;;) {
    try {
      return call()
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error
      Atomics.wait(sleeper, 0, 0, 2)
    }
  }
}

export function writeAllSync(fd: number, buf: Buffer, off = 0, len = buf.length - off): void {
  while (len > 0) {
    const n = retryAgain(() => fs.writeSync(fd, buf, off, len))
    off += n
    len -= n
  }
}

/** Exactly `n` bytes from `fd`, or fewer when it ends first. */
export function readExactSync(fd: number, n: number): Buffer {
  const out = Buffer.alloc(n)
  let got = 0
  while (got < n) {
    const r = retryAgain(() => fs.readSync(fd, out, got, n - got, null))
    if (r === 0) break
    got += r
  }
  return out.subarray(0, got)
}

/**
 * The tar stream on a descriptor, read in large chunks into one buffer. Headers are handed out as
 * offsets into that buffer, file data as slices of it, so the bytes are copied once: pipe ->
 * buffer -> destination file.
 */
export class BlockInput {
  readonly buf: Buffer
  private start = 0
  private end = 0
  private eof = false
  /** Bytes read from the descriptor so far. */
  total = 0
  /**
   * Sees every byte handed out (blocks, consumed data, and what drain reads up to its limit), in
   * order: the tar-split recorder (tar-split.ts). Slices are valid only during the call.
   */
  tap?: (buf: Buffer, off: number, len: number) => void

  constructor(
    private readonly fd: number,
    size = 1 << 20,
  ) {
    this.buf = Buffer.allocUnsafe(size)
  }

  private fill(): void {
    if (this.start === this.end) {
      this.start = 0
      this.end = 0
    } else if (this.buf.length - this.end < 64 * 1024) {
      // Only ever a partial header (< 512 bytes) is left when we read more: move it to the front.
      this.buf.copy(this.buf, 0, this.start, this.end)
      this.end -= this.start
      this.start = 0
    }
    const n = retryAgain(() => fs.readSync(this.fd, this.buf, this.end, this.buf.length - this.end, null))
    if (n === 0) this.eof = true
    this.end += n
    this.total += n
  }

  /** Offset in `buf` of the next 512-byte block, valid until the next call; null at a clean end of input. */
  block(): number | null {
    while (this.end - this.start < BLOCK) {
      if (this.eof) {
        if (this.end === this.start) return null
        throw new UnpackError('UNPACK_TRUNCATED', `the archive is truncated: it ends inside a header block (${this.end - this.start} of 512 bytes)`)
      }
      this.fill()
    }
    const off = this.start
    this.start += BLOCK
    this.tap?.(this.buf, off, BLOCK)
    return off
  }

  /** Hands the next `n` bytes to `sink` as slices of `buf` (valid only during the call); `what` names them in an error. */
  consume(n: number, what: () => string, sink?: (buf: Buffer, off: number, len: number) => void): void {
    const wanted = n
    while (n > 0) {
      if (this.start === this.end) {
        if (this.eof) {
          throw new UnpackError('UNPACK_TRUNCATED', `the archive is truncated: it ends inside ${what()} (${n} of ${wanted} bytes missing)`)
        }
        this.fill()
        continue
      }
      const take = Math.min(n, this.end - this.start)
      this.tap?.(this.buf, this.start, take)
      sink?.(this.buf, this.start, take)
      this.start += take
      n -= take
    }
  }

  /** The next `n` bytes, copied. */
  take(n: number, what: () => string): Buffer {
    const out = Buffer.allocUnsafe(n)
    let at = 0
    this.consume(n, what, (buf, off, len) => {
      buf.copy(out, at, off, off + len)
      at += len
    })
    return out
  }

  /** Bytes of the input handed out so far (read from the descriptor and consumed). */
  get position(): number {
    return this.total - (this.end - this.start)
  }

  /**
   * Reads and discards what follows the end-of-archive marker, up to `limit` bytes past the
   * current position: true when the input ended within that, false when it goes on (it is not
   * read to its end: `/dev/zero` would never end).
   */
  drain(limit: number): boolean {
    const stop = this.position + limit
    const discard = () => {
      const n = Math.min(this.end - this.start, stop - this.position)
      if (n > 0) this.tap?.(this.buf, this.start, n)
      this.start = this.end
    }
    discard()
    while (!this.eof) {
      if (this.total > stop) return false
      this.fill()
      discard()
    }
    return true
  }
}

/** Buffered output to a descriptor, for the pack worker. */
export class BlockOutput {
  private readonly buf: Buffer
  private len = 0
  total = 0

  constructor(
    private readonly fd: number,
    size = 1 << 20,
  ) {
    this.buf = Buffer.allocUnsafe(size)
  }

  write(data: Buffer): void {
    if (data.length > this.buf.length - this.len) this.flush()
    if (data.length >= this.buf.length) {
      writeAllSync(this.fd, data)
    } else {
      data.copy(this.buf, this.len)
      this.len += data.length
    }
    this.total += data.length
  }

  zeros(n: number): void {
    while (n > 0) {
      if (this.len === this.buf.length) this.flush()
      const take = Math.min(n, this.buf.length - this.len)
      this.buf.fill(0, this.len, this.len + take)
      this.len += take
      this.total += take
      n -= take
    }
  }

  /** Copies exactly `n` bytes from `fd` into the output; returns how many it got before end of file. */
  copyFrom(fd: number, n: number): number {
    let got = 0
    while (got < n) {
      if (this.len === this.buf.length) this.flush()
      const r = fs.readSync(fd, this.buf, this.len, Math.min(n - got, this.buf.length - this.len), null)
      if (r === 0) break
      this.len += r
      this.total += r
      got += r
    }
    return got
  }

  flush(): void {
    if (this.len > 0) writeAllSync(this.fd, this.buf, 0, this.len)
    this.len = 0
  }
}
