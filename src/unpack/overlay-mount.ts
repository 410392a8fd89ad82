import type {Syscalls} from '../sys/syscalls'
import {SysError} from '../sys/sys-error'

/**
 * Overlay options that make it ignore what a hostile layer could say in trusted.overlay.*
 * xattrs (unpack drops them too), most complete first: kernels before 4.19 lack metacopy.
 * Every overlay pivot mounts over image layers gets them: a container's root and export's
 * flattening mount.
 */
export const OVERLAY_HARDENING = ['redirect_dir=nofollow,metacopy=off,index=off', 'redirect_dir=nofollow']

/**
 * Mounts the overlay with the first hardening options the kernel takes: redirect_dir=nofollow
 * makes it ignore redirect xattrs a layer could carry (with redirect_dir=off the kernel still
 * follows them, by its redirect_always_follow default), metacopy=off ignores metacopy ones.
 * EINVAL is also what an option string over a page gets: the last attempt, without options,
 * reports it.
 */
export function mountOverlayHardened(sys: Syscalls, target: string, flags: number, data: string, hardening: readonly string[] = OVERLAY_HARDENING): void {
  const attempts = [...hardening.map(h => `${data},${h}`), data]
  for (let i = 0; ; i++) {
    try {
      sys.mount('overlay', target, 'overlay', flags, attempts[i])
      return
    } catch (error) {
      if (i === attempts.length - 1 || !(error instanceof SysError) || error.errnoName !== 'EINVAL') throw error
    }
  }
}
