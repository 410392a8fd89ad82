#!/usr/bin/env bash
# A second Docker daemon WITH a bridge, for test/bench/network.bench.ts only (the suite's daemon
# runs --bridge=none). Its own socket, data root, exec root and pidfile; its bridge
# pivottestdock0 (10.250.0.1/24, checked free against `ip route` first) is made here. It runs
# with --iptables=false: it touches no host ruleset, and its -p goes through docker-proxy (the
# userland proxy docker uses for connections from the host) as the benchmark compares.
#   network.sh start   start it (idempotent); prints the socket's DOCKER_HOST
#   network.sh stop    stop it and remove its bridge
set -euo pipefail
ROOT=/var/lib/pivot-test-network
RUN=/run/pivot-test-network
SOCK=$RUN/docker.sock
BRIDGE=pivottestdock0
SUBNET=10.250.0.0/24
log() { echo "network.sh: $*" >&2; }

start() {
  if DOCKER_HOST=unix://$SOCK /usr/bin/docker info >/dev/null 2>&1; then echo "unix://$SOCK"; return 0; fi
  mkdir -p "$ROOT" "$RUN"
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    if ip -4 route show table all | awk '{print $1}' | grep -q '^10\.250\.'; then
      log "10.250.0.0/16 is already routed on this host: not making $BRIDGE"; exit 1
    fi
    ip link add "$BRIDGE" type bridge
    ip addr add 10.250.0.1/24 dev "$BRIDGE"
    ip link set "$BRIDGE" up
  fi
  setsid nohup /usr/sbin/dockerd --host "unix://$SOCK" --data-root "$ROOT/docker" --exec-root "$RUN/exec" \
    --pidfile "$RUN/docker.pid" --bridge "$BRIDGE" --iptables=false --ip6tables=false \
    >>/var/log/pivot-test-network-dockerd.log 2>&1 </dev/null 9>&- &
  for _ in $(seq 1 60); do
    DOCKER_HOST=unix://$SOCK /usr/bin/docker info >/dev/null 2>&1 && { echo "unix://$SOCK"; return 0; }
    sleep 1
  done
  log "the second dockerd did not answer (log: /var/log/pivot-test-network-dockerd.log)"; exit 1
}

stop() {
  if [ -f "$RUN/docker.pid" ]; then
    local pid; pid=$(cat "$RUN/docker.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
  fi
  ip link del "$BRIDGE" 2>/dev/null || true
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  *) log "usage: network.sh start|stop"; exit 2 ;;
esac
