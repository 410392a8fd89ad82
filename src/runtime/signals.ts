import * as fs from 'node:fs'
import {constants} from 'node:os'

/**
 * Signals `pivot run` never passes on, as docker's CLI: SIGKILL and SIGSTOP cannot be caught;
 * SIGCHLD and SIGURG are the CLI's own (docker: its Go runtime's preemption signal); SIGPIPE is
 * about pivot's own output (Node ignores it). SIGSEGV, SIGBUS, SIGFPE and SIGILL are left to
 * Node: a JS handler for a real fault would return to the faulting instruction forever. SIGIOT
 * and SIGPOLL are other names of SIGABRT and SIGIO.
 */
const NEVER_FORWARDED = new Set(['SIGKILL', 'SIGSTOP', 'SIGCHLD', 'SIGURG', 'SIGPIPE', 'SIGSEGV', 'SIGBUS', 'SIGFPE', 'SIGILL', 'SIGIOT', 'SIGPOLL'])

/**
 * On a terminal the container shares pivot's foreground process group, so the kernel already
 * delivered the keyboard's SIGINT and SIGQUIT and the resize's SIGWINCH to it: forwarding them
 * would deliver them twice. The job-control stops (Ctrl-Z, background reads and writes) keep
 * their default there: pivot stops with its container as any foreground program does.
 */
const FROM_TERMINAL = new Set(['SIGINT', 'SIGQUIT', 'SIGWINCH'])
const JOB_CONTROL = new Set(['SIGTSTP', 'SIGTTIN', 'SIGTTOU'])

/** glibc's SIGRTMIN and SIGRTMAX (32 and 33 are its threads' own), docker's RTMIN..RTMAX. */
export const REALTIME_SIGNALS = {first: 34, last: 64} as const

/**
 * The named signals `pivot run` passes on to the container's PID 1: every catchable one docker's
 * CLI forwards (it catches all and forwards all but SIGCHLD, SIGPIPE and SIGURG), so none of the
 * default-fatal ones (SIGALRM, SIGUSR1, SIGPROF...) kills pivot and leaves the container behind.
 */
export function forwardedSignals(tty: boolean): NodeJS.Signals[] {
  return (Object.keys(constants.signals) as NodeJS.Signals[]).filter(s => !NEVER_FORWARDED.has(s) && !(tty && JOB_CONTROL.has(s)))
}

export interface SignalTarget {
  /** The container's PID 1 on the host; undefined before it exists. */
  pid(): number | undefined
  /** SIGKILL everything in the container (its cgroup). */
  killAll(): void
}

export interface ForwardOptions {
  /** stdin is a terminal: Ctrl-C and Ctrl-\ already reached the container, which shares pivot's process group. */
  tty: boolean
  /** The container has a pty of its own (-t): its holder turns SIGWINCH into TIOCSWINSZ. */
  pty?: boolean
  /** For tests: whether `pid` has a handler for `signal` (default: reads SigCgt from /proc). */
  catches?: (pid: number, signal: number) => boolean
  /** For tests: how a signal is sent (default process.kill). */
  kill?: (pid: number, signal: NodeJS.Signals | number) => void
  /** For tests: listen to the real-time signals too (default true). */
  realtime?: boolean
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

interface SignalHandle {
  onsignal: (signum: number) => void
  start(signum: number): number
  close(): void
  unref(): void
}

/**
 * Listens to the real-time signals, which process.on() cannot name: through the binding
 * process.on() itself uses (libuv's signal handles). Deprecated only as `process.binding`; the
 * warning is muted for the one call. Without it (a future Node), those signals keep their
 * default action, as before.
 */
function listenRealtime(onSignal: (signum: number) => void): () => void {
  let Signal: (new () => SignalHandle) | undefined
  const muted = process.noDeprecation
  try {
    process.noDeprecation = true
    Signal = (process as unknown as {binding(name: string): {Signal: new () => SignalHandle}}).binding('signal_wrap').Signal
  } catch {
    return () => undefined
  } finally {
    process.noDeprecation = muted
  }
  const handles: SignalHandle[] = []
  for (let n = REALTIME_SIGNALS.first; n <= REALTIME_SIGNALS.last; n++) {
    const h = new Signal()
    h.onsignal = onSignal
    if (h.start(n) !== 0) {
      h.close()
      continue
    }
    // Like process.on's handles: listening must not keep pivot alive.
    h.unref()
    handles.push(h)
  }
  return () => {
    for (const h of handles) h.close()
  }
}

/**
 * Forwards signals (forwardedSignals and the real-time ones) to the container's PID 1 until the
 * returned function is called.
 *
 * PID 1 of a PID namespace gets only the signals it has a handler for (docker's containers
 * behave the same), so a second SIGINT or SIGTERM that PID 1 has no handler for kills the whole
 * container: the user can always get out. One it handles never counts: an interactive shell
 * handles SIGINT, and Ctrl-C at its prompt must not kill it. On a terminal, Ctrl-C, Ctrl-\ and
 * a resize were delivered by the kernel to the whole foreground process group, the container
 * included: forwarding them would deliver them twice.
 */
export function forwardSignals(target: SignalTarget, options: ForwardOptions): () => void {
  const catches = options.catches ?? catchesSignal
  const kill =
    options.kill ??
    ((pid: number, signal: NodeJS.Signals | number) => {
      try {
        process.kill(pid, signal)
      } catch {
        // Already gone.
      }
    })
  let strikes = 0
  const handlers = new Map<NodeJS.Signals, () => void>()
  for (const signal of forwardedSignals(options.tty)) {
    const handler = () => {
      const pid = target.pid()
      const fromTerminal = (options.tty && FROM_TERMINAL.has(signal)) || (options.pty === true && signal === 'SIGWINCH')
      if (pid !== undefined && !fromTerminal) kill(pid, signal)
      if (signal === 'SIGTERM' || signal === 'SIGINT') {
        // Only a signal that PID 1 ignored counts: one it handles reached it (a trap that exits
        // with its own status must get to do so, however many came before).
        const counts = pid === undefined || !catches(pid, constants.signals[signal])
        if (counts && ++strikes >= 2) target.killAll()
      }
    }
    handlers.set(signal, handler)
    process.on(signal, handler)
  }
  const stopRealtime =
    options.realtime === false
      ? () => undefined
      : listenRealtime(signum => {
          const pid = target.pid()
          if (pid !== undefined) kill(pid, signum)
        })
  return () => {
    for (const [signal, handler] of handlers) process.removeListener(signal, handler)
    stopRealtime()
  }
}

/** Docker's exit status for a process: its code, or 128+N when signal N killed it. */
export function exitStatus(code: number | null, signal: NodeJS.Signals | null): number {
  if (signal) return 128 + (constants.signals[signal] ?? 0)
  return code ?? 125
}
