// `pivot run`'s mount and process flags against `docker run` on the same images, one row per
// behaviour: the same arguments through both, the same stdout and exit status (and, for pivot's
// refusals, one line on stderr), then the host checked (no mount, cgroup, container or temp file
// left). Rows are data so that the shared differential harness can take them as they are.
//
// In a row's arguments, {tmp} is a fresh host directory per engine (docker's and pivot's runs never
// share one), {vol} a volume name unique to the row (docker's volumes are removed at the end;
// pivot's live in its temp cache). docker's daemon here has no bridge: --network none / --net none.
import {after, before, test} from 'node:test'
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {BUSYBOX_IMAGE, DEBIAN_IMAGE, DOCKER_BIN, PIVOT_BIN, pivot, tempDir} from '../../helpers/fixtures'
import {leftovers, seedImage} from '../../helpers/seed-image'

const B = BUSYBOX_IMAGE
const D = DEBIAN_IMAGE
const PREFIX = `runflags-diff-${process.pid}`
let cache: string
const dockerVolumes = new Set<string>()
const dockerContainers = new Set<string>()
const dockerImages = new Set<string>()

interface Outcome {
  status: number | null
  stdout: string
  stderr: string
}

/** One behaviour. `steps`: `run` argument lists run in turn (their stdout concatenated); `host`: what the host shows afterwards. */
interface Row {
  name: string
  steps: string[][]
  /** false: compare the exit status only (the message is the engine's own). */
  stdout?: boolean
  /** Whatever the host shows after the steps, given the row's {tmp}: compared between the engines. */
  host?: (tmp: string) => string
  /** What of stdout to compare (both engines' stdout go through it). */
  out?: (stdout: string) => string
  /** Not `run` but another command of the CLI (`volume rm`...): steps are whole argument lists. */
  cli?: boolean
}

/** A host tree as `path type` lines (what cp made), sorted. */
function tree(dir: string): string {
  const out: string[] = []
  const walk = (d: string, rel: string) => {
    for (const e of fs.readdirSync(d).sort()) {
      const st = fs.lstatSync(path.join(d, e))
      out.push(`${rel}${e} ${st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'link' : fs.readFileSync(path.join(d, e), 'utf8').trim()}`)
      if (st.isDirectory()) walk(path.join(d, e), `${rel}${e}/`)
    }
  }
  walk(dir, '')
  return out.join('\n')
}
const sortLines = (s: string) => s.split('\n').filter(Boolean).sort().join('\n')
const mountOf = (p: string) => `awk '$2=="${p}"{print $1, $3, $4}' /proc/mounts`
const rwOf = (p: string) => `awk '$2=="${p}"{split($4,o,","); print o[1]}' /proc/mounts`
const sh = (script: string) => ['sh', '-c', script]
const bad = (name: string, ...args: string[]): Row => ({name, steps: [[...args, B, 'true']], stdout: false})

