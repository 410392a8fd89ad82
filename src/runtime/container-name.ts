import * as fs from 'node:fs'
import * as path from 'node:path'
import type {Store} from '../store'
import {containerDir, namesDir} from '../store/container-record'
import {RuntimeError} from './runtime-error'

/**
 * Takes `name` for container `id`. A name stays taken while its container exists, running or
 * exited (docker's rule); a link left behind by a container that is gone is taken over.
 */
export function reserveName(store: Store, name: string, id: string): void {
  const dir = namesDir(store)
  fs.mkdirSync(dir, {recursive: true, mode: 0o700})
  const link = path.join(dir, name)
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      fs.symlinkSync(id, link)
      return
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    }
    let holder: string
    try {
      holder = fs.readlinkSync(link)
    } catch {
      continue
    }
    if (fs.existsSync(containerDir(store, holder))) {
      throw new RuntimeError(
        'RUN_NAME_IN_USE',
        `the container name "${name}" is already in use by container ${holder.slice(0, 12)}: remove it (pivot prune removes stopped containers) or choose another name`,
      )
    }
    // Stale: its container is gone. Rename-then-check so two runs cannot both take it.
    const stale = `${link}.${process.pid}.stale`
    try {
      fs.renameSync(link, stale)
      fs.rmSync(stale, {force: true})
    } catch {
      // Another run took it over first; try again.
    }
  }
  throw new RuntimeError('RUN_NAME_IN_USE', `could not take the container name "${name}"`)
}
