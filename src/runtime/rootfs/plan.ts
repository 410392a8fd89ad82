import {
  CLONE_NEWCGROUP,
  CLONE_NEWIPC,
  CLONE_NEWNET,
  CLONE_NEWNS,
  CLONE_NEWUTS,
  MNT_DETACH,
  MS_BIND,
  MS_NODEV,
  MS_NOEXEC,
  MS_NOSUID,
  MS_PRIVATE,
  MS_RDONLY,
  MS_REC,
  MS_REMOUNT,
  MS_STRICTATIME,
  PR_SET_PDEATHSIG,
} from '../../sys/constants'
import type {InitConfig} from '../init-config'
import {boundingSetSteps, capabilitySteps, maskedPathSteps, noNewPrivilegesSteps, readonlyPathSteps, seccompSteps} from './hardening'
import type {Step} from './steps'
import {OVERLAY_HARDENING} from '../../unpack/overlay-mount'

const SIGKILL = 9

/** The devices every container gets (docker's and the OCI spec's default set). */
export const DEFAULT_DEVICES: ReadonlyArray<{name: string; major: number; minor: number}> = [
  {name: 'null', major: 1, minor: 3},
  {name: 'zero', major: 1, minor: 5},
  {name: 'full', major: 1, minor: 7},
  {name: 'random', major: 1, minor: 8},
  {name: 'urandom', major: 1, minor: 9},
  {name: 'tty', major: 5, minor: 0},
]

/** The /dev symlinks a program expects (what udev or docker make). */
export const DEFAULT_DEV_LINKS: ReadonlyArray<{name: string; target: string}> = [
  {name: 'fd', target: '/proc/self/fd'},
  {name: 'stdin', target: '/proc/self/fd/0'},
  {name: 'stdout', target: '/proc/self/fd/1'},
  {name: 'stderr', target: '/proc/self/fd/2'},
  {name: 'ptmx', target: 'pts/ptmx'},
]

function join(root: string, inside: string): string {
  return root.replace(/\/+$/, '') + (inside.startsWith('/') ? inside : '/' + inside)
}

/** The overlay's option string. lowerdir is topmost first; paths are relative to the store root (the init's cwd). */
export function overlayOptions(config: Pick<InitConfig, 'lowerDirs' | 'upperDir' | 'workDir' | 'userns'>): string {
  const lower = `lowerdir=${config.lowerDirs.join(':')}`
  const options = config.upperDir && config.workDir ? `${lower},upperdir=${config.upperDir},workdir=${config.workDir}` : lower
  // In a user namespace overlay may not use trusted.* xattrs: whiteouts stay 0/0 character
  // devices, opaque directories are read from user.overlay.opaque (unpack writes both).
  return config.userns ? `${options},userxattr` : options
}

/**
 * The container's setup, in order, from its config alone (no I/O): what the init executes
 * between reading its config and exec. The comments say why each step is where it is.
 */
