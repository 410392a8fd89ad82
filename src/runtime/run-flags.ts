import {DEFAULT_PIDS_LIMIT} from './cgroups/parse-limits'
import {RuntimeError} from './runtime-error'

/**
 * The one table of `pivot run`'s flags. src/cli/run.ts parses argv with it (no oclif on the hot path)
 * and commands/run.ts turns it into oclif flags for `--help` and the docs, so the two can never
 * disagree about what a flag is called or whether it takes a value.
 */
export interface RunFlagSpec {
  /** Long name, without the dashes. */
  name: string
  char?: string
  /** boolean: no value; string: one value (the last one wins); multiple: repeatable. */
  kind: 'boolean' | 'string' | 'multiple'
  /** Other long names accepted for the same flag (docker spells --net also --network). */
  aliases?: string[]
  helpValue?: string
  description: string
  options?: string[]
  default?: string
  helpGroup?: string
}

export const RUN_FLAGS: readonly RunFlagSpec[] = [
  {name: 'rm', kind: 'boolean', description: 'remove the container (its writable layer and record) when it exits'},
  {name: 'name', kind: 'string', helpValue: 'NAME', description: "give the container a name (unique among this cache's containers)"},
  {
    name: 'hostname',
    char: 'h',
    kind: 'string',
    helpValue: 'NAME',
    description: 'hostname inside the container [default: the first 12 hex digits of the container id]',
  },
  {
    name: 'env',
    char: 'e',
    kind: 'multiple',
    helpValue: 'KEY=VALUE',
    description: "set an environment variable (repeatable); KEY alone copies it from pivot's environment",
  },
  {name: 'env-file', kind: 'multiple', helpValue: 'FILE', description: 'read KEY=VALUE lines from a file (repeatable; # starts a comment)'},
  {
    name: 'volume',
    char: 'v',
    kind: 'multiple',
    helpValue: 'SRC:DST[:ro]',
    description:
      'bind-mount a host path (absolute; made when missing, as docker does) or mount a named volume (made when new, filled from the image when empty) at DST; `-v DST` alone: an anonymous volume; repeatable',
  },
  {
    name: 'mount',
    kind: 'multiple',
    helpValue: 'type=bind|volume|tmpfs,...',
    description: "docker's --mount: type=, source=/src=, target=/dst=, readonly, volume-nocopy, tmpfs-size=, tmpfs-mode=; repeatable",
  },
  {
    name: 'tmpfs',
    kind: 'multiple',
    helpValue: 'PATH[:OPTS]',
    description: 'mount a tmpfs (nosuid,nodev,noexec, as docker) at PATH; OPTS: size=, mode=, uid=, gid=, ro, exec, suid; repeatable',
  },
  {
    name: 'cgroupns',
    kind: 'string',
    helpValue: 'MODE',
    options: ['private', 'host'],
    description:
      'cgroup namespace: private (the container sees its own cgroup as / in /proc/self/cgroup and under /sys/fs/cgroup, read-only) or host; [default: private on cgroup v2, host on v1, as docker]',
  },
  {
    name: 'userns',
    kind: 'string',
    helpValue: 'MODE',
    options: ['host', 'remap'],
    description:
      "user namespace: host (none, docker's default) or remap (container root is an unprivileged host uid from pivot's range: a `pivot` entry in /etc/subuid and /etc/subgid, else 1000000000-1000065535; see docs/security.md)",
  },
  {
    name: 'device',
    kind: 'multiple',
    helpValue: 'SRC[:DST][:PERMS]',
    description: "bind a host device node into the container's /dev (every other mount stays nodev); repeatable",
  },
  {
    name: 'init',
    kind: 'boolean',
    description: 'run a tiny init (init.c, bound at /sbin/docker-init where docker puts tini) as PID 1: it reaps zombies and passes signals on to the command',
  },
  {name: 'shm-size', kind: 'string', helpValue: 'SIZE', description: 'size of /dev/shm, e.g. 128m [default: 64m]'},
  {
    name: 'ulimit',
    kind: 'multiple',
    helpValue: 'NAME=SOFT[:HARD]',
    description: 'a resource limit (nofile, nproc, core, stack, memlock...; -1: unlimited); repeatable',
  },
  {
    name: 'group-add',
    kind: 'multiple',
    helpValue: 'GROUP',
    description: "an extra supplementary group for the user (a name of the container's /etc/group, or a gid); repeatable",
  },
  {
    name: 'label',
    char: 'l',
    kind: 'multiple',
    helpValue: 'KEY=VALUE',
    description: 'a label on the container (pivot ps --filter label=KEY[=VALUE]); repeatable',
  },
  {name: 'cidfile', kind: 'string', helpValue: 'FILE', description: 'write the container id to FILE (which must not exist yet)'},
  {
    name: 'stop-signal',
    kind: 'string',
    helpValue: 'SIGNAL',
    description: "the signal `pivot stop` sends first [default: the image's StopSignal, else SIGTERM]",
  },
  {name: 'stop-timeout', kind: 'string', helpValue: 'SECONDS', description: 'seconds `pivot stop` waits before SIGKILL when not given -t [default: 10]'},
  {
    name: 'workdir',
    char: 'w',
    kind: 'string',
    helpValue: 'DIR',
    description: "working directory inside the container (absolute; made, root-owned, when missing, also with --read-only) [default: the image's]",
  },
  {
    name: 'user',
    char: 'u',
    kind: 'string',
    helpValue: 'UID[:GID]|NAME[:GROUP]',
    description:
      "user to run the command as, looked up in the container's /etc/passwd; its groups are the gid and, without :GROUP, its /etc/group memberships [default: the image's, else root]",
  },
  {
    name: 'entrypoint',
    kind: 'string',
    helpValue: 'CMD',
    description: 'override the image\'s entrypoint; any --entrypoint drops the image\'s Cmd ("" clears both: give a command)',
  },
  {
    name: 'net',
    kind: 'string',
    aliases: ['network'],
    helpValue: 'MODE',
    default: 'host',
    description:
      "network: host (share the host's: see docs/security.md), none (only loopback), bridge (own namespace on pivot's bridge pivot0, NAT to the outside), NAME (a network from pivot network create) or container:NAME (share that container's)",
  },
  {
    name: 'publish',
    char: 'p',
    kind: 'multiple',
    helpValue: '[HOSTIP:]HOSTPORT:PORT[/tcp|udp]',
    description: 'publish a container port on the host (repeatable; --net bridge or NAME)',
  },
  {name: 'publish-all', char: 'P', kind: 'boolean', description: 'publish every port the image EXPOSEs on a free host port (see pivot port)'},
  {name: 'network-alias', kind: 'multiple', helpValue: 'NAME', description: 'another name the container has on its user network (repeatable)'},
  {name: 'dns', kind: 'multiple', helpValue: 'IP', description: "a DNS server for the container's /etc/resolv.conf (repeatable) [default: the host's]"},
  {
    name: 'add-host',
    kind: 'multiple',
    helpValue: 'HOST:IP',
    description: "add a line to the container's /etc/hosts (repeatable; IP host-gateway: the bridge's address)",
  },
  {name: 'read-only', kind: 'boolean', description: "mount the container's root filesystem read-only"},
  {
    name: 'pids-limit',
    kind: 'string',
    helpValue: 'N',
    description: `most processes and threads the container may have; 0 or -1: no limit, as in docker [default: ${DEFAULT_PIDS_LIMIT}]`,
  },
  {name: 'memory', char: 'm', kind: 'string', helpValue: 'SIZE', description: 'memory limit, e.g. 256m or 1g (at least 6m; 0: no limit)'},
  {name: 'memory-swap', kind: 'string', helpValue: 'SIZE', description: 'memory plus swap, e.g. 1g (-1: unlimited swap); needs --memory [default: no swap]'},
  {name: 'cpus', kind: 'string', helpValue: 'DECIMAL', description: 'CPU limit, e.g. 1.5 (from 0.01 to the number of CPUs; 0: no limit)'},
  {
    name: 'cap-add',
    kind: 'multiple',
    helpValue: 'CAP',
    description: "add a Linux capability to the default set, docker's names (chown, CAP_NET_ADMIN... or ALL); repeatable",
    helpGroup: 'SECURITY',
  },
  {
    name: 'cap-drop',
    kind: 'multiple',
    helpValue: 'CAP',
    description: 'drop a Linux capability from the default set (or ALL); repeatable',
    helpGroup: 'SECURITY',
  },
  {
    name: 'security-opt',
    kind: 'multiple',
    helpValue: 'OPT',
    description: 'no-new-privileges[:true] (setuid programs and file capabilities gain nothing), or seccomp=unconfined (no seccomp filter); repeatable',
    helpGroup: 'SECURITY',
  },
  {
    name: 'privileged',
    kind: 'boolean',
    description:
      'DANGEROUS: every capability, no seccomp filter, no masked or read-only /proc paths, a writable /sys: root in the container can take over the host (see docs/security.md)',
    helpGroup: 'SECURITY',
  },
  {
    name: 'pull',
    kind: 'string',
    helpValue: 'POLICY',
    options: ['missing', 'always', 'never'],
    default: 'missing',
    description: 'pull the image from the Docker daemon: missing (when not cached), always, never',
  },
  {
    name: 'detach',
    char: 'd',
    kind: 'boolean',
    description: 'run in the background: print the container id and exit; a monitor logs its output (pivot logs) and records its exit',
  },
  {
    name: 'interactive',
    char: 'i',
    kind: 'boolean',
    description: "keep stdin open: the container reads pivot's stdin (without -i it reads /dev/null, as in docker)",
  },
  {
    name: 'tty',
    char: 't',
    kind: 'boolean',
    description: "a terminal (pty) of the container's own as its stdio and controlling terminal, TERM=xterm: -it for an interactive shell",
  },
  {
    name: 'log-opt',
    kind: 'multiple',
    helpValue: 'KEY=VALUE',
    description: 'json-file log options (with -d): max-size=10m (then rotated), max-file=3 (files kept)',
  },
  {
    name: 'restart',
    kind: 'string',
    helpValue: 'POLICY',
    description: "with -d: no, on-failure[:N], always or unless-stopped: the monitor starts it again when it exits (docker's back-off); stop ends that",
  },
  {
    name: 'cache-dir',
    kind: 'string',
    helpValue: 'DIR',
    helpGroup: 'GLOBAL',
    description: 'cache root [default: $PIVOT_CACHE_DIR, else the project cache/ (root) or $XDG_DATA_HOME/pivot]',
  },
]

