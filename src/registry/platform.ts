import {RegistryError} from './registry-error'

export interface Platform {
  os: string
  architecture: string
  variant?: string
}

/** What `uname -m` and Node call an architecture, in the OCI image spec's words (GOARCH). */
const ARCH_ALIASES: Record<string, string> = {
  x86_64: 'amd64',
  'x86-64': 'amd64',
  x64: 'amd64',
  aarch64: 'arm64',
  armhf: 'arm',
  armel: 'arm',
  i386: '386',
  i686: '386',
  ia32: '386',
  ppc64el: 'ppc64le',
}

/**
 * An architecture and variant as containerd's platforms.Normalize writes them: aliases to GOARCH,
 * arm64's `v8` dropped (the only arm64 variant most indexes write is none), arm's variant
 * defaulting to v7, `aarch64/v8` to arm64, `armhf` to arm/v7, `armel` to arm/v6.
 */
export function normalizePlatform(p: Platform): Platform {
  const os = p.os.toLowerCase()
  const raw = p.architecture.toLowerCase()
  let architecture = ARCH_ALIASES[raw] ?? raw
  let variant = p.variant?.toLowerCase() || undefined
  if (raw === 'armel' && !variant) variant = 'v6'
  if (architecture === 'arm64') {
    if (variant === 'v8' || variant === '8') variant = undefined
  } else if (architecture === 'arm') {
    if (!variant || variant === '7') variant = 'v7'
    else if (/^[5-8]$/.test(variant)) variant = `v${variant}`
  } else if (architecture === 'amd64' && variant === 'v1') {
    variant = undefined
  }
  if (raw === 'armv7l' || raw === 'armv7') {
    architecture = 'arm'
    variant = 'v7'
  }
  if (raw === 'armv6l') {
    architecture = 'arm'
    variant = 'v6'
  }
  return variant ? {os, architecture, variant} : {os, architecture}
}

/** `os/arch[/variant]` as docker's --platform reads it. */
export function parsePlatform(text: string): Platform {
  const parts = text.trim().split('/')
  if (parts.length < 2 || parts.length > 3 || parts.some(p => !/^[A-Za-z0-9_.-]+$/.test(p))) {
    throw new RegistryError('REGISTRY_BAD_PLATFORM', `invalid platform ${JSON.stringify(text)}: expected os/arch[/variant], e.g. linux/arm64 or linux/arm/v7`, {
      exitCode: 125,
    })
  }
  return normalizePlatform({os: parts[0], architecture: parts[1], variant: parts[2]})
}

/** The machine pivot runs on, as an image platform. */
export function hostPlatform(): Platform {
  const arch = process.arch
  let variant: string | undefined
  if (arch === 'arm') variant = `v${(process.config.variables as {arm_version?: string}).arm_version ?? '7'}`
  return normalizePlatform({os: process.platform, architecture: arch, variant})
}

export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/')
}

/**
 * Whether an index entry's platform serves `wanted`: same os and architecture; a variant must
 * match when both say one (an entry without a variant serves any: many indexes omit it).
 */
export function platformMatches(entry: Platform, wanted: Platform): boolean {
  const e = normalizePlatform(entry)
  const w = normalizePlatform(wanted)
  if (e.os !== w.os || e.architecture !== w.architecture) return false
  return !e.variant || !w.variant || e.variant === w.variant
}
