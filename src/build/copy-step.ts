import {createHash} from 'node:crypto'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {BuildError} from './build-error'
import {type LayerView, ViewError} from '../unpack/layer-view'
import type {CopyStep} from './recipe'
import {resolveOwner} from './resolve-owner'

/** One entry of a copy layer. */
export interface CopyEntry {
  /** Path in the image, relative to its root (`usr/local/bin/tool`). */
  path: string
  type: 'dir' | 'file' | 'symlink'
  /** Permission bits (07777). */
  mode: number
  uid: number
  gid: number
  /** Seconds since the epoch (the source's; an existing directory keeps the image's). */
  mtime: number
  /** Files: where the content comes from on the host. */
  source?: string
  /** Files: `sha256:<hex>` of the content. */
  digest?: string
  size?: number
  /** Symlinks: the link text, copied as it is (it resolves inside the image, not on the host). */
  linkTarget?: string
}

export interface CopyPlan {
  /** Parents before children, sorted by path: what the layer will hold. */
  entries: CopyEntry[]
}

export interface CopyContext {
  /** The build context directory on the host. */
  context: string
  /** The image so far. */
  view: LayerView
  /** The working directory at this step (for a relative dest). */
  workdir: string
  /** `steps[2].copy`, for messages. */
  where: string
}

/**
 * Works out what a `copy:` step puts into its layer, hashing every source file: the plan is both
 * the cache key material (paths, types, modes, owners, content digests; never mtimes) and the
 * recipe for `writeCopyTree`.
 *
 * Sources must stay inside the context: a path climbing out, an absolute path, or one whose
 * symlinks resolve outside is refused, so a recipe can read only what the user pointed at with
 * the context. Symlinks below a copied directory are copied as symlinks, never followed.
 *
 * The destination follows docker's COPY: a trailing slash (or an existing directory in the image)
 * means "into this directory"; a directory source copies its contents. The destination path is
 * resolved through the image's own symlinks, and existing parent directories keep their metadata
 * so the layer does not change them.
 */
export function planCopy(step: CopyStep, ctx: CopyContext): CopyPlan {
  const fail = (code: string, where: string, message: string): never => {
    throw new BuildError(code, `${where}: ${message}`)
  }
  let contextReal: string
  try {
    contextReal = fs.realpathSync(ctx.context)
    if (!fs.statSync(contextReal).isDirectory()) throw Object.assign(new Error('not a directory'), {code: 'ENOTDIR'})
  } catch {
    return fail('BUILD_CONTEXT_NOT_FOUND', 'build context', `${ctx.context} is not a directory`)
  }
  const {uid, gid} =
    step.owner === undefined ? {uid: 0, gid: 0} : resolveOwner(step.owner, ctx.view, message => fail('BUILD_USER_NOT_FOUND', `${ctx.where}.owner`, message))

  const entries = new Map<string, CopyEntry>()
  let newest = 0
  const resolveDest = (imagePath: string) => {
    try {
      return ctx.view.resolve(imagePath)
    } catch (error) {
      if (error instanceof ViewError) return fail('BUILD_COPY_UNSUPPORTED', `${ctx.where}.dest`, error.message)
      throw error
    }
  }
  const destAbs = path.posix.resolve(ctx.workdir, step.dest)
  const dest = resolveDest(destAbs)
  const intoDir = step.dest.endsWith('/') || dest.entry?.stat.isDirectory() === true
  if (dest.entry && !dest.entry.stat.isDirectory() && step.dest.endsWith('/')) {
    fail('BUILD_COPY_UNSUPPORTED', `${ctx.where}.dest`, `${destAbs} exists in the image and is not a directory`)
  }

  step.src.forEach((src, i) => {
    const where = step.src.length > 1 ? `${ctx.where}.src[${i}]` : `${ctx.where}.src`
    const real = sourceInContext(src, contextReal, ctx.context, where, fail)
    const stat = fs.statSync(real)
    if (stat.isFile()) {
      const name = path.posix.basename(path.posix.normalize(src))
      const target = intoDir ? path.posix.join(dest.path, name) : dest.path
      entries.set(rel(target), fileEntry(rel(target), real, stat, step.mode, uid, gid))
      newest = Math.max(newest, mtimeOf(stat))
    } else if (stat.isDirectory()) {
      if (dest.entry && !dest.entry.stat.isDirectory()) {
        fail('BUILD_COPY_UNSUPPORTED', `${ctx.where}.dest`, `${destAbs} exists in the image and is not a directory (the source ${src} is one)`)
      }
      newest = Math.max(newest, walkSource(real, rel(dest.path), entries, step.mode, uid, gid, where, src, fail))
    } else {
      fail('BUILD_COPY_UNSUPPORTED', where, `${src} is not a regular file or directory`)
    }
  })

  // Parent directories: an existing one keeps the image's metadata (a layer entry replaces it in
  // the merged view); a missing one is made 0755, owned like the copied files.
  for (const entry of [...entries.values()]) {
    let dir = path.posix.dirname(entry.path)
    while (dir !== '.' && !entries.has(dir)) {
      const existing = resolveNoFollow(ctx.view, '/' + dir)
      if (existing?.stat.isDirectory()) {
        const st = existing.stat
        entries.set(dir, {path: dir, type: 'dir', mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: mtimeOf(st)})
      } else {
        entries.set(dir, {path: dir, type: 'dir', mode: 0o755, uid, gid, mtime: -1})
      }
      dir = path.posix.dirname(dir)
    }
  }
  // The copied directory itself, when it exists in the image, keeps its metadata too.
  const destDir = entries.get(rel(dest.path))
  if (destDir?.type === 'dir' && dest.entry?.stat.isDirectory()) {
    const st = dest.entry.stat
    Object.assign(destDir, {mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: mtimeOf(st)})
  }
  // New directories get the newest source time: deterministic, so the layer digest is stable.
  for (const entry of entries.values()) if (entry.mtime === -1) entry.mtime = newest
  entries.delete('')
  return {entries: [...entries.values()].sort((a, b) => compareBytes(a.path, b.path))}
}

