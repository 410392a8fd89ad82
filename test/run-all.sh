#!/usr/bin/env bash
# The test command (`npm test`): install deps, build, prepare the real environment, run the suite.
# Extra arguments go to `node --test`: options (e.g. --test-name-pattern=pull) apply to the whole
# suite; paths (e.g. dist/test/unit/store.test.js) replace the default test folders.
# Ends with the runner's summary and then a plain "N passed, N failed" line.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "run-all: npm ci" >&2
  npm ci --no-audit --no-fund >&2
fi
echo "run-all: tsc" >&2
npx tsc -p .
bash test/env/setup.sh >&2
# After setup.sh, which installs the C compiler on a fresh machine.
sh src/runtime/monitor/build.sh

# Adds ~40 ms to every node start and is not what users run with.
unset NODE_EXTRA_CA_CERTS

options=()
paths=()
for arg in "$@"; do
  case $arg in -*) options+=("$arg") ;; *) paths+=("$arg") ;; esac
done
vm_tier=
if [ ${#paths[@]} -eq 0 ]; then
  # soak: several minutes of mixed concurrent operations on one cache (PIVOT_SOAK_SECONDS, default 180).
  # oci: pivot-runtime against runc, runtime-tools, a private containerd and dockerd (issue 15).
  for dir in dist/test/unit dist/test/integration dist/test/security dist/test/oci dist/test/soak; do
    [ -d "$dir" ] && paths+=("$dir")
  done
  # The cgroup v2 tier: pivot's cgroup tests in a VM with a pure cgroup v2 kernel (test/vm).
  vm_tier=dist/test/vm/cgroup-v2.test.js
fi
[ ${#paths[@]} -gt 0 ] || { echo "run-all: no test folders under dist/test" >&2; exit 1; }

out=$(mktemp)
vm_out=$(mktemp)
trap 'rm -f "$out" "$vm_out"' EXIT
set +e
node --test --test-concurrency=1 --test-timeout=600000 ${options[@]+"${options[@]}"} "${paths[@]}" 2>&1 </dev/null |
  tee "$out"
status=${PIPESTATUS[0]}
if [ -n "$vm_tier" ]; then
  vm_started=$(date +%s)
  node --test ${options[@]+"${options[@]}"} "$vm_tier" 2>&1 </dev/null | tee "$vm_out"
  vm_status=${PIPESTATUS[0]}
  echo "run-all: tier cgroup-v2 (VM) took $(($(date +%s) - vm_started)) s" >&2
  [ "$vm_status" -eq 0 ] || status=$vm_status
fi
set -e

# TAP reporter ("# pass N") by default through the pipe; spec reporter ("ℹ pass N") if asked for.
count() { grep -E "^(# |ℹ )$1 [0-9]+\$" "$2" | tail -n 1 | awk '{ print $NF }'; }
passed=$(count pass "$out")
failed=$(count fail "$out")
if [ -n "$vm_tier" ]; then
  vm_passed=$(count pass "$vm_out")
  vm_failed=$(count fail "$vm_out")
  passed=$((${passed:-0} + ${vm_passed:-0}))
  failed=$((${failed:-0} + ${vm_failed:-0}))
fi
echo "${passed:-0} passed, ${failed:-0} failed"
exit "$status"
