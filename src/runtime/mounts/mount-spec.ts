import * as path from 'node:path'
import {MS_NOEXEC, MS_NOSUID, MS_RDONLY} from '../../sys/constants'
import {RuntimeError} from '../runtime-error'

/**
 * What one `-v`, `--mount` or `--tmpfs` asks for, parsed and checked with docker's grammar and
 * error messages, before anything exists. The run resolves it (volumes.ts: named volumes made and
 * filled, missing `-v` host paths made) once it holds the cache's GC lock.
 */
export type MountSpec = BindSpec | VolumeSpec | TmpfsSpec

export interface BindSpec {
  type: 'bind'
  /** Absolute, normalised host path. */
  source: string
  target: string
  readOnly: boolean
  /** `-v` makes a missing host path (a directory), as docker does; `--mount` refuses it. */
  createSource: boolean
}

export interface VolumeSpec {
  type: 'volume'
  /** undefined: an anonymous volume (`-v /path`, `--mount type=volume,target=/path`), named when made. */
  name?: string
  target: string
  readOnly: boolean
  /** volume-nocopy / `-v name:/path:nocopy`: an empty volume is not filled from the image. */
  noCopy: boolean
}

export interface TmpfsSpec {
  type: 'tmpfs'
  target: string
  readOnly: boolean
  /** MS_* flags besides nodev, which every tmpfs gets (docker's default nosuid,nodev,noexec). */
  flags: number
  /** tmpfs's own options (size=, mode=, uid=, gid=, nr_inodes=), comma-separated, or ''. */
  data: string
}

/** Docker's rule for a local volume's name. */
export const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/

export function badVolumeName(name: string): RuntimeError {
  return new RuntimeError(
    'RUN_BAD_VOLUME',
    `create ${name}: ${JSON.stringify(name)} includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`,
  )
}

function bad(message: string): RuntimeError {
  return new RuntimeError('RUN_BAD_VOLUME', message)
}

function rejectNul(flag: string, spec: string): void {
  if (spec.includes('\0')) throw bad(`invalid ${flag} ${JSON.stringify(spec)}: it contains a NUL byte`)
}

/**
 * The container path as docker checks it (absolute, not /), normalised, and not under /proc or
 * /sys (the kernel's: a mount there could hide a masked path). `where` prefixes docker's message.
 */
function checkTarget(target: string, where: string): string {
  if (!path.posix.isAbsolute(target)) throw bad(`${where}invalid mount path: '${target}' mount path must be absolute`)
  const normal = path.posix.normalize(target).replace(/(.)\/+$/, '$1')
  if (normal === '/') throw bad(`${where}invalid specification: destination can't be '/'`)
  if (/^\/(proc|sys)(\/|$)/.test(normal)) throw bad(`${where}cannot mount over ${normal}: /proc and /sys are the kernel's`)
  return normal
}

/**
 * `-v SOURCE:TARGET[:MODE]`, `-v NAME:TARGET[:MODE]` or `-v TARGET` (an anonymous volume). MODE is
 * a comma list of ro, rw, nocopy (and z, Z, accepted and ignored: no SELinux here).
 */
export function parseVolumeFlag(spec: string): MountSpec {
  rejectNul('volume', spec)
  if (spec === '') throw bad('invalid empty volume spec')
  const parts = spec.split(':')
  if (parts.length > 3) throw bad(`invalid volume specification: '${spec}'`)
  const where = (type: string) => `invalid volume specification: '${spec}': invalid mount config for type "${type}": `
  if (parts.length === 1) {
    return {type: 'volume', target: checkTarget(parts[0], where('volume')), readOnly: false, noCopy: false}
  }
  let readOnly = false
  let noCopy = false
  if (parts.length === 3) {
    for (const mode of parts[2].split(',')) {
      if (mode === 'ro') readOnly = true
      else if (mode === 'rw') readOnly = false
      else if (mode === 'nocopy') noCopy = true
      else if (mode !== 'z' && mode !== 'Z') throw bad(`invalid mode: ${mode}`)
    }
  }
  const [source, target] = parts
  if (source === '') throw bad(`invalid volume specification: '${spec}'`)
  if (path.isAbsolute(source)) {
    return {type: 'bind', source: path.resolve(source), target: checkTarget(target, where('bind')), readOnly, createSource: true}
  }
  const checked = checkTarget(target, where('volume'))
  if (!VOLUME_NAME.test(source)) throw badVolumeName(source)
  return {type: 'volume', name: source, target: checked, readOnly, noCopy}
}