export function planContainer(config: InitConfig): Step[] {
  const root = config.rootfs
  const steps: Step[] = []

  // -- Into the container's cgroup before anything else (cgroup v1, where the parent left it to
  //    the init: InitConfig.joinCgroup), so nothing the container runs is ever outside it. "0" to
  //    `tasks` moves only this thread, the main one, which the exec keeps: Node's other threads
  //    stay behind until the exec ends them, and the command and all it forks are inside.
  for (const tasks of config.joinCgroup ?? []) steps.push({op: 'joinCgroup', tasks})

  // -- Namespaces. One unshare for all: the init is alone on its main thread's namespaces (Node's
  //    other threads stay outside, which is why nothing after this may be async). The PID
  //    namespace was made by the parent: the init is already its PID 1.
  //    A private cgroup namespace is rooted where the init is now: in the container's cgroup
  //    (the step above, or the parent's move before "go"), so the container sees it as `/`.
  steps.push({
    op: 'unshare',
    flags: CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | (config.net === 'none' ? CLONE_NEWNET : 0) | (config.cgroup?.ns === 'private' ? CLONE_NEWCGROUP : 0),
  })

  // -- Before any mount: the host's / is shared (systemd), and the new mount namespace starts as
  //    a peer of it, so every mount below would propagate back into the host's mount table.
  //    rprivate cuts that, and pivot_root refuses a shared new root or parent anyway (EINVAL).
  steps.push({op: 'mount', source: null, target: '/', fstype: null, flags: MS_REC | MS_PRIVATE, data: null})

  // -- A new network namespace has only `lo`, and down: bring it up so 127.0.0.1 works. (With
  //    net 'joined' the parent spawned the init in the container's namespace and configured it.)
  if (config.net === 'none') steps.push({op: 'interfaceUp', name: 'lo'})
  steps.push({op: 'sethostname', name: config.hostname})

  // -- The root: overlay of the init layer and the image's layers (read-only, shared by every
  //    container of the image) under the container's own upper dir. The chdir to the store root
  //    first lets lowerdir name `l/<12 hex>` links instead of long absolute paths: the whole
  //    option string must fit in one page. Without an upper dir the overlay is read-only
  //    (--read-only); MS_RDONLY says so to the kernel up front.
  //    nodev: device nodes an image layer carries, or that the container makes with CAP_MKNOD
  //    (say block 8:0, a host disk), cannot be opened. That is what docker's devices cgroup does,
  //    here without one (it works alike on cgroup v1 and v2, and needs no BPF): every writable
  //    mount the container gets is nodev, and the few devices it may use are bind mounts of the
  //    host's nodes, whose own mounts are not.
  steps.push({op: 'chdir', path: config.storeRoot})
  steps.push({
    op: 'mountOverlay',
    target: root,
    flags: MS_NODEV | (config.upperDir ? 0 : MS_RDONLY),
    data: overlayOptions(config),
    hardening: OVERLAY_HARDENING,
  })

  // -- Kernel filesystems, mounted under the new root before pivot_root. Their mount points are
  //    real directories of the container's init layer (the topmost lower layer, made by the
  //    parent), so a symlink in the image (say /proc -> /) cannot redirect a mount elsewhere.
  //    proc here shows the container's PID namespace: the init, which mounts it, is its PID 1.
  steps.push({op: 'mount', source: 'proc', target: join(root, '/proc'), fstype: 'proc', flags: MS_NOSUID | MS_NODEV | MS_NOEXEC, data: null})

  // -- /dev: a small nodev tmpfs with only the safe devices, never the host's /dev. Each device
  //    is a bind mount of the host's node (checked to be the right character device) onto an
  //    empty file: a bind mount has its own flags, so these work where a node the container
  //    makes (CAP_MKNOD) would not. Before pivot_root: the sources are the host's /dev. umask 0
  //    first, or mkdir would apply the inherited umask to the mount points.
  const dev = join(root, '/dev')
  steps.push({op: 'mount', source: 'tmpfs', target: dev, fstype: 'tmpfs', flags: MS_NOSUID | MS_NODEV | MS_STRICTATIME, data: 'mode=755,size=65536k'})
  steps.push({op: 'umask', mask: 0})
  for (const d of DEFAULT_DEVICES) {
    steps.push({op: 'bindDevice', source: `/dev/${d.name}`, target: join(dev, d.name), major: d.major, minor: d.minor})
  }
  // --device: the same, for the nodes the user named (a block device too); parents made first.
  for (const d of config.devices ?? []) {
    const parts = d.target.split('/').filter(Boolean).slice(1, -1)
    parts.forEach((_, i) => steps.push({op: 'mkdir', path: join(dev, '/' + parts.slice(0, i + 1).join('/')), mode: 0o755}))
    steps.push({op: 'bindDevice', source: d.source, target: join(root, d.target), major: d.major, minor: d.minor, ...(d.type === 'block' ? {block: true} : {})})
  }
  for (const l of DEFAULT_DEV_LINKS) steps.push({op: 'symlink', target: l.target, path: join(dev, l.name)})
  steps.push({op: 'mkdir', path: join(dev, 'pts'), mode: 0o755})
  steps.push({op: 'mkdir', path: join(dev, 'shm'), mode: 0o1777})
  steps.push({op: 'mkdir', path: join(dev, 'mqueue'), mode: 0o755})
  // A private devpts instance (newinstance): the container's ptys are not the host's, and
  // /dev/ptmx (-> pts/ptmx) opens this instance. ptmxmode=0666 so a non-root user can open it.
  steps.push({
    op: 'mount',
    source: 'devpts',
    target: join(dev, 'pts'),
    fstype: 'devpts',
    flags: MS_NOSUID | MS_NOEXEC,
    // gid=5 must be mapped in a user namespace (EINVAL otherwise): a single-id map has no tty group.
    data: config.userns && !config.userns.ttyGid ? 'newinstance,ptmxmode=0666,mode=0620' : 'newinstance,ptmxmode=0666,mode=0620,gid=5',
  })
  // -t: the mount point of /dev/console, bound to the container's pty after pivot_root.
  if (config.tty) steps.push({op: 'touch', path: join(dev, 'console')})
  steps.push({
    op: 'mount',
    source: 'shm',
    target: join(dev, 'shm'),
    fstype: 'tmpfs',
    flags: MS_NOSUID | MS_NODEV | MS_NOEXEC,
    data: `mode=1777,size=${shmSizeOption(config.shmSize)}`,
  })
  // mqueue shows the IPC namespace's message queues; mounted after the unshare(NEWIPC) above.
  steps.push({op: 'mount', source: 'mqueue', target: join(dev, 'mqueue'), fstype: 'mqueue', flags: MS_NOSUID | MS_NODEV | MS_NOEXEC, data: null})

  // -- /sys read-only from the start (MS_RDONLY on the mount itself, not a remount later, so
  //    there is no moment where it is writable). With --net none it lists the new namespace's
  //    network devices: it is mounted after the unshare(NEWNET).
  //    --privileged leaves it writable, as docker does.
  //    In a user namespace a sysfs may only be mounted from a network namespace that namespace
  //    owns (the init's own, --net none, or one the starter made with it); otherwise the host's /sys is bound, read-only with all
  //    its submounts (runc's rootless way), and shows the host's devices, read-only.
  if (config.userns && config.net !== 'none' && !config.userns.ownNetwork) {
    steps.push({op: 'mount', source: '/sys', target: join(root, '/sys'), fstype: null, flags: MS_BIND | MS_REC, data: null})
    steps.push({op: 'restrictMount', path: join(root, '/sys'), readOnly: true})
  } else {
    steps.push({
      op: 'mount',
      source: 'sysfs',
      target: join(root, '/sys'),
      fstype: 'sysfs',
      flags: (config.privileged ? 0 : MS_RDONLY) | MS_NOSUID | MS_NODEV | MS_NOEXEC,
      data: null,
    })
  }

  steps.push(...cgroupSteps(config))

  // -- Volumes and tmpfs mounts after /dev (one under /dev must land on the tmpfs, not under it)
  //    and sorted by depth so that -v a:/data -v b:/data/sub mounts b on top of a, not hidden
  //    beneath it. Each target is reached component by component inside the new root, refusing
  //    symlinks (a volume's content is the container's: a symlink there must not send a later
  //    mount to the host), and missing components are made there, as docker does.
  //    Binds are rbind like docker's; nodev (and ro for :ro) need a second call, flags being
  //    ignored on a bind: set on the volume and every mount under it, keeping the source's own
  //    (a nosuid or noexec source stays so), as docker's recursive read-only does. A tmpfs gets
  //    nodev always, docker's nosuid and noexec unless asked otherwise.
  const volumes = [...config.volumes].sort((a, b) => depth(a.target) - depth(b.target))
  for (const v of volumes) {
    if (v.kind === 'tmpfs') {
      steps.push({
        op: 'mountInRoot',
        root,
        inside: v.target,
        kind: 'dir',
        source: 'tmpfs',
        fstype: 'tmpfs',
        flags: MS_NODEV | (v.flags ?? 0),
        data: v.data || null,
      })
    } else {
      steps.push({
        op: 'mountInRoot',
        root,
        inside: v.target,
        kind: v.kind,
        source: v.source,
        fstype: null,
        flags: MS_BIND | MS_REC,
        data: null,
        restrict: {readOnly: v.readOnly},
      })
    }
  }

  // -- pivot_root(".", ".") (runc's way): no put_old directory is needed in the image; the old
  //    root ends up stacked under the new one at "/", and the detached unmount drops it, host
  //    tree and all, from this namespace. The chdir("/") after it leaves the stacked old root.
  steps.push({op: 'chdir', path: root})
  steps.push({op: 'pivotRoot', newRoot: '.', putOld: '.'})
  steps.push({op: 'umount2', target: '.', flags: MNT_DETACH})
  steps.push({op: 'chdir', path: '/'})

  // -- Masked and read-only paths: after pivot_root, on the container's own /proc and /sys.
  steps.push(...maskedPathSteps(config))
  // -- -t: the pty comes from the container's own devpts (its slave is /dev/pts/0 inside, as in
  //    docker), so only after pivot_root; and before the user switch, which could not open it.
  if (config.tty) steps.push({op: 'console'})
  steps.push(...readonlyPathSteps(config))

  // -- The process. The working directory is reached (or made) as root, before the user switch,
  //    like runc: a directory the user cannot create or enter is still its cwd. It is checked to
  //    be under the container's root (no magic link out of it).
  steps.push({op: 'workdir', path: config.workdir})
  // The command is found (PATH, from the working directory) and checked while the init still has
  // every capability: the checks read its first bytes (security/exec-guard.ts).
  steps.push({op: 'resolveCommand', command: config.command, env: config.env})
  // --ulimit: while the init is still root with every capability (raising a hard limit needs
  // CAP_SYS_RESOURCE, which the user switch takes from the effective set).
  for (const r of config.rlimits ?? []) steps.push({op: 'setrlimit', resource: r.resource, soft: BigInt(r.soft), hard: BigInt(r.hard)})
  steps.push(...boundingSetSteps(config))
  steps.push({op: 'switchUser', user: config.user, ...(config.groupAdd?.length ? {groupAdd: config.groupAdd} : {})})
  // A change of uid or gid clears the parent-death signal: set it again, so a SIGKILLed
  // `pivot run` still takes the container with it.
  steps.push({op: 'prctl', option: PR_SET_PDEATHSIG, arg2: SIGKILL})
  // The command gets the usual umask, not the 0 used for the devices.
  steps.push({op: 'umask', mask: 0o022})
  // Node ignores SIGPIPE and SIGXFSZ, and an ignored signal stays ignored across exec: without
  // this, `yes | head -1` would see EPIPE instead of dying quietly.
  steps.push({op: 'resetSignals'})
  // No host fd may reach the command (CVE-2024-21626): fd 3 (the parent's socket) and anything
  // Node opened become close-on-exec; 0-2 must NOT be, or the command's output is lost.
  steps.push({op: 'closeFds'})
  // no_new_privs, then the seccomp filter (the kernel loads one only with no_new_privs or
  // CAP_SYS_ADMIN), then the capability sets (which drop CAP_SYS_ADMIN), then exec: under the
  // filter the init makes only capset, prctl and execve/execveat, all allowed (see hardening.ts).
  // And the filter is the last thing loaded, so none of the setup above had to pass it.
  steps.push(...noNewPrivilegesSteps(config))
  steps.push(...seccompSteps(config))
  steps.push(...capabilitySteps(config))
  steps.push({op: 'exec'})
  return steps
}

