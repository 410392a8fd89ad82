import {createHash} from 'node:crypto'
import {type Challenge, parseChallenge} from './challenge'
import {type Credentials, findCredentials} from './credentials'
import {type HttpOptions, type HttpResponse, httpRequest, readBody} from './http'
import {MANIFEST_ACCEPT, MAX_MANIFEST_BYTES, type Manifest, parseManifest} from './manifest'
import {RegistryError} from './registry-error'
import {registryBase} from './registry-base'

// Kept here too: callers import it from the client (the quick re-pull takes it from registry-base alone).
export {registryBase}

export interface ClientOptions {
  /** Credentials to use; default: findCredentials (pivot login, then docker's config). */
  credentials?: Credentials | null
  env?: NodeJS.ProcessEnv
  signal?: AbortSignal
  /** Milliseconds without a byte before a request fails (default 30 s). */
  idleTimeout?: number
  /** Ask for push access too (token scope `pull,push`): `pivot push`. */
  push?: boolean
}

export interface FetchedManifest {
  manifest: Manifest
  /** sha256 of the bytes: what the manifest is called by digest. */
  digest: string
  bytes: Buffer
}

/**
 * A client for one repository of one registry (the OCI distribution API): ping, the
 * WWW-Authenticate challenge, anonymous, Basic and Bearer token auth, manifests and blobs. A 401
 * on any request (a token that expired mid-pull) gets one fresh token and one retry.
 */
export class RegistryClient {
  readonly base: URL
  private challenge?: Challenge
  private token?: {header: string; generation: number}
  private tokenFetch?: Promise<string>
  private generation = 0
  private credentials?: Credentials
  private pinged = false
  /** Other repositories the token must let us read (cross-repository mounts). */
  private readonly pullScopes = new Set<string>()

  constructor(
    readonly domain: string,
    readonly repository: string,
    private readonly options: ClientOptions = {},
  ) {
    this.base = registryBase(domain, options.env)
    this.credentials = options.credentials === undefined ? findCredentials(domain, options.env) : (options.credentials ?? undefined)
  }

  /** Where the credentials in use come from (`pivot login`, a config file, a helper), if any. */
  get credentialOrigin(): string | undefined {
    return this.credentials?.origin
  }

  /**
   * GET /v2/: throws REGISTRY_UNREACHABLE when nothing (or no registry) answers; learns the
   * authentication challenge otherwise.
   */
  async ping(): Promise<void> {
    const res = await httpRequest(new URL('/v2/', this.base), {signal: this.options.signal, idleTimeout: this.options.idleTimeout ?? 10_000})
    res.body.resume()
    if (res.status === 401) {
      this.challenge = parseChallenge(header(res, 'www-authenticate'))
      if (!this.challenge)
        throw new RegistryError('REGISTRY_SERVER_ERROR', `registry ${this.domain} asks for authentication but says not how (no WWW-Authenticate)`)
    } else if (res.status >= 500) {
      throw new RegistryError('REGISTRY_SERVER_ERROR', `registry ${this.domain} answered ${statusLine(res)}`)
    } else if (res.status !== 200 && !res.headers['docker-distribution-api-version']) {
      throw new RegistryError('REGISTRY_UNREACHABLE', `${this.base.origin} is not a registry (GET /v2/ answered ${statusLine(res)})`)
    }
    this.pinged = true
  }

  /** Checks the credentials: a ping, then (for token auth) a token for this repository. */
  async checkLogin(): Promise<void> {
    await this.ping()
    if (!this.challenge) return
    if (this.challenge.scheme === 'basic') {
      const res = await this.send('/v2/', {})
      res.body.resume()
      return
    }
    await this.authorization(true)
  }

  /** A manifest by tag or digest, verified when asked for by digest. */
  async manifest(reference: string, what: string): Promise<FetchedManifest> {
    const res = await this.send(`/v2/${this.repository}/manifests/${reference}`, {accept: MANIFEST_ACCEPT, what})
    const bytes = await readBody(res, MAX_MANIFEST_BYTES, `the manifest of ${what}`)
    const digest = 'sha256:' + createHash('sha256').update(bytes).digest('hex')
    if (reference.startsWith('sha256:') && digest !== reference) {
      throw new RegistryError('REGISTRY_BAD_CONTENT', `the registry sent a manifest for ${what} whose digest is ${digest}, not ${reference}`)
    }
    const said = header(res, 'docker-content-digest')
    if (said?.startsWith('sha256:') && said !== digest) {
      throw new RegistryError('REGISTRY_BAD_CONTENT', `the manifest of ${what} has digest ${digest} but the registry says ${said}`)
    }
    return {manifest: parseManifest(bytes, header(res, 'content-type'), what), digest, bytes}
  }

