// Fakes shared by the runtime's unit tests: a SetupFs over an in-memory file table, and the
// host's device nodes as RecordingSyscalls answers them.
import {RecordingSyscalls, S_IFCHR, makedev} from '../../../src/sys'
import type {SetupFs} from '../../../src/runtime/rootfs/execute'

/**
 * A SetupFs over an in-memory file table: records writes, answers reads. Every path is on one
 * device (dev 1) unless its entry says otherwise; a prefix of a listed path is a directory.
 */
export class FakeFs implements SetupFs {
  readonly ops: string[] = []
  constructor(private readonly files: Record<string, {text?: string; mode?: number; dir?: boolean; dev?: bigint; link?: string}> = {}) {}
  lstat(p: string) {
    const f = this.files[p]
    if (f) return {dev: f.dev ?? 1n, ino: 1n, isSymlink: f.link !== undefined, isDirectory: !!f.dir}
    if (p === '/' || p === '.' || Object.keys(this.files).some(k => k.startsWith(p + '/'))) return {dev: 1n, ino: 1n, isSymlink: false, isDirectory: true}
    return undefined
  }
  consoleHandedOver: number[] = []
  handOverConsole(master: number): void {
    this.consoleHandedOver.push(master)
  }
  readlink(p: string): string {
    if (p === '/proc/self/cwd') return '/'
    const link = this.files[p]?.link
    if (link === undefined) throw new Error(`EINVAL: not a link: ${p}`)
    return link
  }
  joinCgroup(tasks: string): void {
    if (this.files[tasks] === undefined) throw Object.assign(new Error(`ENOENT: ${tasks}`), {code: 'ENOENT', syscall: 'open', path: tasks})
    this.ops.push(`join ${tasks}`)
  }
  mkdir(p: string, mode: number, recursive: boolean): void {
    this.ops.push(`mkdir ${p} ${mode.toString(8)}${recursive ? ' -p' : ''}`)
    this.files[p] = {dir: true, mode}
  }
  touch(p: string): void {
    this.ops.push(`touch ${p}`)
  }
  symlink(target: string, p: string): void {
    this.ops.push(`symlink ${p} -> ${target}`)
  }
  readFile(p: string): string | undefined {
    if (p === '/proc/self/mountinfo' && !this.files[p]) return '21 1 0:42 / / rw - overlay overlay rw\n'
    if (p.startsWith('/proc/self/fdinfo/') && !this.files[p]) return 'pos:\t0\nflags:\t012000000\nmnt_id:\t21\n'
    return this.files[p]?.text
  }
  stat(p: string) {
    const f = this.files[p]
    return f && {isFile: !f.dir, isDirectory: !!f.dir, mode: f.mode ?? 0o644}
  }
}

/** The host's device nodes as the fake's open/fstat answer them. */
export function devices(sys: RecordingSyscalls): RecordingSyscalls {
  for (const [name, major, minor] of [
    ['null', 1, 3],
    ['zero', 1, 5],
    ['full', 1, 7],
    ['random', 1, 8],
    ['urandom', 1, 9],
    ['tty', 5, 0],
  ] as const) {
    sys.setFile(`/dev/${name}`, {mode: S_IFCHR | 0o666, rdev: makedev(major, minor)})
  }
  return sys
}
