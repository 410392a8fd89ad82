#!/usr/bin/env bash
# Prepares the real test environment for pivot's suite (run as root; `npm test` calls it):
#   - Debian packages the suite needs (apt-get, only when something is missing)
#   - a Docker daemon on /var/run/docker.sock (Debian's docker.io), started when none answers
#   - a registry on 127.0.0.1:5000 (Debian's docker-registry), started when none answers
#   - fixture images, in the daemon and pushed to the registry:
#       localhost:5000/pivot-test/busybox:latest   busybox-static rootfs, CMD ["/bin/sh"]
#       localhost:5000/pivot-test/debian:bookworm  debootstrap --variant=minbase, CMD ["/bin/bash"]
# Idempotent: a second run only checks and takes a second or two. Progress goes to stderr;
# stdout gets only the final "environment ready".
set -euo pipefail

PACKAGES="docker.io docker-registry containerd runc busybox-static debootstrap debian-archive-keyring
  hyperfine tmux gcc libc6-dev iproute2 util-linux procps curl ca-certificates tar coreutils
  golang-go golang-1.19-src libpython3.11-testsuite zstd xz-utils bzip2
  nftables wrk"
# The cgroup v2 tier (test/vm): QEMU to boot the VM, e2fsprogs for its disks (mkfs.ext4 -d, debugfs).
PACKAGES="$PACKAGES qemu-system-x86 e2fsprogs"
# save/load oracles and the registry tests (test/env/registries.sh): skopeo writes OCI layouts,
# openssl makes the token server's keys.
PACKAGES="$PACKAGES skopeo openssl python3"
# The rootless tier (test/rootless, test/env/rootless.sh): newuidmap/newgidmap.
PACKAGES="$PACKAGES uidmap"

BUSYBOX_IMAGE=localhost:5000/pivot-test/busybox:latest
DEBIAN_IMAGE=localhost:5000/pivot-test/debian:bookworm
REGISTRY_ADDR=127.0.0.1:5000
STATE_DIR=/var/lib/pivot-test
CACHE_DIR=/var/cache/pivot-test
DEBIAN_TARBALL=$CACHE_DIR/debian-bookworm.tar
DOCKERD_LOG=/var/log/pivot-test-dockerd.log
REGISTRY_LOG=/var/log/pivot-test-registry.log
# Bump a version when its build below changes: machines that keep their daemon and registry
# between runs then rebuild instead of testing against the old fixture.
BUSYBOX_VERSION=2
DEBIAN_VERSION=1
IMAGE_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# The Debian client matches the Debian daemon; /usr/local/bin/docker (if any) is a newer client.
DOCKER=/usr/bin/docker

log() { echo "setup: $*" >&2; }
die() { echo "setup: error: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root"
export DEBIAN_FRONTEND=noninteractive

# Two test runs on one machine must not build the same fixture at once.
mkdir -p /run/lock
exec 9>/run/lock/pivot-test-setup.lock
flock -w 900 9 || die "another setup.sh held /run/lock/pivot-test-setup.lock for 15 minutes"

# Background services must not inherit the lock fd, or the lock would be held forever.
start_background() { # LOGFILE CMD...
  local logfile=$1; shift
  setsid nohup "$@" >>"$logfile" 2>&1 </dev/null 9>&- &
  echo $!
}

# ---------------------------------------------------------------- packages
install_packages() {
  local missing=() pkg
  for pkg in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]}"
  local aptlog
  aptlog=$(mktemp)
  if ! { apt-get -o DPkg::Lock::Timeout=300 update -qq &&
         apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}"; } \
       >"$aptlog" 2>&1; then
    cat "$aptlog" >&2
    rm -f "$aptlog"
    die "apt-get failed"
  fi
  rm -f "$aptlog"
  [ -x "$DOCKER" ] || die "$DOCKER missing after installing docker.io"
}

# ---------------------------------------------------------------- docker daemon
start_dockerd() {
  "$DOCKER" info >/dev/null 2>&1 && return 0
  log "starting dockerd (log: $DOCKERD_LOG)"
  # No docker0 bridge and no iptables rules: tests need no container networking (they use
  # --network none), and the daemon then leaves the host's network untouched.
  local pid
  pid=$(start_background "$DOCKERD_LOG" /usr/sbin/dockerd --bridge=none --iptables=false --ip6tables=false)
  local i
  for i in $(seq 1 60); do
    "$DOCKER" info >/dev/null 2>&1 && { log "dockerd up after ${i}s"; return 0; }
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 30 "$DOCKERD_LOG" >&2
      die "dockerd exited"
    fi
    sleep 1
  done
  tail -n 30 "$DOCKERD_LOG" >&2
  die "dockerd did not answer within 60 s"
}

