// Behaviours of run, the container lifecycle and the terminal, one row each: what docker does on
// the fixture image is what pivot must do (status, stdout, stderr's shape). $C/$C2 are the row's
// container names, $B the busybox fixture. Differences kept on purpose are in README's
// "Deliberate differences from docker", not here.
import type {Row} from './harness'

const firstLine = (s: string) => s.split('\n')[0] + '\n'
const sleeper = (extra: string[] = []) => ({args: ['run', '-d', '--name', '$C', ...extra, '$B', 'sleep', '600'], stdout: false})
const exited = (code: number, extra: string[] = []) => ({
  args: ['run', '--name', '$C', ...extra, '$B', 'sh', '-c', `echo out; echo err >&2; exit ${code}`],
  stdout: false,
  status: true,
  stderrHas: 'err',
})
const fmt = (template: string) => ({args: ['inspect', '-f', template, '$C']})

export const ROWS: Row[] = [
  // -- run: defaults, exit codes, the process's environment
  {name: 'run echo', cmds: [{args: ['run', '--rm', '$B', 'echo', 'hello']}]},
  {name: 'run exit status', cmds: [{args: ['run', '--rm', '$B', 'sh', '-c', 'exit 3']}]},
  {name: 'run exit status 255', cmds: [{args: ['run', '--rm', '$B', 'sh', '-c', 'exit 255']}]},
  {name: 'run missing command: 127', cmds: [{args: ['run', '--rm', '$B', 'nosuchcommand'], stderrHas: 'nosuchcommand'}]},
  {name: 'run a file that is not executable: 126', cmds: [{args: ['run', '--rm', '$B', '/etc/passwd'], stderrHas: 'permission denied'}]},
  {name: 'run a directory: 126', cmds: [{args: ['run', '--rm', '$B', '/etc'], stdout: false, stderrHas: '"/etc"'}]},
  {name: 'run stdout and stderr apart', cmds: [{args: ['run', '--rm', '$B', 'sh', '-c', 'echo out; echo err >&2'], stderrHas: 'err'}]},
  {name: 'run PID 1', cmds: [{args: ['run', '--rm', '$B', 'sh', '-c', 'echo $$']}]},
  {name: 'run PATH', cmds: [{args: ['run', '--rm', '$B', 'sh', '-c', 'echo $PATH']}]},
  {name: 'run HOME of root', cmds: [{args: ['run', '--rm', '$B', 'sh', '-c', 'echo $HOME']}]},
  {name: 'run HOSTNAME is the short id', cmds: [{args: ['run', '--rm', '$B', 'sh', '-c', 'echo ${#HOSTNAME} $(hostname | wc -c)']}]},
  {name: 'run /etc/hostname', cmds: [{args: ['run', '--rm', '$B', 'sh', '-c', 'test "$(cat /etc/hostname)" = "$(hostname)" && echo same']}]},
  {name: 'run working directory /', cmds: [{args: ['run', '--rm', '$B', 'pwd']}]},
  {name: 'run -w existing', cmds: [{args: ['run', '--rm', '-w', '/tmp', '$B', 'pwd']}]},
  {name: 'run -w created', cmds: [{args: ['run', '--rm', '-w', '/new/dir', '$B', 'pwd']}]},
  {name: 'run -w relative: 125', cmds: [{args: ['run', '--rm', '-w', 'rel', '$B', 'pwd'], stderrHas: 'absolute'}]},
  {name: 'run -e', cmds: [{args: ['run', '--rm', '-e', 'FOO=bar baz', '$B', 'sh', '-c', 'echo "$FOO"']}]},
  {name: 'run -e unset name', cmds: [{args: ['run', '--rm', '-e', 'PIVOT_DIFF_UNSET_VAR', '$B', 'sh', '-c', 'echo "${PIVOT_DIFF_UNSET_VAR-unset}"']}]},
  {name: 'run -e overrides PATH', cmds: [{args: ['run', '--rm', '-e', 'PATH=/bin', '$B', 'sh', '-c', 'echo $PATH']}]},
  {name: 'run id of root', cmds: [{args: ['run', '--rm', '$B', 'id']}]},
  {name: 'run -u nobody', cmds: [{args: ['run', '--rm', '-u', 'nobody', '$B', 'id']}]},
  {name: 'run -u uid:gid', cmds: [{args: ['run', '--rm', '-u', '1000:1000', '$B', 'id']}]},
  {name: 'run -u nobody HOME', cmds: [{args: ['run', '--rm', '-u', 'nobody', '$B', 'sh', '-c', 'echo $HOME']}]},
  {name: 'run -u unknown user', cmds: [{args: ['run', '--rm', '-u', 'nosuchuser', '$B', 'id'], stdout: false, stderrHas: 'nosuchuser'}]},
  {name: 'run --entrypoint', cmds: [{args: ['run', '--rm', '--entrypoint', 'echo', '$B', 'a', 'b']}]},
  {name: 'run -h', cmds: [{args: ['run', '--rm', '-h', 'box1', '$B', 'hostname']}]},
  {name: 'run --read-only', cmds: [{args: ['run', '--rm', '--read-only', '$B', 'touch', '/x'], stderrHas: 'read-only file system'}]},
  {name: 'run --read-only /tmp too', cmds: [{args: ['run', '--rm', '--read-only', '$B', 'sh', '-c', 'touch /tmp/x 2>/dev/null; echo $?']}]},
  {name: 'run the default capabilities', cmds: [{args: ['run', '--rm', '$B', 'grep', '-E', '^Cap(Prm|Eff|Bnd|Inh|Amb)', '/proc/self/status']}]},
  {name: 'run seccomp filter on', cmds: [{args: ['run', '--rm', '$B', 'grep', '^Seccomp:', '/proc/self/status']}]},
  {name: 'run no_new_privs off', cmds: [{args: ['run', '--rm', '$B', 'grep', '^NoNewPrivs:', '/proc/self/status']}]},
  {
    name: 'run --security-opt no-new-privileges',
    cmds: [{args: ['run', '--rm', '--security-opt', 'no-new-privileges', '$B', 'grep', '^NoNewPrivs:', '/proc/self/status']}],
  },
  {name: 'run --cap-drop ALL', cmds: [{args: ['run', '--rm', '--cap-drop', 'ALL', '$B', 'grep', '^CapEff', '/proc/self/status']}]},
  {name: 'run --cap-add SYS_ADMIN', cmds: [{args: ['run', '--rm', '--cap-add', 'SYS_ADMIN', '$B', 'grep', '^CapEff', '/proc/self/status']}]},
  {name: 'run --cap-add unknown', cmds: [{args: ['run', '--rm', '--cap-add', 'NOPE', '$B', 'true'], stderrHas: 'NOPE'}]},
  {name: 'run /proc/kcore masked', cmds: [{args: ['run', '--rm', '$B', 'sh', '-c', 'wc -c < /proc/kcore']}]},
  {name: 'run /sys read-only', cmds: [{args: ['run', '--rm', '$B', 'sh', '-c', 'touch /sys/x 2>/dev/null; echo $?']}]},
  {
    name: 'run /dev/null, zero, urandom',
    cmds: [{args: ['run', '--rm', '$B', 'sh', '-c', 'head -c 3 /dev/zero | wc -c; echo x > /dev/null; head -c 4 /dev/urandom | wc -c']}],
  },
  {name: 'run /dev/shm writable', cmds: [{args: ['run', '--rm', '$B', 'sh', '-c', 'echo a > /dev/shm/f && cat /dev/shm/f']}]},
  {name: 'run without -i: stdin empty', cmds: [{args: ['run', '--rm', '$B', 'cat'], input: 'ignored\n'}]},
  {name: 'run -i: stdin', cmds: [{args: ['run', '--rm', '-i', '$B', 'cat'], input: 'line1\nline2\n'}]},
  {name: 'run -i wc', cmds: [{args: ['run', '--rm', '-i', '$B', 'wc', '-l'], input: 'a\nb\nc\n'}]},
  // The shell's own "Terminated" line comes or not by timing, in docker too: its stderr is dropped.
  {name: 'run a signal kills a child: 143', cmds: [{args: ['run', '--rm', '$B', 'sh', '-c', 'exec 2>/dev/null; sleep 5 & kill -TERM $!; wait $!; echo $?']}]},
  {name: 'run PID 1 ignores its own SIGTERM', cmds: [{args: ['run', '--rm', '$B', 'sh', '-c', 'kill -TERM $$; echo alive']}]},
  {name: 'run a trap on TERM', cmds: [{args: ['run', '--rm', '$B', 'sh', '-c', 'trap "echo caught; exit 7" TERM; kill -TERM $$; sleep 1']}]},
  {name: 'run killed by itself with a handled signal', cmds: [{args: ['run', '--rm', '$B', 'sh', '-c', 'trap "exit 9" USR1; kill -USR1 $$; sleep 1']}]},
  {name: 'run the command line is exact', cmds: [{args: ['run', '--rm', '$B', 'sh', '-c', 'printf "[%s]" "$@"; echo', 'x', 'a b', '', '*']}]},
  {
    name: 'run --rm leaves no container',
    cmds: [{args: ['run', '--rm', '--name', '$C', '$B', 'true']}, {args: ['inspect', '-f', '{{.Name}}', '$C'], stderrHas: 'no such object'}],
  },
  // -- run: bad input
  {name: 'run without image', cmds: [{args: ['run'], stderrHas: 'requires at least 1 argument'}]},
  {name: 'run unknown flag: 125', cmds: [{args: ['run', '--no-such-flag', '$B', 'true'], stderrHas: 'no-such-flag'}]},
  {name: 'run bad name: 125', cmds: [{args: ['run', '--rm', '--name', 'bad/name', '$B', 'true'], stderrHas: 'bad/name'}]},
  {name: 'run a name in use: 125', cmds: [sleeper(), {args: ['run', '--name', '$C', '$B', 'true'], stderrHas: 'already in use'}]},
  {name: 'run --memory too small: 125', cmds: [{args: ['run', '--rm', '--memory', '1k', '$B', 'true'], stdout: false, stderrHas: 'memory'}]},
  {name: 'run --memory garbage: 125', cmds: [{args: ['run', '--rm', '--memory', 'lots', '$B', 'true'], stderrHas: 'lots'}]},
  {name: 'run --cpus garbage: 125', cmds: [{args: ['run', '--rm', '--cpus', 'x', '$B', 'true'], stderrHas: 'x'}]},
  {name: 'run --pids-limit garbage: 125', cmds: [{args: ['run', '--rm', '--pids-limit', 'x', '$B', 'true'], stderrHas: 'x'}]},
  {name: 'run --restart unknown: 125', cmds: [{args: ['run', '-d', '--restart', 'sometimes', '$B', 'true'], stderrHas: "invalid restart policy 'sometimes'"}]},
  {
    name: 'run --restart on-failure:x: 125',
    cmds: [{args: ['run', '-d', '--restart', 'on-failure:x', '$B', 'true'], stderrHas: 'maximum retry count must be an integer'}],
  },
  {
    name: 'run --restart always:3: 125',
    cmds: [{args: ['run', '-d', '--restart', 'always:3', '$B', 'true'], stderrHas: "maximum retry count cannot be used with restart policy 'always'"}],
  },
  {
    name: 'run --restart with --rm: 125',
    cmds: [{args: ['run', '-d', '--rm', '--restart', 'always', '$B', 'true'], stderrHas: 'conflicting options: --restart and --rm'}],
  },
  // -- terminal
  {name: 'run -t: a pty', cmds: [{args: ['run', '--rm', '-t', '$B', 'tty']}]},
  {name: 'run -t: TERM', cmds: [{args: ['run', '--rm', '-t', '$B', 'sh', '-c', 'echo $TERM']}]},
  {name: 'run -t: CRLF output', cmds: [{args: ['run', '--rm', '-t', '$B', 'printf', 'a\\nb\\n']}]},
  {name: 'run -t: stderr on the pty', cmds: [{args: ['run', '--rm', '-t', '$B', 'sh', '-c', 'echo err >&2']}]},
  {name: 'run -t: exit status', cmds: [{args: ['run', '--rm', '-t', '$B', 'sh', '-c', 'exit 4']}]},
  {name: 'run -t: stdin is the pty', cmds: [{args: ['run', '--rm', '-t', '$B', 'sh', '-c', 'test -t 0 && echo tty']}]},
  {name: 'run -it without a terminal: 1', cmds: [{args: ['run', '--rm', '-it', '$B', 'true'], stderrHas: 'the input device is not a TTY'}]},
  {
    name: 'run -d -t: logs of a pty',
    cmds: [{args: ['run', '-d', '-t', '--name', '$C', '$B', 'sh', '-c', 'tty; echo hi'], stdout: false}, {args: ['wait', '$C']}, {args: ['logs', '$C']}],
  },
  {
    name: 'inspect Config.Tty',
    cmds: [{args: ['run', '-d', '-t', '--name', '$C', '$B', 'true'], stdout: false}, {args: ['wait', '$C']}, fmt('{{.Config.Tty}} {{.Config.OpenStdin}}')],
  },
  // -- detached: logs, wait
  {name: 'run -d prints the id', cmds: [{args: ['run', '-d', '--name', '$C', '$B', 'true']}]},
  {
    name: 'logs',
    cmds: [
      {args: ['run', '-d', '--name', '$C', '$B', 'sh', '-c', 'echo out; echo err >&2'], stdout: false},
      {args: ['wait', '$C']},
      {args: ['logs', '$C'], stderrHas: 'err'},
    ],
  },
  {
    name: 'logs --tail 1',
    cmds: [{args: ['run', '-d', '--name', '$C', '$B', 'sh', '-c', 'seq 1 5'], stdout: false}, {args: ['wait', '$C']}, {args: ['logs', '--tail', '1', '$C']}],
  },
  {
    name: 'logs --tail 0',
    cmds: [{args: ['run', '-d', '--name', '$C', '$B', 'sh', '-c', 'seq 1 5'], stdout: false}, {args: ['wait', '$C']}, {args: ['logs', '--tail', '0', '$C']}],
  },
  {
    name: 'logs --tail all',
    cmds: [{args: ['run', '-d', '--name', '$C', '$B', 'sh', '-c', 'seq 1 3'], stdout: false}, {args: ['wait', '$C']}, {args: ['logs', '--tail', 'all', '$C']}],
  },
  {name: 'logs -t', cmds: [{args: ['run', '-d', '--name', '$C', '$B', 'echo', 'x'], stdout: false}, {args: ['wait', '$C']}, {args: ['logs', '-t', '$C']}]},
  {
    name: 'logs --since 1h',
    cmds: [{args: ['run', '-d', '--name', '$C', '$B', 'echo', 'x'], stdout: false}, {args: ['wait', '$C']}, {args: ['logs', '--since', '1h', '$C']}],
  },
  {
    name: 'logs --until 1h (before the run)',
    cmds: [{args: ['run', '-d', '--name', '$C', '$B', 'echo', 'x'], stdout: false}, {args: ['wait', '$C']}, {args: ['logs', '--until', '1h', '$C']}],
  },
  {
    name: 'logs -f of a stopped container',
    cmds: [{args: ['run', '-d', '--name', '$C', '$B', 'sh', '-c', 'echo a; echo b'], stdout: false}, {args: ['wait', '$C']}, {args: ['logs', '-f', '$C']}],
  },
  {
    name: 'logs -f until it stops',
    cmds: [{args: ['run', '-d', '--name', '$C', '$B', 'sh', '-c', 'echo a; sleep 1; echo b'], stdout: false}, {args: ['logs', '-f', '$C']}],
  },
  {
    name: 'logs a long line',
    cmds: [
      {args: ['run', '-d', '--name', '$C', '$B', 'sh', '-c', 'head -c 20000 /dev/zero | tr "\\0" a; echo'], stdout: false},
      {args: ['wait', '$C']},
      {args: ['logs', '$C']},
    ],
  },
  {
    name: 'logs a line without newline',
    cmds: [{args: ['run', '-d', '--name', '$C', '$B', 'printf', 'no-newline'], stdout: false}, {args: ['wait', '$C']}, {args: ['logs', '$C']}],
  },
  {name: 'logs unknown container: 1', cmds: [{args: ['logs', '$C'], stderrHas: 'no such container'}]},
  {name: 'wait prints the exit code', cmds: [exited(3), {args: ['wait', '$C']}]},
  {name: 'wait a running one', cmds: [{args: ['run', '-d', '--name', '$C', '$B', 'sh', '-c', 'sleep 1; exit 6'], stdout: false}, {args: ['wait', '$C']}]},
  {name: 'wait unknown: 1', cmds: [{args: ['wait', '$C'], stderrHas: 'no such container'}]},
  // -- stop, kill, rm
  {name: 'stop prints the name', cmds: [sleeper(), {args: ['stop', '-t', '1', '$C']}, fmt('{{.State.Status}} {{.State.ExitCode}}')]},
  {
    name: 'stop a trap that exits',
    cmds: [
      {args: ['run', '-d', '--name', '$C', '$B', 'sh', '-c', 'trap "exit 0" TERM; while :; do sleep 0.1; done'], stdout: false, settle: 500},
      {args: ['stop', '$C']},
      fmt('{{.State.ExitCode}}'),
    ],
  },
  {name: 'stop a stopped one', cmds: [exited(0), {args: ['stop', '$C']}]},
  {name: 'stop unknown: 1', cmds: [{args: ['stop', '$C'], stderrHas: 'no such container'}]},
  {name: 'kill', cmds: [sleeper(), {args: ['kill', '$C']}, {args: ['wait', '$C']}]},
  {name: 'kill -s TERM to a PID 1 without a handler', cmds: [sleeper(), {args: ['kill', '-s', 'TERM', '$C']}, fmt('{{.State.Running}}')]},
  {
    name: 'kill -s USR1 handled',
    cmds: [
      {args: ['run', '-d', '--name', '$C', '$B', 'sh', '-c', 'trap "exit 10" USR1; while :; do sleep 0.1; done'], stdout: false, settle: 500},
      {args: ['kill', '-s', 'usr1', '$C']},
      {args: ['wait', '$C']},
    ],
  },
  {name: 'kill -s by number', cmds: [sleeper(), {args: ['kill', '-s', '9', '$C']}, {args: ['wait', '$C']}]},
  {name: 'kill -s bad signal: 1', cmds: [sleeper(), {args: ['kill', '-s', 'BOGUS', '$C'], stderrHas: 'invalid signal'}]},
  {name: 'kill a stopped one: 1', cmds: [exited(0), {args: ['kill', '$C'], stderrHas: 'is not running'}]},
  {name: 'kill unknown: 1', cmds: [{args: ['kill', '$C'], stderrHas: 'no such container'}]},
  {name: 'rm a running one: 1', cmds: [sleeper(), {args: ['rm', '$C'], stderrHas: 'cannot remove a running container'}]},
  {name: 'rm -f a running one', cmds: [sleeper(), {args: ['rm', '-f', '$C']}, {args: ['inspect', '$C'], stdout: false, stderrHas: 'no such object'}]},
  {name: 'rm a stopped one', cmds: [exited(0), {args: ['rm', '$C']}]},
  {name: 'rm unknown: 1', cmds: [{args: ['rm', '$C'], stderrHas: 'no such container'}]},
  {name: 'rm one known, one unknown: 1', cmds: [exited(0), {args: ['rm', '$C', '$C2'], stderrHas: 'no such container'}]},
  // -- inspect
  {
    name: 'inspect State of a running one',
    cmds: [sleeper(), fmt('{{.State.Status}} {{.State.Running}} {{.State.Paused}} {{.State.Restarting}} {{.State.Dead}} {{.State.ExitCode}} {{.State.Error}}')],
  },
  {name: 'inspect State of an exited one', cmds: [exited(3), fmt('{{.State.Status}} {{.State.Running}} {{.State.ExitCode}}')]},
  {name: 'inspect Name', cmds: [sleeper(), fmt('{{.Name}}')]},
  {name: 'inspect Path and Args', cmds: [sleeper(), fmt('{{.Path}} {{json .Args}}')]},
  {name: 'inspect Config.Cmd', cmds: [sleeper(), fmt('{{json .Config.Cmd}}')]},
  {name: 'inspect Config.Image', cmds: [sleeper(), fmt('{{.Config.Image}}')]},
  {name: 'inspect HostConfig.Memory', cmds: [sleeper(['--memory', '64m']), fmt('{{.HostConfig.Memory}}')]},
  {name: 'inspect HostConfig.NanoCpus', cmds: [sleeper(['--cpus', '0.5']), fmt('{{.HostConfig.NanoCpus}}')]},
  {
    name: 'inspect HostConfig.RestartPolicy',
    cmds: [sleeper(['--restart', 'on-failure:2']), fmt('{{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}}')],
  },
  {
    name: 'inspect HostConfig.AutoRemove and Privileged',
    cmds: [sleeper(), fmt('{{.HostConfig.AutoRemove}} {{.HostConfig.Privileged}} {{.HostConfig.ReadonlyRootfs}}')],
  },
  {name: 'inspect Pid is PID 1 on the host', cmds: [sleeper(), {args: ['inspect', '-f', '{{.State.Pid}}', '$C'], stdout: false}]},
  {name: 'inspect unknown: 1', cmds: [{args: ['inspect', '$C'], stderrHas: 'no such object'}]},
  {name: 'inspect -f unknown: 1', cmds: [{args: ['inspect', '-f', '{{.Name}}', '$C'], stderrHas: 'no such object'}]},
  // -- exec
  {name: 'exec echo', cmds: [sleeper(), {args: ['exec', '$C', 'echo', 'hi']}]},
  {name: 'exec exit status', cmds: [sleeper(), {args: ['exec', '$C', 'sh', '-c', 'exit 3']}]},
  {name: 'exec missing command: 126', cmds: [sleeper(), {args: ['exec', '$C', 'nosuchcmd'], stdout: false, stderrHas: 'executable file not found'}]},
  {name: 'exec -e', cmds: [sleeper(), {args: ['exec', '-e', 'A=1', '$C', 'sh', '-c', 'echo $A']}]},
  {name: 'exec -w', cmds: [sleeper(), {args: ['exec', '-w', '/tmp', '$C', 'pwd']}]},
  {name: 'exec -u nobody', cmds: [sleeper(), {args: ['exec', '-u', 'nobody', '$C', 'id']}]},
  {name: 'exec -u uid:gid', cmds: [sleeper(), {args: ['exec', '-u', '1000:1000', '$C', 'id']}]},
  {
    name: 'exec -u unknown: 126',
    cmds: [sleeper(), {args: ['exec', '-u', 'nosuchuser', '$C', 'id'], stdout: false, stderrHas: 'unable to find user nosuchuser'}],
  },
  {name: 'exec -i', cmds: [sleeper(), {args: ['exec', '-i', '$C', 'cat'], input: 'in\n'}]},
  {name: 'exec without -i', cmds: [sleeper(), {args: ['exec', '$C', 'cat'], input: 'in\n'}]},
  {name: 'exec -t', cmds: [sleeper(), {args: ['exec', '-t', '$C', 'sh', '-c', 'tty; echo $TERM']}]},
  {
    name: 'exec -d',
    cmds: [sleeper(), {args: ['exec', '-d', '$C', 'sh', '-c', 'echo x > /tmp/d']}, {args: ['exec', '$C', 'sh', '-c', 'sleep 0.5; cat /tmp/d']}],
  },
  {name: 'exec sees PID 1', cmds: [sleeper(), {args: ['exec', '$C', 'sh', '-c', 'cat /proc/1/cmdline | tr "\\0" " "; echo']}]},
  {name: 'exec HOSTNAME', cmds: [sleeper(), {args: ['exec', '$C', 'sh', '-c', 'test "$HOSTNAME" = "$(hostname)" && echo same']}]},
  {name: 'exec on a stopped one: 1', cmds: [exited(0), {args: ['exec', '$C', 'true'], stderrHas: 'is not running'}]},
  {name: 'exec unknown: 1', cmds: [{args: ['exec', '$C', 'true'], stderrHas: 'no such container'}]},
  {name: 'exec without command: 1', cmds: [{args: ['exec', '$C'], stderrHas: 'requires at least 2 arguments'}]},
  // -- start, restart, pause, rename
  {name: 'start keeps the writable layer', cmds: [{args: ['run', '--name', '$C', '$B', 'sh', '-c', 'echo x >> /f; cat /f']}, {args: ['start', '-a', '$C']}]},
  {name: 'start prints the name', cmds: [exited(0), {args: ['start', '$C']}, {args: ['wait', '$C']}]},
  {name: 'start -a exit status', cmds: [exited(5), {args: ['start', '-a', '$C'], stderrHas: 'err'}]},
  {name: 'start a running one', cmds: [sleeper(), {args: ['start', '$C']}, fmt('{{.State.Running}}')]},
  {name: 'start unknown: 1', cmds: [{args: ['start', '$C'], stderrHas: 'no such container'}]},
  {name: 'restart', cmds: [sleeper(), {args: ['restart', '-t', '0', '$C']}, fmt('{{.State.Status}} {{.RestartCount}}')]},
  {
    name: 'restart an exited one',
    cmds: [
      {args: ['run', '-d', '--name', '$C', '$B', 'sh', '-c', 'exit 2'], stdout: false},
      {args: ['wait', '$C']},
      {args: ['restart', '$C']},
      {args: ['wait', '$C']},
    ],
  },
  {
    name: '--restart on-failure:2 restarts twice',
    cmds: [
      {args: ['run', '-d', '--restart', 'on-failure:2', '--name', '$C', '$B', 'sh', '-c', 'echo run; exit 1'], stdout: false, settle: 4000},
      fmt('{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}}'),
      {args: ['logs', '$C']},
    ],
  },
  {
    name: '--restart on-failure with success',
    cmds: [
      {args: ['run', '-d', '--restart', 'on-failure', '--name', '$C', '$B', 'true'], stdout: false, settle: 2000},
      fmt('{{.State.Status}} {{.RestartCount}}'),
    ],
  },
  {
    name: '--restart always, then stop',
    cmds: [
      {args: ['run', '-d', '--restart', 'always', '--name', '$C', '$B', 'sh', '-c', 'sleep 0.3'], stdout: false, settle: 1500},
      {args: ['stop', '$C']},
      fmt('{{.State.Status}} {{.State.Restarting}}'),
    ],
  },
  {
    name: 'pause and unpause',
    cmds: [
      sleeper(),
      {args: ['pause', '$C']},
      fmt('{{.State.Status}} {{.State.Paused}}'),
      {args: ['unpause', '$C']},
      fmt('{{.State.Status}} {{.State.Paused}}'),
    ],
  },
  {name: 'pause twice: 1', cmds: [sleeper(), {args: ['pause', '$C']}, {args: ['pause', '$C'], stderrHas: 'is already paused'}]},
  {name: 'unpause a running one: 1', cmds: [sleeper(), {args: ['unpause', '$C'], stderrHas: 'is not paused'}]},
  {
    name: 'exec in a paused one: 1',
    cmds: [sleeper(), {args: ['pause', '$C']}, {args: ['exec', '$C', 'true'], stderrHas: 'is paused, unpause the container before exec'}],
  },
  {name: 'start a paused one: 1', cmds: [sleeper(), {args: ['pause', '$C']}, {args: ['start', '$C'], stderrHas: 'cannot start a paused container'}]},
  {name: 'stop a paused one', cmds: [sleeper(), {args: ['pause', '$C']}, {args: ['stop', '-t', '1', '$C']}, fmt('{{.State.Status}}')]},
  {name: 'pause unknown: 1', cmds: [{args: ['pause', '$C'], stderrHas: 'no such container'}]},
  {name: 'rename', cmds: [sleeper(), {args: ['rename', '$C', '$C2']}, {args: ['inspect', '-f', '{{.Name}}', '$C2']}]},
  {
    name: 'rename frees the old name',
    cmds: [sleeper(), {args: ['rename', '$C', '$C2']}, {args: ['inspect', '$C'], stdout: false, stderrHas: 'no such object'}],
  },
  {
    name: 'rename to a used name: 1',
    cmds: [
      sleeper(),
      {args: ['run', '-d', '--name', '$C2', '$B', 'sleep', '600'], stdout: false},
      {args: ['rename', '$C', '$C2'], stderrHas: 'already in use'},
    ],
  },
  {name: 'rename unknown: 1', cmds: [{args: ['rename', '$C', '$C2'], stderrHas: 'no such container'}]},
  // -- top, stats, container
  {
    name: 'top',
    cmds: [sleeper(), {args: ['top', '$C']}],
    normalize: s =>
      s
        .split('\n')
        .map(l =>
          l
            .split(/\s+/)
            .filter((_, i) => i === 0 || i === 7)
            .join(' '),
        )
        .join('\n'),
  },
  {name: 'top a stopped one: 1', cmds: [exited(0), {args: ['top', '$C'], stderrHas: 'is not running'}]},
  {name: 'stats --no-stream --format', cmds: [sleeper(), {args: ['stats', '--no-stream', '--format', '{{.Name}} {{.PIDs}}', '$C']}]},
  {name: 'stats --no-stream header', cmds: [sleeper(), {args: ['stats', '--no-stream', '$C']}], normalize: firstLine},
  {name: 'container inspect', cmds: [sleeper(), {args: ['container', 'inspect', '-f', '{{.State.Status}}', '$C']}]},
  {name: 'container rm -f', cmds: [sleeper(), {args: ['container', 'rm', '-f', '$C']}]},
  {
    name: 'container ls header',
    cmds: [{args: ['container', 'ls']}],
    normalize: s =>
      firstLine(s)
        .split(/\s{2,}/)
        .join('|'),
  },
]

