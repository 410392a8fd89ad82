/** One `WWW-Authenticate` challenge: `Bearer realm="...",service="...",scope="..."` or `Basic realm="..."`. */
export interface Challenge {
  scheme: 'basic' | 'bearer' | string
  params: Record<string, string>
}

/**
 * Parses the first challenge of a `WWW-Authenticate` header (RFC 7235: scheme, then
 * comma-separated `key=value` or `key="quoted value"` parameters). Registries send one.
 */
export function parseChallenge(header: string | undefined): Challenge | undefined {
  if (!header) return undefined
  const m = /^\s*([A-Za-z][A-Za-z0-9._~+/-]*)\s*(.*)$/s.exec(header)
  if (!m) return undefined
  const params: Record<string, string> = {}
  const re = /([A-Za-z0-9_.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*(?:,|$)/g
  for (let p = re.exec(m[2]); p; p = re.exec(m[2])) {
    params[p[1].toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3]
  }
  return {scheme: m[1].toLowerCase(), params}
}
