/**
 * Human formatting shared by the listing commands: sizes and ages the way `docker images` prints
 * them (so a user comparing the two sees the same numbers), and a plain aligned table.
 */

const UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB']

/** Decimal units with 3 significant digits, like docker (go-units HumanSizeWithPrecision(n, 3)). */
export function formatSize(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '-'
  let value = bytes
  let unit = 0
  while (value >= 1000 && unit < UNITS.length - 1) {
    value /= 1000
    unit++
  }
  return `${formatSignificant(value, 3)}${UNITS[unit]}`
}

/** Go's `%.3g` for the range formatSize uses (0 <= n < 1000): no exponent, no trailing zeros. */
function formatSignificant(n: number, digits: number): string {
  if (n === 0) return '0'
  const text = n.toPrecision(digits)
  return text.includes('.') ? text.replace(/\.?0+$/, '') : text
}

/** A duration in words, as docker's go-units HumanDuration: "5 seconds", "About an hour", "3 weeks". */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000)
  if (seconds < 1) return 'Less than a second'
  if (seconds === 1) return '1 second'
  if (seconds < 60) return `${seconds} seconds`
  const minutes = Math.floor(ms / 60_000)
  if (minutes === 1) return 'About a minute'
  if (minutes < 60) return `${minutes} minutes`
  const hours = Math.floor(ms / 3_600_000 + 0.5)
  if (hours === 1) return 'About an hour'
  if (hours < 48) return `${hours} hours`
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`
  return `${Math.floor(ms / 3_600_000 / 24 / 365)} years`
}

/** "3 days ago" for an ISO time; a time in the future (clock skew) reads as "Less than a second ago". */
export function formatAge(iso: string, now: number = Date.now()): string {
  const t = Date.parse(iso)
  if (Number.isNaN(t)) return 'N/A'
  return `${humanDuration(Math.max(0, now - t))} ago`
}

/** Columns left-aligned, separated by at least three spaces (docker's tabwriter padding). */
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map(r => (r[i] ?? '').length)))
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] + 3)))
      .join('')
      .trimEnd()
  return [line(header), ...rows.map(line)].join('\n') + '\n'
}

/** `sha256:abcdef...` -> the 12 hex characters docker shows as IMAGE ID. */
export function shortId(id: string): string {
  return id.replace(/^sha256:/, '').slice(0, 12)
}
