#!/usr/bin/env bash
# The OCI runtime tier (test/oci, issue 15), called by setup.sh: Debian's containerd, runc, Go
# and make, and the OCI runtime-tools validation suite built offline from
# ../shared/oci-runtime-tools (or $PIVOT_OCI_RUNTIME_TOOLS) into /var/cache/pivot-test/oci-runtime-tools
# (once per machine: a stamp names the tarball it was built from). Idempotent. Starts no service:
# the tests start their own containerd and dockerd and stop them.
set -euo pipefail
log() { echo "setup(oci): $*" >&2; }

missing=()
for pkg in containerd runc golang-go make; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  apt-get -o DPkg::Lock::Timeout=300 update -qq
  apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
tarball=${PIVOT_OCI_RUNTIME_TOOLS:-$here/../../shared/oci-runtime-tools/runtime-tools-260e151.tar.gz}
[ -f "$tarball" ] || tarball=/work/shared/oci-runtime-tools/runtime-tools-260e151.tar.gz
cache=/var/cache/pivot-test/oci-runtime-tools
stamp="$cache/built-from"
if [ -f "$tarball" ] && { [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$(basename "$tarball")" ] || [ ! -x "$cache/runtime-tools/runtimetest" ]; }; then
  log "building the runtime-tools validation suite (about a minute)"
  rm -rf "$cache/runtime-tools"
  mkdir -p "$cache"
  tar -xzf "$tarball" -C "$cache"
  (cd "$cache/runtime-tools" &&
    GOPROXY=off GOFLAGS=-mod=vendor GOCACHE="$cache/gocache" GOPATH="$cache/gopath" \
      make runtimetest validation-executables >"$cache/build.log" 2>&1) ||
    { log "build failed, see $cache/build.log"; exit 1; }
  basename "$tarball" >"$stamp"
fi
