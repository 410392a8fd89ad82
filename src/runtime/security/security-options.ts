import {SCMP_ARCH_ARM, SCMP_ARCH_X32, SCMP_ARCH_X86} from '../../sys/constants'
import type {Syscalls} from '../../sys/syscalls'
import {isPivotError} from '../../errors'
import type {InitConfig} from '../init-config'
import {RuntimeError} from '../runtime-error'
import {resolveCapabilities} from './capabilities'
import {EPERM, seccompRules, type NodeArch, type ResolvedRule} from './seccomp-profile'
import {writeFileAtomic} from '../../common/fs-util'
import {runtimeDir} from '../../common/user-dirs'

/** The security flags of `pivot run` (and of build steps, which take the defaults). */
export interface SecurityOptions {
  /** --cap-add, as given (docker's spellings: chown, CAP_CHOWN, ALL...). */
  capAdd?: string[]
  capDrop?: string[]
  /** --privileged: every capability, no seccomp filter, no masked or read-only paths, /sys read-write. */
  privileged?: boolean
  /** --security-opt seccomp=unconfined: no seccomp filter. */
  seccomp?: 'default' | 'unconfined'
}

export interface ParsedSecurityOpts {
  noNewPrivileges: boolean
  seccomp: 'default' | 'unconfined'
}

/**
 * --security-opt values as docker spells them: `no-new-privileges` (alone, or `:true`/`=true`,
 * `:false`), `seccomp=unconfined` (or `seccomp:unconfined`). Anything else (apparmor, label,
 * a seccomp profile file) is refused rather than ignored: a user who asks for a protection pivot
 * does not have must not believe they got it.
 */
export function parseSecurityOpts(values: readonly string[]): ParsedSecurityOpts {
  const parsed: ParsedSecurityOpts = {noNewPrivileges: false, seccomp: 'default'}
  for (const value of values) {
    const m = /^([a-z-]+)(?:[:=](.*))?$/.exec(value.trim())
    const key = m?.[1]
    const arg = m?.[2]
    if (key === 'no-new-privileges') {
      if (arg === undefined || arg === 'true') parsed.noNewPrivileges = true
      else if (arg === 'false') parsed.noNewPrivileges = false
      else throw badOpt(value, 'no-new-privileges takes true or false')
    } else if (key === 'seccomp' && arg === 'unconfined') {
      parsed.seccomp = 'unconfined'
    } else if (key === 'seccomp') {
      throw badOpt(value, 'pivot has its built-in profile only: use seccomp=unconfined to turn it off')
    } else {
      throw badOpt(value, 'pivot supports no-new-privileges[:true|false] and seccomp=unconfined')
    }
  }
  return parsed
}

function badOpt(value: string, why: string): RuntimeError {
  return new RuntimeError('RUN_BAD_FLAG', `invalid --security-opt ${JSON.stringify(value)}: ${why} (see 'pivot run --help')`)
}

/** The 32-bit ABIs a 64-bit kernel also runs: the filter covers them too, as docker's does. */
function extraArches(arch: NodeArch): number[] {
  return arch === 'x64' ? [SCMP_ARCH_X86, SCMP_ARCH_X32] : [SCMP_ARCH_ARM]
}

function nodeArch(): NodeArch {
  if (process.arch === 'x64' || process.arch === 'arm64') return process.arch
  throw new RuntimeError('RUN_SETUP_FAILED', `the seccomp profile has no rules for ${process.arch}: run with --security-opt seccomp=unconfined`)
}

/**
 * The security part of the init's config, decided by the parent: the capabilities by docker's
 * rules, and the seccomp filter compiled here (libseccomp) so that the init only loads it. A
 * missing libseccomp fails the run with one line saying what to install: pivot never falls back
 * to running without the filter.
 */