const ROWS: Row[] = [
  // --- -v HOST:CONTAINER
  {
    name: '-v host dir: writes land on the host',
    steps: [['-v', '{tmp}/d:/s', B, ...sh('echo hi > /s/f; cat /s/f')]],
    host: t => fs.readFileSync(`${t}/d/f`, 'utf8'),
  },
  {name: '-v host dir is read-write', steps: [['-v', '{tmp}:/s', B, ...sh(rwOf('/s'))]]},
  {name: '-v :ro is read-only', steps: [['-v', '{tmp}:/s:ro', B, ...sh(`${rwOf('/s')}; touch /s/x 2>/dev/null; echo $?`)]]},
  {name: '-v :rw explicit', steps: [['-v', '{tmp}:/s:rw', B, ...sh(`${rwOf('/s')}; touch /s/x; echo $?`)]]},
  {
    name: '-v missing host path is made as a directory',
    steps: [['-v', '{tmp}/a/b:/m', B, ...sh('ls -A /m | wc -l')]],
    host: t => String(fs.statSync(`${t}/a/b`).isDirectory()),
  },
  {name: '-v a host file onto a file', steps: [['-v', '{tmp}/file:/etc/myfile:ro', B, 'cat', '/etc/myfile']]},
  {name: '-v under a directory the image lacks', steps: [['-v', '{tmp}:/new/deep/dir', B, ...sh('ls -d /new/deep/dir')]]},
  {
    name: '-v two nested mounts, parent first whatever the order',
    steps: [['-v', '{tmp}/in:/data/sub', '-v', '{tmp}/out:/data', B, ...sh('echo x > /data/sub/f; ls /data')]],
    host: t => fs.readdirSync(`${t}/in`).join(','),
  },
  {name: '-v a host dir keeps its content', steps: [['-v', '{tmp}:/s', B, 'cat', '/s/file']]},
  // --- named and anonymous volumes
  {
    name: '-v NAME: kept across runs',
    steps: [
      ['-v', '{vol}:/data', B, ...sh('echo kept > /data/f')],
      ['-v', '{vol}:/data', B, 'cat', '/data/f'],
    ],
  },
  {name: '-v NAME: a new volume is filled from the image', steps: [['-v', '{vol}:/etc', B, ...sh('ls /etc | grep -c passwd')]]},
  {name: '-v NAME: the fill keeps modes and owners', steps: [['-v', '{vol}:/usr/share/doc', D, ...sh('stat -c "%a %u %g" /usr/share/doc /usr/share/doc/apt')]]},
  {
    name: '-v NAME: a filled volume is not filled again',
    steps: [
      ['-v', '{vol}:/etc', B, ...sh('rm /etc/passwd')],
      ['-v', '{vol}:/etc', B, ...sh('ls /etc | grep -c passwd; true')],
    ],
  },
  {name: '-v NAME:/path:nocopy is not filled', steps: [['-v', '{vol}:/usr/share/doc:nocopy', D, ...sh('ls -A /usr/share/doc | wc -l')]]},
  {name: '-v NAME:ro is read-only', steps: [['-v', '{vol}:/data:ro', B, ...sh('touch /data/x 2>/dev/null; echo $?')]]},
  {name: '-v NAME: a volume seen by a second mount point', steps: [['-v', '{vol}:/a', '-v', '{vol}:/b', B, ...sh('echo 1 > /a/f; cat /b/f')]]},
  {name: '-v NAME: a new volume at a path the image lacks is empty', steps: [['-v', '{vol}:/nothing/here', B, ...sh('ls -A /nothing/here | wc -l')]]},
  {name: '-v /path: an anonymous volume, writable', steps: [['-v', '/anon', B, ...sh('echo 1 > /anon/f && cat /anon/f')]]},
  {name: '-v /path: an anonymous volume over image content is filled', steps: [['-v', '/etc', B, ...sh('ls /etc | grep -c group')]]},
  // --- --mount
  {name: '--mount type=bind', steps: [['--mount', 'type=bind,source={tmp},target=/m', B, ...sh(`${rwOf('/m')}; cat /m/file`)]]},
  {name: '--mount src= dst= spellings', steps: [['--mount', 'type=bind,src={tmp},dst=/m', B, 'cat', '/m/file']]},
  {name: '--mount readonly', steps: [['--mount', 'type=bind,src={tmp},dst=/m,readonly', B, ...sh(rwOf('/m'))]]},
  {name: '--mount ro=true', steps: [['--mount', 'type=bind,src={tmp},dst=/m,ro=true', B, ...sh(rwOf('/m'))]]},
  {name: '--mount readonly=false', steps: [['--mount', 'type=bind,src={tmp},dst=/m,readonly=false', B, ...sh(rwOf('/m'))]]},
  {name: '--mount bind-propagation=rprivate', steps: [['--mount', 'type=bind,src={tmp},dst=/m,bind-propagation=rprivate', B, 'cat', '/m/file']]},
  {
    name: '--mount type=volume,source=NAME',
    steps: [
      ['--mount', 'type=volume,source={vol},target=/v', B, ...sh('echo a > /v/f')],
      ['--mount', 'source={vol},target=/w', B, 'cat', '/w/f'],
    ],
  },
  {name: '--mount type=volume without source: anonymous', steps: [['--mount', 'type=volume,target=/v', B, ...sh('ls -A /v | wc -l')]]},
  {name: '--mount volume-nocopy', steps: [['--mount', 'type=volume,src={vol},dst=/usr/share/doc,volume-nocopy', D, ...sh('ls -A /usr/share/doc | wc -l')]]},
  {name: '--mount type=volume,readonly', steps: [['--mount', 'type=volume,src={vol},dst=/v,readonly', B, ...sh('touch /v/x 2>/dev/null; echo $?')]]},
  {name: '--mount type=tmpfs', steps: [['--mount', 'type=tmpfs,target=/t', B, ...sh(mountOf('/t'))]]},
  {
    name: '--mount tmpfs-size and tmpfs-mode',
    steps: [['--mount', 'type=tmpfs,target=/t,tmpfs-size=1048576,tmpfs-mode=0700', B, ...sh(`${mountOf('/t')}; stat -c %a /t`)]],
  },
  {name: '--mount tmpfs-size with a unit', steps: [['--mount', 'type=tmpfs,dst=/t,tmpfs-size=2m', B, ...sh(mountOf('/t'))]]},
  // --- --tmpfs
  {name: '--tmpfs PATH: nosuid,nodev,noexec', steps: [['--tmpfs', '/t', B, ...sh(mountOf('/t'))]]},
  {name: '--tmpfs size= and mode=', steps: [['--tmpfs', '/t:size=1m,mode=700', B, ...sh(`${mountOf('/t')}; stat -c %a /t`)]]},
  {name: '--tmpfs exec', steps: [['--tmpfs', '/t:exec', B, ...sh(mountOf('/t'))]]},
  {name: '--tmpfs ro', steps: [['--tmpfs', '/t:ro', B, ...sh(`${mountOf('/t')}; touch /t/x 2>/dev/null; echo $?`)]]},
  {name: '--tmpfs uid= gid=', steps: [['--tmpfs', '/t:uid=1000,gid=1000', B, 'stat', '-c', '%u %g', '/t']]},
  {name: '--tmpfs is writable and empty', steps: [['--tmpfs', '/tmp', B, ...sh('ls -A /tmp | wc -l; echo x > /tmp/f; cat /tmp/f')]]},
  {name: '--tmpfs at a path the image lacks', steps: [['--tmpfs', '/run/a/b', B, ...sh(mountOf('/run/a/b'))]]},
  {name: '--tmpfs over an image directory hides it', steps: [['--tmpfs', '/etc', B, ...sh('ls -A /etc | grep -c passwd; true')]]},
  {
    name: '--tmpfs under a -v',
    steps: [['-v', '{tmp}:/data', '--tmpfs', '/data/t', B, ...sh(`${mountOf('/data/t')}; echo x > /data/t/f`)]],
    host: t => String(fs.existsSync(`${t}/t/f`)),
  },
  {name: '--tmpfs several', steps: [['--tmpfs', '/a', '--tmpfs', '/b:size=1m', B, ...sh(`${mountOf('/a')}; ${mountOf('/b')}`)]]},
  // --- bad mount specs (docker's status; pivot's message in one line)
  bad('--mount bind without source', '--mount', 'type=bind,target=/m'),
  bad('--mount unknown type', '--mount', 'type=foo,target=/m'),
  bad('--mount tmpfs with a source', '--mount', 'type=tmpfs,source=x,target=/m'),
  bad('--mount relative source', '--mount', 'type=bind,src=relative,dst=/m'),
  bad('--mount relative target', '--mount', 'type=bind,src=/tmp,dst=relative'),
  bad('--mount bind source missing', '--mount', 'type=bind,src=/nonexistent-runflags-src,target=/m'),
  bad('--mount unknown key', '--mount', 'type=bind,src=/tmp,target=/m,bogus=1'),
  bad('--mount without target', '--mount', 'source=/tmp'),
  bad('--mount field without =', '--mount', 'target'),
  bad('--mount empty', '--mount', ''),
  bad('--mount readonly=maybe', '--mount', 'type=bind,src=/tmp,dst=/m,readonly=maybe'),
  bad('--mount tmpfs-* on a bind', '--mount', 'type=bind,src=/tmp,target=/m,tmpfs-size=1'),
  bad('--mount volume-* on a bind', '--mount', 'type=bind,src=/tmp,target=/m,volume-nocopy'),
  bad('--mount volume source that is a path', '--mount', 'type=volume,target=/m,src=/abs'),
  bad('-v relative container path', '-v', '/tmp:relative'),
  bad('-v unknown mode', '-v', '/tmp:/m:bogus'),
  bad('-v too many fields', '-v', 'a:b:c:d'),
  bad('-v onto /', '-v', '/tmp:/'),
  bad('-v bad volume name', '-v', 'bad name!:/m'),
  bad('--tmpfs relative', '--tmpfs', 'relative'),
  bad('--tmpfs unknown option', '--tmpfs', '/t:bogus'),
  bad('--tmpfs bad size', '--tmpfs', '/t:size=abc'),
  bad('duplicate mount point', '-v', '/tmp:/m', '--tmpfs', '/m'),
  // --- /dev/shm
  {name: '/dev/shm default 64m', steps: [[B, ...sh(mountOf('/dev/shm'))]]},
  {name: '--shm-size 1m', steps: [['--shm-size', '1m', B, ...sh(mountOf('/dev/shm'))]]},
  {name: '--shm-size 0 is the default', steps: [['--shm-size', '0', B, ...sh(mountOf('/dev/shm'))]]},
  {name: '--shm-size in bytes rounds to a page', steps: [['--shm-size', '1000', B, ...sh(mountOf('/dev/shm'))]]},
  {name: '--shm-size 128M', steps: [['--shm-size', '128M', B, ...sh(mountOf('/dev/shm'))]]},
  bad('--shm-size abc', '--shm-size', 'abc'),
  bad('--shm-size -1', '--shm-size', '-1'),
  // --- --ulimit
  {name: '--ulimit nofile=SOFT:HARD', steps: [['--ulimit', 'nofile=100:200', B, ...sh('ulimit -n; ulimit -Hn')]]},
  {name: '--ulimit nofile=N sets both', steps: [['--ulimit', 'nofile=100', B, ...sh('ulimit -n; ulimit -Hn')]]},
  {name: '--ulimit core=-1 is unlimited', steps: [['--ulimit', 'core=-1', B, ...sh('ulimit -c; ulimit -Hc')]]},
  {name: '--ulimit nproc', steps: [['--ulimit', 'nproc=10:20', B, ...sh('ulimit -u; ulimit -Hu')]]},
  {name: '--ulimit stack', steps: [['--ulimit', 'stack=1048576', B, ...sh('ulimit -s')]]},
  {
    name: '--ulimit several, the last of a name wins',
    steps: [['--ulimit', 'nofile=50', '--ulimit', 'memlock=65536', '--ulimit', 'nofile=60', B, ...sh('ulimit -n; ulimit -l')]],
  },
  {name: '--ulimit for a non-root user', steps: [['-u', '1000', '--ulimit', 'nofile=64', B, ...sh('ulimit -n')]]},
  bad('--ulimit unknown name', '--ulimit', 'foo=1'),
  bad('--ulimit without a value', '--ulimit', 'nofile'),
  bad('--ulimit not a number', '--ulimit', 'nofile=abc'),
  bad('--ulimit soft above hard', '--ulimit', 'nofile=200:100'),
  // --- --group-add
  {name: '--group-add a gid', steps: [['--group-add', '44', B, 'id', '-G']]},
  {name: '--group-add for a non-root user', steps: [['-u', '1000', '--group-add', '44', B, 'id', '-G']]},
  {name: '--group-add a name of the image', steps: [['--group-add', 'audio', '--group-add', '50', D, 'id', '-G']]},
  {name: "--group-add the user's own group again", steps: [['--group-add', '0', B, 'id', '-G']]},
  {name: '--group-add an unknown name', steps: [['--group-add', 'nosuch', B, 'true']], stdout: false},
  // --- --device (the listing without dates: the nodes' type, mode, major, minor and name)
  ...['/dev/fuse', '/dev/null:/dev/mynull', '/dev/fuse:/dev/f:rw', '/dev/fuse:r', '/dev/loop0', '/dev/net/tun'].map((d): Row => ({
    name: `--device ${d}`,
    steps: [['--device', d, B, ...sh('ls -l /dev | grep -v "^l" | awk \'{print $1, $5, $6, $NF}\' | sort')]],
  })),
  {name: '--device: the node works', steps: [['--device', '/dev/null:/dev/mynull', B, ...sh('echo x > /dev/mynull; wc -c < /dev/mynull')]]},
  {name: '--device several', steps: [['--device', '/dev/fuse', '--device', '/dev/loop0', B, ...sh('ls /dev/fuse /dev/loop0')]]},
  bad('--device missing node', '--device', '/dev/nosuch-runflags'),
  bad('--device not a device', '--device', '/etc/passwd'),
  bad('--device bad mode', '--device', '/dev/fuse:/dev/f:xyz'),
  bad('--device relative target', '--device', '/dev/fuse:rel'),
  // --- --memory-swap (the limit itself is checked on the host's cgroup below)
  {name: '--memory-swap with --memory', steps: [['-m', '64m', '--memory-swap', '128m', B, 'echo', 'ok']]},
  {name: '--memory-swap -1', steps: [['-m', '64m', '--memory-swap', '-1', B, 'echo', 'ok']]},
  bad('--memory-swap without --memory', '--memory-swap', '1g'),
  bad('--memory-swap below --memory', '-m', '100m', '--memory-swap', '50m'),
  // --- --init
  {name: '--init: PID 1 is the init, with the command after --', steps: [['--init', B, ...sh("tr '\\0' ' ' < /proc/1/cmdline; echo; cat /proc/1/comm")]]},
  {name: '--init: the exit status passes through', steps: [['--init', B, ...sh('exit 7')]]},
  {name: '--init: death by signal is 128+N', steps: [['--init', B, ...sh('kill -TERM $$')]]},
  {name: '--init: orphans are reaped', steps: [['--init', B, ...sh('(sleep 0 &); sleep 1; ps -o stat | grep -c "^Z"; true')]]},
  {name: '--init: the command is not PID 1', steps: [['--init', B, ...sh('echo $$ | grep -qx 1; echo $?')]]},
  {name: '--init with a command that is not found', steps: [['--init', B, 'nosuchcommand']], stdout: false},
  // --- labels, stop settings, cidfile
  {name: '--label runs', steps: [['--label', 'a=b', '-l', 'c', B, 'echo', 'ok']]},
  bad('--label empty', '--label', ''),
  {name: '--stop-signal runs', steps: [['--stop-signal', 'SIGUSR1', B, 'echo', 'ok']]},
  bad('--stop-signal unknown', '--stop-signal', 'FOO'),
  {name: '--stop-timeout runs', steps: [['--stop-timeout', '5', B, 'echo', 'ok']]},
  bad('--stop-timeout not a number', '--stop-timeout', 'abc'),
  {
    name: '--cidfile gets the id',
    steps: [['--cidfile', '{tmp}/cid', B, 'true']],
    host: t => String(/^[0-9a-f]{64}$/.test(fs.readFileSync(`${t}/cid`, 'utf8'))),
  },
  {name: '--cidfile that exists', steps: [['--cidfile', '{tmp}/file', B, 'true']], stdout: false},
  {name: '--cidfile in a missing directory', steps: [['--cidfile', '{tmp}/no/cid', B, 'true']], stdout: false},
  // --- diff (docker prints in no stable order: both sorted)
  {
    name: 'diff: added, changed and deleted files',
    cli: true,
    steps: [
      ['run', '--name', '{vol}-c', B, ...sh('echo x > /etc/new; echo y >> /etc/passwd; rm /etc/group /bin/ls')],
      ['diff', '{vol}-c'],
    ],
    out: sortLines,
  },
  {
    name: 'diff: a new directory tree',
    cli: true,
    steps: [
      ['run', '--name', '{vol}-c', B, ...sh('mkdir -p /a/b/c; touch /a/b/c/f')],
      ['diff', '{vol}-c'],
    ],
    out: sortLines,
  },
  {
    name: 'diff: a directory removed and made again',
    cli: true,
    steps: [
      ['run', '--name', '{vol}-c', B, ...sh('rm -rf /home; mkdir /home; touch /home/x')],
      ['diff', '{vol}-c'],
    ],
    out: sortLines,
  },
  {
    name: 'diff: nothing changed',
    cli: true,
    steps: [
      ['run', '--name', '{vol}-c', B, 'true'],
      ['diff', '{vol}-c'],
    ],
  },
  {
    name: 'diff: a read-only container',
    cli: true,
    steps: [
      ['run', '--read-only', '--name', '{vol}-c', B, 'true'],
      ['diff', '{vol}-c'],
    ],
  },
  {
    name: 'diff: what is written to volumes and tmpfs is not in the diff',
    cli: true,
    steps: [
      ['run', '--name', '{vol}-c', '-v', '{vol}:/data', '--tmpfs', '/t', B, ...sh('touch /data/x /t/y')],
      ['diff', '{vol}-c'],
    ],
    out: s => String(/\/(data\/x|t\/y)$/m.test(s)),
  },
  {name: 'diff: no such container', cli: true, steps: [['diff', '{vol}-nosuch']], stdout: false},
  // --- cp (the container is stopped: docker's and pivot's both copy from and to its filesystem)
  {
    name: 'cp out: a file into a host directory',
    cli: true,
    steps: [
      ['run', '--name', '{vol}-c', B, ...sh('echo x > /f')],
      ['cp', '{vol}-c:/f', '{tmp}/'],
    ],
    host: t => fs.readFileSync(`${t}/f`, 'utf8'),
  },
  {
    name: 'cp out: a file to a new name',
    cli: true,
    steps: [
      ['run', '--name', '{vol}-c', B, ...sh('echo x > /f')],
      ['cp', '{vol}-c:/f', '{tmp}/g'],
    ],
    host: t => fs.readFileSync(`${t}/g`, 'utf8'),
  },
  {
    name: 'cp out: a directory to a new path',
    cli: true,
    steps: [
      ['run', '--name', '{vol}-c', B, ...sh('mkdir -p /d/e; echo x > /d/e/f')],
      ['cp', '{vol}-c:/d', '{tmp}/new'],
    ],
    host: t => tree(`${t}/new`),
  },
  {
    name: 'cp out: a directory into an existing one nests it',
    cli: true,
    steps: [
      ['run', '--name', '{vol}-c', B, ...sh('mkdir -p /d/e; echo x > /d/e/f')],
      ['cp', '{vol}-c:/d', '{tmp}'],
    ],
    host: t => tree(`${t}/d`),
  },
  {
    name: 'cp out: dir/. copies the content',
    cli: true,
    steps: [
      ['run', '--name', '{vol}-c', B, ...sh('mkdir -p /d/e; echo x > /d/e/f')],
      ['cp', '{vol}-c:/d/.', '{tmp}'],
    ],
    host: t => tree(t),
  },
  {
    name: 'cp out: a symlink is copied as a link',
    cli: true,
    steps: [
      ['run', '--name', '{vol}-c', B, ...sh('ln -s /etc/passwd /l')],
      ['cp', '{vol}-c:/l', '{tmp}/l'],
    ],
    host: t => fs.readlinkSync(`${t}/l`),
  },
  {
    name: 'cp out: through a symlinked directory of the container',
    cli: true,
    steps: [
      ['run', '--name', '{vol}-c', B, ...sh('mkdir /real; echo in > /real/f; ln -s /real /lnk')],
      ['cp', '{vol}-c:/lnk/f', '{tmp}/f2'],
    ],
    host: t => fs.readFileSync(`${t}/f2`, 'utf8'),
  },
  {
    name: 'cp out: an absolute link resolves inside the container',
    cli: true,
    steps: [
      ['run', '--name', '{vol}-c', B, ...sh('ln -s / /up')],
      ['cp', '{vol}-c:/up/etc/passwd', '{tmp}/pw'],
    ],
    host: t => fs.readFileSync(`${t}/pw`, 'utf8'),
  },
  {
    name: 'cp out: a tar stream',
    cli: true,
    steps: [
      ['run', '--name', '{vol}-c', B, ...sh('mkdir /d; echo x > /d/f')],
      ['cp', '{vol}-c:/d', '-'],
    ],
    stdout: false,
  },
  {
    name: 'cp out: a path the container lacks',
    cli: true,
    steps: [
      ['run', '--name', '{vol}-c', B, 'true'],
      ['cp', '{vol}-c:/nosuch', '{tmp}/x'],
    ],
    stdout: false,
  },
  {
    name: 'cp out: a directory onto a file',
    cli: true,
    steps: [
      ['run', '--name', '{vol}-c', B, 'true'],
      ['cp', '{vol}-c:/etc', '{tmp}/file'],
    ],
    stdout: false,
  },
  {
    name: 'cp in: a file into a directory, back out',
    cli: true,
    steps: [
      ['run', '--name', '{vol}-c', B, 'true'],
      ['cp', '{tmp}/file', '{vol}-c:/tmp/'],
      ['cp', '{vol}-c:/tmp/file', '{tmp}/back'],
    ],
    host: t => fs.readFileSync(`${t}/back`, 'utf8'),
  },
  {
    name: 'cp in: a directory to a new path',
    cli: true,
    steps: [
      ['run', '--name', '{vol}-c', B, 'true'],
      ['cp', '{tmp}', '{vol}-c:/newdir'],
      ['cp', '{vol}-c:/newdir', '{tmp}/back'],
    ],
    host: t => tree(`${t}/back`),
  },
  {
    name: 'cp in: then diff shows it',
    cli: true,
    steps: [
      ['run', '--name', '{vol}-c', B, 'true'],
      ['cp', '{tmp}/file', '{vol}-c:/etc/added'],
      ['diff', '{vol}-c'],
    ],
    out: sortLines,
  },
  {name: 'cp in: to a container that does not exist', cli: true, steps: [['cp', '{tmp}/file', '{vol}-nosuch:/tmp/']], stdout: false},
  {name: 'cp: two host paths', cli: true, steps: [['cp', '{tmp}/file', '{tmp}/other']], stdout: false},
  {
    name: 'cp in: a read-only container',
    cli: true,
    steps: [
      ['run', '--read-only', '--name', '{vol}-c', B, 'true'],
      ['cp', '{tmp}/file', '{vol}-c:/tmp/'],
    ],
    stdout: false,
  },
  // --- commit (the images are named after the row, and removed at the end)
  {
    name: 'commit: prints the new image id',
    cli: true,
    steps: [
      ['run', '--name', '{vol}-c', B, ...sh('echo hi > /hello')],
      ['commit', '{vol}-c', 'localhost/{vol}-img'],
    ],
    out: s => String(/^sha256:[0-9a-f]{64}\n$/.test(s)),
  },
  {
    name: 'commit: the image runs with the change',
    cli: true,
    steps: [
      ['run', '--name', '{vol}-c', B, ...sh('echo hi > /hello; rm /etc/group')],
      ['commit', '{vol}-c', 'localhost/{vol}-img'],
      ['run', '--rm', 'localhost/{vol}-img', ...sh('cat /hello; ls /etc/group 2>/dev/null; echo $?')],
    ],
    out: s => s.replace(/^sha256:.*\n/, ''),
  },
  {
    name: 'commit -c CMD',
    cli: true,
    steps: [
      ['run', '--name', '{vol}-c', B, ...sh('echo hi > /hello')],
      ['commit', '-c', 'CMD ["cat", "/hello"]', '{vol}-c', 'localhost/{vol}-img'],
      ['run', '--rm', 'localhost/{vol}-img'],
    ],
    out: s => s.replace(/^sha256:.*\n/, ''),
  },
  {
    name: 'commit -c ENV and WORKDIR',
    cli: true,
    steps: [
      ['run', '--name', '{vol}-c', B, 'true'],
      ['commit', '-c', 'ENV A=1', '-c', 'WORKDIR /tmp', '{vol}-c', 'localhost/{vol}-img'],
      ['run', '--rm', 'localhost/{vol}-img', ...sh('echo $A; pwd')],
    ],
    out: s => s.replace(/^sha256:.*\n/, ''),
  },
  {name: 'commit: a container that does not exist', cli: true, steps: [['commit', '{vol}-nosuch']], stdout: false},
  {
    name: 'commit -c with an unknown instruction',
    cli: true,
    steps: [
      ['run', '--name', '{vol}-c', B, 'true'],
      ['commit', '-c', 'BOGUS x', '{vol}-c'],
    ],
    stdout: false,
  },
  // --- volume commands
  {name: 'volume create prints the name', cli: true, steps: [['volume', 'create', '{vol}']]},
  {
    name: 'volume ls shows it',
    cli: true,
    steps: [
      ['volume', 'create', '{vol}'],
      ['volume', 'ls', '-q'],
    ],
    out: s => String(s.split('\n').filter(l => l.startsWith(PREFIX)).length),
  },
  {name: 'volume ls table header', cli: true, steps: [['volume', 'ls']], out: s => s.split('\n')[0]},
  {name: 'volume rm of a missing volume', cli: true, steps: [['volume', 'rm', '{vol}']], stdout: false},
  {name: 'volume inspect of a missing volume', cli: true, steps: [['volume', 'inspect', '{vol}']], stdout: false},
  {name: 'volume create with a bad name', cli: true, steps: [['volume', 'create', 'bad name']], stdout: false},
  {
    name: 'volume rm of a volume a stopped container names',
    cli: true,
    steps: [
      ['run', '--name', '{vol}-c', '-v', '{vol}:/x', B, 'true'],
      ['volume', 'rm', '{vol}'],
    ],
    stdout: false,
  },
  {
    name: 'volume rm once the container is gone',
    cli: true,
    steps: [
      ['run', '--name', '{vol}-c', '-v', '{vol}:/x', B, 'true'],
      ['rm', '{vol}-c'],
      ['volume', 'rm', '{vol}'],
    ],
  },
  {
    name: "volume inspect: docker's fields",
    cli: true,
    steps: [
      ['volume', 'create', '{vol}'],
      ['volume', 'inspect', '{vol}'],
    ],
    out: s => {
      const [info] = JSON.parse(s.slice(s.indexOf('['))) as Array<Record<string, unknown>>
      return JSON.stringify([
        Object.keys(info).sort(),
        info.Name,
        info.Driver,
        info.Scope,
        info.Labels,
        info.Options,
        String(info.Mountpoint).endsWith('/_data'),
      ])
    },
  },
  {
    name: 'volume rm prints the name',
    cli: true,
    steps: [
      ['volume', 'create', '{vol}'],
      ['volume', 'rm', '{vol}'],
    ],
  },
  {
    name: 'rm -v takes the anonymous volume',
    cli: true,
    steps: [
      ['run', '--name', '{vol}-c', '-v', '/anon', B, 'true'],
      ['rm', '-v', '{vol}-c'],
    ],
    out: () => '',
  },
  {
    name: 'a named volume survives rm -v',
    cli: true,
    steps: [
      ['run', '--name', '{vol}-c', '-v', '{vol}:/x', B, 'true'],
      ['rm', '-v', '{vol}-c'],
      ['volume', 'inspect', '{vol}'],
    ],
    out: s => String(s.includes('"Name"')),
  },
]

