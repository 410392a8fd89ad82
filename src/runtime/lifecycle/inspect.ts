import * as fs from 'node:fs'
import type {Store} from '../../store/store'
import {configPath, type PortBinding} from '../../store/container-record'
import {DEFAULT_PIDS_LIMIT} from '../cgroups/parse-limits'
import type {InitConfig} from '../init-config'
import {RuntimeError} from '../runtime-error'
import {containerStatus, resolveContainer, type ContainerStatus} from './containers'

/** Go's zero time, which docker shows for a StartedAt/FinishedAt that never happened. */
const ZERO_TIME = '0001-01-01T00:00:00Z'

/** docker inspect's JSON for the fields pivot has, in docker's shape and order. */
export function inspectContainer(store: Store, status: ContainerStatus): Record<string, unknown> {
  const r = status.record
  let config: Partial<InitConfig> = {}
  try {
    config = JSON.parse(fs.readFileSync(configPath(store, status.id), 'utf8')) as InitConfig
  } catch {
    // --rm containers keep no config; older records have none
  }
  const running = status.state === 'running'
  const dockerStatus = status.paused ? 'paused' : status.state
  const policy = r.restartPolicy ?? {name: 'no' as const, maximumRetryCount: 0}
  return {
    Id: status.id,
    Created: r.created,
    Path: r.command[0] ?? '',
    Args: r.command.slice(1),
    State: {
      Status: dockerStatus,
      Running: running,
      Paused: status.paused === true,
      Restarting: status.state === 'restarting',
      OOMKilled: false,
      Dead: status.state === 'dead',
      Pid: running ? (status.pid ?? 0) : 0,
      ExitCode: status.exitCode ?? 0,
      Error: '',
      StartedAt: status.started ?? ZERO_TIME,
      FinishedAt: running ? ZERO_TIME : (status.finished ?? ZERO_TIME),
    },
    Image: r.image,
    Name: r.name === undefined ? '' : `/${r.name}`,
    RestartCount: r.restartCount ?? 0,
    HostConfig: {
      NetworkMode: r.network?.network ?? config.net ?? 'host',
      PortBindings: portBindings(r.network?.ports ?? []),
      RestartPolicy: {Name: policy.name, MaximumRetryCount: policy.maximumRetryCount},
      AutoRemove: r.remove,
      CapAdd: r.security?.capAdd?.length ? r.security.capAdd : null,
      CapDrop: r.security?.capDrop?.length ? r.security.capDrop : null,
      Privileged: r.security?.privileged === true,
      ReadonlyRootfs: config.readOnlyRootfs === true,
      Memory: r.limits.memory ?? 0,
      NanoCpus: r.limits.cpus === undefined ? 0 : Math.round(r.limits.cpus * 1e9),
      PidsLimit: r.limits.pids === undefined ? DEFAULT_PIDS_LIMIT : r.limits.pids > 0 ? r.limits.pids : null,
      MemorySwap: r.limits.memorySwap ?? 0,
      ShmSize: r.runFlags?.ShmSize ?? 64 * 1024 * 1024,
      Ulimits: r.runFlags?.Ulimits ?? null,
      GroupAdd: r.runFlags?.GroupAdd ?? null,
      Tmpfs: r.runFlags?.Tmpfs,
      Init: r.runFlags?.Init ?? null,
      CgroupnsMode: r.runFlags?.CgroupnsMode,
      // docker's "" is the host's user namespace.
      UsernsMode: r.runFlags?.UsernsMode ?? '',
      Devices: r.runFlags?.Devices ?? [],
    },
    // run's -v, --mount and --tmpfs as the record keeps them (docker's shape), not pivot's own
    // binds (/etc/hosts, --init's binary), which docker does not list either.
    Mounts: (r.mounts ?? []).map(m => ({...m, Mode: m.RW ? '' : 'ro', Propagation: m.Type === 'bind' ? 'rprivate' : ''})),
    NetworkSettings: r.network
      ? {
          IPAddress: r.network.ip,
          Gateway: r.network.gateway,
          Networks: {[r.network.network]: {IPAddress: r.network.ip, Gateway: r.network.gateway, Aliases: r.network.aliases}},
          Ports: portBindings(r.network.ports),
        }
      : {IPAddress: '', Gateway: '', Networks: {}, Ports: {}},
    Config: {
      Hostname: r.hostname,
      User: config.user ?? '',
      Tty: r.tty === true,
      OpenStdin: r.interactive === true,
      Env: (config.env ?? []).filter(e => !e.startsWith('HOSTNAME=')),
      Cmd: r.command,
      Image: r.imageName ?? r.image,
      WorkingDir: r.workdir === '/' ? '' : (r.workdir ?? ''),
      Entrypoint: null,
      Labels: r.runFlags?.Labels ?? {},
      StopSignal: r.stopSignal ?? 'SIGTERM',
    },
  }
}

