import {Readable} from 'node:stream'
import {DaemonError} from './daemon-error'
import type {CreateContainerOptions, DaemonContainer, DaemonImage, DockerDaemon, PullProgress, StreamOptions} from './docker-daemon'

/** An image the fake serves: its inspect data and the bytes `save` / `export` stream. */
export interface FakeImage {
  image: DaemonImage
  /** `docker save` output. A function so a test can make a broken stream. */
  save?: () => NodeJS.ReadableStream
  /** `docker export` output of a container made from this image. */
  export?: () => NodeJS.ReadableStream
}

/**
 * A scriptable daemon for unit tests of the pull logic: images the daemon holds (`local`), images
 * its registry would deliver (`registry`), failures to inject, and a log of every call.
 */
export class FakeDaemon implements DockerDaemon {
  readonly endpoint = 'fake://daemon'
  readonly apiVersion = '1.41'
  readonly calls: string[] = []
  /** By reference and by id. */
  readonly local = new Map<string, FakeImage>()
  readonly registry = new Map<string, FakeImage>()
  readonly containers = new Map<string, {image: string; cmd?: string[]; name?: string; labels: Record<string, string>}>()
  /** Thrown by every call: a daemon that is not there. */
  unreachable = false
  /** The registry cannot be reached: pulls fail with DAEMON_REGISTRY_UNREACHABLE. */
  registryDown = false
  /** Events emitted before an error event in an otherwise HTTP-200 pull stream. */
  pullErrorInStream?: {after: PullProgress[]; message: string}
  /** Progress events a successful pull emits. */
  pullEvents: PullProgress[] = [
    {id: 'latest', status: 'Pulling from fake'},
    {id: 'aaaaaaaaaaaa', status: 'Pulling fs layer'},
    {id: 'aaaaaaaaaaaa', status: 'Downloading', current: 10, total: 20},
    {id: 'aaaaaaaaaaaa', status: 'Pull complete'},
    {status: 'Status: Downloaded newer image'},
  ]
  private nextContainer = 1

  /** Puts an image in the daemon under `names` (normalised) and its id. */
  addLocal(names: string[], image: FakeImage): void {
    for (const n of [...names, image.image.id]) this.local.set(n, image)
  }

  removeLocal(nameOrId: string): void {
    this.local.delete(nameOrId)
  }

  private check(call: string): void {
    this.calls.push(call)
    if (this.unreachable) {
      throw new DaemonError('DAEMON_UNREACHABLE', 'cannot connect to the Docker daemon at fake://daemon: connection refused. Is the docker daemon running?')
    }
  }

  private find(ref: string): FakeImage {
    const image = this.local.get(ref)
    if (!image) throw new DaemonError('DAEMON_IMAGE_NOT_FOUND', `the Docker daemon has no image ${ref}`)
    return image
  }

  async inspectImage(ref: string): Promise<DaemonImage> {
    this.check(`inspect ${ref}`)
    return structuredClone(this.find(ref).image)
  }

  async pullImage(ref: string, onProgress?: (event: PullProgress) => void, options: StreamOptions = {}): Promise<void> {
    this.check(`pull ${ref}`)
    if (this.registryDown) {
      throw new DaemonError('DAEMON_REGISTRY_UNREACHABLE', `cannot pull ${ref}: Get "https://registry.fake/v2/": dial tcp: connection refused`)
    }
    if (this.pullErrorInStream) {
      for (const e of this.pullErrorInStream.after) onProgress?.(e)
      throw new DaemonError('DAEMON_PULL_FAILED', `cannot pull ${ref}: ${this.pullErrorInStream.message}`)
    }
    const image = this.registry.get(ref)
    if (!image) throw new DaemonError('DAEMON_IMAGE_NOT_FOUND', `cannot pull ${ref}: manifest for ${ref} not found: manifest unknown`)
    for (const e of this.pullEvents) {
      if (options.signal?.aborted) throw options.signal.reason
      onProgress?.(e)
      await new Promise(resolve => setImmediate(resolve))
    }
    this.addLocal([ref], image)
  }

  async createContainer(options: CreateContainerOptions): Promise<string> {
    this.check(`create ${options.image}`)
    const image = this.find(options.image)
    const c = image.image.config
    if (!options.cmd && !c.Cmd?.length && !c.Entrypoint?.length) {
      throw new DaemonError('DAEMON_REQUEST_FAILED', 'the Docker daemon could not create a container: No command specified')
    }
    const id = (this.nextContainer++).toString(16).padStart(64, 'c')
    this.containers.set(id, {image: options.image, cmd: options.cmd, name: options.name, labels: options.labels ?? {}})
    return id
  }

  async exportContainer(id: string, options: StreamOptions = {}): Promise<NodeJS.ReadableStream> {
    this.check(`export ${id}`)
    const c = this.containers.get(id)
    if (!c) throw new DaemonError('DAEMON_REQUEST_FAILED', `no such container ${id}`)
    const image = this.find(c.image)
    if (!image.export) throw new DaemonError('DAEMON_REQUEST_FAILED', 'fake: no export stream for this image')
    return abortable(image.export(), options.signal)
  }

  async removeContainer(id: string): Promise<void> {
    this.check(`remove ${id}`)
    this.containers.delete(id)
  }

  async listContainers(label: string): Promise<DaemonContainer[]> {
    this.check(`list ${label}`)
    const [key, value] = label.split('=', 2)
    return [...this.containers.entries()]
      .filter(([, c]) => key in c.labels && (value === undefined || c.labels[key] === value))
      .map(([id, c]) => ({id, names: c.name ? [c.name] : [], labels: c.labels}))
  }

  async saveImage(ref: string, options: StreamOptions = {}): Promise<NodeJS.ReadableStream> {
    this.check(`save ${ref}`)
    const image = this.find(ref)
    if (!image.save) throw new DaemonError('DAEMON_REQUEST_FAILED', 'fake: no save stream for this image')
    return abortable(image.save(), options.signal)
  }
}

function abortable(stream: NodeJS.ReadableStream, signal?: AbortSignal): NodeJS.ReadableStream {
  if (!signal) return stream
  const s = stream instanceof Readable ? stream : Readable.from(stream as AsyncIterable<Buffer>)
  const onAbort = () => s.destroy(signal.reason instanceof Error ? signal.reason : new Error('aborted'))
  if (signal.aborted) onAbort()
  else signal.addEventListener('abort', onAbort, {once: true})
  return s
}
