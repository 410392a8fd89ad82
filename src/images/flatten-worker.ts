/**
 * The child of `pivot export` for a multi-layer image (see flattenLayers in export-image.ts). It is
 * started by `unshare --mount --propagation private`, so its mounts live in its own namespace and
 * die with it. Arguments: the store's `l/` dir, an empty mount point, the layers' short names top
 * first joined by ':'. Writes the flattened rootfs as a tar to stdout; errors as one line on stderr.
 */
import * as process from 'node:process'
import type {Readable} from 'node:stream'
import {pipeline} from 'node:stream/promises'
import {MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_RDONLY, PR_SET_PDEATHSIG} from '../sys/constants'
import {KoffiSyscalls} from '../sys/koffi-syscalls'
import {mountOverlayHardened} from '../unpack/overlay-mount'

async function main(): Promise<void> {
  const [linkDir, mountpoint, lower] = process.argv.slice(2)
  if (!linkDir || !mountpoint || !lower) throw new Error('usage: flatten-worker L_DIR MOUNTPOINT LOWER[:LOWER...]')
  const sys = new KoffiSyscalls()
  // If pivot dies, so does this child (and with it the mount).
  sys.prctl(PR_SET_PDEATHSIG, 9)
  if (process.ppid === 1) process.exit(1)
  // Relative lower dirs from l/: overlay takes all of them in one page of mount options.
  process.chdir(linkDir)
  // The run path's hardening too: the layers' trusted.overlay.* xattrs must not steer what is read.
  mountOverlayHardened(sys, mountpoint, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, `lowerdir=${lower}`)
  const {packRootfs} = await import('../unpack')
  await pipeline(packRootfs(mountpoint, true) as Readable, process.stdout)
}

main().then(
  () => process.exit(0),
  (error: Error) => {
    process.stderr.write(`pivot: ${error.message}\n`)
    process.exit(1)
  },
)
