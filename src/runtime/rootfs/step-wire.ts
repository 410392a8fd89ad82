import type {Step} from './steps'
import {RuntimeError} from '../runtime-error'

/**
 * The container's setup as the C init (src/runtime/monitor/container-init.c) reads it on fd 3:
 * the parent plans (plan.ts), the init only carries the steps out. Version 1:
 *
 *   message = the payload's length in bytes (ASCII decimal), "\n", the payload
 *   payload = fields, each ended by one NUL: "pivot-init 1", "parent", PID (0: none), the steps, "end"
 *   step    = its op, then its fields in the order of FIELDS below
 *
 * Field kinds: s a string; n a nullable string ("-" for null, "+" and the string otherwise);
 * i a signed integer (int64); u an unsigned one (uint64: capability masks); b "0" or "1";
 * a a count, then that many strings. No field can hold a NUL (paths, argv and env cannot).
 */

type Kind = 's' | 'n' | 'i' | 'u' | 'b' | 'a'
type Ops = Step['op']
type StepOf<O extends Ops> = Extract<Step, {op: O}>

/** Each op's fields: the value (from the step) and its kind, in wire order. The C init has the same table. */
const FIELDS: {[O in Ops]: ReadonlyArray<readonly [Kind, (step: StepOf<O>) => unknown]>} = {
  joinCgroup: [['s', s => s.tasks]],
  unshare: [['i', s => s.flags]],
  mount: [
    ['n', s => s.source],
    ['s', s => s.target],
    ['n', s => s.fstype],
    ['i', s => s.flags],
    ['n', s => s.data],
  ],
  umount2: [
    ['s', s => s.target],
    ['i', s => s.flags],
  ],
  chdir: [['s', s => s.path]],
  pivotRoot: [
    ['s', s => s.newRoot],
    ['s', s => s.putOld],
  ],
  sethostname: [['s', s => s.name]],
  interfaceUp: [['s', s => s.name]],
  umask: [['i', s => s.mask]],
  prctl: [
    ['i', s => s.option],
    ['i', s => s.arg2],
  ],
  mkdir: [
    ['s', s => s.path],
    ['i', s => s.mode],
  ],
  touch: [['s', s => s.path]],
  symlink: [
    ['s', s => s.target],
    ['s', s => s.path],
  ],
  switchUser: [
    ['n', s => s.user ?? null],
    ['a', s => s.groupAdd ?? []],
  ],
  workdir: [['s', s => s.path]],
  resetSignals: [],
  closeFds: [],
  mountOverlay: [
    ['s', s => s.target],
    ['i', s => s.flags],
    ['s', s => s.data],
    ['a', s => s.hardening],
  ],
  bindDevice: [
    ['s', s => s.source],
    ['s', s => s.target],
    ['i', s => s.major],
    ['i', s => s.minor],
    ['b', s => s.block === true],
  ],
  mountInRoot: [
    ['s', s => s.root],
    ['s', s => s.inside],
    ['s', s => s.kind],
    ['s', s => s.source],
    ['n', s => s.fstype],
    ['i', s => s.flags],
    ['n', s => s.data],
    // -1: no restriction; 0: nodev; 1: nodev and read-only.
    ['i', s => (s.restrict ? (s.restrict.readOnly ? 1 : 0) : -1)],
  ],
  setrlimit: [
    ['i', s => s.resource],
    ['i', s => s.soft],
    ['i', s => s.hard],
  ],
  restrictMount: [
    ['s', s => s.path],
    ['b', s => s.readOnly],
  ],
  maskPath: [['s', s => s.path]],
  readonlyPath: [['s', s => s.path]],
  capBounding: [['u', s => s.keep]],
  raiseEffective: [],
  capabilities: [
    ['u', s => s.effective],
    ['u', s => s.permitted],
    ['u', s => s.inheritable],
  ],
  seccomp: [['s', s => s.program]],
  resolveCommand: [
    ['a', s => s.command],
    ['a', s => s.env],
  ],
  console: [],
  exec: [],
}

/** Every op the wire knows (the unit test checks this against Step). */
export const WIRE_OPS: readonly Ops[] = Object.keys(FIELDS) as Ops[]

/** The message for the C init: the planned steps and the pid it checks is alive (undefined: none). */
export function encodeInitMessage(steps: readonly Step[], parentPid: number | undefined): Buffer {
  const fields: string[] = ['pivot-init 1', 'parent', String(parentPid ?? 0)]
  for (const step of steps) {
    fields.push(step.op)
    const table = FIELDS[step.op] as ReadonlyArray<readonly [Kind, (s: Step) => unknown]>
    for (const [kind, get] of table) encodeField(fields, step.op, kind, get(step))
  }
  fields.push('end')
  const payload = Buffer.from(fields.map(f => f + '\0').join(''), 'utf8')
  return Buffer.concat([Buffer.from(`${payload.length}\n`), payload])
}

function encodeField(out: string[], op: string, kind: Kind, value: unknown): void {
  switch (kind) {
    case 's':
      out.push(text(op, value as string))
      break
    case 'n':
      out.push(value === null ? '-' : '+' + text(op, value as string))
      break
    case 'i':
    case 'u': {
      const n = BigInt(value as number | bigint)
      if (kind === 'u' ? n < 0n || n >= 1n << 64n : n < -(1n << 63n) || n >= 1n << 63n)
        throw new RuntimeError('RUN_SETUP_FAILED', `container setup: ${op}: ${n} does not fit its field`)
      out.push(n.toString())
      break
    }
    case 'b':
      out.push(value ? '1' : '0')
      break
    case 'a': {
      const list = value as readonly string[]
      out.push(String(list.length), ...list.map(v => text(op, v)))
      break
    }
  }
}

/** A string field: a NUL would end it early, and the init would read the rest as other fields. */
function text(op: string, value: string): string {
  if (value.includes('\0')) throw new RuntimeError('RUN_SETUP_FAILED', `container setup: ${op}: a field contains a NUL byte`)
  return value
}
