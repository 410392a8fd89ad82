import {ImageReferenceError} from './image-reference-error'

/**
 * Docker image references, exactly as docker's `distribution/reference` package reads them
 * (grammar below, from its reference.go / regexp.go / normalize.go):
 *
 *     reference        := name [ ":" tag ] [ "@" digest ]
 *     name             := [domain '/'] remote-name
 *     domain           := host [':' port-number]
 *     host             := domain-name | '[' IPv6address ']'
 *     domain-component := /([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])/
 *     path-component   := alpha-numeric [separator alpha-numeric]*
 *     alpha-numeric    := /[a-z0-9]+/
 *     separator        := /[_.]|__|[-]+/
 *     tag              := /[\w][\w.-]{0,127}/
 *     digest           := algorithm ":" hex      (sha256: 64, sha384: 96, sha512: 128 lowercase hex)
 */

export const DEFAULT_DOMAIN = 'docker.io'
const LEGACY_DEFAULT_DOMAIN = 'index.docker.io'
const OFFICIAL_REPO_PREFIX = 'library/'
const DEFAULT_TAG = 'latest'
/** Longest `domain/path` docker accepts (NameTotalLengthMax). */
export const NAME_TOTAL_LENGTH_MAX = 255

const alphanumeric = '[a-z0-9]+'
const separator = '(?:[._]|__|[-]+)'
const domainNameComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])'
const ipv6address = '\\[(?:[a-fA-F0-9:]+)\\]'
const domainName = `${domainNameComponent}(?:\\.${domainNameComponent})*`
const host = `(?:${domainName}|${ipv6address})`
const domainAndPort = `${host}(?::[0-9]+)?`
const tagPat = '[\\w][\\w.-]{0,127}'
const digestPat = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}'
const pathComponent = `${alphanumeric}(?:${separator}${alphanumeric})*`
const remoteName = `${pathComponent}(?:/${pathComponent})*`
const namePat = `(?:${domainAndPort}/)?${remoteName}`

const REFERENCE = new RegExp(`^(${namePat})(?::(${tagPat}))?(?:@(${digestPat}))?$`)
const ANCHORED_NAME = new RegExp(`^(?:(${domainAndPort})/)?(${remoteName})$`)
const IDENTIFIER = /^[a-f0-9]{64}$/
const TAG = new RegExp(`^${tagPat}$`)
const DIGEST_ALGORITHMS: Record<string, number> = {sha256: 64, sha384: 96, sha512: 128}

/** A parsed reference. `domain` is '' when the string named none (only from `parseReference`). */
export interface ImageReference {
  domain: string
  /** The repository path below the domain, e.g. `library/ubuntu`. */
  path: string
  tag?: string
  digest?: string
}

/** A reference as docker normalises it: domain filled in, `library/` added, `latest` when neither tag nor digest. */
export interface NormalizedReference extends ImageReference {
  /** `domain/path`, e.g. `docker.io/library/ubuntu`. */
  repository: string
  /**
   * The canonical name pivot files the image under (docker's `ParseDockerRef`):
   * `repository:tag`, or `repository@digest` when a digest pins it (a tag next to a digest is
   * dropped, as docker's client does when it pulls).
   */
  name: string
}

function invalid(input: string, reason: string): ImageReferenceError {
  // One line whatever the input holds: quote it as JSON so newlines and control bytes show escaped.
  return new ImageReferenceError('REFERENCE_INVALID', `invalid reference ${JSON.stringify(input)}: ${reason}`, {exitCode: 125})
}

function checkDigest(input: string, digest: string): void {
  const colon = digest.indexOf(':')
  const algorithm = digest.slice(0, colon)
  const hex = digest.slice(colon + 1)
  const length = DIGEST_ALGORITHMS[algorithm]
  if (length === undefined) {
    if (!/^[a-z0-9]+(?:[.+_-][a-z0-9]+)*$/.test(algorithm)) throw invalid(input, 'invalid digest format')
    throw invalid(input, `unsupported digest algorithm ${algorithm}`)
  }
  if (hex.length !== length || !/^[a-f0-9]+$/.test(hex)) throw invalid(input, 'invalid checksum digest format')
}

/**
 * Docker's `reference.Parse`: the grammar alone, no defaults. `ubuntu` parses with domain ''.
 * Throws ImageReferenceError (REFERENCE_INVALID) with docker's reason.
 */
export function parseReference(input: string): ImageReference {
  return parseAs(input, input)
}

