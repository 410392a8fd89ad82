#!/usr/bin/env bash
# The rootless tier's environment (issue 14), called by setup.sh (as root, idempotent):
#   - an unprivileged user pivot-rootless (uid/gid 2000, as runc's rootless CI makes one), with a
#     home of its own; it never logs in: tests run ./bin/pivot as it through setpriv
#     (test/helpers/rootless.ts)
#   - subordinate ranges for it in /etc/subuid and /etc/subgid (100000:65536, as runc's CI), added
#     only when it has none: other users' lines are never touched
#   - a delegated v1 cgroup per controller pivot uses, made by root and handed over as runc's CI
#     does (test/rootless checks limits applied there, and refused without it)
# uidmap (newuidmap/newgidmap) is in setup.sh's package list.
set -euo pipefail
USER_NAME=pivot-rootless
USER_ID=2000
SUB_START=100000
SUB_COUNT=65536
# The delegated cgroup, below each v1 controller pivot uses (or the v2 root on a pure v2 host).
CGROUP_NAME=pivot-rootless-test
log() { echo "rootless.sh: $*" >&2; }

if ! getent group "$USER_NAME" >/dev/null; then
  groupadd --gid "$USER_ID" "$USER_NAME"
fi
if ! getent passwd "$USER_NAME" >/dev/null; then
  log "adding user $USER_NAME (uid $USER_ID)"
  useradd --uid "$USER_ID" --gid "$USER_ID" --create-home --shell /bin/sh "$USER_NAME"
fi

add_range() { # FILE
  local file=$1
  touch "$file"
  # A range for the user by name or by uid is enough: it is the user's, keep it.
  if grep -qE "^($USER_NAME|$USER_ID):" "$file"; then return 0; fi
  # Refuse a range that overlaps another user's: two users sharing ids defeats the point.
  local line start count
  while IFS= read -r line; do
    [[ $line =~ ^[^:#]+:([0-9]+):([0-9]+)$ ]] || continue
    start=${BASH_REMATCH[1]}
    count=${BASH_REMATCH[2]}
    if ((start < SUB_START + SUB_COUNT && SUB_START < start + count)); then
      log "$file: $line overlaps $SUB_START:$SUB_COUNT meant for $USER_NAME; add a free range for it by hand"
      exit 1
    fi
  done <"$file"
  log "adding $USER_NAME:$SUB_START:$SUB_COUNT to $file"
  echo "$USER_NAME:$SUB_START:$SUB_COUNT" >>"$file"
}
add_range /etc/subuid
add_range /etc/subgid

# Delegation as runc's rootless CI does it: root makes the directory, the user gets the directory
# and the files that move processes (and, on v2, the one that enables controllers below it).
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  dir=/sys/fs/cgroup/$CGROUP_NAME
  mkdir -p "$dir"
  chown "$USER_ID:$USER_ID" "$dir" "$dir/cgroup.procs" "$dir/cgroup.subtree_control" "$dir/cgroup.threads"
else
  for controller in pids memory cpu freezer; do
    # mountinfo: "... MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS"
    mount=$(awk -v c="$controller" '{
      for (i = 7; i <= NF && $i != "-"; i++) {}
      if ($(i + 1) == "cgroup" && ("," $(i + 3) ",") ~ ("," c ",")) { print $5; exit }
    }' /proc/self/mountinfo)
    [ -n "$mount" ] || continue
    dir=$mount/$CGROUP_NAME
    mkdir -p "$dir"
    chown "$USER_ID:$USER_ID" "$dir" "$dir/cgroup.procs" "$dir/tasks"
  done
fi
