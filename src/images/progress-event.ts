/**
 * What pull (and the pulls of build and run) report as they go, through a plain callback: the
 * library knows nothing of terminals; src/cli/progress.ts draws these.
 */
export type ProgressEvent =
  /** A new step starts; the previous one is done. */
  | {type: 'phase'; title: string}
  /** The current step's title changes (e.g. "Unpacking layer 2/5"). */
  | {type: 'detail'; title: string}
  /** One line of the daemon's pull progress (per layer when `id` is a layer). */
  | {type: 'pull'; id?: string; status: string; current?: number; total?: number; rate?: number}
  | {type: 'warning'; message: string}