/** Parses `input`, naming `shown` (what the user typed) in errors. */
function parseAs(input: string, shown: string): ImageReference {
  const m = REFERENCE.exec(input)
  if (!m) {
    if (input === '') throw invalid(shown, 'repository name must have at least one component')
    if (REFERENCE.test(input.toLowerCase())) throw invalid(shown, 'repository name must be lowercase')
    throw invalid(shown, 'invalid reference format')
  }
  const [, name, tag, digest] = m
  if (name.length > NAME_TOTAL_LENGTH_MAX) {
    throw invalid(shown, `repository name must not be more than ${NAME_TOTAL_LENGTH_MAX} characters`)
  }
  const n = ANCHORED_NAME.exec(name)
  if (!n) throw invalid(shown, 'invalid reference format')
  if (digest !== undefined) checkDigest(shown, digest)
  const ref: ImageReference = {domain: n[1] ?? '', path: n[2]}
  if (tag !== undefined) ref.tag = tag
  if (digest !== undefined) ref.digest = digest
  return ref
}

/**
 * docker's splitDockerDomain: the first component is a domain if it has '.' or ':' or is
 * `localhost`. (distribution/reference >= 0.6 also takes a first component with uppercase for a
 * domain; docker 20.10-24 and the rules do not, so `Foo/bar` is "must be lowercase".)
 */
function splitDockerDomain(input: string): {domain: string; remainder: string} {
  const i = input.indexOf('/')
  let domain: string
  let remainder: string
  const first = i === -1 ? '' : input.slice(0, i)
  if (i === -1 || (!/[.:]/.test(first) && first !== 'localhost')) {
    domain = DEFAULT_DOMAIN
    remainder = input
  } else {
    domain = first
    remainder = input.slice(i + 1)
  }
  if (domain === LEGACY_DEFAULT_DOMAIN) domain = DEFAULT_DOMAIN
  if (domain === DEFAULT_DOMAIN && !remainder.includes('/')) remainder = OFFICIAL_REPO_PREFIX + remainder
  return {domain, remainder}
}

/**
 * Docker's `ParseNormalizedNamed` + `TagNameOnly`: `ubuntu` -> docker.io/library/ubuntu:latest,
 * `localhost:5000/busybox` -> localhost:5000/busybox:latest, `name@sha256:<hex>` stays pinned.
 */
export function normalizeReference(input: string): NormalizedReference {
  if (input === '') throw invalid(input, 'repository name must have at least one component')
  if (IDENTIFIER.test(input)) {
    throw invalid(input, 'cannot specify 64-byte hexadecimal strings as a repository name')
  }
  const {domain, remainder} = splitDockerDomain(input)
  // The repository part must be lowercase; checked before the grammar so the reason is precise.
  const beforeDigest = remainder.split('@')[0]
  const colon = beforeDigest.indexOf(':')
  const remote = colon === -1 ? beforeDigest : beforeDigest.slice(0, colon)
  if (remote.toLowerCase() !== remote) throw invalid(input, 'repository name must be lowercase')
  const parsed = parseAs(`${domain}/${remainder}`, input)
  const repository = `${parsed.domain}/${parsed.path}`
  const ref: NormalizedReference = {...parsed, repository, name: ''}
  if (ref.tag === undefined && ref.digest === undefined) ref.tag = DEFAULT_TAG
  ref.name = ref.digest === undefined ? `${repository}:${ref.tag}` : `${repository}@${ref.digest}`
  return ref
}

/** Convenience: the canonical store name of a user-typed reference (`normalizeReference(s).name`). */
export function normalizeName(input: string): string {
  return normalizeReference(input).name
}

/** Whether `s` is a valid tag (`[\w][\w.-]{0,127}`). */
export function isValidTag(s: string): boolean {
  return TAG.test(s)
}

/** A reference back to its full string: `domain/path[:tag][@digest]`. */
export function formatReference(ref: ImageReference): string {
  let s = ref.domain ? `${ref.domain}/${ref.path}` : ref.path
  if (ref.tag !== undefined) s += `:${ref.tag}`
  if (ref.digest !== undefined) s += `@${ref.digest}`
  return s
}

/**
 * Docker's short display form (`FamiliarString`): `docker.io/library/ubuntu:latest` -> `ubuntu:latest`,
 * `docker.io/foo/bar:1` -> `foo/bar:1`; other registries keep their domain. Accepts a parsed
 * reference or any string `normalizeReference` accepts.
 */
export function familiarName(ref: ImageReference | string): string {
  const r = typeof ref === 'string' ? normalizeReference(ref) : ref
  let name: string
  if (r.domain === DEFAULT_DOMAIN || r.domain === '') {
    const parts = r.path.split('/')
    name = parts.length === 2 && parts[0] === 'library' ? parts[1] : r.path
  } else {
    name = `${r.domain}/${r.path}`
  }
  return formatReference({domain: '', path: name, tag: r.tag, digest: r.digest})
}