before(() => {
  cache = tempDir('pivot-runflags-diff')
  seedImage(cache, B)
  seedImage(cache, D)
})

after(() => {
  for (const c of dockerContainers) spawnSync(DOCKER_BIN, ['rm', '-f', c], {stdio: 'ignore'})
  for (const v of dockerVolumes) spawnSync(DOCKER_BIN, ['volume', 'rm', '-f', v], {stdio: 'ignore'})
  for (const i of dockerImages) spawnSync(DOCKER_BIN, ['rmi', '-f', i], {stdio: 'ignore'})
})

let rowNumber = 0

/** A host directory for one engine's run of a row: a file `file` in it ("from the host"). */
function rowDir(): string {
  const dir = tempDir('pivot-runflags-row')
  fs.writeFileSync(path.join(dir, 'file'), 'from the host\n')
  return dir
}

function fill(args: string[], tmp: string, vol: string): string[] {
  return args.map(a => a.replaceAll('{tmp}', tmp).replaceAll('{vol}', vol))
}

function dockerStep(args: string[], cli: boolean): Outcome {
  const argv = cli ? args : ['run', '--rm', '--network', 'none', ...args]
  if (cli && args[0] === 'run') argv.splice(1, 0, '--network', 'none')
  const r = spawnSync(DOCKER_BIN, argv, {encoding: 'utf8', input: '', timeout: 120_000})
  if (r.error) throw r.error
  return {status: r.status, stdout: r.stdout, stderr: r.stderr}
}