/** What the cache key sees of a copy: everything that ends up in the layer except times. */
export function copyKeyMaterial(plan: CopyPlan): unknown[] {
  return plan.entries.map(e => [e.path, e.type, e.mode, e.uid, e.gid, e.digest ?? e.linkTarget ?? null])
}

/**
 * Writes the planned entries under `rootfs` (a fresh staging directory). The content is hashed
 * again as it is copied: a source that changed since it was planned fails the step rather than
 * committing a layer under a key it does not match.
 */
export function writeCopyTree(plan: CopyPlan, rootfs: string, where: string): void {
  for (const entry of plan.entries) {
    const target = path.join(rootfs, entry.path)
    try {
      if (entry.type === 'dir') {
        fs.mkdirSync(target, {mode: 0o700})
        fs.lchownSync(target, entry.uid, entry.gid)
      } else if (entry.type === 'symlink') {
        fs.symlinkSync(entry.linkTarget as string, target)
        fs.lchownSync(target, entry.uid, entry.gid)
        fs.lutimesSync(target, entry.mtime, entry.mtime)
      } else {
        const digest = copyAndHash(entry.source as string, target)
        if (digest !== entry.digest) throw new BuildError('BUILD_COPY_NOT_FOUND', `${where}: ${entry.source} changed during the build`)
        // chown before chmod: chown clears the setuid and setgid bits.
        fs.lchownSync(target, entry.uid, entry.gid)
        fs.chmodSync(target, entry.mode)
        fs.utimesSync(target, entry.mtime, entry.mtime)
      }
    } catch (error) {
      if (error instanceof BuildError) throw error
      throw new BuildError('BUILD_COPY_UNSUPPORTED', `${where}: cannot place /${entry.path}: ${(error as Error).message}`)
    }
  }
  // Directory modes and times last: writing their children changed the times, and a mode
  // without write permission would have stopped the writes.
  for (const entry of [...plan.entries].reverse()) {
    if (entry.type !== 'dir') continue
    const target = path.join(rootfs, entry.path)
    fs.chmodSync(target, entry.mode)
    fs.utimesSync(target, entry.mtime, entry.mtime)
  }
}

/** sha256 of a file's content as `sha256:<hex>`. */
export function hashFile(file: string): {digest: string; size: number} {
  const hash = createHash('sha256')
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW)
  const buffer = Buffer.allocUnsafe(1 << 20)
  let size = 0
  try {
    for (;;) {
      const n = fs.readSync(fd, buffer, 0, buffer.length, null)
      if (n === 0) break
      hash.update(buffer.subarray(0, n))
      size += n
    }
  } finally {
    fs.closeSync(fd)
  }
  return {digest: `sha256:${hash.digest('hex')}`, size}
}

