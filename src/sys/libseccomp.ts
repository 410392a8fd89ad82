// libseccomp through koffi: the seccomp filter compiler behind Syscalls.seccompCompile. Loaded
// on first use (only `pivot run`'s parent and `pivot exec` compile filters).
import * as os from 'node:os'
import {errno, fn, koffiModule, type Koffi} from './koffi-loader'
import type {SeccompRuleSpec} from './syscalls'
import {SysError, SysLibraryError} from './sys-error'

const SCMP_ACT_ALLOW = 0x7fff0000
const SCMP_ACT_ERRNO = 0x00050000
const SCMP_FLTATR_CTL_NNP = 3
const SCMP_CMP = {ne: 1, eq: 4, maskedEq: 7} as const
const NR_SCMP_ERROR = -1
const MFD_CLOEXEC = 1
const {EEXIST, EINVAL, EDOM, EOPNOTSUPP} = os.constants.errno

function check(call: string, args: unknown[], rc: number): void {
  if (rc < 0) throw new SysError(call, args, -rc)
}

interface LibSeccomp {
  init: (defAction: number) => unknown
  archAdd: (ctx: unknown, arch: number) => number
  attrSet: (ctx: unknown, attr: number, value: number) => number
  resolve: (name: string) => number
  ruleAdd: (ctx: unknown, action: number, syscall: number, argCount: number, args: Buffer | null) => number
  exportBpf: (ctx: unknown, fd: number) => number
  release: (ctx: unknown) => void
}

let seccompLib: LibSeccomp | undefined

/** libseccomp.so.2 through koffi, loaded on first use (only `pivot run`'s parent needs it). */
function libseccomp(): LibSeccomp {
  if (seccompLib) return seccompLib
  const koffi = koffiModule()
  let lib: ReturnType<Koffi['load']>
  try {
    lib = koffi.load('libseccomp.so.2')
  } catch (error) {
    throw new SysLibraryError(
      'libseccomp.so.2',
      (error as Error).message.split('\n')[0],
      'install the libseccomp2 package (Debian, Ubuntu; libseccomp on Fedora and Alpine)',
    )
  }
  seccompLib = {
    init: lib.func('void *seccomp_init(uint32_t def_action)') as LibSeccomp['init'],
    archAdd: lib.func('int seccomp_arch_add(void *ctx, uint32_t arch_token)') as LibSeccomp['archAdd'],
    attrSet: lib.func('int seccomp_attr_set(void *ctx, int attr, uint32_t value)') as LibSeccomp['attrSet'],
    resolve: lib.func('int seccomp_syscall_resolve_name(const char *name)') as LibSeccomp['resolve'],
    ruleAdd: lib.func(
      'int seccomp_rule_add_array(void *ctx, uint32_t action, int syscall, unsigned int arg_cnt, const void *arg_array)',
    ) as LibSeccomp['ruleAdd'],
    exportBpf: lib.func('int seccomp_export_bpf(void *ctx, int fd)') as LibSeccomp['exportBpf'],
    release: lib.func('void seccomp_release(void *ctx)') as LibSeccomp['release'],
  }
  return seccompLib
}

/**
 * A BPF program for the rules (libseccomp's compiler, so pivot never hand-writes BPF): exported
 * into a memfd and read back through `readAll`.
 */
export function compileSeccomp(
  defaultErrno: number,
  rules: readonly SeccompRuleSpec[],
  extraArches: readonly number[],
  readAll: (fd: number) => Buffer,
): Buffer {
  const lib = libseccomp()
  const ctx = lib.init(SCMP_ACT_ERRNO | (defaultErrno & 0xffff))
  if (!ctx) throw new SysError('seccomp_init', [], errno())
  let memfd = -1
  try {
    for (const arch of extraArches) {
      // -EEXIST: the native one; -EINVAL: this libseccomp cannot add it. Neither is fatal: the
      // kernel then refuses the ABI as a whole (SCMP_ACT_KILL for a foreign architecture).
      const rc = lib.archAdd(ctx, arch)
      if (rc < 0 && rc !== -EEXIST && rc !== -EINVAL) throw new SysError('seccomp_arch_add', [arch], -rc)
    }
    // libseccomp sets no_new_privs itself unless told not to: that is the caller's choice (it
    // is off by default so that setuid programs work, as in docker).
    check('seccomp_attr_set', ['SCMP_FLTATR_CTL_NNP'], lib.attrSet(ctx, SCMP_FLTATR_CTL_NNP, 0))
    for (const rule of rules) {
      const nr = lib.resolve(rule.name)
      if (nr === NR_SCMP_ERROR) continue
      const args = rule.args.length === 0 ? null : Buffer.alloc(24 * rule.args.length)
      rule.args.forEach((a, i) => {
        args!.writeUInt32LE(a.index, 24 * i)
        args!.writeUInt32LE(SCMP_CMP[a.op], 24 * i + 4)
        args!.writeBigUInt64LE(a.value, 24 * i + 8)
        args!.writeBigUInt64LE(a.valueTwo ?? 0n, 24 * i + 16)
      })
      const action = rule.errno === undefined ? SCMP_ACT_ALLOW : SCMP_ACT_ERRNO | (rule.errno & 0xffff)
      const rc = lib.ruleAdd(ctx, action, nr, rule.args.length, args)
      // A pseudo syscall (negative number: a name of another ABI, e.g. socketcall on x86_64)
      // that none of the filter's architectures has is refused with -EDOM/-EINVAL: skip it.
      if (rc < 0 && !(nr < 0 && (rc === -EDOM || rc === -EINVAL || rc === -EOPNOTSUPP))) {
        throw new SysError(`seccomp_rule_add(${rule.name})`, [], -rc)
      }
    }
    memfd = fn('int memfd_create(const char *name, unsigned int flags)')('pivot-seccomp', MFD_CLOEXEC)
    if (memfd === -1) throw new SysError('memfd_create', ['pivot-seccomp'], errno())
    check('seccomp_export_bpf', [], lib.exportBpf(ctx, memfd))
    return readAll(memfd)
  } finally {
    if (memfd !== -1) fn('int close(int fd)')(memfd)
    lib.release(ctx)
  }
}
