import * as fs from 'node:fs'
import {constants} from 'node:os'

/** The signals `pivot run` passes on to the container's PID 1 (docker's sig-proxy set that matters). */
export const FORWARDED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'] as const
type Forwarded = (typeof FORWARDED_SIGNALS)[number]

export interface SignalTarget {
  /** The container's PID 1 on the host; undefined before it exists. */
  pid(): number | undefined
  /** SIGKILL everything in the container (its cgroup). */
  killAll(): void
}

export interface ForwardOptions {
  /** stdin is a terminal: Ctrl-C and Ctrl-\ already reached the container, which shares pivot's process group. */
  tty: boolean
  /** For tests: whether `pid` has a handler for `signal` (default: reads SigCgt from /proc). */
  catches?: (pid: number, signal: number) => boolean
  /** For tests: how a signal is sent (default process.kill). */
  kill?: (pid: number, signal: Forwarded) => void
}

/** Whether the process has a handler for the signal: bit (n-1) of SigCgt in /proc/<pid>/status. */
export function catchesSignal(pid: number, signal: number): boolean {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
    const m = /^SigCgt:\s*([0-9a-f]+)$/m.exec(status)
    return m !== null && ((BigInt('0x' + m[1]) >> BigInt(signal - 1)) & 1n) === 1n
  } catch {
    return false
  }
}

/**
 * Forwards FORWARDED_SIGNALS to the container's PID 1 until the returned function is called.
 *
 * PID 1 of a PID namespace gets only the signals it has a handler for (docker's containers
 * behave the same), so a second SIGINT or SIGTERM kills the whole container: the user can always
 * get out. On a terminal, Ctrl-C and Ctrl-\ were delivered by the kernel to the whole foreground
 * process group, the container included: forwarding them would deliver them twice. There, a
 * SIGINT counts towards the kill only when PID 1 does not handle SIGINT itself; an interactive
 * shell does, and Ctrl-C at its prompt must not kill it.
 */
export function forwardSignals(target: SignalTarget, options: ForwardOptions): () => void {
  const catches = options.catches ?? catchesSignal
  const kill =
    options.kill ??
    ((pid: number, signal: Forwarded) => {
      try {
        process.kill(pid, signal)
      } catch {
        // Already gone.
      }
    })
  let strikes = 0
  const handlers = new Map<Forwarded, () => void>()
  for (const signal of FORWARDED_SIGNALS) {
    const handler = () => {
      const pid = target.pid()
      const fromTerminal = options.tty && (signal === 'SIGINT' || signal === 'SIGQUIT')
      if (pid !== undefined && !fromTerminal) kill(pid, signal)
      if (signal === 'SIGTERM' || signal === 'SIGINT') {
        const counts = !(fromTerminal && pid !== undefined && catches(pid, constants.signals.SIGINT))
        if (counts && ++strikes >= 2) target.killAll()
      }
    }
    handlers.set(signal, handler)
    process.on(signal, handler)
  }
  return () => {
    for (const [signal, handler] of handlers) process.removeListener(signal, handler)
  }
}

/** Docker's exit status for a process: its code, or 128+N when signal N killed it. */
export function exitStatus(code: number | null, signal: NodeJS.Signals | null): number {
  if (signal) return 128 + (constants.signals[signal] ?? 0)
  return code ?? 125
}
