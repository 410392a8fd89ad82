#!/bin/sh
# Second stage of the test VM's PID 1, on the data disk (the first stage, /sbin/pivot-vm-init of
# the image made by build-vm-image.sh, mounted /proc, /dev and this disk on /data). The kernel was
# booted with cgroup_no_v1=all: cgroup2 on /sys/fs/cgroup is the only hierarchy, with every
# controller. Runs pivot's cgroup tests; results go to /data/results.jsonl (one JSON line per
# test, then a "done" line with node's exit status), the spec report to the serial console.
export PATH=/data/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TMPDIR=/data/tmp
# node's own libraries (libstdc++, libgcc_s) as the host has them; glibc is the image's own.
export LD_LIBRARY_PATH=/data/lib
# A serial console is a terminal: no colour codes in the log.
export NO_COLOR=1

[ -e /sys/kernel ] || mount -t sysfs sysfs /sys
# What systemd mounts on a pure v2 host.
mount -t cgroup2 -o nsdelegate,memory_recursiveprot cgroup2 /sys/fs/cgroup
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs tmpfs /run
modprobe overlay
hostname pivot-vm
mkdir -p "$TMPDIR"
echo "pivot-vm: kernel $(uname -r), cgroup2 controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"

cd /data/project
# One file at a time, as the host suite does; the file list comes from the host (run-vm.sh).
node --test --test-concurrency=1 --test-timeout=600000 \
  --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=./dist/test/vm/guest/jsonl-reporter.js --test-reporter-destination=/data/results.jsonl \
  $(cat /data/test-files) </dev/null
status=$?
echo "{\"done\":true,\"status\":$status}" >>/data/results.jsonl
echo "pivot-vm: tests ended with status $status"

cd /
# Read-only rather than unmounted: this script itself is open on /data.
mount -o remount,ro /data || sync
echo o >/proc/sysrq-trigger
sleep 60
