/**
 * The one way pivot's long commands hear Ctrl-C and `kill`: SIGINT and SIGTERM, handled alike.
 * (Forwarding signals to a container's PID 1 is the runtime's business: src/runtime/signals.ts.)
 */
export const INTERRUPT_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM']

/**
 * Runs `handler` on SIGINT or SIGTERM until the returned function is called. With `once`, each
 * signal's handler goes after it ran, so a second signal gets Node's default: the process dies of
 * it (status 130 or 143 in a shell).
 */
export function onInterrupt(handler: (signal: NodeJS.Signals) => void, options: {once?: boolean} = {}): () => void {
  for (const signal of INTERRUPT_SIGNALS) {
    if (options.once) process.once(signal, handler)
    else process.on(signal, handler)
  }
  return () => {
    for (const signal of INTERRUPT_SIGNALS) process.removeListener(signal, handler)
  }
}

/**
 * An AbortSignal that the first SIGINT or SIGTERM aborts (the work stops, cleans up and reports
 * it); a second signal gets Node's default. `release` removes the handlers.
 */
export function abortOnInterrupt(): {signal: AbortSignal; release: () => void} {
  const controller = new AbortController()
  const release = onInterrupt(() => controller.abort(), {once: true})
  return {signal: controller.signal, release}
}