const MOUNT_KEYS = new Set([
  'type',
  'source',
  'src',
  'target',
  'destination',
  'dst',
  'readonly',
  'ro',
  'bind-propagation',
  'bind-nonrecursive',
  'volume-nocopy',
  'volume-driver',
  'volume-label',
  'volume-opt',
  'volume-subpath',
  'tmpfs-size',
  'tmpfs-mode',
  'consistency',
])
const BOOLEAN_KEYS = new Set(['readonly', 'ro', 'volume-nocopy', 'bind-nonrecursive'])

/** docker's --mount: comma-separated key=value fields (CSV: a field may be quoted). */
export function parseMountFlag(spec: string): MountSpec {
  rejectNul('mount', spec)
  const flagError = (why: string) => bad(`invalid argument ${JSON.stringify(spec)} for "--mount" flag: ${why}`)
  if (spec === '') throw flagError('EOF')
  const fields = splitCsv(spec)
  const values = new Map<string, string>()
  let readOnly = false
  let noCopy = false
  for (const field of fields) {
    const eq = field.indexOf('=')
    const key = (eq === -1 ? field : field.slice(0, eq)).toLowerCase()
    const value = eq === -1 ? undefined : field.slice(eq + 1)
    if (eq === -1 && !BOOLEAN_KEYS.has(key)) throw flagError(`invalid field '${field}' must be a key=value pair`)
    if (!MOUNT_KEYS.has(key)) throw flagError(`unexpected key '${key}' in '${field}'`)
    if (BOOLEAN_KEYS.has(key)) {
      const on = parseBool(value)
      if (on === undefined) throw flagError(`invalid value for ${key}: ${value}`)
      if (key === 'readonly' || key === 'ro') readOnly = on
      if (key === 'volume-nocopy') noCopy = on
      values.set(key, String(on))
      continue
    }
    values.set(key === 'src' ? 'source' : key === 'destination' || key === 'dst' ? 'target' : key, value!)
  }
  const type = values.get('type') ?? 'volume'
  for (const prefix of ['tmpfs', 'volume', 'bind']) {
    if (type !== prefix && [...values.keys()].some(k => k.startsWith(`${prefix}-`))) {
      throw flagError(`cannot mix '${prefix}-*' options with mount type '${type}'`)
    }
  }
  const target = values.get('target')
  if (target === undefined || target === '') throw flagError('target is required')
  const where = `invalid mount config for type "${type}": `
  const source = values.get('source')
  switch (type) {
    case 'bind': {
      if (!source) throw bad(`${where}field Source must not be empty`)
      if (!path.isAbsolute(source)) throw bad(`${where}invalid mount path: '${source}' mount path must be absolute`)
      const propagation = values.get('bind-propagation')
      // Every mount of a container is private: a shared or slave one would carry mounts between
      // the container and the host.
      if (propagation !== undefined && propagation !== 'private' && propagation !== 'rprivate') {
        throw bad(`${where}bind-propagation ${propagation} is not supported: pivot's mounts are always private`)
      }
      return {type: 'bind', source: path.resolve(source), target: checkTarget(target, where), readOnly, createSource: false}
    }
    case 'volume': {
      const checked = checkTarget(target, where)
      if (values.has('volume-driver') && values.get('volume-driver') !== 'local') {
        throw bad(`${where}volume driver ${values.get('volume-driver')} is not supported: only local`)
      }
      if (source !== undefined && source !== '' && !VOLUME_NAME.test(source)) throw badVolumeName(source)
      return {type: 'volume', name: source || undefined, target: checked, readOnly, noCopy}
    }
    case 'tmpfs': {
      if (source !== undefined && source !== '') throw bad(`${where}field Source must not be specified`)
      const checked = checkTarget(target, where)
      const data: string[] = []
      const size = values.get('tmpfs-size')
      if (size !== undefined) data.push(`size=${tmpfsBytes(size, `${where}invalid tmpfs-size`)}`)
      const mode = values.get('tmpfs-mode')
      if (mode !== undefined) {
        if (!/^[0-7]{1,4}$/.test(mode)) throw bad(`${where}invalid tmpfs-mode ${JSON.stringify(mode)}: an octal mode such as 1777`)
        data.push(`mode=${parseInt(mode, 8).toString(8)}`)
      }
      return {type: 'tmpfs', target: checked, readOnly, flags: MS_NOSUID | MS_NOEXEC | (readOnly ? MS_RDONLY : 0), data: data.join(',')}
    }
    default:
      throw bad(`${where}mount type unknown`)
  }
}

