import * as net from 'node:net'
import type {Store} from '../../store/store'
import {RuntimeError} from '../runtime-error'
import {containerStatus, resolveContainer, waitStopped} from './containers'

/** docker's default --detach-keys: ctrl-p, ctrl-q. */
export const DEFAULT_DETACH_KEYS = [0x10, 0x11]

/**
 * docker's --detach-keys: comma-separated keys, each a single character or `ctrl-X` (X a letter
 * or one of @ [ \ ] ^ _).
 */
export function parseDetachKeys(spec: string): number[] {
  const keys = spec.split(',').map(k => {
    if (k.length === 1) return k.charCodeAt(0)
    const m = /^ctrl-([a-z@[\\\]^_])$/i.exec(k)
    if (!m) throw new RuntimeError('CONTAINER_BAD_FLAG', `Unknown character: '${k}'`, {exitCode: 1})
    return m[1].toUpperCase().charCodeAt(0) & 0x1f
  })
  if (keys.length === 0 || spec === '') throw new RuntimeError('CONTAINER_BAD_FLAG', 'invalid detach keys: none given', {exitCode: 1})
  return keys
}

/**
 * Connects to a detached container's monitor (monitor.c, -a). Retried until `timeoutMs`: for
 * `start -a` the monitor is being spawned, and a socket left by a killed one refuses until the
 * new one has bound its own.
 */
export async function connectAttach(socketPath: string, timeoutMs: number): Promise<net.Socket> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const socket = await new Promise<net.Socket | Error>(resolve => {
      const s = net.connect(socketPath)
      s.once('connect', () => resolve(s))
      s.once('error', error => resolve(error))
    })
    if (!(socket instanceof Error)) return socket
    if (Date.now() > deadline) throw new RuntimeError('CONTAINER_NO_ATTACH', `cannot attach to the container: ${socket.message}`, {exitCode: 1})
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}

export interface AttachIo {
  /** Forward this to the container's stdin (only a container run with -i reads it). */
  stdin?: NodeJS.ReadStream
  /** The container has a pty: the host terminal goes raw and the detach keys are read. */
  tty: boolean
  /**
   * The host terminal whose size the container's pty takes, at attach and on each change (docker
   * attach's resize; pivot's stdout when it is a terminal). Only for a container with a pty.
   */
  terminal?: Pick<NodeJS.WriteStream, 'rows' | 'columns' | 'on' | 'removeListener'>
  detachKeys: number[]
  write(stream: 'stdout' | 'stderr', chunk: Buffer): void
}

/** Kinds of the frames a client sends the monitor (monitor.c): stdin bytes, a window size. */
const FRAME_STDIN = 0
const FRAME_SIZE = 1
/** The monitor's limit for one frame's payload. */
const FRAME_MAX = 4096

/** A client frame: stdcopy's 8-byte header (kind, three zeros, the length big-endian), then the bytes. */
export function clientFrame(kind: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(8)
  head[0] = kind
  head.writeUInt32BE(payload.length, 4)
  return Buffer.concat([head, payload])
}

/** Stdin bytes as frames of at most FRAME_MAX bytes each. */
export function stdinFrames(bytes: Buffer): Buffer {
  const frames: Buffer[] = []
  for (let at = 0; at < bytes.length; at += FRAME_MAX) frames.push(clientFrame(FRAME_STDIN, bytes.subarray(at, at + FRAME_MAX)))
  return Buffer.concat(frames)
}

/** A window size frame: rows and columns, 16 bits each, big-endian. */
export function sizeFrame(rows: number, columns: number): Buffer {
  const size = Buffer.alloc(4)
  size.writeUInt16BE(rows, 0)
  size.writeUInt16BE(columns, 2)
  return clientFrame(FRAME_SIZE, size)
}

/**
 * Relays an attach session until the container ends ('ended': the monitor closed the socket
 * after recording the exit) or the user typed the detach keys ('detached'). Output comes in
 * docker's stdcopy frames; stdin and the terminal's size go in frames of the same header. The
 * host terminal is raw only while attached.
 */