function pivotStep(args: string[], cli: boolean): Outcome {
  const argv = cli ? args : ['run', '--rm', '--net', 'none', ...args]
  if (cli && args[0] === 'run') argv.splice(1, 0, '--net', 'none')
  const r = pivot(argv, {cacheDir: cache, input: '', timeout: 120_000})
  return {status: r.status, stdout: r.stdout, stderr: r.stderr}
}

/** Runs a row's steps through one engine; the last step's status, every step's stdout. */
function runRow(row: Row, engine: 'docker' | 'pivot', tmp: string, vol: string): Outcome {
  let stdout = ''
  let last: Outcome = {status: 0, stdout: '', stderr: ''}
  for (const step of row.steps) {
    const args = fill(step, tmp, vol)
    if (engine === 'docker') {
      if (args.includes(vol) || args.some(a => a.startsWith(`${vol}:`) || a.includes(`=${vol},`) || a.includes(`=${vol}`))) dockerVolumes.add(vol)
      if (args[0] === 'run' && args.includes('--name')) dockerContainers.add(args[args.indexOf('--name') + 1])
      if (args[0] === 'commit') dockerImages.add(args[args.length - 1])
      last = dockerStep(args, row.cli === true)
    } else last = pivotStep(args, row.cli === true)
    stdout += last.stdout
  }
  return {...last, stdout}
}

