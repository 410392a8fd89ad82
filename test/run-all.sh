#!/usr/bin/env bash
# The test command (`npm test`): install deps, build, check the dependency rule and lint, prepare
# the real environment and check it, then run the tiers (unit, integration, security, soak, the
# cgroup v2 VM), each timed. Extra arguments go to `node --test`: options (e.g.
# --test-name-pattern=pull) apply to every tier; paths (e.g. dist/test/unit/store/file-lock.test.js)
# replace the tiers. Ends with the time per tier and a plain "N passed, N failed" line.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "run-all: npm ci" >&2
  npm ci --no-audit --no-fund >&2
fi
echo "run-all: tsc" >&2
# Output of moved or deleted sources would otherwise stay in dist/ and run as tests.
rm -rf dist/src dist/commands dist/test
npx tsc -p .
echo "run-all: dependency rule (test/deps/check-deps.ts)" >&2
node dist/test/deps/check-deps.js
echo "run-all: eslint" >&2
npx eslint src commands test
echo "run-all: prettier" >&2
npx prettier --check --log-level warn src commands test
bash test/env/setup.sh >&2
# The environment's own checks (daemon, registry, fixture images): setup, not tests.
node dist/test/env/check-env.js
# After setup.sh, which installs the C compiler on a fresh machine.
sh src/runtime/monitor/build.sh

# Adds ~40 ms to every node start and is not what users run with.
unset NODE_EXTRA_CA_CERTS

options=()
paths=()
for arg in "$@"; do
  case $arg in -*) options+=("$arg") ;; *) paths+=("$arg") ;; esac
done
# Each tier is one `node --test` run, timed on its own: "name|node --test options|path".
tiers=()
if [ ${#paths[@]} -eq 0 ]; then
  # soak: several minutes of mixed concurrent operations on one cache (PIVOT_SOAK_SECONDS, default 180).
  # oci: pivot-runtime against runc, runtime-tools, a private containerd and dockerd (issue 15).
  # rootless: pivot as an unprivileged user (test/env/rootless.sh makes it; issue 14).
  for tier in unit integration security oci rootless soak; do
    [ -d "dist/test/$tier" ] && tiers+=("$tier|--test-concurrency=1 --test-timeout=600000|dist/test/$tier")
  done
  # The cgroup v2 tier: pivot's cgroup tests in a VM with a pure cgroup v2 kernel (test/vm).
  tiers+=("cgroup-v2 (VM)||dist/test/vm/cgroup-v2.test.js")
else
  tiers+=("selected|--test-concurrency=1 --test-timeout=600000|${paths[*]}")
fi

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# TAP reporter ("# pass N") by default through the pipe; spec reporter ("ℹ pass N") if asked for.
count() { grep -E "^(# |ℹ )$1 [0-9]+\$" "$2" | tail -n 1 | awk '{ print $NF }'; }
status=0
passed=0
failed=0
times=()
n=0
for tier in "${tiers[@]}"; do
  IFS='|' read -r name tier_options tier_paths <<<"$tier"
  n=$((n + 1))
  started=$(date +%s)
  set +e
  # shellcheck disable=SC2086 # tier_options and tier_paths are word lists
  node --test $tier_options ${options[@]+"${options[@]}"} $tier_paths 2>&1 </dev/null | tee "$dir/$n"
  tier_status=${PIPESTATUS[0]}
  set -e
  [ "$tier_status" -eq 0 ] || status=$tier_status
  took=$(($(date +%s) - started))
  echo "run-all: tier $name took $took s" >&2
  times+=("$name ${took}s")
  tier_passed=$(count pass "$dir/$n")
  tier_failed=$(count fail "$dir/$n")
  passed=$((passed + ${tier_passed:-0}))
  failed=$((failed + ${tier_failed:-0}))
done
summary=$(printf '%s, ' "${times[@]}")
echo "run-all: time per tier: ${summary%, }" >&2
echo "$passed passed, $failed failed"
exit "$status"