// --log-opt: docker's json-file rotation (how many lines survive depends on each record's length,
// whose timestamp docker trims: only the first kept line's neighbourhood and the last are compared).
ROWS.push(
  {
    name: 'logs after rotation: the newest lines kept',
    cmds: [
      {args: ['run', '-d', '--name', '$C', '--log-opt', 'max-size=1k', '--log-opt', 'max-file=2', '$B', 'seq', '1', '100'], stdout: false},
      {args: ['wait', '$C']},
      {args: ['logs', '--tail', '3', '$C']},
    ],
  },
  // Deliberate: docker creates the container (prints its id, leaves it Created) before its log
  // driver fails; pivot checks the options first and makes nothing.
  {
    name: 'log-opt max-size garbage: 125',
    cmds: [{args: ['run', '-d', '--name', '$C', '--log-opt', 'max-size=x', '$B', 'true'], stdout: false, stderrHas: "invalid size: 'x'"}],
  },
  {name: 'log-opt unknown: 125', cmds: [{args: ['run', '-d', '--name', '$C', '--log-opt', 'foo=1', '$B', 'true'], stderrHas: "unknown log opt 'foo'"}]},
  {
    name: 'log-opt max-file 0: 125',
    cmds: [
      {
        args: ['run', '-d', '--name', '$C', '--log-opt', 'max-size=1k', '--log-opt', 'max-file=0', '$B', 'true'],
        stdout: false,
        stderrHas: 'max-file cannot be less than 1',
      },
    ],
  },
)