  /** GET a blob, from `offset` on (a closed Range: some registries refuse an open one). */
  async blob(digest: string, options: {offset?: number; size?: number; what: string; signal?: AbortSignal}): Promise<HttpResponse> {
    const headers: Record<string, string> = {}
    if (options.offset && options.size !== undefined) headers.Range = `bytes=${options.offset}-${options.size - 1}`
    return this.send(`/v2/${this.repository}/blobs/${digest}`, {headers, what: options.what, signal: options.signal, accept: '*/*'})
  }

  /**
   * Lets the token read `repository` too (another repository of this registry that a blob is
   * mounted from); the token in hand is dropped when it lacks it.
   */
  addPullScope(repository: string): void {
    if (repository === this.repository || this.pullScopes.has(repository)) return
    this.pullScopes.add(repository)
    this.token = undefined
  }

  /**
   * An authenticated request that answered 2xx (a 206 included), or one of `allow` (a HEAD's 404).
   * A 401 gets a fresh token (or, for Basic, is final) and one retry (an upload's body is made
   * afresh by its factory); other errors become RegistryErrors naming `what`. `path` may be a
   * full URL (an upload's Location).
   */
  async send(
    path: string,
    o: {
      method?: HttpOptions['method']
      body?: HttpOptions['body']
      allow?: number[]
      accept?: string
      headers?: Record<string, string>
      what?: string
      signal?: AbortSignal
    },
  ): Promise<HttpResponse> {
    if (!this.pinged) await this.ping()
    const what = o.what ?? this.repository
    for (let attempt = 0; ; attempt++) {
      const auth = await this.authorization(false)
      const headers: Record<string, string> = {...o.headers}
      if (o.accept) headers.Accept = o.accept
      if (auth) headers.Authorization = auth
      const res = await httpRequest(new URL(path, this.base), {
        method: o.method,
        body: o.body,
        headers,
        signal: o.signal ?? this.options.signal,
        idleTimeout: this.options.idleTimeout,
      })
      if ((res.status >= 200 && res.status < 300) || o.allow?.includes(res.status)) return res
      const body = (await readBody(res, 64 * 1024, 'an error answer').catch(() => Buffer.alloc(0))).toString('utf8')
      if (res.status === 401 && attempt === 0) {
        const fresh = parseChallenge(header(res, 'www-authenticate'))
        if (fresh) this.challenge = fresh
        if (this.challenge?.scheme === 'bearer') {
          // Tokens live a minute or five; one may expire between two blobs, or under a long one.
          this.invalidate(auth)
          continue
        }
      }
      throw this.answerError(res, body, what)
    }
  }

  private invalidate(used: string | undefined): void {
    if (this.token && this.token.header === used) this.token = undefined
  }

  /** The Authorization header for the next request, fetching a token if needed (one fetch at a time). */
  private async authorization(force: boolean): Promise<string | undefined> {
    const c = this.challenge
    if (!c) return undefined
    if (c.scheme === 'basic') {
      if (!this.credentials) return undefined
      return 'Basic ' + Buffer.from(`${this.credentials.username}:${this.credentials.password}`).toString('base64')
    }
    if (c.scheme !== 'bearer')
      throw new RegistryError('REGISTRY_SERVER_ERROR', `registry ${this.domain} asks for ${c.scheme} authentication, which pivot does not speak`)
    if (this.token && !force) return this.token.header
    this.tokenFetch ??= this.fetchToken(c).finally(() => (this.tokenFetch = undefined))
    const header = await this.tokenFetch
    this.token = {header, generation: ++this.generation}
    return header
  }