function copyAndHash(source: string, target: string): string {
  const hash = createHash('sha256')
  const input = fs.openSync(source, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW)
  try {
    const output = fs.openSync(target, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600)
    try {
      const buffer = Buffer.allocUnsafe(1 << 20)
      for (;;) {
        const n = fs.readSync(input, buffer, 0, buffer.length, null)
        if (n === 0) break
        hash.update(buffer.subarray(0, n))
        let written = 0
        while (written < n) written += fs.writeSync(output, buffer, written, n - written)
      }
    } finally {
      fs.closeSync(output)
    }
  } finally {
    fs.closeSync(input)
  }
  return `sha256:${hash.digest('hex')}`
}

/** The host path of a source, refused unless it (after its symlinks) is inside the context. */
function sourceInContext(
  src: string,
  contextReal: string,
  contextGiven: string,
  where: string,
  fail: (code: string, where: string, message: string) => never,
): string {
  if (path.isAbsolute(src)) fail('BUILD_COPY_OUTSIDE_CONTEXT', where, `${src} is absolute: sources are paths inside the build context`)
  const joined = path.resolve(contextReal, src)
  if (!inside(joined, contextReal)) fail('BUILD_COPY_OUTSIDE_CONTEXT', where, `${src} is outside the build context ${contextGiven}`)
  let real: string
  try {
    real = fs.realpathSync(joined)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      // A dangling symlink that points out of the context is still refused as such.
      return fail('BUILD_COPY_NOT_FOUND', where, `${src}: no such file in the build context ${contextGiven}`)
    }
    throw error
  }
  if (!inside(real, contextReal)) fail('BUILD_COPY_OUTSIDE_CONTEXT', where, `${src} resolves to ${real}, outside the build context ${contextGiven}`)
  return real
}

function walkSource(
  dir: string,
  target: string,
  entries: Map<string, CopyEntry>,
  mode: number | undefined,
  uid: number,
  gid: number,
  where: string,
  src: string,
  fail: (code: string, where: string, message: string) => never,
): number {
  const stat = fs.lstatSync(dir)
  let newest = mtimeOf(stat)
  entries.set(target, {path: target, type: 'dir', mode: stat.mode & 0o7777, uid, gid, mtime: mtimeOf(stat)})
  for (const name of fs.readdirSync(dir).sort(compareBytes)) {
    const host = path.join(dir, name)
    const into = target === '' ? name : `${target}/${name}`
    const st = fs.lstatSync(host)
    newest = Math.max(newest, mtimeOf(st))
    if (st.isDirectory()) newest = Math.max(newest, walkSource(host, into, entries, mode, uid, gid, where, src, fail))
    else if (st.isFile()) entries.set(into, fileEntry(into, host, st, mode, uid, gid))
    else if (st.isSymbolicLink()) entries.set(into, {path: into, type: 'symlink', mode: 0o777, uid, gid, mtime: mtimeOf(st), linkTarget: fs.readlinkSync(host)})
    else
      fail(
        'BUILD_COPY_UNSUPPORTED',
        where,
        `${path.join(src, path.relative(dir, host))} is a special file (device, fifo or socket): only files, directories and symlinks are copied`,
      )
  }
  return newest
}

function fileEntry(imagePath: string, host: string, stat: fs.Stats, mode: number | undefined, uid: number, gid: number): CopyEntry {
  const {digest, size} = hashFile(host)
  return {path: imagePath, type: 'file', mode: mode ?? stat.mode & 0o7777, uid, gid, mtime: mtimeOf(stat), source: host, digest, size}
}

function resolveNoFollow(view: LayerView, imagePath: string) {
  try {
    return view.resolve(imagePath, false).entry
  } catch (error) {
    if (error instanceof ViewError) return undefined
    throw error
  }
}

function rel(imagePath: string): string {
  return path.posix.normalize(imagePath).replace(/^\/+/, '').replace(/\/+$/, '')
}

function inside(p: string, dir: string): boolean {
  return p === dir || p.startsWith(dir.endsWith('/') ? dir : dir + '/')
}

function mtimeOf(stat: fs.Stats): number {
  return Math.floor(stat.mtimeMs / 1000)
}

function compareBytes(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
