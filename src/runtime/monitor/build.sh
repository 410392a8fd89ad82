#!/bin/sh
# Compiles the container monitor (monitor.c) to dist/monitor/pivot-monitor, the container's init
# (container-init.c, init-command.c, init-failure.c) to dist/monitor/pivot-init, the exec helper (exec.c) to
# dist/monitor/pivot-exec and the --init process (init.c) to dist/monitor/docker-init with the
# system's C compiler (Debian: apt-get install gcc libc6-dev). Part of `npm run build` and
# test/run-all.sh. First, after tsc: the one-file bundles of `pivot run`'s CLI run path and of
# `pivot exec` (src/common/module-bundle.ts), which need no compiler.
set -eu
cd "$(dirname "$0")/../../.."
L=dist/src
# With their V8 code caches, made here, never at run time (dist may be read-only or shared); one
# process each, as making a cache loads the bundle's modules into the process that makes it.
# `pivot run` loads its early bundle (what it needs to spawn the init) first, the full one after the spawn.
node $L/common/module-bundle.js --code-cache early:$L/cli/run.js,$L/runtime/start-init.js >/dev/null
node $L/common/module-bundle.js --code-cache $L/cli/run.js >/dev/null
# `pivot exec`'s bundle leaves out its rare lazy paths (-u, a container from before config.json kept
# the filter and cgroups, the store's layer walks): each costs every exec its parse when bundled.
node $L/common/module-bundle.js --code-cache \
  $L/cli/exec.js,$L/runtime/user.js,$L/runtime/security/security-options.js,$L/runtime/cgroups/index.js,$L/store/layer-tree.js,$L/store/file-lock.js >/dev/null
# `pivot build`'s (bin/pivot): the lean dispatcher with build's graph, without the other lean commands and the rare paths.
node $L/common/module-bundle.js --code-cache $L/cli/dispatch.js,$L/cli/root-help.js,$L/cli/images.js,$L/cli/ps.js,$L/cli/pull.js,$L/cli/push.js,$L/store/layer-tree.js,$L/sys/libseccomp.js,$L/store/container-record.js >/dev/null
mkdir -p dist/monitor
${CC:-cc} -O2 -Wall -Wextra -o dist/monitor/pivot-monitor.tmp src/runtime/monitor/monitor.c
mv dist/monitor/pivot-monitor.tmp dist/monitor/pivot-monitor
# The container's init: dynamic like pivot-exec (it runs on the host's libc until its exec).
${CC:-cc} -O2 -Wall -Wextra -o dist/monitor/pivot-init.tmp src/runtime/monitor/container-init.c src/runtime/monitor/init-command.c src/runtime/monitor/init-failure.c
mv dist/monitor/pivot-init.tmp dist/monitor/pivot-init
${CC:-cc} -O2 -Wall -Wextra -o dist/monitor/pivot-exec.tmp src/runtime/monitor/exec.c
mv dist/monitor/pivot-exec.tmp dist/monitor/pivot-exec
# Static: `run --init` binds it into images that may have no libc at all (busybox). Named as
# docker's tini is: the init execs it through a descriptor, so the process name (comm, what ps
# shows) is the file's own name, and it should say docker-init as in a docker container.
${CC:-cc} -O2 -Wall -Wextra -static -o dist/monitor/docker-init.tmp src/runtime/monitor/init.c
mv dist/monitor/docker-init.tmp dist/monitor/docker-init
# The user-namespace starter (src/userns/userns.c): run --userns and rootless runs.
${CC:-cc} -O2 -Wall -Wextra -o dist/monitor/pivot-userns.tmp src/userns/userns.c
mv dist/monitor/pivot-userns.tmp dist/monitor/pivot-userns