for (const row of ROWS) {
  test(row.name, () => {
    const n = ++rowNumber
    // Volume names may only hold [a-zA-Z0-9_.-].
    const vol = `${PREFIX}-${n}`
    const dockerTmp = rowDir()
    const pivotTmp = rowDir()
    try {
      const d = runRow(row, 'docker', dockerTmp, vol)
      const p = runRow(row, 'pivot', pivotTmp, vol)
      const shown = `${row.steps.map(s => s.join(' ')).join(' ; ')}\ndocker: ${d.status} ${JSON.stringify(d.stdout)} ${d.stderr}\npivot: ${p.status} ${JSON.stringify(p.stdout)} ${p.stderr}`
      assert.equal(p.status, d.status, `exit status: ${shown}`)
      const out = row.out ?? ((x: string) => x)
      if (row.stdout !== false) assert.equal(out(p.stdout.replaceAll(pivotTmp, '{tmp}')), out(d.stdout.replaceAll(dockerTmp, '{tmp}')), `stdout: ${shown}`)
      // pivot's own refusals (125, and 1 for the other commands): one line naming the cause.
      if (p.status === 125 || (row.cli && p.status === 1)) {
        const lines = p.stderr.trim().split('\n')
        assert.equal(lines.length, 1, `one line on stderr: ${p.stderr}`)
        assert.match(lines[0], /^pivot: /)
      }
      if (row.host) assert.equal(row.host(pivotTmp), row.host(dockerTmp), `the host afterwards: ${shown}`)
    } finally {
      // Named containers of a row (volume rm, diff) go now, failed or not.
      for (const step of row.steps) {
        const args = fill(step, pivotTmp, vol)
        if (args[0] === 'run' && args.includes('--name')) pivot(['rm', '-f', args[args.indexOf('--name') + 1]], {cacheDir: cache})
      }
    }
    assert.deepEqual(leftovers(cache), {mounts: [], cgroups: [], containers: []})
  })
}

