import * as fs from 'node:fs'
import * as path from 'node:path'
import {userCacheDir} from '../common/user-dirs'
import {StoreError, describeFsError, shellQuote} from './store-error'

/** The project's own `cache/` folder: dist/src/store/ is three levels below the project root. */
export const PROJECT_CACHE_DIR = path.resolve(__dirname, '..', '..', '..', 'cache')

/**
 * `--cache-dir`, then `PIVOT_CACHE_DIR`, then for root the project's `cache/`, for anyone else
 * `$XDG_DATA_HOME/pivot` (else ~/.local/share/pivot): a user's images are the user's, as podman's.
 */
export function resolveCacheRoot(flag?: string): string {
  return path.resolve(flag || process.env.PIVOT_CACHE_DIR || userCacheDir() || PROJECT_CACHE_DIR)
}

/** The cache's top-level directories (build-cache/ is made by the first build, and checked once it exists). */
export const TOP_LEVEL_DIRS = ['layers', 'l', 'images', 'refs', 'containers', 'tmp', 'locks']
const OPTIONAL_DIRS = ['build-cache', 'volumes']

/**
 * Makes the cache root and its top-level directories if missing, and refuses a cache that another
 * user could change, as ssh refuses a loose key: root runs what `l/` points at, so whoever can
 * write `l/` (or `layers/`, or the root, or a parent of it) chooses the host tree a container gets.
 *
 * The root, each of its parents and each top-level directory must be owned by the invoking user
 * or by root, and not writable by group or others (a parent may be, with the sticky bit, like
 * /tmp). Every top-level entry must be a real directory, not a file or a symlink. The cost is an
 * lstat per path component and per top-level directory, no walk: this runs on every `pivot run`.
 * Returns the real path of the root (a symlinked root is followed once, here, and its target
 * checked).
 */
export function openCacheRoot(root: string): string {
  try {
    fs.mkdirSync(root, {recursive: true, mode: 0o700})
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw notADirectory(root, 'the cache root')
    if ((error as NodeJS.ErrnoException).code === 'ENOTDIR') {
      throw new StoreError('STORE_DAMAGED', `cannot use the cache ${root}: a component of the path is not a directory`)
    }
    throw describeFsError(error) ?? error
  }
  let real: string
  try {
    real = fs.realpathSync.native(root)
  } catch (error) {
    throw describeFsError(error) ?? error
  }
  const uid = process.geteuid?.() ?? 0
  const rootStat = lstat(real)
  if (!rootStat.isDirectory()) throw notADirectory(root, 'the cache root')
  checkOwner(real, rootStat, uid, 'the cache root')
  // A parent writable by others lets them rename the whole cache away and put their own in its
  // place; so does a symlink they own on the way (the path as given is checked as well).
  checkParents(path.dirname(real), uid)
  if (real !== root) checkParents(root, uid)
  // 0700: cached rootfs trees hold setuid binaries that host users must not reach.
  if ((rootStat.mode & 0o777) !== 0o700) {
    try {
      fs.chmodSync(real, 0o700)
    } catch (error) {
      // A read-only cache (a ro mount, chattr +i) can still be read: `images`, `run` of a cached image.
      if (!['EROFS', 'EPERM'].includes((error as NodeJS.ErrnoException).code ?? '')) throw describeFsError(error) ?? error
    }
  }
  for (const name of [...TOP_LEVEL_DIRS, ...OPTIONAL_DIRS]) {
    const dir = path.join(real, name)
    let st: fs.Stats
    try {
      st = fs.lstatSync(dir)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw describeFsError(error) ?? error
      if (OPTIONAL_DIRS.includes(name)) continue
      try {
        fs.mkdirSync(dir, {mode: 0o700})
        continue
      } catch (mkdirError) {
        // Another pivot process opening the same new cache made it first: check theirs as any other.
        if ((mkdirError as NodeJS.ErrnoException).code !== 'EEXIST') throw describeFsError(mkdirError) ?? mkdirError
        st = lstat(dir)
      }
    }
    if (!st.isDirectory()) throw notADirectory(dir, `the cache's ${name}/`, st)
    checkOwner(dir, st, uid, `the cache's ${name}/`)
  }
  return real
}

function checkParents(from: string, uid: number): void {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const st = lstat(dir)
    if (st.uid !== uid && st.uid !== 0) throw unsafe(dir, `${dir}, on the way to the cache, is owned by uid ${st.uid}`, `chown ${uid} ${shellQuote(dir)}`)
    if (!st.isSymbolicLink() && (st.mode & 0o022) !== 0 && (st.mode & 0o1000) === 0) {
      throw unsafe(dir, `${dir}, on the way to the cache, is writable by ${writers(st.mode)}`, `chmod go-w ${shellQuote(dir)}`)
    }
    if (dir === path.dirname(dir)) break
  }
}

function lstat(file: string): fs.Stats {
  try {
    return fs.lstatSync(file)
  } catch (error) {
    throw describeFsError(error) ?? error
  }
}

function checkOwner(file: string, st: fs.Stats, uid: number, what: string): void {
  // A user other than root cannot keep a cache in root's directories (nor in another user's):
  // say so once here rather than fail on the first file written deep in a pull.
  if (uid !== 0 && st.uid !== uid) {
    throw new StoreError(
      'STORE_UNSAFE',
      `cannot use the cache: ${what} ${file} is owned by uid ${st.uid}, not by you (uid ${uid}); use your own (--cache-dir, or the default ${userCacheDir() ?? ''})`,
    )
  }
  if (st.uid !== uid && st.uid !== 0) {
    throw unsafe(file, `${what} ${file} is owned by uid ${st.uid}, not by you (uid ${uid}) or root`, `chown -R ${uid} ${shellQuote(file)}`)
  }
  if ((st.mode & 0o022) !== 0) {
    throw unsafe(file, `${what} ${file} is writable by ${writers(st.mode)}`, `chmod go-w ${shellQuote(file)}`)
  }
}

function writers(mode: number): string {
  return [(mode & 0o020) !== 0 ? 'its group' : '', (mode & 0o002) !== 0 ? 'others' : ''].filter(Boolean).join(' and ')
}

function unsafe(_file: string, why: string, fix: string): StoreError {
  return new StoreError(
    'STORE_UNSAFE',
    `refusing to use the cache: ${why}, so another user could change what pivot runs; check its content, then fix it with: ${fix}`,
  )
}

function notADirectory(file: string, what: string, st?: fs.Stats): StoreError {
  const kind = st === undefined ? 'not a directory' : st.isSymbolicLink() ? 'a symbolic link, not a directory' : 'not a directory'
  return new StoreError(
    'STORE_DAMAGED',
    `${what} ${file} is ${kind}: move it away (mv ${shellQuote(file)} ${shellQuote(file + '.bad')}) and pivot makes a new one`,
  )
}
