#!/usr/bin/env bash
# The cgroup v2 tier's VM run (test/vm/cgroup-v2.test.ts starts it): boots Debian's kernel with
# pure cgroup v2 under QEMU (TCG: KVM cannot boot a stock kernel on these machines), runs pivot's
# cgroup tests inside, and prints their results on stdout as JSON lines (see
# test/vm/guest/jsonl-reporter.ts) followed by {"done":true,"status":N}.
#   disk 1: the cached image of build-vm-image.sh, read-only (snapshot=on: writes go to a
#           temp file QEMU deletes)
#   disk 2: a temp ext4 made with `mkfs.ext4 -d`: node and the libraries it links (from ldd),
#           this project's bin/, dist/, node_modules/, package.json, the busybox fixture as a
#           `docker export` tar (imported with `pivot import` inside), guest-init.sh
# Nothing comes from the internet. On exit (normal, failed or interrupted) QEMU is killed and the
# temp dir removed. PIVOT_VM_TIMEOUT (seconds, default 900) bounds the VM; a hung VM is killed
# and the run fails with the console's last lines on stderr.
# Usage: run-vm.sh [TEST_FILE...]   (paths under dist/, default: the cgroup tests)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

VM_TIMEOUT=${PIVOT_VM_TIMEOUT:-900}
BUSYBOX_IMAGE=localhost:5000/pivot-test/busybox:latest
DOCKER=/usr/bin/docker
QEMU=qemu-system-x86_64
TEST_FILES=("$@")
[ ${#TEST_FILES[@]} -gt 0 ] || TEST_FILES=(dist/test/integration/runtime/cgroups.test.js dist/test/vm/guest/cgroup-v2-run.guest.js dist/test/vm/guest/cgroupns.guest.js)

log() { echo "run-vm: $*" >&2; }
die() { echo "run-vm: error: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root"
command -v "$QEMU" >/dev/null || die "$QEMU not found: run test/env/setup.sh (it installs qemu-system-x86)"
for f in "${TEST_FILES[@]}" dist/test/vm/guest/jsonl-reporter.js; do
  [ -f "$f" ] || die "$f not found: build with npx tsc -p . first"
done

image=$(bash test/vm/build-vm-image.sh)

work=$(mktemp -d /var/tmp/pivot-vm-run.XXXXXX)
container=pivot-cgroups-vm-$$-$RANDOM
qemu_pid=
cleanup() {
  if [ -n "$qemu_pid" ]; then
    kill -KILL "$qemu_pid" 2>/dev/null || true
    wait "$qemu_pid" 2>/dev/null || true
  fi
  "$DOCKER" rm -f "$container" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

started=$(date +%s)
log "work dir $work"
data=$work/data
mkdir -p "$data/bin" "$data/lib" "$data/project"
node=$(readlink -f "$(command -v node)")
cp "$node" "$data/bin/node"
# glibc's own libraries must match the image's dynamic loader; the others come from this host.
for lib in $(ldd "$node" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }'); do
  case $(basename "$lib") in
    libc.so.* | libm.so.* | libdl.so.* | libpthread.so.* | librt.so.* | ld-linux*) ;;
    *) cp -L "$lib" "$data/lib/" ;;
  esac
done
cp -a bin dist node_modules package.json "$data/project/"
"$DOCKER" create --name "$container" "$BUSYBOX_IMAGE" /bin/true >/dev/null
"$DOCKER" export -o "$data/busybox.tar" "$container"
"$DOCKER" rm "$container" >/dev/null
cp test/vm/guest-init.sh "$data/guest-init.sh"
printf '%s\n' "${TEST_FILES[@]}" >"$data/test-files"
# Room for the containers the tests run (overlay upper dirs, the imported layer); sparse.
mkfs.ext4 -q -F -L pivot-data -d "$data" "$work/data.img" 2G >&2
rm -rf "$data"
log "data disk ready in $(($(date +%s) - started)) s; booting (timeout ${VM_TIMEOUT} s)"

console=$work/console.log
# -cpu max: TCG's fullest CPU model. No network device: the tests need none.
"$QEMU" -accel tcg -cpu max -m 2048 -smp 2 -display none -no-reboot -nodefaults -nic none \
  -serial "file:$console" -monitor none \
  -kernel "$image/vmlinuz" -initrd "$image/initrd.img" \
  -append "root=/dev/vda rw console=ttyS0 init=/sbin/pivot-vm-init cgroup_no_v1=all panic=-1 quiet" \
  -drive "file=$image/base.img,if=virtio,format=raw,snapshot=on" \
  -drive "file=$work/data.img,if=virtio,format=raw" \
  </dev/null >"$work/qemu.log" 2>&1 &
qemu_pid=$!

booted=$(date +%s)
deadline=$((booted + VM_TIMEOUT))
while kill -0 "$qemu_pid" 2>/dev/null; do
  if [ "$(date +%s)" -ge "$deadline" ]; then
    kill -KILL "$qemu_pid" 2>/dev/null || true
    wait "$qemu_pid" 2>/dev/null || true
    qemu_pid=
    tail -n 40 "$console" >&2 || true
    die "the VM did not finish within $VM_TIMEOUT s; killed it (console's last lines above)"
  fi
  sleep 1
done
status=0
wait "$qemu_pid" || status=$?
qemu_pid=
log "VM ran for $(($(date +%s) - booted)) s ($(($(date +%s) - started)) s in all)"
if [ "$status" -ne 0 ]; then
  cat "$work/qemu.log" >&2
  tail -n 40 "$console" >&2 || true
  die "QEMU exited with status $status"
fi

results=$(debugfs -R 'cat /results.jsonl' "$work/data.img" 2>/dev/null || true)
if ! grep -q '"done":true' <<<"$results"; then
  tail -n 60 "$console" >&2 || true
  die "the VM stopped without finishing its tests (console's last lines above)"
fi
# The whole console for a reader of a failure; the results for the caller.
sed 's/^/vm| /' "$console" >&2
printf '%s\n' "$results"