  private async fetchToken(c: Challenge): Promise<string> {
    if (!c.params.realm) throw new RegistryError('REGISTRY_SERVER_ERROR', `registry ${this.domain} asks for a token but names no realm`)
    let realm: URL
    try {
      realm = new URL(c.params.realm)
    } catch {
      throw new RegistryError('REGISTRY_SERVER_ERROR', `registry ${this.domain} names the token realm ${JSON.stringify(c.params.realm)}, not a URL`)
    }
    if (c.params.service) realm.searchParams.set('service', c.params.service)
    realm.searchParams.append('scope', `repository:${this.repository}:${this.options.push ? 'pull,push' : 'pull'}`)
    for (const other of this.pullScopes) realm.searchParams.append('scope', `repository:${other}:pull`)
    const headers: Record<string, string> = {}
    if (this.credentials) headers.Authorization = 'Basic ' + Buffer.from(`${this.credentials.username}:${this.credentials.password}`).toString('base64')
    const res = await httpRequest(realm, {headers, signal: this.options.signal, idleTimeout: this.options.idleTimeout})
    const body = await readBody(res, 1 << 20, `the token from ${realm.host}`)
    if (res.status === 401 || res.status === 403) throw this.unauthorized(body.toString('utf8'))
    if (res.status !== 200) throw new RegistryError('REGISTRY_SERVER_ERROR', `the token server ${realm.host} of ${this.domain} answered ${statusLine(res)}`)
    let value: {token?: string; access_token?: string}
    try {
      value = JSON.parse(body.toString('utf8')) as typeof value
    } catch {
      throw new RegistryError('REGISTRY_SERVER_ERROR', `the token server ${realm.host} of ${this.domain} answered something that is not JSON`)
    }
    const token = value.token ?? value.access_token
    if (typeof token !== 'string' || token === '')
      throw new RegistryError('REGISTRY_SERVER_ERROR', `the token server ${realm.host} of ${this.domain} sent no token`)
    return `Bearer ${token}`
  }

  private unauthorized(body: string): RegistryError {
    const detail = registryMessage(body)
    if (this.credentials) {
      return new RegistryError(
        'REGISTRY_UNAUTHORIZED',
        `registry ${this.domain} refused the credentials of ${this.credentials.username} (from ${this.credentials.origin})${detail ? `: ${detail}` : ''}`,
      )
    }
    return new RegistryError(
      'REGISTRY_UNAUTHORIZED',
      `registry ${this.domain} requires authentication${detail ? ` (${detail})` : ''}: run pivot login ${this.domain}`,
    )
  }

  private answerError(res: HttpResponse, body: string, what: string): RegistryError {
    const detail = registryMessage(body)
    const codes = registryCodes(body)
    switch (res.status) {
      case 401:
        return this.unauthorized(body)
      case 403:
        return new RegistryError('REGISTRY_DENIED', `registry ${this.domain} denied access to ${what}${detail ? `: ${detail}` : ''}`)
      case 404:
        if (codes.includes('NAME_UNKNOWN'))
          return new RegistryError('REGISTRY_NOT_FOUND', `${what} not found: registry ${this.domain} has no repository ${this.repository}`)
        if (codes.includes('BLOB_UNKNOWN')) return new RegistryError('REGISTRY_NOT_FOUND', `${what} not found in registry ${this.domain}`)
        return new RegistryError('REGISTRY_NOT_FOUND', `${what} not found in registry ${this.domain}${detail ? `: ${detail}` : ''}`)
      case 429:
        return new RegistryError('REGISTRY_SERVER_ERROR', `registry ${this.domain} refused ${what}: too many requests (rate limited)`)
      default:
        return new RegistryError('REGISTRY_SERVER_ERROR', `registry ${this.domain} answered ${statusLine(res)} for ${what}${detail ? `: ${detail}` : ''}`, {
          status: res.status,
        })
    }
  }
}

function header(res: HttpResponse, name: string): string | undefined {
  const v = res.headers[name]
  return Array.isArray(v) ? v[0] : v
}

function statusLine(res: HttpResponse): string {
  return `${res.status} ${res.body.statusMessage ?? ''}`.trim()
}

function registryErrors(body: string): Array<{code?: string; message?: string}> {
  try {
    const doc = JSON.parse(body) as {errors?: Array<{code?: string; message?: string}>; details?: string}
    return Array.isArray(doc.errors) ? doc.errors : []
  } catch {
    return []
  }
}

function registryCodes(body: string): string[] {
  return registryErrors(body).map(e => e.code ?? '')
}

/** The registry's own words, on one line: `manifest unknown`, `authentication required`. */
function registryMessage(body: string): string {
  const errors = registryErrors(body)
  const text = errors
    .map(e => e.message ?? e.code ?? '')
    .filter(Boolean)
    .join('; ')
  return text.replace(/\s+/g, ' ').slice(0, 300)
}
