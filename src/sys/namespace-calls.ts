import {errno, fn} from './koffi-loader'
import {SysError} from './sys-error'

/**
 * unshare(2) and setns(2) on their own, for spawning the container's init (src/runtime/start-init.ts):
 * `pivot run` loads this before the spawn instead of all of KoffiSyscalls (~600 lines, ~1.5 ms
 * of its way to the spawn). KoffiSyscalls makes the same calls through these.
 */
export function unshare(flags: number): void {
  if (fn('int unshare(int flags)')(flags) === -1) throw new SysError('unshare', [flags], errno())
}

export function setns(fd: number, nstype: number): void {
  if (fn('int setns(int fd, int nstype)')(fd, nstype) === -1) throw new SysError('setns', [fd, nstype], errno())
}
