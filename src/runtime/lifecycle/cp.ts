import {spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import type {Store} from '../../store/store'
import {cgroupIdOf, containerDir, readState} from '../../store/container-record'
import {RuntimeError} from '../runtime-error'
import {containerStatus, resolveContainer} from './containers'

/**
 * `pivot cp`, both ways, with docker's rules: CONTAINER:PATH on one side, a host path or `-` (a tar
 * stream on stdin/stdout) on the other; a trailing `/.` on a source directory copies its content,
 * a destination directory that exists receives the source by its name, one that does not is made.
 *
 * The container's files are reached through /proc/<pid>/root for a running container (frozen for
 * the copy, as docker pauses it, so nothing in it changes a path while pivot walks it), or through
 * a private, temporary overlay mount of its layers for a stopped one. Every path inside is
 * resolved component by component with lstat and readlink, symlinks followed inside the
 * container's root (an absolute link restarts at its root, `..` stops there): what the copy gets
 * is a host path made only of real directories, never one a link could send out of the container.
 */
export interface CpArgs {
  source: string
  destination: string
}

const MAX_LINKS = 40

interface Side {
  container?: string
  path: string
}

/** docker's split: `NAME:PATH` is a container path unless the part before `:` holds a `/` (a local `./a:b`). */
function side(arg: string): Side {
  const colon = arg.indexOf(':')
  if (colon > 0 && !arg.slice(0, colon).includes('/')) return {container: arg.slice(0, colon), path: arg.slice(colon + 1)}
  return {path: arg}
}

function cpError(message: string, exitCode = 1): RuntimeError {
  return new RuntimeError('CONTAINER_CP_FAILED', message, {exitCode})
}

export async function copy(store: Store, args: CpArgs): Promise<void> {
  const from = side(args.source)
  const to = side(args.destination)
  if (from.container !== undefined && to.container !== undefined) throw cpError('copying between containers is not supported')
  if (from.container === undefined && to.container === undefined) throw cpError('must specify at least one container source')
  const ref = (from.container ?? to.container) as string
  const id = resolveContainer(store, ref)
  const record = readState(store, id)
  if (!record) throw cpError(`No such container: ${ref}`)
  const inside = (from.container !== undefined ? from : to).path
  if (inside === '') throw cpError('path cannot be empty')
  const remap = record.usernsMaps ? await remapIds(record.usernsMaps) : undefined
  const withRoot = remap && to.container !== undefined ? withRemappedRoot : withContainerRoot
  await withRoot(store, id, async (root, readOnly) => {
    if (from.container !== undefined) copyOut(root, from.path, to.path, remap)
    else {
      if (readOnly) throw cpError('container rootfs is marked read-only')
      copyIn(from.path, root, to.path, remap ? {...remap, stage: () => store.stage('cp')} : undefined)
    }
  })
}

/**
 * A --userns remap container's files, seen from the host, are owned by host ids (container uid N
 * is base+N), and its overlay was mounted in its user namespace: a file made there by a host id
 * the namespace does not map (host root) fails with EOVERFLOW. So what cp puts in is made with
 * the file-system ids of the directory's owner (setfsuid, this thread only) and then given the
 * owner docker's cp gives it (root: the container's root, base); what comes out as a tar shows the
 * container's ids.
 */
interface Remap {
  maps: NonNullable<ReturnType<typeof readState>>['usernsMaps'] & object
  /** Host ids of a file's owner inside: container root's for a host file, the archive's own shifted for `-`. */
  toHost(uid: number, gid: number): [number, number]
  /** Runs `fn` (which makes one entry in `parent`) with the file-system ids of `parent`'s owner. */
  createIn<T>(parent: string, fn: () => T): T
}

async function remapIds(maps: Remap['maps']): Promise<Remap> {
  const {hostId} = await import('../../userns/id-maps')
  const {KoffiSyscalls} = await import('../../sys/koffi-syscalls')
  const sys = new KoffiSyscalls()
  const rootUid = hostId(maps.uid, 0) ?? 0
  const rootGid = hostId(maps.gid, 0) ?? 0
  return {
    maps,
    toHost: (uid, gid) => [hostId(maps.uid, uid) ?? rootUid, hostId(maps.gid, gid) ?? rootGid],
    createIn: (parent, fn) => {
      const st = fs.statSync(parent)
      const before = sys.setFsIds(st.uid, st.gid)
      try {
        return fn()
      } finally {
        sys.setFsIds(before.uid, before.gid)
      }
    },
  }
}

/** GNU tar's --owner-map/--group-map lines: each host id of the range under `dir` as the container's id. */
function tarIdMaps(dir: string, remap: Remap): {uid: string; gid: string} {
  const {insideId} = require('../../userns/id-maps') as typeof import('../../userns/id-maps')
  const uids = new Set<number>()
  const gids = new Set<number>()
  const walk = (p: string) => {
    const st = fs.lstatSync(p)
    uids.add(st.uid)
    gids.add(st.gid)
    if (st.isDirectory()) for (const e of fs.readdirSync(p)) walk(path.join(p, e))
  }
  walk(dir)
  const lines = (ids: Set<number>, map: Remap['maps']['uid']) =>
    [...ids]
      .flatMap(id => {
        const inside = insideId(map, id)
        return inside === undefined ? [] : [`+${id} +${inside}\n`]
      })
      .join('')
  return {uid: lines(uids, remap.maps.uid), gid: lines(gids, remap.maps.gid)}
}

/** The container's root on the host for the length of `fn`: its live root (frozen) or a private overlay mount. */
async function withContainerRoot(store: Store, id: string, fn: (root: string, readOnly: boolean) => Promise<void>): Promise<void> {
  const status = containerStatus(store, id)
  const dir = containerDir(store, id)
  const readOnly = !fs.existsSync(path.join(dir, 'upper'))
  if (status?.state === 'running' && status.pid !== undefined) {
    const {openCgroup} = await import('../cgroups')
    let cgroup: Awaited<ReturnType<typeof openCgroup>> | undefined
    try {
      cgroup = openCgroup(cgroupIdOf(store, id))
      if (cgroup.canFreeze()) await cgroup.freeze()
      else cgroup = undefined
    } catch {
      cgroup = undefined
    }
    try {
      await fn(`/proc/${status.pid}/root`, readOnly)
    } finally {
      cgroup?.thaw()
    }
    return
  }
  const record = readState(store, id)!
  const {KoffiSyscalls} = await import('../../sys/koffi-syscalls')
  const {MNT_DETACH, MS_BIND, MS_NODEV, MS_NOSUID, MS_PRIVATE, MS_RDONLY} = await import('../../sys/constants')
  const {mountOverlayHardened} = await import('../../unpack/overlay-mount')
  const sys = new KoffiSyscalls()
  const stage = store.stage('cp')
  const mnt = path.join(stage, 'root')
  fs.mkdirSync(mnt)
  const storeRoot = path.resolve(store.root)
  const lower = [path.join(dir, 'init'), ...[...record.layers].reverse().map(d => path.join(storeRoot, 'l', store.layerShortName(d)))]
  if (readOnly && lower.length < 2) lower.push(path.join(dir, 'empty'))
  // --userns remap: upper and work live in rw/ (run-container.ts usernsSetup), and the container's
  // overlay marked its opaque directories with user.overlay.* (userxattr), as this one must read them.
  const remapped = record.usernsMaps !== undefined
  const rw = remapped ? path.join(dir, 'rw') : dir
  const data = `lowerdir=${lower.join(':')}${readOnly ? '' : `,upperdir=${path.join(rw, 'upper')},workdir=${path.join(rw, 'work')}`}${remapped ? ',userxattr' : ''}`
  let mounted = 0
  try {
    // A private mount point first: the host's / is shared, and the overlay must not propagate.
    sys.mount(mnt, mnt, null, MS_BIND, null)
    mounted++
    sys.mount(null, mnt, null, MS_PRIVATE, null)
    mountOverlayHardened(sys, mnt, MS_NODEV | MS_NOSUID | (readOnly ? MS_RDONLY : 0), data)
    mounted++
    await fn(mnt, readOnly)
  } finally {
    for (; mounted > 0; mounted--) sys.umount2(mnt, MNT_DETACH)
    fs.rmSync(stage, {recursive: true, force: true})
  }
}

/**
 * Copying into a --userns remap container: a running one's live root, or for a stopped one its
 * overlay mounted as its init mounts it, in its user namespace over the idmapped layers (the
 * starter's, as `start` gives them), so that what cp writes, and the image directories overlay
 * copies up on the way, get the owners a running container's would (on the host, its layers are
 * owned by the image's ids, which a plain mount here would copy up as they are: the container
 * would then see them as nobody's). The overlay is mounted by a shell in the namespace, in a mount
 * namespace of its own, and reached through its /proc/PID/root; it ends with the shell.
 */
async function withRemappedRoot(store: Store, id: string, fn: (root: string, readOnly: boolean) => Promise<void>): Promise<void> {
  const status = containerStatus(store, id)
  if (status?.state === 'running' && status.pid !== undefined) return withContainerRoot(store, id, fn)
  const dir = containerDir(store, id)
  if (!fs.existsSync(path.join(dir, 'upper'))) return fn('', true)
  const record = readState(store, id)!
  const {remapLowers, remapSpec} = require('../run-container') as typeof import('../run-container')
  const {spawnInUserns} = await import('../../userns/spawn-in-userns')
  const {OVERLAY_HARDENING} = await import('../../unpack/overlay-mount')
  const layerDirs = [...record.layers].reverse().map(d => store.layerRootfs(d))
  const spec = remapSpec(record.usernsMaps!, dir, layerDirs, [])
  const staging = spec.staging!
  const lower = remapLowers(layerDirs.length).map(l => path.join(staging, l))
  const data = `lowerdir=${lower.join(':')},upperdir=${staging}/rw/upper,workdir=${staging}/rw/work,userxattr`
  const rootfs = path.join(staging, 'rootfs')
  // The init's hardening options, the most complete the kernel takes; then it waits for EOF on stdin.
  const mounts = [...OVERLAY_HARDENING.map(h => `${data},${h}`), data].map(o => `mount -t overlay -o '${o}' overlay ${rootfs}`)
  const script = `{ ${mounts.join(' 2>/dev/null || ')}; } || exit 1; echo ready; read -r _`
  const shell = spawnInUserns(
    '/usr/bin/unshare',
    ['--mount', '--propagation', 'private', '/bin/sh', '-c', script],
    {env: {PATH: '/usr/sbin:/usr/bin:/sbin:/bin'}, stdio: ['pipe', 'pipe', 'pipe']},
    spec,
  )
  const exited = new Promise<void>(resolve => shell.child.on('close', () => resolve()))
  let stderr = ''
  shell.child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  try {
    const pid = await shell.ready
    const ready = await new Promise<boolean>(resolve => {
      let out = ''
      shell.child.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString()
        if (out.includes('ready\n')) resolve(true)
      })
      void exited.then(() => resolve(false))
    })
    if (!ready) throw cpError(`cannot mount the container's layers in its user namespace: ${stderr.trim().split('\n').pop() || 'the mount failed'}`)
    await fn(path.join(`/proc/${pid}/root`, rootfs), false)
  } catch (error) {
    if (error instanceof RuntimeError) throw error
    throw cpError(`cannot mount the container's layers in its user namespace: ${(error as Error).message}`)
  } finally {
    shell.child.stdin!.end()
    const timer = setTimeout(() => shell.child.kill('SIGKILL'), 5000)
    await exited
    clearTimeout(timer)
  }
}

