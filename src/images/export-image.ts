import {spawn} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {type Readable, Transform, type Writable} from 'node:stream'
import {pipeline} from 'node:stream/promises'
import {isPivotError} from '../errors'
import type {ImageRecord, Store} from '../store'
import {Lease} from '../store/gc-lock'
import {ImageError} from './image-error'
import {resolveImage} from './resolve-image'
import {onInterrupt} from '../common/interrupt'

export interface ExportOptions {
  signal?: AbortSignal
  /** What `-` writes to; process.stdout by default. */
  stdout?: NodeJS.WritableStream & {isTTY?: boolean}
}

export interface ExportResult {
  image: ImageRecord
  /** The file written (absolute), or '-' for standard output. */
  output: string
  bytes: number
}

/**
 * `pivot export IMAGE -o FILE|-`: the image's flattened rootfs as one tar, which `pivot import`
 * and `docker import` both take back unchanged.
 *
 * FILE is written to a nameless (O_TMPFILE) file in its directory and named once complete and
 * synced, so a failed, interrupted or killed export never leaves a half archive under FILE's
 * name, nor a temp file. A character device or FIFO is written into; a symlink is written
 * through (see resolveOutput).
 */
export async function exportImage(store: Store, arg: string, output: string, options: ExportOptions = {}): Promise<ExportResult> {
  // A bad or unknown name fails here, before anything is written (not even the GC lock's file).
  resolveImage(store, arg)
  // The image's layers are pinned while they are read (src/store/gc-lock.ts): an rmi and a prune
  // meanwhile must not delete them under the export.
  const lease = new Lease(store, 'export')
  try {
    const image = await lease.pin(() => {
      const found = resolveImage(store, arg).image
      lease.keepLayers(found.layers)
      return found
    })
    return await exportResolved(store, arg, image, output, options)
  } finally {
    lease.release()
  }
}

async function exportResolved(store: Store, arg: string, image: ImageRecord, output: string, options: ExportOptions): Promise<ExportResult> {
  for (const digest of image.layers) {
    if (!store.hasLayer(digest)) throw new ImageError('IMAGE_EXPORT_FAILED', `cannot export ${arg}: its layer ${digest} is missing from the cache`)
  }
  const stdout = options.stdout ?? process.stdout
  if (output === '-' && stdout.isTTY) {
    throw new ImageError('IMAGE_BAD_OUTPUT', 'refusing to write a tar archive to a terminal: use -o FILE, or redirect standard output')
  }
  if (output === '-') {
    const bytes = await copy(store, image, stdout, options.signal)
    return {image, output: '-', bytes}
  }

  const written = await writeOutputFile(output, stream => copy(store, image, stream, options.signal))
  return {image, output: written.path, bytes: written.bytes}
}

/**
 * Writes an archive to `-o OUTPUT` through `write` (which returns the bytes it wrote): into a
 * character device or FIFO as `tar -f` does, else into an unnamed file that gets its name only
 * once complete and synced, so a failed or interrupted write leaves nothing behind.
 */
export async function writeOutputFile(output: string, write: (stream: fs.WriteStream) => Promise<number>): Promise<{path: string; bytes: number}> {
  const target = resolveOutput(output)
  if (target.kind === 'device') {
    // Renaming a file over /dev/null would replace the host's /dev/null, and a FIFO's reader
    // would wait forever for a file that appears by rename.
    let fd: number
    try {
      fd = fs.openSync(target.path, fs.constants.O_WRONLY)
    } catch (error) {
      throw new ImageError('IMAGE_BAD_OUTPUT', `cannot write ${output}: ${describeErrno(error)}`)
    }
    try {
      return {path: target.path, bytes: await write(fs.createWriteStream('', {fd, autoClose: false}))}
    } finally {
      closeQuietly(fd)
    }
  }
  const file = await openTemp(target.path, output)
  try {
    const bytes = await write(fs.createWriteStream('', {fd: file.fd, autoClose: false}))
    try {
      fs.fsyncSync(file.fd)
      file.commit()
    } catch (error) {
      throw new ImageError('IMAGE_EXPORT_FAILED', `cannot write ${output}: ${describeErrno(error)}`)
    }
    return {path: target.path, bytes}
  } finally {
    file.close()
  }
}

/**
 * Where `-o PATH` writes: symlinks followed (as `tar -f` writes through them, the link stays),
 * a directory or a block device or socket refused, a character device or FIFO written into.
 */
