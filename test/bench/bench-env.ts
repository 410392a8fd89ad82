/**
 * The environment every bench runs its commands in: the caller's plus `extra`, without what
 * makes a node start slower than a user's would be (NODE_EXTRA_CA_CERTS alone adds ~40 ms to a
 * node start here; NODE_OPTIONS could preload anything). One definition for all the benches, so
 * they measure pivot, docker and runc under the same conditions.
 */
export function benchEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {...process.env, ...extra}
  delete env.NODE_EXTRA_CA_CERTS
  delete env.NODE_OPTIONS
  return env
}
