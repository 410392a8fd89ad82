import * as os from 'node:os'
import * as path from 'node:path'

/**
 * Where pivot keeps things for the user running it (issue 14, rootless). Root keeps the project's
 * `cache/` and host-wide runtime state under /run; any other user gets the XDG places podman and
 * runc use: the cache under $XDG_DATA_HOME/pivot (else ~/.local/share/pivot) and runtime state
 * (compiled seccomp filters, network leases, the OCI runtime's state) under $XDG_RUNTIME_DIR/pivot.
 * Without $XDG_RUNTIME_DIR (no login session: cron, su, setpriv) the runtime dir is
 * /tmp/pivot-run-<uid>, as podman falls back to /tmp/podman-run-<uid>; whoever uses it checks that
 * it is the user's own (a directory, owned by the user, 0700) before trusting what is in it.
 */
export function isRoot(): boolean {
  return (process.geteuid?.() ?? 0) === 0
}

/** The non-root cache root, or undefined for root (who keeps the project's `cache/`). */
export function userCacheDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (isRoot()) return undefined
  const data = env.XDG_DATA_HOME && path.isAbsolute(env.XDG_DATA_HOME) ? env.XDG_DATA_HOME : path.join(env.HOME || os.homedir(), '.local', 'share')
  return path.join(data, 'pivot')
}

/**
 * The directory of runtime state: `/run/<rootName>` for root, `$XDG_RUNTIME_DIR/pivot` (or
 * `/tmp/pivot-run-<uid>`) otherwise, with the rest of the root path below it
 * (`runtimeDir('pivot/seccomp')` is /run/pivot/seccomp or $XDG_RUNTIME_DIR/pivot/seccomp).
 */
export function runtimeDir(rootPath: string, env: NodeJS.ProcessEnv = process.env): string {
  if (isRoot()) return path.join('/run', rootPath)
  const xdg = env.XDG_RUNTIME_DIR && path.isAbsolute(env.XDG_RUNTIME_DIR) ? env.XDG_RUNTIME_DIR : undefined
  const base = xdg ?? path.join(os.tmpdir(), `pivot-run-${process.geteuid?.() ?? 0}`)
  // 'pivot/seccomp' -> <base>/pivot/seccomp; 'pivot-runtime' -> <base>/pivot-runtime.
  return path.join(base, rootPath)
}
