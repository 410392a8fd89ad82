#!/bin/sh
# Compiles the container monitor (monitor.c) to dist/monitor/pivot-monitor and the exec helper
# (exec.c) to dist/monitor/pivot-exec with the system's C
# compiler (Debian: apt-get install gcc libc6-dev). Part of `npm run build` and test/run-all.sh.
set -eu
cd "$(dirname "$0")/../../.."
mkdir -p dist/monitor
${CC:-cc} -O2 -Wall -Wextra -o dist/monitor/pivot-monitor.tmp src/runtime/monitor/monitor.c
mv dist/monitor/pivot-monitor.tmp dist/monitor/pivot-monitor
${CC:-cc} -O2 -Wall -Wextra -o dist/monitor/pivot-exec.tmp src/runtime/monitor/exec.c
mv dist/monitor/pivot-exec.tmp dist/monitor/pivot-exec
