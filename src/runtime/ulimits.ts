import type {Ulimit} from './run-options'
import {RuntimeError} from './runtime-error'

/** docker's --ulimit names and Linux's RLIMIT_* numbers (x86_64 and arm64 alike). */
const RLIMITS: Readonly<Record<string, number>> = {
  cpu: 0,
  fsize: 1,
  data: 2,
  stack: 3,
  core: 4,
  rss: 5,
  nproc: 6,
  nofile: 7,
  memlock: 8,
  as: 9,
  locks: 10,
  sigpending: 11,
  msgqueue: 12,
  nice: 13,
  rtprio: 14,
  rttime: 15,
}

/** RLIM_INFINITY as the kernel's u64: -1 in docker's syntax. */
const INFINITY = -1

export function rlimitNumber(name: string): number {
  const n = RLIMITS[name]
  if (n === undefined) throw new RuntimeError('RUN_BAD_FLAG', `invalid ulimit type: ${name}`)
  return n
}

/** `--ulimit NAME=SOFT[:HARD]` with docker's messages; -1 is unlimited. The last one of a name wins. */
export function parseUlimits(specs: readonly string[]): Ulimit[] {
  const byName = new Map<string, Ulimit>()
  for (const spec of specs) {
    const bad = (why: string) => new RuntimeError('RUN_BAD_FLAG', `invalid argument ${JSON.stringify(spec)} for "--ulimit" flag: ${why}`)
    const eq = spec.indexOf('=')
    if (eq === -1) throw bad(`invalid ulimit argument: ${spec}`)
    const name = spec.slice(0, eq)
    if (!(name in RLIMITS) || name === 'as') throw bad(`invalid ulimit type: ${name}`)
    const values = spec.slice(eq + 1).split(':')
    if (values.length > 2) throw bad(`too many limit value arguments - ${spec.slice(eq + 1)}, can only have up to two, \`soft[:hard]\``)
    const [soft, hard] = values.map(v => {
      if (!/^-?\d+$/.test(v)) throw bad(`strconv.ParseInt: parsing ${JSON.stringify(v)}: invalid syntax`)
      return Number(v)
    })
    const h = hard ?? soft
    if (soft !== INFINITY && h !== INFINITY && soft > h) throw bad(`ulimit soft limit must be less than or equal to hard limit: ${soft} > ${h}`)
    if (h === INFINITY && soft !== INFINITY) {
      // fine: a finite soft limit under an unlimited hard one
    } else if (soft === INFINITY && h !== INFINITY) throw bad(`ulimit soft limit must be less than or equal to hard limit: ${soft} > ${h}`)
    byName.set(name, {name, soft, hard: h})
  }
  return [...byName.values()]
}