export function resolveOutput(output: string): {kind: 'file' | 'device'; path: string} {
  let p = path.resolve(output)
  for (let hops = 0; ; hops++) {
    let st: fs.Stats
    try {
      st = fs.lstatSync(p)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {kind: 'file', path: p}
      throw new ImageError('IMAGE_BAD_OUTPUT', `cannot write ${output}: ${describeErrno(error)}`)
    }
    if (st.isSymbolicLink()) {
      if (hops >= 40) throw new ImageError('IMAGE_BAD_OUTPUT', `cannot write ${output}: too many levels of symbolic links`)
      p = path.resolve(path.dirname(p), fs.readlinkSync(p))
      continue
    }
    if (st.isFile()) return {kind: 'file', path: p}
    if (st.isCharacterDevice() || st.isFIFO()) return {kind: 'device', path: p}
    const what = st.isDirectory() ? 'a directory' : st.isBlockDevice() ? 'a block device (refusing to overwrite it)' : 'not a regular file'
    throw new ImageError('IMAGE_BAD_OUTPUT', `cannot write ${output}: it is ${what}`)
  }
}

export interface TempFile {
  fd: number
  /** Puts the complete file in place under its name (atomically replacing an old one). */
  commit(): void
  /** Closes it, and removes it unless committed. */
  close(): void
}

/**
 * The file the archive is written to before it gets its name. An O_TMPFILE file has no name at
 * all until commit(), so an export killed at any point (SIGKILL included) leaves nothing behind;
 * on a file system without O_TMPFILE a named temp file beside the target is removed on failure
 * and on SIGINT/SIGTERM (a SIGKILL leaves it, as `.NAME.*.tmp`).
 */
export async function openTemp(target: string, output: string): Promise<TempFile> {
  const dir = path.dirname(target)
  const tempName = () => path.join(dir, `.${path.basename(target)}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`)
  const {KoffiSyscalls} = await import('../sys/koffi-syscalls')
  const sys = new KoffiSyscalls()
  let fd: number | undefined
  try {
    // 0600 as docker's `-o` does: the archive holds the image's /etc/shadow and setuid binaries.
    fd = fs.openSync(dir, O_TMPFILE | fs.constants.O_WRONLY, 0o600)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code !== 'EOPNOTSUPP' && code !== 'EISDIR' && code !== 'EINVAL')
      throw new ImageError('IMAGE_BAD_OUTPUT', `cannot write ${output}: ${describeErrno(error)}`)
  }
  if (fd !== undefined) {
    const anonymous = fd
    let closed = false
    return {
      fd: anonymous,
      commit() {
        // linkat cannot replace a name: link to a fresh temp name, then rename over the target.
        const temp = tempName()
        sys.linkFd(anonymous, temp)
        try {
          fs.renameSync(temp, target)
        } catch (error) {
          fs.rmSync(temp, {force: true})
          throw error
        }
      },
      close() {
        if (!closed) closeQuietly(anonymous)
        closed = true
      },
    }
  }
  const temp = tempName()
  let named: number
  try {
    named = fs.openSync(temp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600)
  } catch (error) {
    throw new ImageError('IMAGE_BAD_OUTPUT', `cannot write ${output}: ${describeErrno(error)}`)
  }
  const onSignal = (signal: NodeJS.Signals) => {
    fs.rmSync(temp, {force: true})
    process.kill(process.pid, signal)
  }
  const releaseSignals = onInterrupt(onSignal, {once: true})
  let committed = false
  let closed = false
  return {
    fd: named,
    commit() {
      fs.closeSync(named)
      closed = true
      fs.renameSync(temp, target)
      committed = true
    },
    close() {
      if (!closed) closeQuietly(named)
      closed = true
      if (!committed) fs.rmSync(temp, {force: true})
      releaseSignals()
    },
  }
}

/** The write stream may have closed the descriptor already (it does when the pipeline fails). */
export function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd)
  } catch {
    // EBADF: closed already
  }
}

/** open(2)'s O_TMPFILE on Linux (includes O_DIRECTORY); Node does not export it. */
const O_TMPFILE = 0o20200000

export function describeErrno(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code
  if (code === 'ENOENT') return 'no such directory'
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied'
  if (code === 'ENOSPC') return 'no space left on the device'
  return code ?? (error as Error).message
}

