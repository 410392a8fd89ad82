import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {RegistryError} from './registry-error'

export interface Credentials {
  username: string
  password: string
  /** Where they came from, for messages: `pivot login`, `~/.docker/config.json`, `docker-credential-pass`. */
  origin: string
}

/** Docker Hub's key in config files (docker's IndexServer), whatever host the API is on. */
export const DOCKER_HUB_KEY = 'https://index.docker.io/v1/'

/** The key a registry's credentials are filed under: Hub's URL for docker.io, else `host[:port]`. */
export function credentialKey(domain: string): string {
  return domain === 'docker.io' || domain === 'index.docker.io' || domain === 'registry-1.docker.io' ? DOCKER_HUB_KEY : domain
}

/** pivot's own config (`pivot login`): $PIVOT_CONFIG_DIR, else $XDG_CONFIG_HOME/pivot, else ~/.config/pivot. */
export function pivotConfigFile(env: NodeJS.ProcessEnv = process.env): string {
  const dir = env.PIVOT_CONFIG_DIR || path.join(env.XDG_CONFIG_HOME || path.join(homeDir(env), '.config'), 'pivot')
  return path.join(dir, 'config.json')
}

/** docker's config: $DOCKER_CONFIG/config.json, else ~/.docker/config.json. */
export function dockerConfigFile(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(env.DOCKER_CONFIG || path.join(homeDir(env), '.docker'), 'config.json')
}

function homeDir(env: NodeJS.ProcessEnv): string {
  return env.HOME || os.homedir()
}

interface ConfigFile {
  auths?: Record<string, {auth?: string; username?: string; password?: string; identitytoken?: string}>
  credsStore?: string
  credHelpers?: Record<string, string>
  [key: string]: unknown
}

function readConfig(file: string): ConfigFile | undefined {
  let text: string
  try {
    text = fs.readFileSync(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new RegistryError('REGISTRY_BAD_CREDENTIALS', `cannot read ${file}: ${(error as Error).message}`, {cause: error})
  }
  try {
    const value = JSON.parse(text) as unknown
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not a JSON object')
    return value as ConfigFile
  } catch (error) {
    throw new RegistryError('REGISTRY_BAD_CREDENTIALS', `${file} is not valid JSON: ${(error as Error).message}`, {cause: error})
  }
}

/** The entry for `key` in an `auths` map; docker also matches keys written as URLs (`https://host/v2/`). */
function findAuth(auths: ConfigFile['auths'], key: string): NonNullable<ConfigFile['auths']>[string] | undefined {
  if (!auths) return undefined
  if (auths[key]) return auths[key]
  for (const [k, v] of Object.entries(auths)) {
    const host = k.replace(/^https?:\/\//, '').replace(/\/.*$/, '')
    if (host === key) return v
  }
  return undefined
}

function decodeAuth(entry: NonNullable<ConfigFile['auths']>[string], file: string, key: string): {username: string; password: string} | undefined {
  if (entry.auth) {
    const text = Buffer.from(entry.auth, 'base64').toString('utf8')
    const colon = text.indexOf(':')
    if (colon <= 0) throw new RegistryError('REGISTRY_BAD_CREDENTIALS', `the credentials for ${key} in ${file} are not base64 of user:password`)
    return {username: text.slice(0, colon), password: text.slice(colon + 1)}
  }
  if (entry.username && entry.password) return {username: entry.username, password: entry.password}
  return undefined
}

/**
 * The credentials for a registry: `pivot login`'s file first, then docker's config (a credential
 * helper when `credHelpers` names one for this registry or `credsStore` is set, else `auths`).
 * Undefined when none: the pull goes anonymous.
 */
export function findCredentials(domain: string, env: NodeJS.ProcessEnv = process.env): Credentials | undefined {
  const key = credentialKey(domain)
  const own = pivotConfigFile(env)
  const mine = readConfig(own)
  const found = mine && findAuth(mine.auths, key)
  if (found) {
    const c = decodeAuth(found, own, key)
    if (c) return {...c, origin: 'pivot login'}
  }
  const dockerFile = dockerConfigFile(env)
  const docker = readConfig(dockerFile)
  if (!docker) return undefined
  const helper = docker.credHelpers?.[key] ?? docker.credsStore
  if (helper) {
    const c = fromHelper(helper, key, env)
    if (c) return c
  }
  const entry = findAuth(docker.auths, key)
  if (!entry) return undefined
  const c = decodeAuth(entry, dockerFile, key)
  return c && {...c, origin: dockerFile}
}

/** `docker-credential-NAME get` with the server on stdin, as docker runs it; undefined when it has nothing for it. */
function fromHelper(name: string, key: string, env: NodeJS.ProcessEnv): Credentials | undefined {
  const {spawnSync} = require('node:child_process') as typeof import('node:child_process')
  const program = `docker-credential-${name}`
  const r = spawnSync(program, ['get'], {input: key, encoding: 'utf8', env, timeout: 30_000})
  if (r.error) {
    const why =
      (r.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'it is not installed (docker config names it in credsStore/credHelpers)' : r.error.message
    throw new RegistryError('REGISTRY_BAD_CREDENTIALS', `cannot run ${program}: ${why}`, {cause: r.error})
  }
  const out = (r.stdout ?? '').trim()
  // docker's credential helpers say "credentials not found in native keychain" and exit 1 for an unknown server.
  if (r.status !== 0) {
    if (/not found/i.test(out + (r.stderr ?? ''))) return undefined
    throw new RegistryError('REGISTRY_BAD_CREDENTIALS', `${program} get failed (exit ${r.status}): ${(out || (r.stderr ?? '')).trim().split('\n')[0]}`)
  }
  let value: {Username?: string; Secret?: string}
  try {
    value = JSON.parse(out) as typeof value
  } catch {
    throw new RegistryError('REGISTRY_BAD_CREDENTIALS', `${program} get did not print JSON`)
  }
  if (!value.Secret) return undefined
  // "<token>" marks an identity token (OAuth refresh token): not a password pivot can send.
  if (value.Username === '<token>') return undefined
  return {username: value.Username ?? '', password: value.Secret, origin: program}
}

/** Files credentials in pivot's config (mode 0600, written atomically), as `docker login` does in its own. */
export function saveCredentials(domain: string, username: string, password: string, env: NodeJS.ProcessEnv = process.env): string {
  const file = pivotConfigFile(env)
  const config = readConfig(file) ?? {}
  config.auths = {...config.auths, [credentialKey(domain)]: {auth: Buffer.from(`${username}:${password}`).toString('base64')}}
  writeConfig(file, config)
  return file
}

/** Removes a registry's credentials from pivot's config; false when there were none. */
export function removeCredentials(domain: string, env: NodeJS.ProcessEnv = process.env): boolean {
  const file = pivotConfigFile(env)
  const config = readConfig(file)
  const key = credentialKey(domain)
  if (!config?.auths || !(key in config.auths)) return false
  delete config.auths[key]
  writeConfig(file, config)
  return true
}

function writeConfig(file: string, config: ConfigFile): void {
  fs.mkdirSync(path.dirname(file), {recursive: true, mode: 0o700})
  const temp = `${file}.${process.pid}.tmp`
  // Created 0600 so the password is never readable by others, not even for a moment.
  fs.writeFileSync(temp, JSON.stringify(config, null, '\t') + '\n', {mode: 0o600})
  fs.chmodSync(temp, 0o600)
  fs.renameSync(temp, file)
}
