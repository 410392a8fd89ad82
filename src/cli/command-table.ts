/**
 * What bin/pivot's lean path knows without loading oclif: every command's one-line summary (for
 * the root `--help`) and, for the hot commands, their flags and arguments. oclif's command classes
 * (commands/*.ts) stay the reference: test/unit/cli/command-table.test.ts checks that this table
 * says what they say, and the lean path hands anything it does not know to oclif (see dispatch.ts).
 *
 * A new command: add its summary to SUMMARIES (else the root help goes through oclif, ~100 ms
 * slower). A new flag on a hot command: add it to its spec (else that command's lean parse falls
 * back to oclif whenever the flag is used, and the unit test fails).
 */

export interface LeanFlag {
  /** Long name, without the dashes. */
  name: string
  char?: string
  /** boolean: no value; string: one value; multiple: one value, repeatable. */
  kind: 'boolean' | 'string' | 'multiple'
}

export interface LeanCommand {
  /** The command's own flags, without --cache-dir (every command's) and --json. */
  flags: readonly LeanFlag[]
  /** The command has oclif's --json flag (enableJsonFlag). */
  json: boolean
  /** Names of its required positional arguments, in order; no optional ones. */
  args: readonly string[]
}

/** The global flag of every command (PivotCommand.baseFlags). */
export const CACHE_DIR_FLAG: LeanFlag = {name: 'cache-dir', kind: 'string'}

/** The commands bin/pivot runs without oclif when their argv is plain (see parse-argv.ts). */
export const LEAN_COMMANDS: Readonly<Record<string, LeanCommand>> = {
  images: {flags: [{name: 'digests', kind: 'boolean'}], json: true, args: []},
  ps: {
    flags: [
      {name: 'all', char: 'a', kind: 'boolean'},
      {name: 'quiet', char: 'q', kind: 'boolean'},
      {name: 'no-trunc', kind: 'boolean'},
      {name: 'filter', char: 'f', kind: 'multiple'},
    ],
    json: true,
    args: [],
  },
  build: {
    flags: [
      {name: 'tag', char: 't', kind: 'string'},
      {name: 'no-cache', kind: 'boolean'},
      {name: 'build-arg', kind: 'multiple'},
      {name: 'context', kind: 'string'},
      {name: 'pull', kind: 'boolean'},
      {name: 'quiet', char: 'q', kind: 'boolean'},
    ],
    json: true,
    args: ['recipe'],
  },
  pull: {
    flags: [
      {name: 'flat', kind: 'boolean'},
      {name: 'quiet', char: 'q', kind: 'boolean'},
      {name: 'source', kind: 'string'},
      {name: 'platform', kind: 'string'},
      {name: 'max-concurrent-downloads', kind: 'string'},
    ],
    json: true,
    args: ['image'],
  },
  push: {
    flags: [
      {name: 'quiet', char: 'q', kind: 'boolean'},
      {name: 'format', kind: 'string'},
    ],
    json: true,
    args: ['image'],
  },
}

/** Every command's `static summary`, as the root help lists them (`help` is @oclif/plugin-help's). */
export const SUMMARIES: Readonly<Record<string, string>> = {
  attach: "Attach to a running container's input and output",
  build: 'Build an image from a recipe',
  check: 'Verify the cache, and repair it with --repair',
  commit: "Create a new image from a container's changes",
  container: 'Manage containers (docker container ls, rm, prune, ...)',
  cp: 'Copy files between a container and the host',
  diff: "Show the changes to a container's filesystem",
  exec: 'Run a command in a running container',
  export: "Write an image's root filesystem as one tar archive",
  help: 'Display help for pivot.',
  history: "Show an image's history",
  'image inspect': 'Show images as docker image inspect does',
  images: 'List the images in the cache',
  import: 'Make an image from a rootfs tarball',
  inspect: 'Show the low-level details of containers or images',
  kill: 'Send a signal to running containers',
  load: 'Load images from an OCI layout or a docker save archive',
  logs: "Print a detached container's output",
  login: 'Log in to a registry',
  logout: 'Log out from a registry',
  network: 'Manage container networks',
  pause: 'Pause all processes within containers',
  port: "List a container's published ports",
  prune: 'Free the disk space nothing uses any more',
  ps: 'List containers',
  pull: 'Pull an image from a registry (or the Docker daemon) into the cache',
  push: 'Push an image to its registry',
  rename: 'Rename a container',
  restart: 'Restart containers',
  rm: 'Remove containers',
  rmi: 'Remove images from the cache',
  run: 'Run a command in a new container of a cached image',
  save: 'Write images to an OCI image layout that docker load also reads',
  start: 'Start stopped containers again',
  stats: 'Display a live stream of containers resource usage',
  stop: 'Stop running containers',
  tag: 'Give an image another name',
  top: 'Display the running processes of a container',
  unpause: 'Unpause all processes within containers',
  version: 'Show the pivot version information',
  volume: 'Manage named volumes',
  wait: 'Wait for containers to stop, then print their exit codes',
}