/** Streams the flattened rootfs to `sink`; returns the bytes written. */
async function copy(store: Store, image: ImageRecord, sink: NodeJS.WritableStream, signal?: AbortSignal): Promise<number> {
  let bytes = 0
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      bytes += chunk.length
      callback(null, chunk)
    },
  })
  const source =
    image.layers.length === 0
      ? await packEmpty(store)
      : image.layers.length === 1
        ? await packLayer(store, image.layers[0])
        : flattenLayers(store, image.layers)
  try {
    await pipeline(source.stream as Readable, counter, sink as Writable, {signal})
    // A flattening child that failed half way ends its stdout early: its exit status tells.
    await source.done
  } catch (error) {
    source.abort()
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'EPIPE' || code === 'ERR_STREAM_PREMATURE_CLOSE') throw new ImageError('IMAGE_EXPORT_FAILED', 'export cancelled: the output was closed')
    if (code === 'ABORT_ERR') throw new ImageError('IMAGE_EXPORT_FAILED', 'export cancelled')
    // The flattening child's own message says more than the broken pipe it caused.
    const childError = await source.done.then(
      () => undefined,
      (e: unknown) => e,
    )
    if (childError) throw childError
    if (error instanceof ImageError) throw error
    const message = isPivotError(error) ? error.message : (code ?? (error as Error).message)
    throw new ImageError('IMAGE_EXPORT_FAILED', `export failed: ${message}`, {cause: error})
  }
  return bytes
}

interface TarSource {
  stream: NodeJS.ReadableStream
  /** Resolves when the producer finished cleanly, rejects with its error. */
  done: Promise<void>
  abort(): void
}

async function packLayer(store: Store, digest: string): Promise<TarSource> {
  const {packRootfs} = await import('../unpack')
  const stream = packRootfs(store.layerRootfs(digest), true)
  return {stream, done: Promise.resolve(), abort: () => (stream as Readable).destroy?.()}
}

/** An image with no layer at all (a build from scratch with no step): an archive of an empty `/`. */
async function packEmpty(store: Store): Promise<TarSource> {
  const {packRootfs} = await import('../unpack')
  const dir = store.stage('export-empty')
  fs.chmodSync(dir, 0o755)
  const stream = packRootfs(dir, true) as Readable
  stream.once('close', () => fs.rmSync(dir, {recursive: true, force: true}))
  return {stream, done: Promise.resolve(), abort: () => stream.destroy()}
}

/**
 * Several layers: flattened by the kernel. A child process started by util-linux `unshare
 * --mount --propagation private` mounts a read-only overlay of the layers (the `l/` short names,
 * top first, as `run` stacks them) and runs packRootfs on the merged tree, writing the tar to its
 * stdout.
 *
 * Why overlay rather than a merged walk in JS: the merge is then exactly the one `pivot run` shows
 * (whiteouts, opaque dirs, upper-wins, hardlinks within a layer keeping one inode), and packRootfs
 * is reused unchanged — a second tar writer that re-implements xattrs, devices and hardlinks
 * across layers would be a second place for the round-trip guarantees to break.
 * Why a child in its own mount namespace: the whole process (every libuv thread included) sees the
 * mount, unlike an `unshare(CLONE_NEWNS)` on our main thread; the host never sees it; and the
 * kernel drops it when the child exits, however it exits — a SIGKILL leaves no mount to clean
 * under tmp/, only the empty mount point, which sweepTmp removes.
 */
function flattenLayers(store: Store, layers: string[]): TarSource {
  const mountpoint = store.stage('export-mnt')
  const lower = [...layers].reverse().map(d => store.layerShortName(d))
  // The short links are what keeps the lowerdir string short; make sure each one is in place.
  for (const d of layers) if (!fs.existsSync(store.path('l', store.layerShortName(d)))) store.linkLayer(d)
  const env = {...process.env}
  delete env.NODE_OPTIONS
  delete env.NODE_EXTRA_CA_CERTS
  const child = spawn(
    'unshare',
    ['--mount', '--propagation', 'private', '--', process.execPath, path.join(__dirname, 'flatten-worker.js'), store.path('l'), mountpoint, lower.join(':')],
    {stdio: ['ignore', 'pipe', 'pipe'], env},
  )
  let stderr = ''
  child.stderr!.setEncoding('utf8')
  child.stderr!.on('data', (s: string) => {
    if (stderr.length < 4096) stderr += s
  })
  const done = new Promise<void>((resolve, reject) => {
    child.on('error', error =>
      reject(new ImageError('IMAGE_EXPORT_FAILED', `cannot flatten the layers: unshare: ${(error as NodeJS.ErrnoException).code ?? error.message}`)),
    )
    child.on('close', (code, signal) => {
      try {
        fs.rmdirSync(mountpoint)
      } catch {
        // already gone
      }
      if (code === 0) resolve()
      else {
        const why = stderr.trim().split('\n').pop() || (signal ? `killed by ${signal}` : `exit status ${code}`)
        reject(new ImageError('IMAGE_EXPORT_FAILED', `cannot flatten the layers: ${why.replace(/^pivot: /, '')}`))
      }
    })
  })
  // Rejections are handled by copy(); keep Node from flagging one that lands before it looks.
  done.catch(() => undefined)
  return {stream: child.stdout!, done, abort: () => child.kill('SIGKILL')}
}
