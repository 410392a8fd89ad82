import {constants as fsConstants} from 'node:fs'

// Linux constants for the calls in syscalls.ts (x86_64 and arm64 share all of these but the
// syscall numbers, which live in koffi-syscalls.ts).

export const CLONE_NEWNS = 0x00020000
export const CLONE_NEWCGROUP = 0x02000000
export const CLONE_NEWUTS = 0x04000000
export const CLONE_NEWIPC = 0x08000000
export const CLONE_NEWUSER = 0x10000000
export const CLONE_NEWPID = 0x20000000
export const CLONE_NEWNET = 0x40000000

export const MS_RDONLY = 0x1
export const MS_NOSUID = 0x2
export const MS_NODEV = 0x4
export const MS_NOEXEC = 0x8
export const MS_SYNCHRONOUS = 0x10
export const MS_REMOUNT = 0x20
export const MS_MANDLOCK = 0x40
export const MS_DIRSYNC = 0x80
export const MS_NOATIME = 0x400
export const MS_NODIRATIME = 0x800
export const MS_BIND = 0x1000
export const MS_REC = 0x4000
export const MS_PRIVATE = 0x40000
export const MS_UNBINDABLE = 0x20000
export const MS_SLAVE = 0x80000
export const MS_SHARED = 0x100000
export const MS_RELATIME = 0x200000
export const MS_STRICTATIME = 0x1000000
export const MS_LAZYTIME = 0x2000000

export const MNT_DETACH = 0x2

export const PR_SET_PDEATHSIG = 1
export const PR_SET_DUMPABLE = 4
export const PR_SET_KEEPCAPS = 8
export const PR_CAPBSET_READ = 23
export const PR_CAPBSET_DROP = 24
export const PR_SET_NO_NEW_PRIVS = 38
export const PR_CAP_AMBIENT = 47
export const PR_CAP_AMBIENT_CLEAR_ALL = 4

export const S_IFMT = 0o170000
export const S_IFIFO = 0o010000
export const S_IFCHR = 0o020000
export const S_IFBLK = 0o060000

/** glibc's makedev(): the kernel's 64-bit dev_t encoding of a major/minor pair. */
export function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major)
  const mi = BigInt(minor)
  return ((ma & 0xfffn) << 8n) | (mi & 0xffn) | ((mi & ~0xffn) << 12n) | ((ma & ~0xfffn) << 32n)
}

export const O_RDONLY = 0
// These two differ between x86_64 and arm64 (which kept 32-bit ARM's values): node knows them.
export const O_NOFOLLOW: number = fsConstants.O_NOFOLLOW
export const O_DIRECTORY: number = fsConstants.O_DIRECTORY
export const O_CLOEXEC = 0o2000000
export const O_WRONLY = 1
export const O_CREAT = 0o100
export const O_PATH = 0o10000000
export const AT_EMPTY_PATH = 0x1000
export const AT_RECURSIVE = 0x8000

// mount_setattr(2)'s attributes (MOUNT_ATTR_*, not the MS_* of mount(2)).
export const MOUNT_ATTR_RDONLY = 0x1
export const MOUNT_ATTR_NOSUID = 0x2
export const MOUNT_ATTR_NODEV = 0x4
export const MOUNT_ATTR_NOEXEC = 0x8

// statfs(2)'s f_flags (ST_*) share their values with MS_*.
export const ST_RDONLY = 0x1
export const ST_NOSUID = 0x2
export const ST_NODEV = 0x4
export const ST_NOEXEC = 0x8
export const ST_NOATIME = 0x400
export const ST_NODIRATIME = 0x800
export const ST_RELATIME = 0x1000

export const S_IFREG = 0o100000
export const S_IFDIR = 0o040000
export const S_IFLNK = 0o120000

// libseccomp's architecture tokens (AUDIT_ARCH_*), for the 32-bit ABIs a 64-bit kernel also runs.
export const SCMP_ARCH_X86 = 0x40000003
export const SCMP_ARCH_X32 = 0x4000003e
export const SCMP_ARCH_ARM = 0x40000028

export const PR_SET_SECCOMP = 22