/** docker's `{"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}`. */
function portBindings(ports: readonly PortBinding[]): Record<string, Array<{HostIp: string; HostPort: string}>> {
  const out: Record<string, Array<{HostIp: string; HostPort: string}>> = {}
  for (const p of ports) (out[`${p.containerPort}/${p.proto}`] ??= []).push({HostIp: p.hostIp, HostPort: String(p.hostPort)})
  return out
}

/**
 * `pivot inspect REF...`: each as docker shows it; an unknown one is one line, status 1 at the end.
 * A ref that names no container goes to `otherwise` (the CLI passes the image inspect: images
 * and runtime, one layer, do not import each other), docker's "No such object" if it finds none.
 */
export function inspectRefs(
  store: Store,
  refs: string[],
  otherwise: (ref: string) => object | undefined = () => undefined,
): {objects: object[]; errors: string[]} {
  const objects: object[] = []
  const errors: string[] = []
  for (const ref of refs) {
    try {
      const id = resolveContainer(store, ref)
      const status = containerStatus(store, id)
      if (!status) throw new RuntimeError('CONTAINER_NOT_FOUND', `No such container: ${ref}`, {exitCode: 1})
      objects.push(inspectContainer(store, status))
    } catch (error) {
      const e = error as RuntimeError
      if (e.code === 'CONTAINER_AMBIGUOUS') {
        errors.push(e.message)
        continue
      }
      if (e.code !== 'CONTAINER_NOT_FOUND') throw error
      const image = otherwise(ref)
      if (image) objects.push(image)
      else errors.push(`No such object: ${ref}`)
    }
  }
  return {objects, errors}
}

/**
 * A small subset of Go's text/template as `docker inspect -f` and `stats --format` use it:
 * `{{.A.B}}` (a string as it is, a number, true/false, an object or list as JSON), `{{json .A}}`,
 * `{{.}}`, and text between. Anything else is an error, not a guess.
 */
export function renderTemplate(template: string, value: unknown): string {
  return template.replace(/\{\{-?\s*(.*?)\s*-?\}\}/g, (_all, expr: string) => {
    const m = /^(json\s+)?(\.[A-Za-z0-9_.]*)$/.exec(expr)
    if (!m)
      throw new RuntimeError('CONTAINER_BAD_FLAG', `template: unsupported expression {{${expr}}} (pivot knows {{.Field.Sub}} and {{json .Field}})`, {
        exitCode: 1,
      })
    let v: unknown = value
    for (const part of m[2].split('.').filter(Boolean)) {
      if (v === null || typeof v !== 'object' || !(part in (v as object))) {
        throw new RuntimeError('CONTAINER_BAD_FLAG', `template: can't evaluate field ${part}`, {exitCode: 1})
      }
      v = (v as Record<string, unknown>)[part]
    }
    if (m[1]) return JSON.stringify(v)
    if (v === null || v === undefined) return '<no value>'
    if (typeof v === 'object')
      return Array.isArray(v)
        ? `[${v.map(x => String(x)).join(' ')}]`
        : `map[${Object.entries(v as object)
            .map(([k, x]) => `${k}:${typeof x === 'object' ? JSON.stringify(x) : String(x)}`)
            .join(' ')}]`
    return String(v)
  })
}
