import * as fs from 'node:fs'
import * as path from 'node:path'
import {type HeldLock, lockFile, tryLockFile} from './file-lock'
import {currentProcess, isAlive, isRunning, type ProcessIdentity} from '../common/process-identity'
import type {Store} from './store'
import {unlinkIfPresent} from '../common/fs-util'

/**
 * How garbage collection and every reader of layers agree (docs/DESIGN.md, "Garbage collection").
 *
 * One cache-wide reader/writer flock, on the `locks/` directory itself (it always exists, so
 * taking it creates nothing: a `pivot run` leaves the cache as it found it). `prune` holds it
 * exclusively while it
 * marks (reads every name, image record, build-cache record, container record and lease) and
 * sweeps (takes what is unreferenced out of layers/ and images/). Everything that finds layers or
 * an image in the cache and then references them holds it shared from the lookup until the
 * record that references them is written: the name (pull, import, build), the container record
 * (run), the build-cache record (build). A shared flock is one syscall, so `pivot run` pays
 * almost nothing, and readers never wait for each other.
 *
 * Work that runs long between the lookup and the record (a pull unpacking for a minute, a build
 * running its steps, an export streaming) must not hold the lock that long: prune would wait for
 * it. It takes a lease instead: `leases/<pid>-<n>.json` lists the layers and images it uses, with
 * its owner's pid and start time. Each addition to a lease is made under the shared lock, in the
 * same section as the lookup or commit it protects, so prune (which reads leases under the
 * exclusive lock) sees every pin made before its mark and none can slip in during its sweep. A
 * lease whose owner is gone (pid and start time no longer match: killed, even by SIGKILL) pins
 * nothing, and prune deletes it.
 *
 * Why not only timestamps (keep what is newer than the oldest process in flight, as before): a
 * newcomer can start referencing an OLD layer (a re-pull after rmi finds all its layers cached),
 * which no age rule protects. Why not hold the shared lock for a whole pull or build: prune would
 * then wait for all of them, and with a few overlapping, never get its turn.
 */
const LEASES = 'leases'

function gcLockFile(store: Store): string {
  return store.path('locks')
}

/** The shared side: held from a lookup of layers until the record that references them is written. */
export async function lockGcShared(store: Store): Promise<HeldLock> {
  const file = gcLockFile(store)
  // The common case, no prune running, without a timer or a promise to wait on.
  return (
    tryLockFile(file, {shared: true, directory: true}) ?? lockFile(file, {shared: true, directory: true, what: 'a prune of this cache to finish', pollMs: 20})
  )
}

export async function withGcShared<T>(store: Store, fn: () => T | Promise<T>): Promise<T> {
  const lock = await lockGcShared(store)
  try {
    return await fn()
  } finally {
    lock.release()
  }
}

/** The exclusive side: prune's mark and sweep. */
export async function withGcExclusive<T>(store: Store, fn: () => T | Promise<T>): Promise<T> {
  // A short poll: readers hold the shared side for milliseconds, and prune needs a moment when none does.
  const lock = await lockFile(gcLockFile(store), {directory: true, what: 'other pivot processes to finish looking up layers', pollMs: 10})
  try {
    return await fn()
  } finally {
    lock.release()
  }
}

interface LeaseFile {
  owner: ProcessIdentity
  /** What the owner is doing (`pull`, `build`...), for people reading the cache. */
  purpose: string
  layers: string[]
  images: string[]
}

let leaseCounter = 0

/**
 * Pins layers and images for the length of a long operation. `pin(fn)` runs `fn` under the shared
 * GC lock; what `fn` passes to keepLayers/keepImage is written to the lease before the lock is let
 * go. `release()` (in a finally) removes the lease; a process that dies leaves it to prune.
 */
export class Lease {
  private readonly file: string
  private readonly layers = new Set<string>()
  private readonly images = new Set<string>()
  private dirty = false
  /** The lease file, open from its first write until release(). */
  private fd: number | undefined
  private readonly onExit = () => this.release()