# ---------------------------------------------------------------- registry
registry_up() { curl -fsS -o /dev/null --max-time 5 "http://$REGISTRY_ADDR/v2/" 2>/dev/null; }

start_registry() {
  registry_up && return 0
  # Our own config: the packaged /etc/docker/registry/config.yml listens on all addresses and
  # enables htpasswd auth.
  mkdir -p "$STATE_DIR/registry"
  cat >"$STATE_DIR/registry.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $STATE_DIR/registry
  delete:
    enabled: true
http:
  addr: $REGISTRY_ADDR
EOF
  log "starting registry on $REGISTRY_ADDR (log: $REGISTRY_LOG)"
  local pid i
  pid=$(start_background "$REGISTRY_LOG" /usr/bin/docker-registry serve "$STATE_DIR/registry.yml")
  for i in $(seq 1 30); do
    registry_up && { log "registry up after ${i}s"; return 0; }
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 30 "$REGISTRY_LOG" >&2
      die "registry exited"
    fi
    sleep 1
  done
  tail -n 30 "$REGISTRY_LOG" >&2
  die "registry did not answer on $REGISTRY_ADDR within 30 s"
}

# ---------------------------------------------------------------- fixture images
FIXTURE_LABEL=pivot-test.fixture-version

# Image id in the daemon when it holds IMAGE at fixture VERSION, else empty.
daemon_image_id() { # IMAGE VERSION
  local out
  out=$("$DOCKER" image inspect -f "{{.Id}} {{index .Config.Labels \"$FIXTURE_LABEL\"}}" "$1" 2>/dev/null) || return 0
  [ "${out#* }" = "$2" ] && echo "${out%% *}"
  return 0
}

# Config digest of the registry's manifest for IMAGE (= the image id it was pushed from), or empty.
registry_image_id() {
  local ref=${1#localhost:5000/}
  local repo=${ref%:*} tag=${ref##*:}
  curl -fsS --max-time 10 \
    -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    "http://$REGISTRY_ADDR/v2/$repo/manifests/$tag" 2>/dev/null |
    node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{try{process.stdout.write(JSON.parse(s).config.digest||"")}catch{}})' ||
    true
}

push() {
  log "pushing $1"
  "$DOCKER" push "$1" >/dev/null
}

# ensure_image IMAGE VERSION BUILD_FUNCTION: build only when neither daemon nor registry has
# it, pull when only the daemon lacks it, push when the registry lacks it or holds another build.
ensure_image() {
  local image=$1 version=$2 build=$3 id reg any
  id=$(daemon_image_id "$image" "$version")
  reg=$(registry_image_id "$image")
  any=$("$DOCKER" image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)
  if [ -z "$id" ] && [ -n "$reg" ] && [ "$reg" != "$any" ]; then
    log "pulling $image from the local registry"
    "$DOCKER" pull -q "$image" >/dev/null
    id=$(daemon_image_id "$image" "$version")
  fi
  if [ -z "$id" ]; then
    "$build"
    id=$(daemon_image_id "$image" "$version")
    [ -n "$id" ] || die "building $image produced no image at fixture version $version"
    # The previous build is now untagged; drop it unless something still uses it.
    [ -z "$any" ] || [ "$any" = "$id" ] || "$DOCKER" rmi "$any" >/dev/null 2>&1 || true
  fi
  [ "$reg" = "$id" ] || push "$image"
}

build_busybox() {
  log "building $BUSYBOX_IMAGE"
  local root
  root=$(mktemp -d /tmp/pivot-busybox.XXXXXX)
  # mktemp makes the dir 0700, and it becomes the image's / : a real rootfs has 0755.
  chmod 755 "$root"
  mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,root,tmp,proc,sys,dev,home,var}
  chmod 1777 "$root/tmp"
  chmod 700 "$root/root"
  install -m 0755 /bin/busybox "$root/bin/busybox"
  local applet
  # linuxrc is busybox's initrd entry; a container rootfs does not want it.
  for applet in $(/bin/busybox --list-full); do
    case $applet in bin/busybox | linuxrc) continue ;; esac
    ln -s /bin/busybox "$root/$applet"
  done
  cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
  cat >"$root/etc/group" <<'EOF'
