#!/usr/bin/env bash
# Test registries beside the fixture registry on :5000 (called by setup.sh; idempotent; root):
#   127.0.0.1:5100  Debian's docker-registry with htpasswd Basic auth (user pivot, password pivot-basic-pw)
#   127.0.0.1:5101  docker-registry with token auth; its token server (test/env/token-server.js)
#   127.0.0.1:5102  signs ES256 JWTs with an x5c chain (user pivot, password pivot-token-pw;
#                   anonymous callers may pull)
# Both hold pivot-test/busybox:latest (copied from :5000 with skopeo). The :5000 registry gets
# two fixtures of the registry tests, made by test/env/registry-fixtures.js:
#   localhost:5000/pivot-test/registry-multiarch:latest  OCI index: linux/amd64, linux/arm64,
#       linux/arm/v7, an attestation entry, and a nested index for linux/s390x
#   localhost:5000/pivot-test/registry-zstd:latest       the busybox fixture as OCI with zstd layers
#   localhost:5000/pivot-test/registry-plain:latest      ... with its layer uncompressed
#   localhost:5000/pivot-test/registry-three:latest      busybox + two 6 MB layers (benchmark)
# State (keys, htpasswd, storage) in /var/lib/pivot-test-registries; logs in /var/log/pivot-test-registries-*.log.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STATE=/var/lib/pivot-test-registries
FIXTURES_VERSION=2
log() { echo "registries: $*" >&2; }
die() { echo "registries: error: $*" >&2; exit 1; }

up() { curl -s -o /dev/null --max-time 5 -w '%{http_code}' "http://$1/v2/" 2>/dev/null | grep -qE '^(200|401)$'; }

start() { # NAME ADDR CMD...
  local name=$1 addr=$2; shift 2
  up "$addr" && return 0
  log "starting $name on $addr"
  setsid nohup "$@" >>"/var/log/pivot-test-registries-$name.log" 2>&1 </dev/null 9>&- &
  local pid=$! i
  for i in $(seq 1 30); do
    up "$addr" && return 0
    kill -0 "$pid" 2>/dev/null || { tail -n 20 "/var/log/pivot-test-registries-$name.log" >&2; die "$name exited"; }
    sleep 0.5
  done
  die "$name did not answer on $addr"
}

mkdir -p "$STATE"
chmod 700 "$STATE"
if [ ! -s "$STATE/htpasswd" ]; then
  # bcrypt is the only hash the registry's htpasswd reads.
  python3 -W ignore -c 'import crypt;print("pivot:" + crypt.crypt("pivot-basic-pw", crypt.mksalt(crypt.METHOD_BLOWFISH)))' >"$STATE/htpasswd.tmp"
  mv "$STATE/htpasswd.tmp" "$STATE/htpasswd"