export type RawRunFlags = Record<string, string | string[] | boolean | undefined>

export interface ParsedRunArgs {
  /** `--help` came before IMAGE: show oclif's help instead of running. (`-h` is --hostname, as in docker run.) */
  help: boolean
  /** Values by the flag's long name; multiple flags are arrays in the order given. */
  flags: RawRunFlags
  image?: string
  /** Everything after IMAGE, untouched (`pivot run IMG ls --help` passes --help to ls). */
  command: string[]
}

function badFlagOf(message: string, command = 'run'): RuntimeError {
  return new RuntimeError('RUN_BAD_FLAG', `${message} (see 'pivot ${command} --help')`)
}

/**
 * Docker's argv rules: flags (long, `--flag=value`, short, `-e K=V`, `-eK=V`, grouped booleans
 * `-it`) until the first argument that is not a flag, which is IMAGE; everything after it is the
 * command and is never read as flags. `--` ends the flags.
 */
export function parseRunArgs(argv: readonly string[], table: readonly RunFlagSpec[] = RUN_FLAGS, command = 'run'): ParsedRunArgs {
  const badFlag = (message: string) => badFlagOf(message, command)
  const byLong = new Map<string, RunFlagSpec>()
  const byChar = new Map<string, RunFlagSpec>()
  for (const spec of table) {
    byLong.set(spec.name, spec)
    for (const alias of spec.aliases ?? []) byLong.set(alias, spec)
    if (spec.char) byChar.set(spec.char, spec)
  }
  const flags: RawRunFlags = {}
  const set = (spec: RunFlagSpec, value: string | boolean, shown: string) => {
    if (typeof value === 'string' && value.includes('\0')) throw badFlag(`${shown}: the value contains a NUL byte`)
    if (spec.kind === 'multiple') flags[spec.name] = [...((flags[spec.name] as string[] | undefined) ?? []), value as string]
    else flags[spec.name] = value
  }
  let help = false
  let i = 0
  for (; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === '--') {
      i++
      break
    }
    if (arg === '--help') {
      help = true
      continue
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=')
      const long = eq === -1 ? arg.slice(2) : arg.slice(2, eq)
      const spec = byLong.get(long)
      if (!spec) throw badFlag(`unknown flag: --${long}`)
      if (spec.kind === 'boolean') {
        if (eq === -1) set(spec, true, `--${long}`)
        else {
          const v = arg.slice(eq + 1)
          if (v !== 'true' && v !== 'false') throw badFlag(`invalid argument "${v}" for --${long}: true or false`)
          set(spec, v === 'true', `--${long}`)
        }
        continue
      }
      let value: string
      if (eq !== -1) value = arg.slice(eq + 1)
      else {
        if (i + 1 >= argv.length) throw badFlag(`flag needs an argument: --${long}`)
        value = argv[++i]
      }
      set(spec, value, `--${long}`)
      continue
    }
    if (arg.startsWith('-') && arg.length > 1) {
      // -it, -eK=V, -e K=V: booleans may be grouped; the first char that takes a value takes the
      // rest of the argument, or the next argument.
      for (let j = 1; j < arg.length; j++) {
        const c = arg[j]
        const spec = byChar.get(c)
        if (!spec) throw badFlag(`unknown shorthand flag: '${c}' in ${arg}`)
        if (spec.kind === 'boolean') {
          set(spec, true, `-${c}`)
          continue
        }
        let value = arg.slice(j + 1)
        if (value === '') {
          if (i + 1 >= argv.length) throw badFlag(`flag needs an argument: '${c}' in -${c}`)
          value = argv[++i]
        } else if (value.startsWith('=')) value = value.slice(1)
        set(spec, value, `-${c}`)
        break
      }
      continue
    }
    break
  }
  const parsed: ParsedRunArgs = {help, flags, command: []}
  if (i < argv.length) {
    parsed.image = argv[i]
    parsed.command = argv.slice(i + 1)
  }
  for (const [k, v] of Object.entries(flags)) {
    const spec = byLong.get(k)!
    if (spec.options && typeof v === 'string' && !spec.options.includes(v)) {
      throw badFlag(`invalid argument "${v}" for --${k}: use ${spec.options.join(' or ')}`)
    }
  }
  return parsed
}
