#!/usr/bin/env bash
# Builds, once per machine, the VM that the cgroup v2 tier boots (test/vm/run-vm.sh calls it):
#   <cache>/v<VERSION>/vmlinuz, initrd.img  Debian bookworm's linux-image-cloud-amd64 (6.1), whose
#                                           initrd has virtio_blk
#   <cache>/v<VERSION>/base.img             ext4 root: debootstrap minbase bookworm + the kernel
#                                           packages, kmod, libseccomp2 (pivot's seccomp) and
#                                           /sbin/pivot-vm-init
# The tree is setup.sh's debootstrap tarball when there is one (the same minbase bookworm),
# otherwise a fresh debootstrap. Packages are installed in a chroot inside a private mount
# namespace, so the proc/sys/dev mounts it needs vanish with it; the disk is made by
# `mkfs.ext4 -d` without mounting anything. Prints the directory on stdout.
# Bump VM_IMAGE_VERSION when anything below changes: machines then build the new image.
set -euo pipefail

VM_IMAGE_VERSION=2
VM_CACHE=${PIVOT_VM_CACHE:-/var/cache/pivot-test/vm}
DEBIAN_TARBALL=/var/cache/pivot-test/debian-bookworm.tar
PACKAGES="linux-image-cloud-amd64 initramfs-tools kmod libseccomp2"
out=$VM_CACHE/v$VM_IMAGE_VERSION

log() { echo "vm-image: $*" >&2; }
die() { echo "vm-image: error: $*" >&2; exit 1; }
ready() { [ -s "$out/base.img" ] && [ -s "$out/vmlinuz" ] && [ -s "$out/initrd.img" ]; }

[ "$(id -u)" -eq 0 ] || die "must run as root"
ready && { echo "$out"; exit 0; }

mkdir -p "$VM_CACHE"
# Two test runs on one machine must not build it at once; the second finds it made.
exec 8>"$VM_CACHE/build.lock"
flock -w 900 8 || die "another build held $VM_CACHE/build.lock for 15 minutes"
ready && { echo "$out"; exit 0; }

started=$(date +%s)
work=$(mktemp -d /var/tmp/pivot-vm-build.XXXXXX)
tree=$work/tree
buildlog=$work/build.log
cleanup() { rm -rf --one-file-system "$work"; }
trap cleanup EXIT
mkdir -m 755 "$tree"

if [ -s "$DEBIAN_TARBALL" ]; then
  log "root tree from $DEBIAN_TARBALL"
  tar -C "$tree" --numeric-owner --xattrs -xpf "$DEBIAN_TARBALL"
else
  log "debootstrap --variant=minbase bookworm (about a minute)"
  debootstrap --variant=minbase bookworm "$tree" http://deb.debian.org/debian >"$buildlog" 2>&1 ||
    { tail -n 40 "$buildlog" >&2; die "debootstrap failed"; }
fi

log "installing $PACKAGES in a chroot (about a minute)"
cp /etc/resolv.conf "$tree/etc/resolv.conf"
# A private mount namespace: the chroot's proc, sys and dev mounts are never seen by the host and
# go away when this shell exits, whatever happens inside.
if ! unshare --mount --propagation private -- /bin/bash -euc '
  tree=$1; shift
  mount -t proc proc "$tree/proc"
  mount -t sysfs sysfs "$tree/sys"
  mount --bind /dev "$tree/dev"
  chroot "$tree" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
    apt-get -q update
  chroot "$tree" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
    apt-get -q install -y --no-install-recommends "$@"
' bash "$tree" $PACKAGES >"$buildlog" 2>&1; then
  tail -n 40 "$buildlog" >&2
  die "installing the kernel packages failed (log above)"
fi

kernel=$(ls "$tree"/boot/vmlinuz-* 2>/dev/null | head -n 1)
initrd=$(ls "$tree"/boot/initrd.img-* 2>/dev/null | head -n 1)
[ -n "$kernel" ] && [ -n "$initrd" ] || die "no kernel or initrd in $tree/boot after the install"

# The first stage of the guest's init; the rest travels on the data disk (test/vm/guest-init.sh),
# so that changing the tests never means rebuilding this image.
cat >"$tree/sbin/pivot-vm-init" <<'INIT'
#!/bin/sh
# PID 1 of the test VM: mount the data disk and hand over to the script on it.
# The initramfs has moved its /proc, /sys and /dev here already; without one they are missing.
[ -e /proc/self ] || mount -t proc proc /proc
[ -e /dev/null ] || mount -t devtmpfs devtmpfs /dev
mkdir -p /data
if mount -t ext4 /dev/vdb /data && [ -x /data/guest-init.sh ]; then
  exec /data/guest-init.sh
fi
echo "pivot-vm: cannot mount the data disk /dev/vdb or run /data/guest-init.sh" >/dev/console
echo o >/proc/sysrq-trigger
sleep 60
INIT
chmod 755 "$tree/sbin/pivot-vm-init"

# Nothing of this host's identity or apt state in the image.
: >"$tree/etc/resolv.conf"
echo pivot-vm >"$tree/etc/hostname"
rm -rf "$tree"/var/cache/apt/archives/*.deb "$tree"/var/lib/apt/lists/*

staging=$out.tmp.$$
rm -rf "$staging"
mkdir -p "$staging"
cp "$kernel" "$staging/vmlinuz"
cp "$initrd" "$staging/initrd.img"
# Sparse: 2 GiB of room for the tests' containers, a few hundred MB on the host's disk.
mkfs.ext4 -q -F -L pivot-vm -d "$tree" "$staging/base.img" 2G >&2
rm -rf "$out"
mv "$staging" "$out"
# Images of other versions are of no use any more.
for old in "$VM_CACHE"/v*; do
  [ "$old" = "$out" ] || rm -rf "$old"
done
log "built $out in $(($(date +%s) - started)) s"
echo "$out"