  constructor(
    private readonly store: Store,
    private readonly purpose: string,
  ) {
    this.file = store.path(LEASES, `${process.pid}-${leaseCounter++}.json`)
  }

  /** Runs `fn` under the shared GC lock; the lease is written (if `fn` added to it) before the lock is released. */
  async pin<T>(fn: () => T | Promise<T>): Promise<T> {
    const lock = await lockGcShared(this.store)
    try {
      const result = await fn()
      this.flush()
      return result
    } finally {
      lock.release()
    }
  }

  keepLayers(digests: Iterable<string>): void {
    for (const d of digests) {
      if (this.layers.has(d)) continue
      this.layers.add(d)
      this.dirty = true
    }
  }

  keepImage(id: string): void {
    if (this.images.has(id)) return
    this.images.add(id)
    this.dirty = true
  }

  release(): void {
    process.removeListener('exit', this.onExit)
    if (this.fd === undefined) return
    fs.closeSync(this.fd)
    this.fd = undefined
    unlinkIfPresent(this.file)
  }

  /**
   * Rewrites the lease in place, in the file kept open: only prune reads leases, under the
   * exclusive lock, and every write is made under the shared one (in pin), so no reader sees one
   * half done, and an owner killed in the middle of one is dead, which its lease says anyway. A
   * temp file renamed over the lease at each pin (a build pins once a step) cost ~0.3 ms of CPU
   * each, and ext4 starts writing a file's data back when a rename replaces it.
   */
  private flush(): void {
    if (!this.dirty) return
    const lease: LeaseFile = {owner: currentProcess(), purpose: this.purpose, layers: [...this.layers], images: [...this.images]}
    const data = Buffer.from(JSON.stringify(lease) + '\n')
    if (this.fd === undefined) {
      fs.mkdirSync(path.dirname(this.file), {recursive: true, mode: 0o700})
      this.fd = fs.openSync(this.file, 'w', 0o600)
      process.on('exit', this.onExit)
    }
    for (let done = 0; done < data.length;) done += fs.writeSync(this.fd, data, done, data.length - done, done)
    // The lease only grows; cut anyway, so that what is read is exactly this document.
    fs.ftruncateSync(this.fd, data.length)
    this.dirty = false
  }
}

export interface LiveLeases {
  layers: Set<string>
  images: Set<string>
  /** Owners of the live leases. */
  pids: number[]
}

/**
 * The leases of live processes (call under the exclusive GC lock); the leases, and half-written
 * lease files, of dead ones are deleted.
 */
export function liveLeases(store: Store): LiveLeases {
  const live: LiveLeases = {layers: new Set(), images: new Set(), pids: []}
  const dir = store.path(LEASES)
  let entries: string[]
  try {
    entries = fs.readdirSync(dir)
  } catch {
    return live
  }
  const pids = new Set<number>()
  for (const entry of entries) {
    const file = path.join(dir, entry)
    const pid = Number(entry.split('-')[0])
    let lease: LeaseFile | undefined
    if (entry.endsWith('.json')) {
      try {
        lease = JSON.parse(fs.readFileSync(file, 'utf8')) as LeaseFile
      } catch {
        lease = undefined // unreadable: it pins nothing, and goes once its owner is gone
      }
    }
    if (lease && isRunning(lease.owner) && lease.owner.pid === pid) {
      if (Array.isArray(lease.layers)) lease.layers.forEach(l => live.layers.add(l))
      if (Array.isArray(lease.images)) lease.images.forEach(i => live.images.add(i))
      pids.add(pid)
    } else if (!(Number.isInteger(pid) && pid > 0 && isAlive(pid) && !lease)) {
      // A dead owner's lease, or its temp file. (A live pid's unreadable or temp file is being written.)
      fs.rmSync(file, {force: true})
    }
  }
  live.pids = [...pids].sort((a, b) => a - b)
  return live
}