/**
 * A path inside the container as a host path under `root`, every symlink on the way resolved
 * inside the root; the last component's link too with `followLast`. Components that do not
 * exist are kept as they are (the caller decides whether that is an error).
 */
export function resolveInRoot(root: string, inside: string, followLast: boolean): string {
  let pending = inside.split('/').filter(c => c !== '' && c !== '.')
  const done: string[] = []
  let links = 0
  while (pending.length > 0) {
    const name = pending.shift() as string
    if (name === '..') {
      done.pop()
      continue
    }
    const here = path.join(root, ...done, name)
    const st = fs.lstatSync(here, {throwIfNoEntry: false})
    if (st?.isSymbolicLink() && (pending.length > 0 || followLast)) {
      if (++links > MAX_LINKS) throw cpError(`${inside}: too many levels of symbolic links`)
      const target = fs.readlinkSync(here)
      if (target.startsWith('/')) done.length = 0
      pending = [...target.split('/').filter(c => c !== '' && c !== '.'), ...pending]
      continue
    }
    if (st && !st.isDirectory() && pending.length > 0) throw cpError(`${inside}: not a directory`)
    done.push(name)
  }
  return path.join(root, ...done)
}

/** docker's "copy contents" forms: a source ending in `/.` copies what is in the directory. */
function contentsOnly(p: string): boolean {
  return p.endsWith('/.') || p === '.'
}

