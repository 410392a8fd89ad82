import * as fs from 'node:fs'
import * as path from 'node:path'
import {OPAQUE_XATTR, USER_OPAQUE_XATTR} from './overlay-format'

/** One entry of the merged view: the topmost layer's copy of it. */
export interface ViewEntry {
  /** Where it is on the host, inside one layer's rootfs (never reached through a symlink). */
  hostPath: string
  stat: fs.Stats
  /** For a directory: its copies in every layer that merges into it, topmost first. */
  dirLayers?: string[]
}

export interface Resolved {
  /** The absolute path inside the image after following its symlinks (lexical past a missing part). */
  path: string
  /** Undefined when nothing is there. */
  entry?: ViewEntry
}

/** Tells whether a directory in a layer is opaque (overlay's `trusted.overlay.opaque=y`). */
export type OpaqueTest = (hostDir: string) => boolean

const MAX_SYMLINKS = 40

/**
 * Reads a chain of layers (overlayfs format, as in the store: a whiteout is a 0/0 character
 * device, an opaque directory carries trusted.overlay.opaque=y) the way overlayfs would show it
 * merged, without mounting anything. The build uses it to resolve a copy destination through the
 * image's own symlinks (`/bin` -> `usr/bin`), to keep the metadata of existing parent directories,
 * to read /etc/passwd for owner names, and to see whether a step changed anything.
 *
 * Symlinks are resolved inside the image, never on the host: each layer is walked with lstat
 * only, through directories that are real directories in that layer.
 */
export class LayerView {
  /** Layer rootfs directories, topmost first. */
  private readonly roots: string[]

  /** `layerRoots` bottom layer first, as in an image record. */
  constructor(
    layerRoots: string[],
    private readonly isOpaque: OpaqueTest = defaultOpaqueTest(),
  ) {
    this.roots = [...layerRoots].reverse()
  }

  /** Resolves an absolute image path, following symlinks (the last component too unless told not to). */
  resolve(imagePath: string, followLast = true): Resolved {
    let pending = split(imagePath)
    let stack: Array<{path: string; layers: string[]}> = [{path: '', layers: this.roots}]
    let hops = 0
    while (pending.length > 0) {
      const name = pending.shift() as string
      if (name === '.') continue
      if (name === '..') {
        if (stack.length > 1) stack.pop()
        continue
      }
      const dir = stack[stack.length - 1]
      const childPath = `${dir.path}/${name}`
      const entry = this.find(dir.layers, name)
      if (!entry) return {path: path.posix.normalize([childPath, ...pending].join('/'))}
      const last = pending.length === 0
      if (entry.stat.isSymbolicLink() && (!last || followLast)) {
        if (++hops > MAX_SYMLINKS) throw new ViewError('ELOOP', `${imagePath}: too many levels of symbolic links in the image`)
        const target = fs.readlinkSync(entry.hostPath)
        if (target.startsWith('/')) stack = [stack[0]]
        pending = [...split(target), ...pending]
        continue
      }
      if (last) return {path: childPath, entry}
      if (!entry.dirLayers) throw new ViewError('ENOTDIR', `${imagePath}: ${childPath} is not a directory in the image`)
      stack.push({path: childPath, layers: entry.dirLayers})
    }
    const top = stack[stack.length - 1]
    if (top.path === '') return {path: '/', entry: this.rootEntry()}
    // A path ending in `.` or `..`: resolve the directory it names.
    return this.resolve(top.path, true)
  }

  /** The contents of a regular file of the image (after its symlinks), or undefined. */
  readFile(imagePath: string): Buffer | undefined {
    let resolved: Resolved
    try {
      resolved = this.resolve(imagePath)
    } catch (error) {
      if (error instanceof ViewError) return undefined
      throw error
    }
    if (!resolved.entry?.stat.isFile()) return undefined
    return fs.readFileSync(resolved.entry.hostPath)
  }

  private rootEntry(): ViewEntry | undefined {
    for (const root of this.roots) {
      const stat = lstat(root)
      if (stat?.isDirectory()) return {hostPath: root, stat, dirLayers: this.roots}
    }
    return undefined
  }

  /** A merged directory's entries by name, as overlay lists it (whiteouts hide lower names). */
  children(dir: ViewEntry): Map<string, ViewEntry> {
    const out = new Map<string, ViewEntry>()
    const seen = new Set<string>()
    for (const layer of dir.dirLayers ?? []) {
      for (const name of fs.readdirSync(layer)) {
        if (seen.has(name)) continue
        seen.add(name)
        const entry = this.find(dir.dirLayers ?? [], name)
        if (entry) out.set(name, entry)
      }
    }
    return out
  }

  /** `name` in a directory whose copies are `layers` (topmost first), as overlay merges it. */
  private find(layers: string[], name: string): ViewEntry | undefined {
    for (let i = 0; i < layers.length; i++) {
      const hostPath = path.join(layers[i], name)
      const stat = lstat(hostPath)
      if (!stat) continue
      if (isWhiteout(stat)) return undefined
      if (!stat.isDirectory()) return {hostPath, stat}
      const dirLayers = [hostPath]
      if (!this.isOpaque(hostPath)) {
        for (let j = i + 1; j < layers.length; j++) {
          const lower = path.join(layers[j], name)
          const st = lstat(lower)
          if (!st) continue
          // A lower non-directory (or whiteout) under a directory ends the merge, as in overlayfs.
          if (!st.isDirectory()) break
          dirLayers.push(lower)
          if (this.isOpaque(lower)) break
        }
      }
      return {hostPath, stat, dirLayers}
    }
    return undefined
  }
}

export class ViewError extends Error {
  constructor(
    readonly code: 'ELOOP' | 'ENOTDIR',
    message: string,
  ) {
    super(message)
  }
}

/** overlayfs's whiteout: a character device 0/0. */
export function isWhiteout(stat: fs.Stats): boolean {
  return stat.isCharacterDevice() && stat.rdev === 0
}

function split(p: string): string[] {
  return p.split('/').filter(c => c !== '')
}

function lstat(p: string): fs.Stats | undefined {
  try {
    return fs.lstatSync(p)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined
    throw error
  }
}

/** The real test reads the xattr through src/sys (loaded only when a build needs it). */
export function defaultOpaqueTest(): OpaqueTest {
  let sys: {lgetxattr(path: string, name: string): Buffer | null} | undefined
  return hostDir => {
    if (!sys) {
      const {KoffiSyscalls} = require('../sys/koffi-syscalls') as typeof import('../sys/koffi-syscalls')
      sys = new KoffiSyscalls()
    }
    // A layer unpacked in a user namespace (rootless) carries the user.overlay.* form.
    const value = sys.lgetxattr(hostDir, OPAQUE_XATTR) ?? sys.lgetxattr(hostDir, USER_OPAQUE_XATTR)
    return value !== null && value.toString() === 'y'
  }
}
