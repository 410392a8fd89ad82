import * as fs from 'node:fs'
import type {Socket} from 'node:net'
import {KoffiSyscalls} from '../../sys/koffi-syscalls'
import {RuntimeError} from '../runtime-error'

/**
 * The holder side of a foreground `pivot run -t`: the container's init opens a pty of the
 * container's own devpts, makes it its terminal, and announces its master's descriptor number on
 * the console channel (fd 4 in the init; `channel` here). We take a copy with pidfd_getfd, set
 * the size of pivot's terminal on it, answer one byte (the init then closes its copy and execs),
 * and relay: the pty's output to our stdout, with -i our stdin (in raw mode, so Ctrl-C, Ctrl-Z
 * and the rest are bytes the container's line discipline turns into its own signals) to the pty.
 * SIGWINCH on our side becomes TIOCSWINSZ on the master. `close()` restores the terminal; it is
 * called on every way out of the run (the exit, an error, a signal that ends pivot).
 */
export interface ConsoleHold {
  /** Resolves when the container's side of the pty is closed (its last process ended) and its output is written. */
  readonly done: Promise<void>
  close(): void
}

export function holdConsole(channel: Socket, initPid: number, interactive: boolean, onInterrupt: () => void = () => undefined): ConsoleHold {
  const sys = new KoffiSyscalls()
  let master: import('node:tty').ReadStream | undefined
  let masterFd = -1
  let raw = false
  let closed = false
  const onResize = () => {
    if (master && process.stdout.isTTY) {
      try {
        const [cols, rows] = process.stdout.getWindowSize()
        sys.setWindowSize(masterFd, rows, cols)
      } catch {
        // the pty is gone
      }
    }
  }
  const onInput = (chunk: Buffer) => {
    master?.write(chunk)
    // Ctrl-C is a byte for the container's terminal; the caller decides about a PID 1 that ignores it.
    if (chunk.includes(3)) onInterrupt()
  }
  const hangUp = () => {
    if (process.stdin.isTTY) master?.destroy()
  }
  const restore = () => {
    if (raw) {
      raw = false
      try {
        process.stdin.setRawMode(false)
      } catch {
        // stdin closed
      }
    }
  }
  // Even a process.exit() from deep inside must leave the user's terminal as it found it.
  process.on('exit', restore)
  let finish: () => void = () => undefined
  const done = new Promise<void>(resolve => (finish = resolve))
  let text = ''
  channel.setEncoding('utf8')
  channel.on('error', () => undefined)
  channel.on('close', () => {
    if (!master) finish()
  })
  channel.on('data', (chunk: string) => {
    text += chunk
    if (master || !text.includes('\n')) return
    const fd = Number(text.slice(0, text.indexOf('\n')))
    let copy: number
    try {
      copy = sys.takeFd(initPid, fd)
    } catch {
      // The init waits for the answer; without it the channel's EOF fails its setup.
      channel.destroy()
      return
    }
    const tty = require('node:tty') as typeof import('node:tty')
    masterFd = copy
    master = new tty.ReadStream(copy)
    onResize()
    master.on('data', (data: Buffer) => {
      try {
        fs.writeSync(1, data)
      } catch {
        // our stdout is closed: the container's output has nowhere to go
      }
    })
    // EIO once no process holds the slave any more: the container has ended.
    master.on('error', () => undefined)
    master.on('close', () => finish())
    process.on('SIGWINCH', onResize)
    if (interactive && process.stdin.isTTY) {
      process.stdin.setRawMode(true)
      raw = true
    }
    if (interactive) {
      process.stdin.on('data', onInput)
      // Our terminal went away (EOF or EIO on a tty): hang up the container's, as a terminal
      // does; its shell gets SIGHUP and EOF instead of waiting forever for input.
      process.stdin.on('end', hangUp)
      process.stdin.on('error', hangUp)
      process.stdin.resume()
    }
    channel.end('\n')
  })
  return {
    done,
    close() {
      if (closed) return
      closed = true
      restore()
      process.removeListener('SIGWINCH', onResize)
      process.removeListener('exit', restore)
      if (interactive) {
        process.stdin.removeListener('data', onInput)
        process.stdin.removeListener('end', hangUp)
        process.stdin.removeListener('error', hangUp)
        process.stdin.pause()
      }
      master?.destroy()
      channel.destroy()
    },
  }
}

/** docker: `-it` with a stdin that is not a terminal fails before anything is made. */
export function checkTerminal(tty: boolean, interactive: boolean): void {
  if (tty && interactive && !(require('node:tty') as typeof import('node:tty')).isatty(0)) {
    throw new RuntimeError('RUN_NOT_A_TTY', 'the input device is not a TTY', {exitCode: 1})
  }
}
