#!/bin/sh
# Compiles the container monitor (monitor.c) to dist/monitor/pivot-monitor with the system's C
# compiler (Debian: apt-get install gcc libc6-dev). Part of `npm run build` and test/run-all.sh.
set -eu
cd "$(dirname "$0")/../../.."
mkdir -p dist/monitor
${CC:-cc} -O2 -Wall -Wextra -o dist/monitor/pivot-monitor.tmp src/runtime/monitor/monitor.c
mv dist/monitor/pivot-monitor.tmp dist/monitor/pivot-monitor