// Argument counts: every command without its arguments and with one too many, as docker checks
// them (exit 1, `docker: 'docker logs' requires 1 argument`; pivot prints that line with its own
// name). Only what fails before doing anything: no command here may act on the daemon (names are
// this suite's and exist nowhere). Commands that are valid with no arguments (ps, images, the
// ls and prune sub-commands, stats, load from stdin, login, logout, volume create) have only the
// too-many row.
const NX = ['pivot-argcount-nx1', 'pivot-argcount-nx2', 'pivot-argcount-nx3']
const countRow = (args: string[]): Row => ({name: `arguments: ${args.join(' ') || '(none)'}`, cmds: [{args, sameError: true}]})
for (const command of ['attach', 'build', 'commit', 'cp', 'diff', 'exec', 'export', 'history', 'inspect', 'kill', 'logs', 'pause', 'port', 'pull'])
  ROWS.push(countRow([command]))
for (const command of ['push', 'rename', 'restart', 'rm', 'rmi', 'save', 'start', 'stop', 'tag', 'top', 'unpause', 'wait']) ROWS.push(countRow([command]))
for (const sub of [
  ['image', 'inspect'],
  ['volume', 'inspect'],
  ['volume', 'rm'],
  ['network', 'create'],
  ['network', 'inspect'],
  ['network', 'rm'],
  ['container', 'rm'],
  ['container', 'logs'],
])
  ROWS.push(countRow(sub))
