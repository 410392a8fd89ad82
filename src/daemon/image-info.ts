import type {ImageConfig} from '../store'
import type {DaemonImage} from './docker-daemon'

/** The fields of the Engine API's `GET /images/{name}/json` that pivot reads. */
export interface ImageInspectInfo {
  Id: string
  RepoTags?: string[] | null
  RepoDigests?: string[] | null
  Created: string
  Config?: ConfigFields | null
  RootFS?: {Layers?: string[] | null}
  Size: number
  Os: string
  Architecture: string
}

/** `docker image inspect`'s answer as pivot keeps it: empty config fields left out. */
export function toDaemonImage(info: ImageInspectInfo): DaemonImage {
  const config = imageConfigOf(info.Config)
  return {
    id: info.Id,
    repoTags: info.RepoTags ?? [],
    repoDigests: info.RepoDigests ?? [],
    created: info.Created,
    config,
    diffIds: info.RootFS?.Layers ?? [],
    size: info.Size,
    os: info.Os,
    architecture: info.Architecture,
  }
}

/** The fields of a config's `config` object that pivot reads (null where registries write null). */
export interface ConfigFields {
  Env?: string[] | null
  Cmd?: string[] | null
  Entrypoint?: string | string[] | null
  WorkingDir?: string
  User?: string
  ExposedPorts?: Record<string, unknown> | null
  Labels?: Record<string, string> | null
}

/**
 * The fields of an image config's `config` object (docker inspect's .Config, or the `config` of a
 * Docker/OCI config blob: the same names) that pivot keeps, empty ones left out. Pull and load
 * both go through it, so one image gets one pivot id however it came.
 */
export function imageConfigOf(c: ConfigFields | null | undefined): ImageConfig {
  c = c ?? {}
  const config: ImageConfig = {}
  if (c.Env?.length) config.Env = c.Env
  if (c.Cmd?.length) config.Cmd = c.Cmd
  if (c.Entrypoint?.length) config.Entrypoint = typeof c.Entrypoint === 'string' ? [c.Entrypoint] : c.Entrypoint
  if (c.WorkingDir) config.WorkingDir = c.WorkingDir
  if (c.User) config.User = c.User
  if (c.ExposedPorts && Object.keys(c.ExposedPorts).length) config.ExposedPorts = c.ExposedPorts as ImageConfig['ExposedPorts']
  if (c.Labels && Object.keys(c.Labels).length) config.Labels = c.Labels
  return config
}
