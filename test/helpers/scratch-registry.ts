// An empty registry of its own for a test: Debian's docker-registry on a free loopback port of
// 5200-5239 (push's range), storage in a temp dir, stopped (by its pid) when the test is done.
import {spawn} from 'node:child_process'
import * as fs from 'node:fs'
import * as net from 'node:net'
import * as path from 'node:path'
import {tempDir} from './fixtures'

export interface ScratchRegistry {
  port: number
  /** `127.0.0.1:PORT` */
  host: string
  /** The registry's storage directory (blobs under docker/registry/v2/blobs). */
  storage: string
  stop(): Promise<void>
}

async function portFree(port: number): Promise<boolean> {
  return new Promise(resolve => {
    const server = net.createServer()
    server.once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
  })
}

async function answers(host: string): Promise<boolean> {
  try {
    const res = await fetch(`http://${host}/v2/`)
    return res.status === 200
  } catch {
    return false
  }
}

/** `ports`: the test's own range (inclusive), default push's 5200-5239. */
export async function startScratchRegistry(options: {ports?: [number, number]} = {}): Promise<ScratchRegistry> {
  const [low, high] = options.ports ?? [5200, 5239]
  const dir = tempDir('pivot-push-registry')
  for (let tries = 0; tries < 20; tries++) {
    const port = low + Math.floor(Math.random() * (high - low + 1))
    if (!(await portFree(port))) continue
    const host = `127.0.0.1:${port}`
    const storage = path.join(dir, `storage-${port}`)
    const config = path.join(dir, `config-${port}.yml`)
    fs.writeFileSync(
      config,
      `version: 0.1\nlog: {level: warn}\nstorage: {filesystem: {rootdirectory: ${storage}}, delete: {enabled: true}}\nhttp: {addr: ${host}}\n`,
    )
    const child = spawn('/usr/bin/docker-registry', ['serve', config], {stdio: ['ignore', 'ignore', 'pipe']})
    let stderr = ''
    child.stderr.on('data', d => (stderr += String(d)))
    let exited = false
    child.once('exit', () => (exited = true))
    for (let i = 0; i < 100 && !exited; i++) {
      if (await answers(host)) {
        return {
          port,
          host,
          storage,
          stop: () =>
            new Promise<void>(resolve => {
              if (exited) return resolve()
              child.once('exit', () => resolve())
              child.kill('SIGTERM')
            }),
        }
      }
      await new Promise(r => setTimeout(r, 100))
    }
    child.kill('SIGKILL')
    if (!/address already in use/.test(stderr)) throw new Error(`docker-registry on ${host} did not start: ${stderr.trim()}`)
  }
  throw new Error(`no free port in ${low}-${high} for a scratch registry`)
}