/** cp's own rules, as docker applies them: returns the exact path the source lands at, or throws. */
function landing(source: string, sourceIsDir: boolean, sourceArg: string, dest: string, destArg: string): {target: string; contents: boolean} {
  const st = fs.statSync(dest, {throwIfNoEntry: false})
  if (!st) {
    if (destArg.endsWith('/') && !sourceIsDir) throw cpError(`no such directory: ${destArg}`)
    const parent = fs.statSync(path.dirname(dest), {throwIfNoEntry: false})
    if (!parent?.isDirectory()) throw cpError(`no such directory: ${path.posix.dirname(destArg) || destArg}`)
    return {target: dest, contents: sourceIsDir}
  }
  if (st.isDirectory()) {
    if (sourceIsDir && contentsOnly(sourceArg)) return {target: dest, contents: true}
    return {target: path.join(dest, path.basename(source)), contents: sourceIsDir}
  }
  if (sourceIsDir) throw cpError(`cannot copy a directory to a file: ${destArg}`)
  return {target: dest, contents: false}
}

function run(command: string, args: string[], input?: Buffer | 'inherit'): void {
  const r = spawnSync(command, args, {
    stdio: [input === 'inherit' ? 'inherit' : 'pipe', 'inherit', 'pipe'],
    input: input === 'inherit' ? undefined : input,
    maxBuffer: 1024 * 1024,
  })
  if (r.error) throw cpError(`${command}: ${r.error.message}`)
  if (r.status !== 0) throw cpError(`${command} failed: ${(r.stderr?.toString() ?? '').trim().split('\n')[0]}`)
}

