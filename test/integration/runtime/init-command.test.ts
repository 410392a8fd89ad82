// pivot-init's command side (src/runtime/monitor/init-command.c: resolve_user, resolve_command,
// exec_command) against the TypeScript it ports (user.ts, execute.ts's lookPath/groupId/switchUser/
// exec, security/exec-guard.ts), which the OCI runtime's node init keeps using: the same cases run
// through both, each in its own mount namespace pivoted into an exported busybox or Debian rootfs
// with planted files (scripts, #! chains, ELF interpreters, symlinks, a bind mount from outside,
// /proc magic links, passwd and group entries), and must print the same line (the failure line, or
// the command's output) and exit with the same status. The one intended difference is the wording
// of the refusal of the init's own binary (no "(the host's node)" any more).
import {after, before, test} from 'node:test'
import assert from 'node:assert/strict'
import {execFileSync, spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {BUSYBOX_IMAGE, DEBIAN_IMAGE, DOCKER_BIN, REPO_ROOT, tempDir} from '../../helpers/fixtures'

const DRIVER_C = path.join(REPO_ROOT, 'test', 'integration', 'runtime', 'init-command-driver.c')
const DRIVER_TS = path.join(__dirname, 'init-command-driver.js')
const MONITOR = path.join(REPO_ROOT, 'src', 'runtime', 'monitor')
const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

let work: string
let driver: string
const roots: Record<'busybox' | 'debian', string> = {busybox: '', debian: ''}
let outside: string
let etcDirGroup: string

function exportImage(image: string, dir: string): void {
  const name = `pivot-cinitcmd-export-${process.pid}-${path.basename(dir)}`
  execFileSync(DOCKER_BIN, ['create', '--name', name, image, 'true'], {stdio: 'ignore'})
  try {
    execFileSync('sh', ['-c', `${DOCKER_BIN} export ${name} | tar -xf - -C ${dir}`])
  } finally {
    execFileSync(DOCKER_BIN, ['rm', '-f', name], {stdio: 'ignore'})
  }
}

function write(file: string, text: string | Buffer, mode = 0o755): void {
  fs.mkdirSync(path.dirname(file), {recursive: true})
  fs.writeFileSync(file, text)
  fs.chmodSync(file, mode)
}

/** A dynamically linked program (the host's libc, Debian 12 as the image) whose PT_INTERP is `interp`. */
function elfWithInterpreter(file: string, interp: string): void {
  const src = path.join(work, 'hello.c')
  fs.writeFileSync(src, '#include <stdio.h>\nint main(void) { puts("hello from elf"); return 0; }\n')
  execFileSync('cc', ['-o', file, src, `-Wl,--dynamic-linker=${interp}`])
}

/** A hand-made ELF header whose program headers (and PT_INTERP string) sit where the cases say. */
function craftedElf(opts: {is64: boolean; le: boolean; phoff: number; phentsize: number; interpAt: number; interp: string | Buffer}): Buffer {
  const size = Math.max(opts.phoff + 2 * opts.phentsize, opts.interpAt + opts.interp.length + 1, 64) + 16
  const b = Buffer.alloc(size)
  b.writeUInt32BE(0x7f454c46, 0)
  b[4] = opts.is64 ? 2 : 1
  b[5] = opts.le ? 1 : 2
  b[6] = 1
  const u16 = (v: number, o: number) => (opts.le ? b.writeUInt16LE(v, o) : b.writeUInt16BE(v, o))
  const u32 = (v: number, o: number) => (opts.le ? b.writeUInt32LE(v, o) : b.writeUInt32BE(v, o))
  const word = (v: number, o: number) => (opts.is64 ? (opts.le ? b.writeBigUInt64LE(BigInt(v), o) : b.writeBigUInt64BE(BigInt(v), o)) : u32(v, o))
  u16(2, 16) // ET_EXEC
  u16(opts.is64 ? 62 : 3, 18)
  word(opts.phoff, opts.is64 ? 0x20 : 0x1c)
  u16(opts.phentsize, opts.is64 ? 0x36 : 0x2a)
  u16(2, opts.is64 ? 0x38 : 0x2c)
  // Entry 0: PT_LOAD; entry 1: PT_INTERP.
  u32(1, opts.phoff)
  const interp = opts.phoff + opts.phentsize
  u32(3, interp)
  word(opts.interpAt, interp + (opts.is64 ? 0x08 : 0x04))
  word(opts.interp.length + 1, interp + (opts.is64 ? 0x20 : 0x10))
  Buffer.from(opts.interp).copy(b, opts.interpAt)
  return b
}

const ECHO = '#!/bin/sh\necho "0=$0 args=$* comm=$(cat /proc/$$/comm)"\n'
const PASSWD = [
  'alice:x:1000:1000:Alice:/home/alice:/bin/sh',
  'spacey:x: 1001 :1001::/home/spacey:/bin/sh',
  'hexy:x:0x3ea:0x3ea::/hexy:/bin/sh',
  'emptyuid:x::5::/e:/bin/sh',
  'frac:x:1003.0:1e3::/f:/bin/sh',
  'bad:x:12abc:1::/b:/bin/sh',
  '#commented:x:1004:1004::/c:/bin/sh',
  'short:x:1005:1005',
  'nohome:x:1006:1006:::/bin/sh',
  'dup:x:1007:1007::/dup1:/bin/sh',
  'dup:x:1008:1008::/dup2:/bin/sh',
  'minus:x:-0:2::/m:/bin/sh',
  'negu:x:-1:0::/:/bin/sh',
  'negg:x:1010:-1::/:/bin/sh',
  'bigu:x:4294967296:0::/:/bin/sh',
  'negmember:x:1011:1011::/:/bin/sh',
].join('\n')
const GROUP = [
  'pstaff:x:60:alice, bob',
  'crlf:x:61:alice\r',
  'hexg:x:0x3e:alice',
  '#alicecomment:x:63:alice',
  'shortg:x:64',
  'nbsp:x:65:\u00a0alice\u3000',
  'dupg:x:60:alice',
  'notalice:x:66:alicex,xalice',
  'dup:x:67:dup',
  'gneg:x:-7:negmember',
].join('\n')

function plant(root: string): void {
  fs.appendFileSync(path.join(root, 'etc/passwd'), '\n' + PASSWD + '\n')
  fs.appendFileSync(path.join(root, 'etc/group'), '\n' + GROUP)
  const t = (p: string) => path.join(root, 't', p)
  write(t('echo.sh'), ECHO)
  write(t('noexec.sh'), ECHO, 0o644)
  write(t('xonly.sh'), ECHO, 0o111)
  write(t('rootonly.sh'), ECHO, 0o700)
  fs.copyFileSync(path.join(root, 'bin/cat'), t('xonly-cat'))
  fs.chmodSync(t('xonly-cat'), 0o111)
  fs.mkdirSync(t('dir/sub'), {recursive: true})
  fs.mkdirSync(t('pathdir/echo.sh'), {recursive: true})
  execFileSync('mkfifo', [t('fifo')])
  write(t('blank-shebang'), '#!   \t \nexit 0\n')
  write(t('long-shebang'), '#!' + '/x'.repeat(150))
  write(t('long-shebang-ok'), '#!/bin/echo ' + 'y'.repeat(300))
  write(t('arg-shebang'), '#!  /bin/echo   one two  \n')
  write(t('nul-shebang'), Buffer.from('#!/bin/echo a\0b\n'))
  write(t('tab-shebang'), '#!\t/bin/echo\targ\n')
  write(t('rel-shebang'), '#!bin/echo rel\n')
  write(t('self-shebang'), '#!/proc/self/exe\n')
  write(t('chain1'), '#!/bin/echo c1\n')
  write(t('chain2'), '#!/t/chain1 c2\n')
  write(t('chain3'), '#!/t/chain2 c3\n')
  write(t('chain4'), '#!/t/chain3\n')
  write(t('chain5'), '#!/t/chain4\n')
  write(t('outside-shebang'), '#!/mnt/outside/cat\n')
  fs.symlinkSync('/proc/self/exe', t('selflink'))
  fs.symlinkSync('loop', t('loop'))
  fs.mkdirSync(t('loopdir'))
  fs.symlinkSync('echo.sh', t('loopdir/echo.sh'))
  fs.symlinkSync('../bin/cat', t('rel-link'))
  fs.symlinkSync('/bin/cat', t('abs-link'))
  fs.symlinkSync('/t/rel-link', t('link-to-link'))
  fs.mkdirSync(path.join(root, 'mnt/outside'), {recursive: true})
  write(t('elf-a'), craftedElf({is64: true, le: true, phoff: 5000, phentsize: 56, interpAt: 6000, interp: '/proc/self/exe'}))
  write(t('elf-b'), craftedElf({is64: false, le: false, phoff: 52, phentsize: 32, interpAt: 200, interp: '/proc/self/exe'}))
  write(t('elf-c'), craftedElf({is64: true, le: true, phoff: 64, phentsize: 32, interpAt: 300, interp: '/proc/self/exe'}))
  write(t('elf-d'), craftedElf({is64: true, le: false, phoff: 64, phentsize: 56, interpAt: 4090, interp: '/nonexistent/ld.so'}))
  fs.symlinkSync('/proc/self/root/bin/cat', t('proc-root-link'))
  // Interpreter names that are not UTF-8: the TypeScript sees /t/\u{fffd} (a harmless echo), the kernel /t/\xff (the init).
  fs.symlinkSync('/proc/self/exe', Buffer.from(t('\xff'), 'latin1'))
  fs.copyFileSync(path.join(root, 'bin/echo'), t('\u{fffd}'))
  write(t('badutf-shebang'), Buffer.from('#!/t/\xff\n', 'latin1'))
  write(t('fffd-shebang'), '#!/t/\u{fffd}\n')
  write(t('badutf-elf'), craftedElf({is64: true, le: true, phoff: 64, phentsize: 56, interpAt: 300, interp: Buffer.from('/t/\xff', 'latin1')}))
}

before(() => {
  work = tempDir('pivot-cinitcmd')
  driver = path.join(work, 'driver')
  execFileSync('cc', [
    '-O2',
    '-Wall',
    '-Wextra',
    '-I',
    MONITOR,
    '-o',
    driver,
    DRIVER_C,
    path.join(MONITOR, 'init-command.c'),
    path.join(MONITOR, 'init-failure.c'),
  ])
  for (const [key, image] of [
    ['busybox', BUSYBOX_IMAGE],
    ['debian', DEBIAN_IMAGE],
  ] as const) {
    const dir = path.join(work, key)
    fs.mkdirSync(dir)
    exportImage(image, dir)
    plant(dir)
    roots[key] = dir
  }
  // On another filesystem than the rootfs (the guard compares devices, as a container's overlay root has its own).
  outside = fs.mkdtempSync('/dev/shm/pivot-cinitcmd-')
  write(path.join(outside, 'prog.sh'), ECHO)
  write(path.join(outside, 'cat-me'), '#!/mnt/outside/cat\nthe script itself\n')
  fs.copyFileSync(path.join(roots.debian, 'usr/bin/cat'), path.join(outside, 'cat'))
  fs.copyFileSync(path.join(roots.debian, 'usr/bin/cat'), path.join(outside, 'xonly-cat'))
  fs.chmodSync(path.join(outside, 'xonly-cat'), 0o111)
  write(path.join(outside, 'ld.so'), 'not a loader\n')
  const t = (p: string) => path.join(roots.debian, 't', p)
  elfWithInterpreter(t('elf-self'), '/proc/self/exe')
  elfWithInterpreter(t('elf-missing'), '/nonexistent/ld.so')
  elfWithInterpreter(t('elf-outside'), '/mnt/outside/ld.so')
  elfWithInterpreter(t('elf-proc'), `/proc/${process.pid}/root/lib64/ld-linux-x86-64.so.2`)
  elfWithInterpreter(t('elf-dir'), '/t/dir')
  elfWithInterpreter(t('elf-ok'), '/lib64/ld-linux-x86-64.so.2')
  elfWithInterpreter(t('elf-rel'), 'lib64/ld-linux-x86-64.so.2')
  // An /etc whose group file is a directory (nodeSetupFs' read fails: EISDIR).
  etcDirGroup = path.join(work, 'etc-dir-group')
  fs.mkdirSync(path.join(etcDirGroup, 'group'), {recursive: true})
  fs.copyFileSync(path.join(roots.busybox, 'etc/passwd'), path.join(etcDirGroup, 'passwd'))
})

after(() => {
  if (outside) fs.rmSync(outside, {recursive: true, force: true})
})

interface Case {
  root?: 'busybox' | 'debian'
  cwd?: string
  user?: string
  groupAdd?: string[]
  command: string[]
  env?: string[]
  binds?: [string, string][]
  /** What the C side must print (a part of it): the comparison alone could pass with both wrong. */
  expect?: string
  status?: number
}

function argsOf(c: Case): string[] {
  const binds = (c.binds ?? []).flatMap(([src, dst]) => [src === 'OUTSIDE' ? outside : src === 'ETC' ? etcDirGroup : src, dst])
  const env = c.env ?? [PATH_ENV]
  const groupAdd = c.groupAdd ?? []
  return [
    roots[c.root ?? 'debian'],
    c.cwd ?? '/',
    c.user ?? '-',
    String(groupAdd.length),
    ...groupAdd,
    String(c.command.length),
    ...c.command,
    String(env.length),
    ...env,
    String(binds.length),
    ...binds,
  ]
}

function runSide(program: string[], c: Case): {out: string; err: string; status: number | null} {
  const env = {...process.env}
  delete env.NODE_EXTRA_CA_CERTS
  const r = spawnSync('unshare', ['--mount', '--propagation', 'private', ...program, ...argsOf(c)], {encoding: 'utf8', timeout: 60_000, env})
  return {out: r.stdout, err: r.stderr, status: r.status}
}

function compare(c: Case): void {
  const ts = runSide([process.execPath, DRIVER_TS], c)
  const cc = runSide([driver], c)
  const tsOut = ts.out.replace("pivot's own init binary (the host's node) in the container", "pivot's own init binary in the container")
  // stderr too: the command's own complaints (sh's, cat's) must match, and neither driver may have died.
  assert.deepEqual({out: cc.out, err: cc.err, status: cc.status}, {out: tsOut, err: ts.err, status: ts.status}, `C vs TypeScript on ${JSON.stringify(c)}`)
  if (c.expect !== undefined) assert.ok(cc.out.includes(c.expect), `${JSON.stringify(c)}: ${cc.out} lacks ${c.expect}`)
  if (c.status !== undefined) assert.equal(cc.status, c.status, `${JSON.stringify(c)}: ${cc.out}`)
}

const commandCases: [string, Case][] = [
  ['a script by path, with arguments', {command: ['/t/echo.sh', 'a', 'b'], expect: '0=/t/echo.sh args=a b comm=echo.sh', status: 0}],
  ['a script through PATH', {command: ['echo.sh', 'x'], env: ['PATH=/nonexistent:/t'], expect: '0=/t/echo.sh args=x', status: 0}],
  ['the last PATH= wins', {command: ['echo.sh'], env: ['PATH=/nonexistent', 'PATH=/t'], expect: '0=/t/echo.sh', status: 0}],
  ['an empty PATH entry is the working directory', {cwd: '/t', command: ['echo.sh'], env: ['PATH=:/bin'], expect: '0=./echo.sh', status: 0}],
  ['no PATH at all: the working directory', {cwd: '/t', command: ['echo.sh'], env: [], expect: '0=./echo.sh', status: 0}],
  ['no PATH, not in the working directory', {command: ['ls'], env: [], expect: 'executable file not found in $PATH', status: 127}],
  ['a PATH entry that is a file is skipped', {command: ['cat', '/proc/self/comm'], env: ['PATH=/etc/passwd:/bin'], expect: 'cat\n', status: 0}],
  ['a PATH entry through a symlink loop is skipped', {command: ['echo.sh'], env: ['PATH=/t/loopdir:/t'], expect: '0=/t/echo.sh', status: 0}],
  ['a directory in PATH is no command', {command: ['echo.sh'], env: ['PATH=/t/pathdir'], expect: 'executable file not found', status: 127}],
  ['a file without x in PATH is no command', {command: ['noexec.sh'], env: ['PATH=/t'], status: 127}],
  ['a missing file', {command: ['/t/nope'], expect: 'exec: \\"/t/nope\\": no such file or directory', status: 127}],
  ['a missing command', {command: ['nope'], expect: 'exec: \\"nope\\": executable file not found in $PATH', status: 127}],
  ['an empty command name', {command: [''], expect: 'exec: \\"\\": executable file not found in $PATH', status: 127}],
  ['a name that JSON must escape', {command: ['/t/no"pe\tx'], expect: '\\"/t/no\\\\\\"pe\\\\tx\\"', status: 127}],
  ['a directory', {command: ['/t/dir'], expect: 'is a directory', status: 126}],
  ['a path through a file', {command: ['/t/echo.sh/x'], status: 126}],
  ['a fifo', {command: ['/t/fifo'], expect: 'permission denied', status: 126}],
  ['a file without x, by path', {command: ['/t/noexec.sh'], expect: 'permission denied', status: 126}],
  ['an execute-only binary, as root', {command: ['/t/xonly-cat', '/proc/self/comm'], expect: 'xonly-cat', status: 0}],
  ['a #! line of blanks', {command: ['/t/blank-shebang'], expect: 'exec format error', status: 126}],
  ['a #! line longer than the buffer', {command: ['/t/long-shebang'], expect: 'exec format error', status: 126}],
  ['a long #! line whose name ends inside it', {command: ['/t/long-shebang-ok'], expect: 'yyy', status: 0}],
  ['a #! line with an argument', {command: ['/t/arg-shebang', 'z'], expect: 'one two /t/arg-shebang z', status: 0}],
  ['a #! argument cut at a NUL', {command: ['/t/nul-shebang'], expect: 'a /t/nul-shebang', status: 0}],
  ['a #! line with tabs', {command: ['/t/tab-shebang'], expect: 'arg /t/tab-shebang', status: 0}],
  ['a relative #! interpreter', {command: ['/t/rel-shebang'], expect: 'rel /t/rel-shebang', status: 0}],
  ['a relative #! interpreter, missing from the working directory', {cwd: '/t', command: ['/t/rel-shebang'], status: 127}],
  ['#! chains: four interpreters', {command: ['/t/chain4', 'q'], expect: 'c1 /t/chain1 c2 /t/chain2 c3 /t/chain3 /t/chain4 q', status: 0}],
  ['#! chains: five is ELOOP', {command: ['/t/chain5'], expect: 'too many levels of symbolic links or interpreters', status: 126}],
  [
    '#!/proc/self/exe',
    {command: ['/t/self-shebang'], expect: 'exec: \\"/proc/self/exe\\": refusing to run pivot\'s own init binary in the container', status: 126},
  ],
  ['/proc/self/exe', {command: ['/proc/self/exe'], expect: 'refusing to run', status: 126}],
  ['a symlink to /proc/self/exe', {command: ['/t/selflink'], expect: 'exec: \\"/t/selflink\\": refusing', status: 126}],
  ['a symlink loop', {command: ['/t/loop'], expect: 'too many levels', status: 126}],
  // By path, the kernel names the process after the link it was run by.
  ['a relative symlink', {command: ['/t/rel-link', '/proc/self/comm'], expect: 'rel-link', status: 0}],
  ['an absolute symlink through /bin -> usr/bin', {command: ['/t/abs-link', '/proc/self/comm'], expect: 'abs-link', status: 0}],
  ['a symlink to a symlink', {command: ['/t/link-to-link', '/proc/self/comm'], status: 0}],
  [
    'a host file through /proc/PID/root',
    {command: [`/proc/${process.pid}/root/bin/true`], expect: "refusing to run a file from outside the container's filesystems", status: 126},
  ],
  ['a container file through /proc/self/root (by descriptor)', {command: ['/proc/self/root/bin/cat', '/proc/self/comm'], expect: 'cat', status: 0}],
  ['a symlink into /proc/self/root', {command: ['/t/proc-root-link', '/proc/self/comm'], expect: 'cat', status: 0}],
  [
    'a script on a bind mount (its interpreter by path)',
    {command: ['/mnt/outside/prog.sh', 'q'], binds: [['OUTSIDE', '/mnt/outside']], expect: '0=/mnt/outside/prog.sh args=q comm=sh', status: 0},
  ],
  [
    'a binary on a bind mount (by descriptor)',
    {command: ['/mnt/outside/cat', '/proc/self/comm'], binds: [['OUTSIDE', '/mnt/outside']], expect: 'cat', status: 0},
  ],
  ['a script whose interpreter is on a bind mount', {command: ['/t/outside-shebang'], binds: [['OUTSIDE', '/mnt/outside']], status: 0}],
  [
    'a relative name from a bind-mounted working directory',
    {cwd: '/mnt/outside', command: ['./prog.sh'], binds: [['OUTSIDE', '/mnt/outside']], expect: 'args= comm=sh', status: 0},
  ],
  [
    'a script and its interpreter both on a bind mount (both by descriptor)',
    {command: ['/mnt/outside/cat-me'], binds: [['OUTSIDE', '/mnt/outside']], expect: 'the script itself', status: 0},
  ],
  ['.. past the root, // and . in the name', {command: ['/../..//t/./echo.sh'], expect: '0=/../..//t/./echo.sh', status: 0}],
  ['a relative name from the root filesystem', {cwd: '/t', command: ['./echo.sh'], expect: '0=./echo.sh', status: 0}],
  ['.. from a directory reached through a symlink', {cwd: '/bin', command: ['../../t/echo.sh'], expect: '0=../../t/echo.sh', status: 0}],
  [
    'an ELF interpreter /proc/self/exe',
    {command: ['/t/elf-self'], expect: 'exec: \\"/proc/self/exe\\": refusing to run pivot\'s own init binary', status: 126},
  ],
  ['a missing ELF interpreter', {command: ['/t/elf-missing'], expect: 'exec: \\"/t/elf-missing\\": no such file or directory', status: 127}],
  [
    'an ELF interpreter on a bind mount',
    {
      command: ['/t/elf-outside'],
      binds: [['OUTSIDE', '/mnt/outside']],
      expect: "refusing an ELF interpreter (/mnt/outside/ld.so) outside the container's root filesystem",
      status: 126,
    },
  ],
  ['an ELF interpreter through /proc', {command: ['/t/elf-proc'], expect: 'refusing an ELF interpreter', status: 126}],
  ['an ELF interpreter that is a directory', {command: ['/t/elf-dir'], expect: 'exec: \\"/t/dir\\": is a directory', status: 126}],
  ['an ELF interpreter through the /lib64 symlink', {command: ['/t/elf-ok'], expect: 'hello from elf', status: 0}],
  ['a relative ELF interpreter', {command: ['/t/elf-rel'], expect: 'hello from elf', status: 0}],
  ['a relative ELF interpreter from elsewhere', {cwd: '/t', command: ['/t/elf-rel'], status: 127}],
  ['ELF64: program headers past the first 4 KiB', {command: ['/t/elf-a'], expect: 'refusing to run', status: 126}],
  ['ELF32 big-endian', {command: ['/t/elf-b'], expect: 'refusing to run', status: 126}],
  ['ELF: program header entries too small', {command: ['/t/elf-c'], status: 126}],
  ['ELF64 big-endian, PT_INTERP across the 4 KiB head', {command: ['/t/elf-d'], status: 126}],
  ['a #! interpreter name that is not UTF-8', {command: ['/t/badutf-shebang'], expect: 'refusing an interpreter whose name is not valid UTF-8', status: 126}],
  ['a #! interpreter name holding U+FFFD', {command: ['/t/fffd-shebang'], expect: 'refusing an interpreter whose name is not valid UTF-8', status: 126}],
  [
    'an ELF interpreter name that is not UTF-8',
    {command: ['/t/badutf-elf'], expect: 'exec: \\"/t/badutf-elf\\": refusing an interpreter whose name is not valid UTF-8', status: 126},
  ],
  ['busybox: a name through PATH (an applet)', {root: 'busybox', command: ['cat', '/proc/self/comm'], expect: 'cat', status: 0}],
  ['busybox: a script', {root: 'busybox', command: ['/t/echo.sh', '1'], expect: '0=/t/echo.sh args=1 comm=echo.sh', status: 0}],
  ['busybox: /proc/self/exe', {root: 'busybox', command: ['/proc/self/exe'], expect: 'refusing', status: 126}],
]

const ID = ['/bin/sh', '-c', 'id; echo HOME=$HOME']
const userCases: [string, Case][] = [
  ['no -u: root', {command: ID, expect: 'uid=0(root) gid=0(root)', status: 0}],
  ['-u 0', {user: '0', command: ID, status: 0}],
  ['-u 1000 (alice)', {user: '1000', command: ID, expect: 'uid=1000(alice) gid=1000 groups=1000,60(games),61(crlf),62,65(nbsp)\nHOME=/home/alice', status: 0}],
  ['-u alice', {user: 'alice', command: ID, status: 0}],
  ['-u alice:pstaff', {user: 'alice:pstaff', command: ID, expect: 'uid=1000(alice) gid=60(games) groups=60(games)', status: 0}],
  ['-u alice:61', {user: 'alice:61', command: ID, status: 0}],
  ['-u alice: (an empty group part)', {user: 'alice:', command: ID, status: 0}],
  ['-u :61', {user: ':61', command: ID, expect: 'uid=0(root) gid=61(crlf)', status: 0}],
  ['-u 1000:1000', {user: '1000:1000', command: ID, status: 0}],
  ['-u 4242 (no entry)', {user: '4242', command: ID, expect: 'uid=4242 gid=0(root) groups=0(root)\nHOME=/', status: 0}],
  ['-u 4242:4343', {user: '4242:4343', command: ID, status: 0}],
  ['-u with a padded uid field', {user: 'spacey', command: ID, expect: 'uid=1001', status: 0}],
  ['-u with hex uid and gid fields', {user: 'hexy', command: ID, expect: 'uid=1002', status: 0}],
  ['-u with an empty uid field', {user: 'emptyuid', command: ID, expect: 'uid=0(root) gid=5', status: 0}],
  ['-u with 1003.0 and 1e3', {user: 'frac', command: ID, expect: 'uid=1003 gid=1000', status: 0}],
  ['-u with -0', {user: 'minus', command: ID, status: 0}],
  ['-u of an entry with a bad uid', {user: 'bad', command: ID, expect: 'unable to find user bad: no matching entries in passwd file', status: 125}],
  ['-u of a commented entry', {user: '#commented', command: ID, status: 125}],
  ['-u of a short entry', {user: 'short', command: ID, status: 125}],
  ['-u of an entry without a home', {user: 'nohome', command: ID, expect: 'HOME=/\n', status: 0}],
  ['-u of a name listed twice', {user: 'dup', command: ID, expect: 'uid=1007', status: 0}],
  ['-u nobody', {user: 'nobody', command: ID, status: 0}],
  ['-u of an unknown name', {user: 'nosuch', command: ID, expect: 'RUN_BAD_USER', status: 125}],
  [
    '-u of an unknown group',
    {user: 'alice:nosuchgroup', command: ID, expect: 'unable to find group nosuchgroup: no matching entries in group file', status: 125},
  ],
  ['-u of a uid past 2^31-1', {user: '2147483648', command: ID, expect: 'invalid user \\"2147483648\\": uid 2147483648 is out of range', status: 125}],
  ['-u of a uid JavaScript prints with an exponent', {user: '99999999999999999999999', command: ID, expect: 'uid 1e+23 is out of range', status: 125}],
  ['-u of a uid JavaScript rounds', {user: '123456789012345678901', command: ID, expect: 'uid 123456789012345680000 is out of range', status: 125}],
  ['-u with leading zeros', {user: '00000000000000000001000', command: ID, expect: 'uid=1000(alice)', status: 0}],
  [
    '-u of a gid past 2^31-1',
    {user: 'alice:99999999999', command: ID, expect: 'invalid group \\"99999999999\\": gid 99999999999 is out of range', status: 125},
  ],
  ['-u with a second colon', {user: 'alice:61:junk', command: ID, expect: 'gid=61(crlf)', status: 0}],
  ['--group-add names, numbers and repeats', {user: 'alice', groupAdd: ['pstaff', '70', 'shortg', '60', '70', '#alicecomment'], command: ID, status: 0}],
  [
    '--group-add of an unknown group',
    {user: 'alice', groupAdd: ['nosuchgroup'], command: ID, expect: 'Unable to find group nosuchgroup: no matching entries in group file', status: 125},
  ],
  ['a passwd uid of -1 (setresuid would change nothing)', {user: 'negu', command: ID, expect: 'uids and gids must be in range 0-2147483647', status: 125}],
  ['a passwd gid of -1', {user: 'negg', command: ID, expect: 'uids and gids must be in range 0-2147483647', status: 125}],
  ['a passwd uid past 32 bits', {user: 'bigu', command: ID, expect: 'uids and gids must be in range 0-2147483647', status: 125}],
  ['a group of gid -7 listing the user', {user: 'negmember', command: ID, expect: 'uids and gids must be in range 0-2147483647', status: 125}],
  ['the same user with a group named: the listing does not count', {user: 'negmember:1011', command: ID, status: 0}],
  ['--group-add past 2^31-1', {groupAdd: ['2147483648'], command: ID, expect: 'uids and gids must be in range 0-2147483647', status: 125}],
  ['--group-add 2^32 (would be gid 0)', {groupAdd: ['4294967296'], command: ID, expect: 'uids and gids must be in range 0-2147483647', status: 125}],
  ['--group-add without -u', {groupAdd: ['66', 'dup'], command: ID, status: 0}],
  ['HOME from the environment wins', {user: 'alice', command: ID, env: [PATH_ENV, 'HOME=/elsewhere'], expect: 'HOME=/elsewhere', status: 0}],
  ['an execute-only script as a user (sh cannot read it)', {user: 'alice', command: ['/t/xonly.sh'], status: 2}],
  ['an execute-only binary as a user', {user: 'alice', command: ['/t/xonly-cat', '/proc/self/comm'], expect: 'xonly-cat', status: 0}],
  [
    'an execute-only binary on a bind mount as a user (by descriptor)',
    {user: 'alice', command: ['/mnt/outside/xonly-cat', '/proc/self/comm'], binds: [['OUTSIDE', '/mnt/outside']], expect: 'xonly-cat', status: 0},
  ],
  [
    'a root-only script as a user: the exec is refused',
    {user: 'alice', command: ['/t/rootonly.sh'], expect: 'exec: \\"/t/rootonly.sh\\": permission denied', status: 126},
  ],
  ['a command failure comes before a user failure', {user: 'nosuch', command: ['/t/nope'], status: 127}],
  ['busybox: -u alice', {root: 'busybox', user: 'alice', command: ID, expect: 'uid=1000(alice)', status: 0}],
  ['busybox: -u 1000:pstaff with --group-add', {root: 'busybox', user: '1000:pstaff', groupAdd: ['61'], command: ID, status: 0}],
  [
    'a group file that is a directory',
    {root: 'busybox', user: 'alice', command: ID, binds: [['ETC', '/etc']], expect: 'container setup failed: read: EISDIR', status: 125},
  ],
]

for (const [name, c] of [...commandCases, ...userCases]) test(name, () => compare(c))

test('the drivers leave no mount behind on the host', () => {
  const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8')
  assert.ok(!mounts.includes(work), mounts)
})