fi
if [ ! -s "$STATE/token.crt" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -subj /CN=pivot-test-token -keyout "$STATE/token.key.tmp" -out "$STATE/token.crt.tmp" 2>/dev/null
  mv "$STATE/token.key.tmp" "$STATE/token.key"
  mv "$STATE/token.crt.tmp" "$STATE/token.crt"
fi

cat >"$STATE/basic.yml" <<YML
version: 0.1
log: {level: warn}
storage: {filesystem: {rootdirectory: $STATE/basic}, delete: {enabled: true}}
http: {addr: 127.0.0.1:5100}
auth: {htpasswd: {realm: pivot-basic, path: $STATE/htpasswd}}
YML
cat >"$STATE/token.yml" <<YML
version: 0.1
log: {level: warn}
storage: {filesystem: {rootdirectory: $STATE/token}, delete: {enabled: true}}
http: {addr: 127.0.0.1:5101}
auth:
  token: {realm: "http://127.0.0.1:5102/token", service: pivot-test-registry, issuer: pivot-test-issuer, rootcertbundle: $STATE/token.crt}
YML

start basic 127.0.0.1:5100 /usr/bin/docker-registry serve "$STATE/basic.yml"
start token 127.0.0.1:5101 /usr/bin/docker-registry serve "$STATE/token.yml"
if ! curl -fs -o /dev/null --max-time 5 "http://127.0.0.1:5102/token?service=pivot-test-registry"; then
  log "starting the token server on 127.0.0.1:5102"
  setsid nohup node "$HERE/token-server.js" --port=5102 --key="$STATE/token.key" --cert="$STATE/token.crt" \
    --issuer=pivot-test-issuer --service=pivot-test-registry --users=pivot:pivot-token-pw \
    >>/var/log/pivot-test-registries-token-server.log 2>&1 </dev/null 9>&- &
  for i in $(seq 1 30); do
    curl -fs -o /dev/null --max-time 5 "http://127.0.0.1:5102/token?service=pivot-test-registry" && break
    [ "$i" -lt 30 ] || die "the token server did not answer on 127.0.0.1:5102"
    sleep 0.3
  done
fi

# Fixtures, re-made when their version changes or the registry lost them.
SKOPEO="skopeo --policy $HERE/skopeo-policy.json"
has_manifest() { # URL [CREDS]
  local auth=()
  [ -z "${2:-}" ] || auth=(-u "$2")
  curl -fs -o /dev/null --max-time 10 "${auth[@]}" -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    -H 'Accept: application/vnd.oci.image.index.v1+json' -H 'Accept: application/vnd.oci.image.manifest.v1+json' "$1"
}
if ! has_manifest http://127.0.0.1:5100/v2/pivot-test/busybox/manifests/latest pivot:pivot-basic-pw; then
  log "copying busybox to the Basic-auth registry"
  $SKOPEO copy -q --src-tls-verify=false --dest-tls-verify=false --dest-creds pivot:pivot-basic-pw \
    docker://localhost:5000/pivot-test/busybox:latest docker://127.0.0.1:5100/pivot-test/busybox:latest >&2
fi
token_has_busybox() {
  local t
  t=$(curl -fs --max-time 5 'http://127.0.0.1:5102/token?service=pivot-test-registry&scope=repository:pivot-test/busybox:pull' |
    node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>process.stdout.write(JSON.parse(s).token))') || return 1
  curl -fs -o /dev/null --max-time 10 -H "Authorization: Bearer $t" -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    http://127.0.0.1:5101/v2/pivot-test/busybox/manifests/latest
}
if ! token_has_busybox; then
  log "copying busybox to the token-auth registry"
  $SKOPEO copy -q --src-tls-verify=false --dest-tls-verify=false --dest-creds pivot:pivot-token-pw \
    docker://localhost:5000/pivot-test/busybox:latest docker://127.0.0.1:5101/pivot-test/busybox:latest >&2
fi
if [ "$(cat "$STATE/fixtures.version" 2>/dev/null)" != "$FIXTURES_VERSION" ] ||
   ! has_manifest http://127.0.0.1:5000/v2/pivot-test/registry-zstd/manifests/latest ||
   ! has_manifest http://127.0.0.1:5000/v2/pivot-test/registry-multiarch/manifests/latest ||
   ! has_manifest http://127.0.0.1:5000/v2/pivot-test/registry-three/manifests/latest ||
   ! has_manifest http://127.0.0.1:5000/v2/pivot-test/registry-plain/manifests/latest; then
  log "making the zstd and multi-arch fixtures on :5000"
  $SKOPEO copy -q --src-tls-verify=false --dest-tls-verify=false --format oci --dest-compress-format zstd \
    docker://localhost:5000/pivot-test/busybox:latest docker://127.0.0.1:5000/pivot-test/registry-zstd:latest >&2
  node "$HERE/registry-fixtures.js" http://127.0.0.1:5000 pivot-test/registry-multiarch latest >&2
  echo "$FIXTURES_VERSION" >"$STATE/fixtures.version"
fi