test('the differential table holds at least 60 behaviours', () => {
  assert.ok(ROWS.length >= 60, `${ROWS.length} rows`)
})

test('after the runs: only named volumes remain in the cache, no anonymous one, no staging entry', () => {
  const r = pivot(['volume', 'ls', '--json'], {cacheDir: cache})
  assert.equal(r.status, 0, r.stderr)
  const volumes = JSON.parse(r.stdout) as Array<{Name: string; Labels: Record<string, string> | null}>
  assert.deepEqual(
    volumes.filter(v => v.Labels && 'com.docker.volume.anonymous' in v.Labels),
    [],
  )
  assert.ok(
    volumes.every(v => v.Name.startsWith(PREFIX)),
    JSON.stringify(volumes.map(v => v.Name)),
  )
  const entries = fs.readdirSync(path.join(cache, 'volumes'))
  assert.deepEqual(
    entries.filter(e => e.startsWith('.')),
    [],
  )
})

test('run -d --rm: the anonymous volume goes with the container, in docker and pivot', async () => {
  const volumeOf = (engine: 'docker' | 'pivot', id: string) => {
    const args = ['inspect', '-f', '{{json .Mounts}}', id]
    const r = engine === 'docker' ? spawnSync(DOCKER_BIN, args, {encoding: 'utf8'}) : pivot(args, {cacheDir: cache})
    assert.equal(r.status, 0, r.stderr)
    return (JSON.parse(r.stdout) as Array<{Name?: string}>).map(m => m.Name ?? '').join('')
  }
  const exists = (engine: 'docker' | 'pivot', what: string[]) =>
    (engine === 'docker' ? spawnSync(DOCKER_BIN, what, {encoding: 'utf8'}) : pivot(what, {cacheDir: cache})).status === 0
  for (const engine of ['docker', 'pivot'] as const) {
    const net = engine === 'docker' ? '--network' : '--net'
    const args = ['run', '-d', '--rm', net, 'none', '-v', '/anon', B, 'sleep', '2']
    const r = engine === 'docker' ? spawnSync(DOCKER_BIN, args, {encoding: 'utf8'}) : pivot(args, {cacheDir: cache})
    assert.equal(r.status, 0, r.stderr)
    const id = r.stdout.trim()
    if (engine === 'docker') dockerContainers.add(id)
    const volume = volumeOf(engine, id)
    assert.ok(volume.length > 0 && exists(engine, ['volume', 'inspect', volume]), `${engine}: the anonymous volume exists while it runs`)
    const deadline = Date.now() + 30_000
    while (exists(engine, ['inspect', id]) && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 200))
    assert.equal(exists(engine, ['inspect', id]), false, `${engine}: the container removed itself`)
    // docker removes the volume right after the container: a moment's grace for both.
    while (exists(engine, ['volume', 'inspect', volume]) && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 200))
    assert.equal(exists(engine, ['volume', 'inspect', volume]), false, `${engine}: the anonymous volume went with it`)
  }
  assert.deepEqual(leftovers(cache), {mounts: [], cgroups: [], containers: []})
})

