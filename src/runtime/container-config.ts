import * as fs from 'node:fs'
import * as path from 'node:path'
import type {ImageConfig} from '../store/image-record'
import {RuntimeError} from './runtime-error'

/** Docker's PATH for an image that sets none (daemon's oci.DefaultPathEnv). */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

/**
 * The command docker runs (its client and daemon's config merge): any --entrypoint, even "",
 * drops the image's Cmd, so the arguments alone follow it; without one, the arguments replace the
 * image's Cmd after the image's Entrypoint. Nothing left to run is docker's "No command
 * specified" (125): `--entrypoint '' IMG` with no arguments is refused, not the image's Cmd.
 */
export function resolveCommand(config: ImageConfig, args: readonly string[], entrypointFlag?: string): string[] {
  let command: string[]
  if (entrypointFlag !== undefined) {
    command = entrypointFlag === '' ? [...args] : [entrypointFlag, ...args]
  } else {
    command = [...(config.Entrypoint ?? []), ...(args.length > 0 ? args : (config.Cmd ?? []))]
  }
  if (command.length === 0) {
    const why =
      entrypointFlag === ''
        ? '--entrypoint "" clears the image\'s Entrypoint and Cmd: give a command after the image name'
        : 'the image has no Cmd or Entrypoint: give a command after the image name'
    throw new RuntimeError('RUN_NO_COMMAND', `no command specified (${why})`)
  }
  return command
}

function envKey(entry: string): string {
  const eq = entry.indexOf('=')
  return eq === -1 ? entry : entry.slice(0, eq)
}

/** Later entries replace earlier ones with the same key, in place (docker's ReplaceOrAppendEnvValues). */
export function mergeEnv(...lists: ReadonlyArray<readonly string[]>): string[] {
  const out: string[] = []
  const index = new Map<string, number>()
  for (const list of lists) {
    for (const entry of list) {
      const key = envKey(entry)
      const at = index.get(key)
      if (at === undefined) {
        index.set(key, out.length)
        out.push(entry)
      } else out[at] = entry
    }
  }
  return out
}

/**
 * The process environment the container starts with, in docker's order: PATH (the image's
 * replaces the default in place), HOSTNAME, then the image's and the user's.
 */
export function containerEnv(env: readonly string[], hostname: string): string[] {
  return mergeEnv([`PATH=${DEFAULT_PATH}`, `HOSTNAME=${hostname}`], env)
}

function checkEnvEntry(entry: string, where: string): void {
  if (entry.includes('\0')) throw new RuntimeError('RUN_BAD_FLAG', `${where}: environment entry contains a NUL byte`)
  const key = envKey(entry)
  if (key === '') throw new RuntimeError('RUN_BAD_FLAG', `${where}: invalid environment variable ${JSON.stringify(entry)}: the name is empty`)
  if (/\s/.test(key)) throw new RuntimeError('RUN_BAD_FLAG', `${where}: invalid environment variable name ${JSON.stringify(key)}: it contains whitespace`)
}

/** Docker reads env files with a line scanner whose lines stop at 64 KiB; pivot also stops at 16 MiB in all. */
const ENV_FILE_MAX_LINE = 64 * 1024
const ENV_FILE_MAX_BYTES = 16 * 1024 * 1024

/** An --env-file's text, read with bounds: /dev/zero or an endless pipe is an error, not a hang. */
function readEnvFile(file: string): string {
  const bad = (why: string) => new RuntimeError('RUN_BAD_FLAG', `--env-file ${JSON.stringify(file).slice(1, -1)}: ${why}`)
  let fd: number
  try {
    fd = fs.openSync(file, 'r')
  } catch (error) {
    throw bad((error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message)
  }
  try {
    const chunks: Buffer[] = []
    const buf = Buffer.allocUnsafe(64 * 1024)
    let total = 0
    let lineLength = 0
    for (;;) {
      let n: number
      try {
        n = fs.readSync(fd, buf, 0, buf.length, null)
      } catch (error) {
        throw bad((error as Error).message)
      }
      if (n === 0) break
      const chunk = buf.subarray(0, n)
      let last = -1
      for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) {
        if (lineLength + (i - last - 1) > ENV_FILE_MAX_LINE) throw bad(`a line is longer than ${ENV_FILE_MAX_LINE} bytes`)
        lineLength = 0
        last = i
      }
      lineLength += n - last - 1
      if (lineLength > ENV_FILE_MAX_LINE) throw bad(`a line is longer than ${ENV_FILE_MAX_LINE} bytes`)
      total += n
      if (total > ENV_FILE_MAX_BYTES) throw bad(`larger than ${ENV_FILE_MAX_BYTES / 1024 / 1024} MiB`)
      chunks.push(Buffer.from(buf.subarray(0, n)))
    }
    return Buffer.concat(chunks).toString('utf8')
  } finally {
    fs.closeSync(fd)
  }
}

/**
 * -e and --env-file as docker reads them: files first, then -e, later wins; `KEY` without `=`
 * takes KEY from pivot's own environment and is dropped when that has none.
 */
export function userEnv(envFlags: readonly string[], envFiles: readonly string[], hostEnv: NodeJS.ProcessEnv = process.env): string[] {
  const entries: Array<{entry: string; where: string}> = []
  for (const file of envFiles) {
    const text = readEnvFile(file)
    text.split('\n').forEach((raw, n) => {
      const line = raw.replace(/\r$/, '').replace(/^\s+/, '')
      if (line === '' || line.startsWith('#')) return
      entries.push({entry: line, where: `--env-file ${file} line ${n + 1}`})
    })
  }
  for (const entry of envFlags) entries.push({entry, where: '-e'})
  const out: string[] = []
  for (const {entry, where} of entries) {
    checkEnvEntry(entry, where)
    if (entry.includes('=')) out.push(entry)
    else if (hostEnv[entry] !== undefined) out.push(`${entry}=${hostEnv[entry]}`)
  }
  return out
}

/** Docker's container name rule. */
export function checkContainerName(name: string): void {
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/.test(name) || name.length > 128) {
    throw new RuntimeError('RUN_BAD_FLAG', `invalid container name ${JSON.stringify(name)}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed, at least 2 characters`)
  }
}

/**
 * A host name of at most 64 bytes (sethostname's limit). Docker takes any string; pivot takes
 * what host names are made of in practice, `_` included (`-h ci_box`), but nothing that could
 * add a line or a field to the container's /etc/hosts (whitespace, `#`).
 */
export function checkHostname(name: string): void {
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name)) {
    throw new RuntimeError('RUN_BAD_FLAG', `invalid hostname ${JSON.stringify(name)}: letters, digits, '-', '_' and '.', at most 64 characters`)
  }
}

export function checkWorkdir(dir: string): string {
  if (dir.includes('\0')) throw new RuntimeError('RUN_BAD_FLAG', 'the working directory contains a NUL byte')
  if (!path.posix.isAbsolute(dir)) {
    throw new RuntimeError('RUN_BAD_FLAG', `the working directory ${JSON.stringify(dir)} is invalid: it needs to be an absolute path`)
  }
  return path.posix.normalize(dir)
}

/** `-u`'s syntax; '' is no -u at all, as in docker (the image's user). */
export function checkUser(user: string): void {
  if (user.includes('\0') || /[\s/]/.test(user) || user.split(':').length > 2) {
    throw new RuntimeError('RUN_BAD_FLAG', `invalid user ${JSON.stringify(user)}: use UID[:GID] or NAME[:GROUP]`)
  }
}
