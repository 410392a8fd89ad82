export {DaemonError} from './daemon-error'
export type {CreateContainerOptions, DaemonContainer, DaemonImage, DockerDaemon, PullProgress, StreamOptions} from './docker-daemon'
export {DEFAULT_SOCKET, describeEndpoint, resolveEndpoint} from './daemon-endpoint'
export type {DaemonEndpoint} from './daemon-endpoint'
export {classifyPullError, followProgress} from './follow-progress'
export {FakeDaemon} from './fake-daemon'
export type {FakeImage} from './fake-daemon'

/**
 * The real daemon. At a unix socket (the usual case) pulls and inspects speak HTTP with node:http
 * alone (SocketDaemon); dockerode loads only for the other calls, or for a tcp:// DOCKER_HOST.
 */
export async function connectDaemon(env: NodeJS.ProcessEnv = process.env): Promise<import('./docker-daemon').DockerDaemon> {
  const {resolveEndpoint} = await import('./daemon-endpoint')
  const ep = resolveEndpoint(env)
  if (ep.kind === 'unix') return (await import('./socket-daemon')).connectSocketDaemon(ep, env)
  return (await import('./dockerode-daemon')).connectDaemon(env)
}