// --- pivot's own walls and host effects, where docker is no reference (or differs on purpose).

function pivotOk(args: string[]): string {
  const r = pivot(args, {cacheDir: cache, input: '', timeout: 120_000})
  assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`)
  return r.stdout
}

test('a symlink a container left in a volume cannot send a later mount out of the container', () => {
  const vol = `${PREFIX}-escape`
  const marker = tempDir('pivot-runflags-escape')
  pivotOk(['run', '--rm', '--net', 'none', '-v', `${vol}:/data`, B, 'ln', '-s', marker, '/data/sub'])
  const r = pivot(['run', '--rm', '--net', 'none', '-v', `${vol}:/data`, '-v', `${marker}:/data/sub/x`, B, 'true'], {cacheDir: cache})
  assert.equal(r.status, 125, r.stderr)
  assert.match(r.stderr, /^pivot: container setup failed: cannot mount on \/data\/sub\/x: \/data\/sub is a symlink or not a directory in the container\n$/)
  assert.deepEqual(fs.readdirSync(marker), [], 'nothing was made on the host through the link')
  assert.deepEqual(leftovers(cache), {mounts: [], cgroups: [], containers: []})
})

test('--device keeps nodev everywhere else: a node the container makes cannot be opened', () => {
  const r = pivot(
    [
      'run',
      '--rm',
      '--net',
      'none',
      '--cap-add',
      'MKNOD',
      '--device',
      '/dev/null:/dev/mynull',
      B,
      'sh',
      '-c',
      'mknod /tmp/n c 1 3 && cat /tmp/n; echo $?; echo > /dev/mynull; echo $?',
    ],
    {cacheDir: cache},
  )
  assert.equal(r.status, 0, r.stderr)
  assert.equal(r.stdout, '1\n0\n')
})

test('--memory-swap reaches the cgroup; --stop-timeout and --stop-signal are what stop uses', () => {
  const name = `${PREFIX}-stop`
  const id = pivotOk([
    'run',
    '-d',
    '--name',
    name,
    '-m',
    '64m',
    '--memory-swap',
    '128m',
    '--stop-timeout',
    '1',
    '--stop-signal',
    'SIGUSR1',
    B,
    'sh',
    '-c',
    'trap "" USR1 TERM; sleep 60 & wait',
  ]).trim()
  const memsw = spawnSync(
    'sh',
    ['-c', `cat /sys/fs/cgroup/memory/pivot/*-${id}/memory.memsw.limit_in_bytes /sys/fs/cgroup/pivot/*-${id}/memory.swap.max 2>/dev/null`],
    {encoding: 'utf8'},
  ).stdout.trim()
  assert.ok(memsw === String(128 * 1024 * 1024) || memsw === String(64 * 1024 * 1024), `memory+swap on the host: ${memsw}`)
  const started = Date.now()
  pivotOk(['stop', name])
  const took = Date.now() - started
  assert.ok(took >= 900 && took < 8000, `stop waited the container's 1 s, not 10: ${took} ms`)
  const ps = pivotOk(['ps', '-a', '--filter', `name=${name}`])
  assert.match(ps, /Exited \(137\)/)
  pivotOk(['rm', name])
  assert.deepEqual(leftovers(cache), {mounts: [], cgroups: [], containers: []})
})

test('--label: ps --filter label= finds the container by key and by key=value', () => {
  const name = `${PREFIX}-label`
  pivotOk(['run', '--name', name, '-l', 'tier=web', '--label', 'solo', B, 'true'])
  const id = (f: string) => pivotOk(['ps', '-aq', '--filter', f]).trim()
  const mine = pivotOk(['ps', '-aq', '--filter', `name=${name}`]).trim()
  assert.notEqual(mine, '')
  assert.equal(id('label=tier'), mine)
  assert.equal(id('label=tier=web'), mine)
  assert.equal(id('label=solo'), mine)
  assert.equal(id('label=tier=db'), '')
  const r = pivot(['ps', '--filter', 'bogus=1'], {cacheDir: cache})
  assert.equal(r.status, 1)
  assert.equal(r.stderr, "pivot: Invalid filter 'bogus'\n")
  pivotOk(['rm', name])
})

test('volume rm waits for no run: a volume a run is taking is never removed under it', () => {
  const vol = `${PREFIX}-race`
  const runs = Array.from({length: 3}, () =>
    spawnSync(
      'sh',
      [
        '-c',
        `PIVOT_CACHE_DIR=${cache} ${PIVOT_BIN} run --rm --net none -v ${vol}:/d ${B} sh -c 'echo ok > /d/f; cat /d/f' & PIVOT_CACHE_DIR=${cache} ${PIVOT_BIN} volume rm -f ${vol} >/dev/null 2>&1; wait`,
      ],
      {encoding: 'utf8', timeout: 120_000},
    ),
  )
  for (const r of runs) assert.equal(r.stdout, 'ok\n', r.stderr)
  assert.deepEqual(leftovers(cache), {mounts: [], cgroups: [], containers: []})
})
