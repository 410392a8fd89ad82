import {ImageError} from '../images/image-error'

/** A server argument as docker takes it (`host:port`, `http://host:port/`, Hub's v1 URL) to a registry domain. */
export function serverDomain(server: string | undefined): string {
  if (!server) return 'docker.io'
  const bare = server
    .replace(/^[a-z]+:\/\//i, '')
    .replace(/\/.*$/, '')
    .toLowerCase()
  if (bare === '' || !/^[a-z0-9.-]+(:\d+)?$|^\[[0-9a-f:]+\](:\d+)?$/.test(bare)) {
    throw new ImageError('IMAGE_BAD_NAME', `invalid registry address ${JSON.stringify(server)}`)
  }
  if (bare === 'index.docker.io' || bare === 'registry-1.docker.io') return 'docker.io'
  return bare
}

/**
 * `pivot login [SERVER] -u USER (-p PASS | --password-stdin)`: checks the credentials against the
 * registry (for token auth, by getting a token), then files them in pivot's config (mode 0600).
 * Returns the file written.
 */
export async function login(
  server: string | undefined,
  o: {username?: string; password?: string; passwordStdin?: boolean},
): Promise<{server: string; file: string}> {
  const domain = serverDomain(server)
  if (!o.username) throw new ImageError('IMAGE_NO_INPUT', 'login needs --username (and --password or --password-stdin)')
  if (o.password !== undefined && o.passwordStdin) throw new ImageError('IMAGE_NO_INPUT', '--password and --password-stdin are mutually exclusive')
  let password = o.password
  if (o.passwordStdin) {
    const chunks: Buffer[] = []
    for await (const chunk of process.stdin as AsyncIterable<Buffer>) chunks.push(chunk)
    // As docker: the trailing newline of `echo pass |` is not part of the password.
    password = Buffer.concat(chunks)
      .toString('utf8')
      .replace(/\r?\n$/, '')
  }
  if (!password) throw new ImageError('IMAGE_NO_INPUT', 'login needs a password: --password-stdin (or --password)')
  const {RegistryClient, saveCredentials} = await import('../registry')
  // Any repository name works for the token check: the token server grants (or refuses) the login itself.
  const client = new RegistryClient(domain, 'library/pivot-login-check', {credentials: {username: o.username, password, origin: 'the command line'}})
  await client.checkLogin()
  return {server: domain, file: saveCredentials(domain, o.username, password)}
}

/** `pivot logout [SERVER]`: forgets pivot's credentials for it; false when there were none. */
export async function logout(server: string | undefined): Promise<{server: string; removed: boolean}> {
  const domain = serverDomain(server)
  const {removeCredentials} = await import('../registry')
  return {server: domain, removed: removeCredentials(domain)}
}