/** Copies `src` (a file, a link, a directory) to `target`; a directory's content only with `contents`. */
function copyTree(src: string, target: string, contents: boolean): void {
  // cp -R -P: links copied as links, never followed; modes and times kept, the owner is the
  // caller's (docker cp: root in the container, the user on the host).
  if (contents) {
    fs.mkdirSync(target, {recursive: true})
    const entries = fs.readdirSync(src)
    if (entries.length > 0) run('cp', ['-R', '-P', '--preserve=mode,timestamps', '--', ...entries.map(e => path.join(src, e)), target + '/'])
    return
  }
  run('cp', ['-R', '-P', '--preserve=mode,timestamps', '-T', '--', src, target])
}

function copyOut(root: string, insideArg: string, hostArg: string, remap?: Remap): void {
  const src = resolveInRoot(root, insideArg, insideArg.endsWith('/') || contentsOnly(insideArg))
  const st = fs.lstatSync(src, {throwIfNoEntry: false})
  if (!st) throw cpError(`Could not find the file ${insideArg} in container`)
  if (hostArg === '-') {
    // A tar of the source under its own name (its content with `/.`), on stdout.
    const args = contentsOnly(insideArg) ? ['-C', src, '-cf', '-', '.'] : ['-C', path.dirname(src), '-cf', '-', '--', path.basename(src)]
    if (!remap) return run('tar', args)
    const maps = tarIdMaps(src, remap)
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pivot-cp-'))
    try {
      fs.writeFileSync(path.join(dir, 'uid'), maps.uid)
      fs.writeFileSync(path.join(dir, 'gid'), maps.gid)
      run('tar', [`--owner-map=${path.join(dir, 'uid')}`, `--group-map=${path.join(dir, 'gid')}`, ...args])
    } finally {
      fs.rmSync(dir, {recursive: true, force: true})
    }
    return
  }
  const {target, contents} = landing(src, st.isDirectory(), insideArg, path.resolve(hostArg), hostArg)
  copyTree(src, target, contents)
}

