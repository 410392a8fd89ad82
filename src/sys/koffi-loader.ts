// koffi is loaded on first use, and each function is bound on its first call: `pivot run` pays
// only for the handful of calls it makes (binding all of them up front costs several ms).
export type Fn = (...args: unknown[]) => number
export type Koffi = typeof import('koffi')

let koffi: Koffi | undefined
let libc: ReturnType<Koffi['load']> | undefined
const bound = new Map<string, Fn>()

/** A libc function, bound on its first call. */
export function fn(prototype: string): Fn {
  let f = bound.get(prototype)
  if (!f) {
    koffi ??= loadKoffi()
    libc ??= koffi.load('libc.so.6')
    f = libc.func(prototype) as Fn
    bound.set(prototype, f)
  }
  return f
}

/**
 * koffi's index.js loads https, zlib and crypto (for its installer) and probes a dozen paths
 * before it requires the prebuilt addon: ~6 ms of every process that makes a call, twice per
 * `pivot run` (parent and init). The addon itself is all the calls need (its exports are the
 * same functions; index.js only adds deprecated aliases). Anything unexpected falls back to the
 * package's own loader.
 */
function loadKoffi(): Koffi {
  if (process.platform === 'linux' && (process.arch === 'x64' || process.arch === 'arm64')) {
    try {
      const addon = `koffi/build/koffi/linux_${process.arch}/koffi.node`
      const native = require(addon) as Koffi & {version?: string}
      // The package's version read from beside the addon (a require of koffi/package.json would
      // walk the module paths again: ~0.4 ms, in both of `pivot run`'s processes).
      const fs = require('node:fs') as typeof import('node:fs')
      const manifest = require('node:path').join(require.resolve(addon), '..', '..', '..', '..', 'package.json') as string
      if (native.version === (JSON.parse(fs.readFileSync(manifest, 'utf8')) as {version: string}).version) return native
    } catch {
      // e.g. musl: the package's loader knows where to look
    }
  }
  return require('koffi') as Koffi
}

/** errno of this thread, right after a call. */
export function errno(): number {
  return koffi!.errno()
}

/** The koffi module itself (loaded on first use). */
export function koffiModule(): Koffi {
  koffi ??= loadKoffi()
  return koffi
}