root:x:0:
nobody:x:65534:
EOF
  tar -C "$root" --numeric-owner --owner=0 --group=0 -cf - . |
    "$DOCKER" import \
      --change 'CMD ["/bin/sh"]' \
      --change "ENV PATH=$IMAGE_PATH" \
      --change "LABEL $FIXTURE_LABEL=$BUSYBOX_VERSION" \
      - "$BUSYBOX_IMAGE" >/dev/null
  rm -rf "$root"
}

# The mirror apt uses here for bookworm (one-line sources.list or deb822 .sources).
debian_mirror() {
  local f uri
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    # deb [opt=val ...] URI SUITE COMPONENT...
    uri=$(awk '$1 == "deb" { i = 2
                             if ($2 ~ /^\[/) { while (i < NF && $i !~ /\]$/) i++; i++ }
                             if ($(i + 1) == "bookworm") { print $i; exit } }' "$f")
    [ -n "$uri" ] && { echo "$uri"; return; }
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    uri=$(awk '
      function flush() { if (types ~ /(^| )deb( |$)/ && suites ~ /(^| )bookworm( |$)/ && uris != "") { split(uris, u, " "); print u[1]; found = 1; exit } types = suites = uris = "" }
      /^[ \t]*$/ { flush(); next }
      /^[ \t]*#/ { next }
      tolower($1) == "types:"  { $1 = ""; types = $0 " " }
      tolower($1) == "suites:" { $1 = ""; suites = $0 " " }
      tolower($1) == "uris:"   { $1 = ""; uris = $0 }
      END { if (!found) flush() }' "$f")
    [ -n "$uri" ] && { echo "$uri"; return; }
  done
  echo http://deb.debian.org/debian
}

build_debian_tarball() {
  local mirror root
  mirror=$(debian_mirror)
  root=$(mktemp -d /var/tmp/pivot-debian.XXXXXX)
  chmod 755 "$root"
  log "debootstrap --variant=minbase bookworm from $mirror (about a minute)"
  local dblog
  dblog=$(mktemp)
  if ! debootstrap --variant=minbase bookworm "$root" "$mirror" >"$dblog" 2>&1; then
    tail -n 40 "$dblog" >&2
    # debootstrap may leave proc/sys mounted inside the target on failure
    umount -R "$root/proc" "$root/sys" 2>/dev/null || true
    rm -rf --one-file-system "$root" "$dblog" || true
    die "debootstrap failed"
  fi
  rm -f "$dblog"
  # Do not bake this host's identity into the image.
  rm -f "$root/etc/hostname"
  : >"$root/etc/resolv.conf"
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  mkdir -p "$CACHE_DIR"
  tar -C "$root" --numeric-owner --xattrs -cf "$DEBIAN_TARBALL.tmp" .
  mv "$DEBIAN_TARBALL.tmp" "$DEBIAN_TARBALL"
  echo "$DEBIAN_VERSION" >"$DEBIAN_TARBALL.version"
  rm -rf --one-file-system "$root"
}

build_debian() {
  [ -s "$DEBIAN_TARBALL" ] && [ "$(cat "$DEBIAN_TARBALL.version" 2>/dev/null)" = "$DEBIAN_VERSION" ] ||
    build_debian_tarball
  log "importing $DEBIAN_IMAGE"
  "$DOCKER" import \
    --change 'CMD ["/bin/bash"]' \
    --change "ENV PATH=$IMAGE_PATH" \
    --change "LABEL $FIXTURE_LABEL=$DEBIAN_VERSION" \
    "$DEBIAN_TARBALL" "$DEBIAN_IMAGE" >/dev/null
}

install_packages
start_dockerd
start_registry
ensure_image "$BUSYBOX_IMAGE" "$BUSYBOX_VERSION" build_busybox
ensure_image "$DEBIAN_IMAGE" "$DEBIAN_VERSION" build_debian
bash "$(dirname "${BASH_SOURCE[0]}")/registries.sh"
bash "$(dirname "${BASH_SOURCE[0]}")/oci.sh"
bash "$(dirname "${BASH_SOURCE[0]}")/rootless.sh"
echo "environment ready"