function copyIn(hostArg: string, root: string, insideArg: string, remap?: Remap & {stage(): string}): void {
  const dest = resolveInRoot(root, insideArg, true)
  if (hostArg === '-') {
    const st = fs.statSync(dest, {throwIfNoEntry: false})
    if (!st?.isDirectory()) throw cpError(`destination ${insideArg} must be a directory when the source is a tar stream (-)`)
    if (!remap) {
      // GNU tar strips leading / and `..` from member names and replaces a link it would write through.
      run('tar', ['-C', dest, '-xf', '-', '--no-overwrite-dir'], 'inherit')
      return
    }
    // Remapped: unpacked on the host first (with the archive's owners), then placed entry by
    // entry with those owners shifted into the range.
    const stage = remap.stage()
    try {
      run('tar', ['-C', stage, '-xf', '-', '--numeric-owner', '--same-owner'], 'inherit')
      for (const e of fs.readdirSync(stage)) placeEntry(path.join(stage, e), path.join(dest, e), {...remap, keepOwner: true})
    } finally {
      fs.rmSync(stage, {recursive: true, force: true})
    }
    return
  }
  const src = path.resolve(hostArg)
  const st = fs.lstatSync(src, {throwIfNoEntry: false})
  if (!st) throw cpError(`no such file or directory: ${hostArg}`)
  const {target, contents} = landing(src, st.isDirectory(), hostArg, dest, insideArg)
  // Not cp: it would write through a link the container left at a destination name (and an
  // absolute link resolves on the host). Each entry is written by pivot, never through a link:
  // an existing link at a name is replaced, as docker's extraction does.
  if (contents) {
    if (!fs.lstatSync(target, {throwIfNoEntry: false})) {
      const make = () => fs.mkdirSync(target, {mode: st.mode & 0o7777})
      if (remap) {
        remap.createIn(path.dirname(target), make)
        fs.lchownSync(target, ...remap.toHost(0, 0))
      } else make()
    }
    for (const e of fs.readdirSync(src)) placeEntry(path.join(src, e), path.join(target, e), remap)
  } else placeEntry(src, target, remap)
}

/**
 * Copies one host entry (recursively) to `dest`, whose parent is a real directory in the container.
 * `remap` (a --userns remap container): made as its directory's owner, then owned by the
 * container's root, or with `keepOwner` by the source's owner shifted into the range.
 */
function placeEntry(src: string, dest: string, remap?: Remap & {keepOwner?: boolean}): void {
  const st = fs.lstatSync(src)
  const create = <T>(fn: () => T): T => (remap ? remap.createIn(path.dirname(dest), fn) : fn())
  const there = fs.lstatSync(dest, {throwIfNoEntry: false})
  if (there && (there.isSymbolicLink() || (!there.isDirectory() && !st.isDirectory()))) fs.rmSync(dest, {force: true})
  else if (there && there.isDirectory() !== st.isDirectory()) {
    throw cpError(there.isDirectory() ? `cannot overwrite directory ${dest} with non-directory` : `cannot overwrite non-directory ${dest} with directory`)
  }
  const [uid, gid] = remap ? (remap.keepOwner ? remap.toHost(st.uid, st.gid) : remap.toHost(0, 0)) : [0, 0]
  if (st.isDirectory()) {
    if (!there || there.isSymbolicLink()) create(() => fs.mkdirSync(dest, {mode: 0o700}))
    // Owned before its entries are made: they are made as its owner.
    if (remap) fs.lchownSync(dest, uid, gid)
    for (const e of fs.readdirSync(src)) placeEntry(path.join(src, e), path.join(dest, e), remap)
  } else if (st.isSymbolicLink()) {
    create(() => fs.symlinkSync(fs.readlinkSync(src), dest))
    if (remap) fs.lchownSync(dest, uid, gid)
    return
  } else if (st.isFile()) {
    // COPYFILE_EXCL: the name was just cleared; anything there now is an error, not a target.
    if (remap)
      copyIntoNew(
        src,
        create(() => fs.openSync(dest, 'wx', 0o600)),
      )
    else fs.copyFileSync(src, dest, fs.constants.COPYFILE_EXCL)
  } else return // devices, fifos, sockets: not copied
  fs.lchownSync(dest, uid, gid)
  fs.chmodSync(dest, st.mode & 0o7777)
  fs.utimesSync(dest, st.atime, st.mtime)
}

/** `src`'s bytes into `out`, a file just made (and closed here): read as pivot, whatever `out`'s maker could read. */
function copyIntoNew(src: string, out: number): void {
  const input = fs.openSync(src, 'r')
  try {
    const buf = Buffer.alloc(1 << 20)
    let n: number
    while ((n = fs.readSync(input, buf, 0, buf.length, null)) > 0) {
      for (let off = 0; off < n;) off += fs.writeSync(out, buf, off, n - off)
    }
  } finally {
    fs.closeSync(input)
    fs.closeSync(out)
  }
}