export function relayAttach(socket: net.Socket, io: AttachIo): Promise<'ended' | 'detached'> {
  return new Promise(resolve => {
    let pending: Buffer = Buffer.alloc(0)
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk])
      while (pending.length >= 8) {
        const size = pending.readUInt32BE(4)
        if (pending.length < 8 + size) break
        io.write(pending[0] === 2 ? 'stderr' : 'stdout', pending.subarray(8, 8 + size))
        pending = pending.subarray(8 + size)
      }
    })
    socket.on('error', () => undefined)
    const stdin = io.stdin
    const raw = io.tty && stdin?.isTTY === true
    const restore = () => {
      if (raw) stdin.setRawMode(false)
    }
    // The pty takes the host terminal's size now and on every change, as with docker attach.
    const terminal = io.tty ? io.terminal : undefined
    const sendSize = () => {
      if (terminal && terminal.rows > 0 && terminal.columns > 0) socket.write(sizeFrame(terminal.rows, terminal.columns))
    }
    if (terminal) {
      sendSize()
      terminal.on('resize', sendSize)
    }
    let matched = 0
    const onInput = (chunk: Buffer) => {
      if (!io.tty) {
        socket.write(stdinFrames(chunk))
        return
      }
      // The detach keys are held back while they match, and sent on when the sequence breaks.
      const out: number[] = []
      for (const byte of chunk) {
        if (byte === io.detachKeys[matched]) {
          matched++
          if (matched === io.detachKeys.length) {
            if (out.length > 0) socket.write(stdinFrames(Buffer.from(out)))
            return finish('detached')
          }
          continue
        }
        out.push(...io.detachKeys.slice(0, matched))
        matched = 0
        if (byte === io.detachKeys[0]) matched = 1
        else out.push(byte)
      }
      if (out.length > 0) socket.write(stdinFrames(Buffer.from(out)))
    }
    const finish = (how: 'ended' | 'detached') => {
      stdin?.removeListener('data', onInput)
      terminal?.removeListener('resize', sendSize)
      restore()
      // A terminal's read stream would keep pivot alive: nothing reads it after the session.
      stdin?.destroy()
      process.removeListener('exit', restore)
      socket.destroy()
      resolve(how)
    }
    socket.on('close', () => finish('ended'))
    if (stdin) {
      if (raw) stdin.setRawMode(true)
      process.on('exit', restore)
      // EOF on pivot's stdin leaves the container's open (docker's rule for -d -i containers).
      stdin.on('data', onInput)
      stdin.resume()
    }
  })
}

/**
 * `pivot attach CONTAINER`: its output from now on, pivot's stdin to its stdin when it was run
 * with -i; returns its exit status once it ends, or 'detached'.
 */
export async function attachContainer(
  store: Store,
  ref: string,
  options: {stdin: boolean; detachKeys: number[]; write: AttachIo['write']},
): Promise<number | 'detached'> {
  const id = resolveContainer(store, ref)
  const status = containerStatus(store, id)
  if (!status) throw new RuntimeError('CONTAINER_NOT_FOUND', `No such container: ${ref}`, {exitCode: 1})
  if (status.state !== 'running') throw new RuntimeError('CONTAINER_NOT_RUNNING', 'You cannot attach to a stopped container, start it first', {exitCode: 1})
  if (status.paused) throw new RuntimeError('CONTAINER_PAUSED', 'You cannot attach to a paused container, unpause it first', {exitCode: 1})
  if (status.record.detached !== true) {
    throw new RuntimeError(
      'CONTAINER_NO_ATTACH',
      `container ${id.slice(0, 12)} runs in the foreground of its \`pivot run\`: only detached containers (run -d, start) can be attached to`,
      {exitCode: 1},
    )
  }
  const {attachSocketPath} = require('../monitor/start-monitor') as typeof import('../monitor/start-monitor')
  const socket = await connectAttach(attachSocketPath(id), 1000)
  return finishAttach(store, id, socket, options)
}

/** The relay, then the container's exit status (docker attach's and start -a's). */
export async function finishAttach(
  store: Store,
  id: string,
  socket: net.Socket,
  options: {stdin: boolean; detachKeys: number[]; write: AttachIo['write']},
): Promise<number | 'detached'> {
  const record = containerStatus(store, id)?.record
  const how = await relayAttach(socket, {
    stdin: options.stdin && record?.interactive === true ? process.stdin : undefined,
    tty: record?.tty === true,
    terminal: process.stdout.isTTY ? process.stdout : undefined,
    detachKeys: options.detachKeys,
    write: options.write,
  })
  if (how === 'detached') return how
  const end = await waitStopped(store, id)
  return end?.state === 'dead' ? 137 : (end?.exitCode ?? 0)
}
