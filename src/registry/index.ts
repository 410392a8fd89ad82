export {RegistryClient, registryBase, type ClientOptions, type FetchedManifest} from './client'
export {findCredentials, saveCredentials, removeCredentials, credentialKey, pivotConfigFile, dockerConfigFile, type Credentials} from './credentials'
export {
  MEDIA,
  MAX_CONFIG_BYTES,
  MAX_LAYERS,
  MAX_MANIFEST_BYTES,
  MAX_INDEX_DEPTH,
  parseManifest,
  selectPlatform,
  type Descriptor,
  type Manifest,
} from './manifest'
export {formatPlatform, hostPlatform, normalizePlatform, parsePlatform, platformMatches, type Platform} from './platform'
export {httpRequest, readBody, networkCause, type HttpResponse} from './http'
export {RegistryError, type RegistryErrorCode} from './registry-error'
export {parseChallenge, type Challenge} from './challenge'
