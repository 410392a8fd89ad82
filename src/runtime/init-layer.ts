import * as fs from 'node:fs'
import * as path from 'node:path'

/**
 * The container's init layer (docker's "-init" layer): a small directory that is the TOPMOST
 * lower layer of the container's overlay. It holds
 *   - etc/hostname, etc/hosts, etc/resolv.conf, so the container sees its own name and the
 *     network it has without those files landing in the upper dir (which `pivot build` commits);
 *   - an empty directory (or file) for every mount target: proc, sys, dev and each volume's
 *     target. Since they are real directories of a layer above the image, a mount never follows
 *     a symlink the image put on the path, and the image itself never changes.
 * Directories that also exist in the image get the image's mode and owner (a directory of an
 * upper layer hides the metadata of the same directory below), so `-v x:/home/app/data` does not
 * turn the image's /home/app into a root-owned directory.
 */
export interface InitLayerOptions {
  hostname: string
  net: 'host' | 'none'
  /** Mount targets inside the container (absolute) and whether a file or a directory is bound there. */
  mountTargets: Array<{target: string; kind: 'dir' | 'file'}>
  /** The image's layer rootfs directories, TOPMOST FIRST, to copy directory metadata from. */
  imageLayers: string[]
  /**
   * With --read-only: the working directory, made here when the image lacks it, as docker makes
   * it in its writable init layer (root-owned, 0755); the init could not mkdir on a read-only root.
   */
  workdir?: string
  /** /etc/hosts and /etc/resolv.conf as the network made them (--net bridge, NAME, container:, or --add-host/--dns). */
  etcFiles?: {hosts: string; resolvConf: string}
  /** The host's files to copy with --net host (tests point them elsewhere). */
  hostFiles?: {hosts?: string; resolvConf?: string}
  /** The directory exists already, empty: a user-namespace run binds it before the layer is written. */
  dirMade?: boolean
}

/** The mount points every container has. */
export const STANDARD_MOUNT_TARGETS = ['/proc', '/sys', '/dev'] as const

export function prepareInitLayer(dir: string, options: InitLayerOptions): void {
  if (!options.dirMade) fs.mkdirSync(dir, {mode: 0o755})
  const layers = options.imageLayers
  mirrorDirs(dir, '/etc', layers)
  const etc = path.join(dir, 'etc')
  const {hosts, resolvConf} = options.etcFiles ?? networkFiles(options)
  fs.writeFileSync(path.join(etc, 'hostname'), options.hostname + '\n', {mode: 0o644})
  fs.writeFileSync(path.join(etc, 'hosts'), hosts, {mode: 0o644})
  fs.writeFileSync(path.join(etc, 'resolv.conf'), resolvConf, {mode: 0o644})
  for (const t of STANDARD_MOUNT_TARGETS) mirrorDirs(dir, t, layers)
  if (options.workdir !== undefined && missingFromImage(options.workdir, layers)) mirrorDirs(dir, options.workdir, layers)
  for (const {target, kind} of options.mountTargets) {
    // Under /dev the target is made inside the container's tmpfs (see planContainer).
    if (target === '/dev' || target.startsWith('/dev/')) continue
    if (kind === 'dir') mirrorDirs(dir, target, layers)
    else {
      mirrorDirs(dir, path.posix.dirname(target), layers)
      const file = path.join(dir, target)
      if (!fs.existsSync(file)) fs.writeFileSync(file, '', {mode: 0o644})
    }
  }
}

function networkFiles(options: InitLayerOptions): {hosts: string; resolvConf: string} {
  const self = `127.0.1.1\t${options.hostname}\n`
  if (options.net === 'none') {
    return {
      hosts: `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n${self}`,
      resolvConf: '# pivot: --net none has only loopback: no DNS\n',
    }
  }
  const read = (file: string, fallback: string) => {
    try {
      return fs.readFileSync(file, 'utf8')
    } catch {
      return fallback
    }
  }
  let hosts = read(options.hostFiles?.hosts ?? '/etc/hosts', '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n')
  if (!hosts.endsWith('\n')) hosts += '\n'
  return {hosts: hosts + self, resolvConf: read(options.hostFiles?.resolvConf ?? '/etc/resolv.conf', '')}
}

/**
 * Whether some component of `target` exists in no layer (or only as a whiteout), with every
 * component before it a real directory. A path through a symlink or a file of the image is left
 * to the container's own lookup (a symlink resolves inside its root there, not on the host).
 */
function missingFromImage(target: string, layers: readonly string[]): boolean {
  let inside = ''
  const open = layers.map(() => true)
  for (const part of target.split('/').filter(Boolean)) {
    inside += '/' + part
    let top: fs.Stats | undefined
    layers.forEach((layer, i) => {
      if (!open[i]) return
      const st = fs.lstatSync(path.join(layer, inside), {throwIfNoEntry: false})
      if (!st || !st.isDirectory()) open[i] = false
      top ??= st
    })
    if (top === undefined || isWhiteout(top)) return true
    if (!top.isDirectory()) return false
  }
  return false
}

/** overlayfs's whiteout: a character device 0:0. */
function isWhiteout(st: fs.Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0
}

/**
 * Makes every directory of `target` (absolute, inside the container) in the layer `dir`, each
 * with the mode and owner of the image's directory at that path when there is one (the topmost
 * layer that has the path decides; a whiteout or a non-directory there means none).
 */
function mirrorDirs(dir: string, target: string, layers: readonly string[]): void {
  let inside = ''
  // Which layers still have every component so far as a real directory: a deeper path is looked
  // up only in those, so an lstat never follows a symlink of the image (which would resolve on
  // the host).
  const open = layers.map(() => true)
  for (const part of target.split('/').filter(Boolean)) {
    inside += '/' + part
    let meta: fs.Stats | undefined
    let decided = false
    layers.forEach((layer, i) => {
      if (!open[i]) return
      const st = fs.lstatSync(path.join(layer, inside), {throwIfNoEntry: false})
      if (!st || !st.isDirectory()) open[i] = false
      if (st && !decided) {
        decided = true
        if (st.isDirectory()) meta = st
      }
    })
    const here = path.join(dir, inside)
    if (fs.existsSync(here)) continue
    fs.mkdirSync(here, {mode: 0o755})
    if (meta) {
      fs.chmodSync(here, meta.mode & 0o7777)
      if (meta.uid !== 0 || meta.gid !== 0) fs.chownSync(here, meta.uid, meta.gid)
    }
  }
}