/**
 * /sys/fs/cgroup, read-only, as docker shows it: on v2 the cgroup2 filesystem of the container's
 * namespace (private) or the container's cgroup directory bound from the host (host); on v1 a
 * small tmpfs with one entry per hierarchy the container has its own cgroup in, each the
 * hierarchy mounted in the container's namespace (private) or its directory bound (host). The
 * tmpfs is made read-only last, once its mount points exist.
 */
function cgroupSteps(config: InitConfig): Step[] {
  const cg = config.cgroup
  if (!cg) return []
  const target = join(config.rootfs, '/sys/fs/cgroup')
  const ro = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC
  const steps: Step[] = []
  if (cg.version === 2) {
    if (cg.ns === 'private') steps.push({op: 'mount', source: 'cgroup2', target, fstype: 'cgroup2', flags: ro, data: null})
    else if (cg.dirs[0]) {
      steps.push({op: 'mount', source: cg.dirs[0].hostDir, target, fstype: null, flags: MS_BIND, data: null})
      steps.push({op: 'restrictMount', path: target, readOnly: true})
    }
    return steps
  }
  steps.push({op: 'mount', source: 'tmpfs', target, fstype: 'tmpfs', flags: MS_NOSUID | MS_NODEV | MS_NOEXEC, data: 'mode=755'})
  for (const d of cg.dirs) {
    const at = `${target}/${d.name}`
    steps.push({op: 'mkdir', path: at, mode: 0o555})
    if (cg.ns === 'private') steps.push({op: 'mount', source: 'cgroup', target: at, fstype: 'cgroup', flags: ro, data: d.name})
    else {
      steps.push({op: 'mount', source: d.hostDir, target: at, fstype: null, flags: MS_BIND, data: null})
      steps.push({op: 'restrictMount', path: at, readOnly: true})
    }
  }
  steps.push({op: 'mount', source: null, target, fstype: null, flags: MS_REMOUNT | ro, data: 'mode=755'})
  return steps
}

/** tmpfs's size= for /dev/shm: docker's 64 MiB by default, in KiB as docker writes it. */
function shmSizeOption(bytes: number | undefined): string {
  if (bytes === undefined) return '65536k'
  return bytes % 1024 === 0 ? `${bytes / 1024}k` : String(bytes)
}

function depth(p: string): number {
  return p.split('/').filter(Boolean).length
}