export function securityConfig(
  options: SecurityOptions,
  sys?: Syscalls,
  cacheDir: string | null = SECCOMP_CACHE_DIR,
): Pick<InitConfig, 'capabilities' | 'privileged' | 'seccompFilter'> {
  const capabilities = resolveCapabilities(options)
  const privileged = options.privileged === true
  if (privileged || options.seccomp === 'unconfined') return {capabilities, privileged, seccompFilter: null}
  const arch = nodeArch()
  const rules = seccompRules(capabilities, arch)
  const arches = extraArches(arch)
  const compile = () => {
    const syscalls = sys ?? new (require('../../sys/koffi-syscalls') as typeof import('../../sys/koffi-syscalls')).KoffiSyscalls()
    return syscalls.seccompCompile(EPERM, rules, arches)
  }
  let program: Buffer
  try {
    program = cacheDir === null ? compile() : cachedProgram(cacheDir, filterKey(arch, rules, arches), compile)
  } catch (error) {
    if (isPivotError(error) && error.code === 'SYS_LIBRARY_MISSING') {
      throw new RuntimeError('RUN_SECCOMP_UNAVAILABLE', `cannot build the seccomp filter: ${error.message}, or run with --security-opt seccomp=unconfined`, {
        cause: error,
      })
    }
    throw new RuntimeError('RUN_SECCOMP_UNAVAILABLE', `cannot build the seccomp filter: ${(error as Error).message}`, {cause: error})
  }
  return {capabilities, privileged, seccompFilter: program.toString('base64')}
}

/**
 * The file name of a compiled filter: the architecture and a hash of exactly what was compiled
 * (the rules, which follow the capabilities, and the ABIs), with its length.
 */
export function filterKey(arch: NodeArch, rules: readonly ResolvedRule[], arches: readonly number[]): string {
  let text = `${EPERM} ${arches.join(',')}`
  for (const r of rules) {
    text += `;${r.name} ${r.errno ?? ''}`
    for (const a of r.args) text += ` ${a.index}${a.op}${a.value}/${a.valueTwo ?? ''}`
  }
  // Two 32-bit FNV-1a style lanes, not node:crypto: its first hash costs ~4 ms of OpenSSL start.
  // The inputs are pivot's own profile and a capability set, nothing an attacker chooses.
  let h1 = 0x811c9dc5
  let h2 = 0x6a09e667
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    h1 = Math.imul(h1 ^ c, 0x01000193)
    h2 = Math.imul(h2 ^ c, 0x5bd1e995) ^ (h2 >>> 13)
  }
  const hex = (n: number) => (n >>> 0).toString(16).padStart(8, '0')
  return `${arch}-${hex(h1)}${hex(h2)}-${text.length}`
}

/**
 * Where compiled filters are kept between runs: runtime state, gone at reboot; root's under /run,
 * another user's under their runtime dir (common/user-dirs).
 */
export const SECCOMP_CACHE_DIR = runtimeDir('pivot/seccomp')

/**
 * Compiling the filter costs ~12 ms of libseccomp (three ABIs, ~360 syscalls): more than the rest
 * of a container's start. It depends only on the key, so it is kept in SECCOMP_CACHE_DIR (not in
 * the image cache, which must not change because a container ran). A cached filter is trusted
 * only from a directory and file owned by the user running pivot that no one else can write (/run
 * itself is root's; a user's runtime dir is theirs); it is written whole, by a rename.
 */
function cachedProgram(dir: string, key: string, compile: () => Buffer): Buffer {
  const fs = require('node:fs') as typeof import('node:fs')
  const file = `${dir}/${key}.bpf`
  const uid = process.geteuid?.() ?? 0
  const trusted = (p: string, dir: boolean) => {
    const st = fs.lstatSync(p, {throwIfNoEntry: false})
    return st !== undefined && (dir ? st.isDirectory() : st.isFile()) && st.uid === uid && (st.mode & 0o022) === 0
  }
  try {
    if (trusted(dir, true) && trusted(file, false)) {
      const cached = fs.readFileSync(file)
      if (cached.length > 0 && cached.length % 8 === 0) return cached
    }
  } catch {
    // not compiled yet, or unreadable: compile
  }
  const program = compile()
  try {
    fs.mkdirSync(dir, {recursive: true, mode: 0o700})
    if (trusted(dir, true)) {
      writeFileAtomic(file, program)
    }
  } catch {
    // /run not writable: compile every time.
  }
  return program
}
