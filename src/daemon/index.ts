export {DaemonError} from './daemon-error'
export type {
  CreateContainerOptions,
  DaemonContainer,
  DaemonImage,
  DockerDaemon,
  PullProgress,
  StreamOptions,
} from './docker-daemon'
export {DEFAULT_SOCKET, describeEndpoint, resolveEndpoint} from './daemon-endpoint'
export type {DaemonEndpoint} from './daemon-endpoint'
export {classifyPullError, followProgress} from './follow-progress'
export {FakeDaemon} from './fake-daemon'
export type {FakeImage} from './fake-daemon'

/** The real daemon. dockerode loads only when this is called. */
export async function connectDaemon(env: NodeJS.ProcessEnv = process.env): Promise<import('./docker-daemon').DockerDaemon> {
  return (await import('./dockerode-daemon')).connectDaemon(env)
}
