#!/usr/bin/env bash
# `npm run test:unit`: the unit tier alone. No root, no Docker, no test/env/setup.sh: it builds
# with tsc and runs dist/test/unit (tests there use fakes and temp dirs only). Extra arguments go
# to `node --test`, as with test/run-all.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# Output of moved or deleted sources would otherwise stay in dist/ and run as tests.
rm -rf dist/src dist/commands dist/test
npx tsc -p .
node dist/test/deps/check-deps.js
unset NODE_EXTRA_CA_CERTS
started=$(date +%s)
status=0
node --test "$@" dist/test/unit </dev/null || status=$?
echo "run-unit: tier unit took $(($(date +%s) - started)) s" >&2
exit "$status"
