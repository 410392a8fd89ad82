/**
 * The registry's API base: docker.io's API is registry-1.docker.io; loopback registries and those
 * listed in PIVOT_INSECURE_REGISTRIES (comma-separated host[:port]) are plain HTTP, as docker
 * treats 127.0.0.0/8 and its --insecure-registry list; everything else is HTTPS.
 */
export function registryBase(domain: string, env: NodeJS.ProcessEnv = process.env): URL {
  if (domain === 'docker.io' || domain === 'index.docker.io') return new URL('https://registry-1.docker.io')
  const host = domain.replace(/:\d+$/, '').replace(/^\[|\]$/g, '')
  const insecure = (env.PIVOT_INSECURE_REGISTRIES ?? '')
    .split(',')
    .map(s => s.trim())
    .filter(Boolean)
  const loopback = host === 'localhost' || /^127\.\d+\.\d+\.\d+$/.test(host) || host === '::1'
  return new URL(`${loopback || insecure.includes(domain) ? 'http' : 'https'}://${domain}`)
}