ROWS.push(countRow(['exec', NX[0]]))
for (const [command, max] of [
  ['attach', 1],
  ['build', 1],
  ['commit', 2],
  ['cp', 2],
  ['diff', 1],
  ['export', 1],
  ['history', 1],
  ['logs', 1],
  ['port', 2],
  ['pull', 1],
  ['push', 1],
  ['rename', 2],
  ['tag', 2],
  ['login', 1],
  ['logout', 1],
  ['load', 0],
  ['ps', 0],
] as const)
  ROWS.push(countRow([command, ...NX.slice(0, max + 1)]))
for (const sub of [
  ['volume', 'create'],
  ['volume', 'ls'],
  ['volume', 'prune'],
  ['network', 'ls'],
  ['network', 'prune'],
  ['container', 'prune'],
])
  ROWS.push(countRow([...sub, ...NX.slice(0, sub[1] === 'create' ? 2 : 1)]))
// The flag is checked first: an unknown flag with a wrong count is the flag's error, 125.
ROWS.push({name: 'arguments: an unknown flag first', cmds: [{args: ['logs', '--no-such-flag'], stderrHas: 'no-such-flag'}]})
ROWS.push({name: 'arguments: an unknown flag and too many', cmds: [{args: ['tag', '--no-such-flag', 'a'], stderrHas: 'no-such-flag'}]})
// Deliberate (README): `images` takes no REPOSITORY filter (docker's at most 1), `import` needs
// its NAME (docker imports untagged): same status, other words.
ROWS.push({name: 'arguments: images x y', cmds: [{args: ['images', ...NX.slice(0, 2)], stderrHas: 'images" '}]})
ROWS.push({name: 'arguments: import', cmds: [{args: ['import'], stderrHas: 'import" requires'}]})
ROWS.push({name: 'arguments: import x y z', cmds: [{args: ['import', ...NX]}]})
ROWS.push(countRow(['container', 'ls', NX[0]]))