/** `--tmpfs PATH[:OPTIONS]`: OPTIONS are mount(8)'s (ro, exec, size=64m, mode=1777, uid=, gid=...). */
export function parseTmpfsFlag(spec: string): TmpfsSpec {
  rejectNul('tmpfs', spec)
  const colon = spec.indexOf(':')
  const target = checkTarget(colon === -1 ? spec : spec.slice(0, colon), '')
  // docker's defaults: nosuid, nodev, noexec.
  let flags = MS_NOSUID | MS_NOEXEC
  const data: string[] = []
  if (colon !== -1 && spec.slice(colon + 1) !== '') {
    for (const option of spec.slice(colon + 1).split(',')) {
      const [key, value] = option.includes('=') ? [option.slice(0, option.indexOf('=')), option.slice(option.indexOf('=') + 1)] : [option, undefined]
      const flag = TMPFS_FLAGS[option]
      if (value === undefined && flag) {
        flags = (flags & ~flag.clear) | flag.set
        continue
      }
      if (option === 'dev') throw bad(`invalid tmpfs option ["dev"]: every mount of a pivot container is nodev (devices come only from --device)`)
      if (value === undefined || !TMPFS_DATA.has(key)) throw bad(`invalid tmpfs option [${JSON.stringify(option)}]`)
      if (key === 'size') data.push(`size=${tmpfsSize(value)}`)
      else if (key === 'mode') {
        if (!/^[0-7]{1,4}$/.test(value)) throw bad(`invalid tmpfs option [${JSON.stringify(option)}]: mode is octal, such as 1777`)
        data.push(`mode=${value}`)
      } else {
        if (!/^\d+[kKmMgG]?$/.test(value)) throw bad(`invalid tmpfs option [${JSON.stringify(option)}]: a number`)
        data.push(`${key}=${value}`)
      }
    }
  }
  return {type: 'tmpfs', target, readOnly: (flags & MS_RDONLY) !== 0, flags, data: data.join(',')}
}

const TMPFS_FLAGS: Record<string, {set: number; clear: number}> = {
  ro: {set: MS_RDONLY, clear: 0},
  rw: {set: 0, clear: MS_RDONLY},
  exec: {set: 0, clear: MS_NOEXEC},
  noexec: {set: MS_NOEXEC, clear: 0},
  suid: {set: 0, clear: MS_NOSUID},
  nosuid: {set: MS_NOSUID, clear: 0},
  nodev: {set: 0, clear: 0},
  // atime options: harmless, kept as the kernel's default.
  relatime: {set: 0, clear: 0},
  noatime: {set: 0, clear: 0},
  strictatime: {set: 0, clear: 0},
}
const TMPFS_DATA = new Set(['size', 'mode', 'uid', 'gid', 'nr_inodes', 'nr_blocks'])

/** tmpfs's size= as mount(8) takes it: bytes, a k/m/g suffix, or a percentage of RAM. */
function tmpfsSize(value: string): string {
  if (!/^\d+([kKmMgG]|%)?$/.test(value)) throw bad(`invalid tmpfs option ["size=${value}"]: a size such as 64m, 1g or 50%`)
  return value
}

/** --mount's tmpfs-size: bytes or a docker unit (64m, 1g); the kernel gets bytes. */
function tmpfsBytes(value: string, where: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(value)
  if (!m) throw bad(`${where} ${JSON.stringify(value)}: a size such as 1048576, 64m or 1g`)
  const scale = {'': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4}[m[2].toLowerCase() as '' | 'k' | 'm' | 'g' | 't']
  return Math.floor(Number(m[1]) * scale)
}

function parseBool(value: string | undefined): boolean | undefined {
  if (value === undefined) return true
  const v = value.toLowerCase()
  if (['1', 't', 'true'].includes(v)) return true
  if (['0', 'f', 'false'].includes(v)) return false
  return undefined
}

/** One CSV record, as Go's encoding/csv reads docker's --mount value ("a=b,c" quoting allowed). */
function splitCsv(text: string): string[] {
  const out: string[] = []
  let field = ''
  let quoted = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"'
        i++
      } else if (c === '"') quoted = false
      else field += c
    } else if (c === '"' && field === '') quoted = true
    else if (c === ',') {
      out.push(field)
      field = ''
    } else field += c
  }
  out.push(field)
  return out
}
