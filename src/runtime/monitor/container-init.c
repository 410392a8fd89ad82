/*
 * pivot-init: the container's init, PID 1 of the container's PID namespace.
 *
 *   pivot-init 3
 *
 * Spawned by `pivot run` (src/runtime/start-init.ts), by the monitor of `run -d` (monitor.c) or
 * by the user-namespace starter (src/userns/userns.c), with an empty environment, the container's
 * stdio on 0-2, the control socket on fd 3 (argv[1]) and, with -t, the console channel on fd 4.
 * It is C, not node: a second node start and its modules sat on every run's critical path.
 *
 * The parent decides everything: it plans the setup (src/runtime/rootfs/plan.ts) and sends the
 * steps on fd 3 once the init may go (src/runtime/rootfs/step-wire.ts gives the format). This
 * program only carries them out, in order, each as src/runtime/rootfs/execute.ts's runStep does
 * (the OCI runtime mode still runs that one), with the same error messages, codes and statuses:
 * users and tests match them. On a failure before exec it writes one JSON line
 * {"code","message","exitCode"} to fd 3 and exits with that status; on success fd 3 is closed by
 * the exec (close-on-exec since the closeFds step) and the parent reads EOF.
 *
 * Everything the command needs from the container's files (-u, PATH, the exec guard) is in
 * init-command.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <unistd.h>

#include "init-common.h"
#include "process-common.h"

#define CONSOLE_FD 4
#define MAX_MESSAGE (64 * 1024 * 1024)
#define MAX_FIELDS 8

static int control_fd = 3;

/* The failure line on fd 3, then the exit. Nobody to tell when the parent is gone. */
static void report(const struct failure *f) {
  static char line[sizeof f->message * 6 + 256];
  int n = failure_line(f, line, sizeof line);
  for (int off = 0; n > 0 && off < n;) {
    ssize_t w = write(control_fd, line + off, (size_t)(n - off));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;
    off += (int)w;
  }
  _exit(f->exit_code);
}

/* ---- The message (wire format: src/runtime/rootfs/step-wire.ts) --------------------------- */

enum op {
  OP_JOIN_CGROUP,
  OP_UNSHARE,
  OP_MOUNT,
  OP_UMOUNT2,
  OP_CHDIR,
  OP_PIVOT_ROOT,
  OP_SETHOSTNAME,
  OP_INTERFACE_UP,
  OP_UMASK,
  OP_PRCTL,
  OP_MKDIR,
  OP_TOUCH,
  OP_SYMLINK,
  OP_SWITCH_USER,
  OP_WORKDIR,
  OP_RESET_SIGNALS,
  OP_CLOSE_FDS,
  OP_MOUNT_OVERLAY,
  OP_BIND_DEVICE,
  OP_MOUNT_IN_ROOT,
  OP_SETRLIMIT,
  OP_RESTRICT_MOUNT,
  OP_MASK_PATH,
  OP_READONLY_PATH,
  OP_CAP_BOUNDING,
  OP_RAISE_EFFECTIVE,
  OP_CAPABILITIES,
  OP_SECCOMP,
  OP_RESOLVE_COMMAND,
  OP_CONSOLE,
  OP_EXEC,
  OP_UNKNOWN,
};

/* Each op's fields, in order, one letter per field (step-wire.ts has the same table). */
static const struct {
  const char *name;
  const char *kinds;
} OPS[] = {
    [OP_JOIN_CGROUP] = {"joinCgroup", "s"},
    [OP_UNSHARE] = {"unshare", "i"},
    [OP_MOUNT] = {"mount", "nsnin"},
    [OP_UMOUNT2] = {"umount2", "si"},
    [OP_CHDIR] = {"chdir", "s"},
    [OP_PIVOT_ROOT] = {"pivotRoot", "ss"},
    [OP_SETHOSTNAME] = {"sethostname", "s"},
    [OP_INTERFACE_UP] = {"interfaceUp", "s"},
    [OP_UMASK] = {"umask", "i"},
    [OP_PRCTL] = {"prctl", "ii"},
    [OP_MKDIR] = {"mkdir", "si"},
    [OP_TOUCH] = {"touch", "s"},
    [OP_SYMLINK] = {"symlink", "ss"},
    [OP_SWITCH_USER] = {"switchUser", "na"},
    [OP_WORKDIR] = {"workdir", "s"},
    [OP_RESET_SIGNALS] = {"resetSignals", ""},
    [OP_CLOSE_FDS] = {"closeFds", ""},
    [OP_MOUNT_OVERLAY] = {"mountOverlay", "sisa"},
    [OP_BIND_DEVICE] = {"bindDevice", "ssiib"},
    [OP_MOUNT_IN_ROOT] = {"mountInRoot", "ssssnini"},
    [OP_SETRLIMIT] = {"setrlimit", "iii"},
    [OP_RESTRICT_MOUNT] = {"restrictMount", "sb"},
    [OP_MASK_PATH] = {"maskPath", "s"},
    [OP_READONLY_PATH] = {"readonlyPath", "s"},
    [OP_CAP_BOUNDING] = {"capBounding", "u"},
    [OP_RAISE_EFFECTIVE] = {"raiseEffective", ""},
    [OP_CAPABILITIES] = {"capabilities", "uuu"},
    [OP_SECCOMP] = {"seccomp", "s"},
    [OP_RESOLVE_COMMAND] = {"resolveCommand", "aa"},
    [OP_CONSOLE] = {"console", ""},
    [OP_EXEC] = {"exec", ""},
};

union field {
  const char *s; /* s, n (NULL for null) */
  int64_t i;     /* i, b */
  uint64_t u;
  struct {
    char **v;
    size_t n;
  } a;
};

struct step {
  enum op op;
  const char *name; /* as sent: an unknown op's name is reported when it is reached */
  union field f[MAX_FIELDS];
};

struct cursor {
  char *p, *end;
};

/* The next NUL-terminated field, or NULL when the payload has no more. */
static char *next_field(struct cursor *c) {
  if (c->p >= c->end) return NULL;
  char *nul = memchr(c->p, '\0', (size_t)(c->end - c->p));
  if (!nul) return NULL;
  char *s = c->p;
  c->p = nul + 1;
  return s;
}

/* Only what the encoder writes: an optional '-' then digits. strtoll alone would also take
   leading blanks and a '+' (and strtoull a " -1", which it negates into all ones). */
static int plain_decimal(const char *s, int sign_ok) {
  if (!s) return 0;
  if (sign_ok && *s == '-') s++;
  if (!*s) return 0;
  for (; *s; s++)
    if (*s < '0' || *s > '9') return 0;
  return 1;
}

static int parse_int(const char *s, int64_t *out) {
  if (!plain_decimal(s, 1)) return -1;
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || *end) return -1;
  *out = v;
  return 0;
}

static int parse_uint(const char *s, uint64_t *out) {
  if (!plain_decimal(s, 0)) return -1;
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end) return -1;
  *out = v;
  return 0;
}

/* One field of kind K (the table's letters). */
static int parse_field(struct cursor *c, char k, union field *out) {
  char *s = next_field(c);
  if (!s) return -1;
  switch (k) {
  case 's':
    out->s = s;
    return 0;
  case 'n':
    if (!strcmp(s, "-")) out->s = NULL;
    else if (s[0] == '+') out->s = s + 1;
    else return -1;
    return 0;
  case 'i':
    return parse_int(s, &out->i);
  case 'u':
    return parse_uint(s, &out->u);
  case 'b':
    if (strcmp(s, "0") && strcmp(s, "1")) return -1;
    out->i = s[0] == '1';
    return 0;
  case 'a': {
    uint64_t n;
    if (parse_uint(s, &n) != 0 || n > (uint64_t)(c->end - c->p)) return -1;
    char **v = calloc(n + 1, sizeof *v);
    if (!v) return -1;
    for (uint64_t j = 0; j < n; j++)
      if (!(v[j] = next_field(c))) return -1;
    out->a.v = v;
    out->a.n = n;
    return 0;
  }
  }
  return -1;
}

/*
 * The whole message, parsed before any step runs: a malformed one fails before the setup starts.
 * An op this init does not know ends the parse (its fields cannot be told apart): it is reported
 * when the steps before it have run, as execute.ts reports one. Returns the step count, or -1.
 */
static int parse_message(char *payload, size_t len, pid_t *parent, struct step **steps_out) {
  struct cursor c = {payload, payload + len};
  const char *magic = next_field(&c), *parent_key = next_field(&c);
  int64_t pid;
  if (!magic || strcmp(magic, "pivot-init 1") || !parent_key || strcmp(parent_key, "parent") || parse_int(next_field(&c), &pid) != 0 ||
      pid < 0 || pid > INT32_MAX)
    return -1; /* a pid_t: a bigger one would be cut to another process's */
  *parent = (pid_t)pid;
  size_t cap = 64, n = 0;
  struct step *steps = malloc(cap * sizeof *steps);
  if (!steps) return -1;
  for (;;) {
    const char *name = next_field(&c);
    if (!name) return -1;
    if (!strcmp(name, "end")) {
      /* Nothing after it: bytes there mean the parent and this init disagree on the format. */
      if (c.p != c.end) return -1;
      break;
    }
    if (n == cap) {
      cap *= 2;
      struct step *more = realloc(steps, cap * sizeof *steps);
      if (!more) return -1;
      steps = more;
    }
    struct step *st = &steps[n++];
    memset(st, 0, sizeof *st);
    st->name = name;
    st->op = OP_UNKNOWN;
    for (size_t k = 0; k < sizeof OPS / sizeof OPS[0]; k++)
      if (!strcmp(OPS[k].name, name)) st->op = (enum op)k;
    if (st->op == OP_UNKNOWN) break;
    const char *kinds = OPS[st->op].kinds;
    for (size_t j = 0; kinds[j]; j++)
      if (parse_field(&c, kinds[j], &st->f[j]) != 0) return -1;
  }
  *steps_out = steps;
  return (int)n;
}

/* read(2) on the control socket, again after EINTR, and after EAGAIN once it is readable (it is
   blocking in the child; be safe if it ever is not). */
static ssize_t read_control(void *buf, size_t n) {
  for (;;) {
    ssize_t r = read(control_fd, buf, n);
    if (r >= 0 || (errno != EINTR && errno != EAGAIN)) return r;
    if (errno == EAGAIN) {
      struct pollfd p = {control_fd, POLLIN, 0};
      poll(&p, 1, -1);
    }
  }
}

/* Reads the "LENGTH\n" header and the payload from fd 3. NULL on EOF before the whole message. */
static char *read_message(size_t *len_out, int *malformed) {
  char head[24];
  size_t used = 0;
  *malformed = 0;
  /* The header byte by byte: the payload after it is read whole, into a buffer of its size. */
  for (;;) {
    if (used == sizeof head) {
      *malformed = 1;
      return NULL;
    }
    if (read_control(head + used, 1) <= 0) return NULL;
    if (head[used] == '\n') break;
    used++;
  }
  head[used] = '\0';
  int64_t len;
  if (parse_int(head, &len) != 0 || len < 0 || len > MAX_MESSAGE) {
    *malformed = 1;
    return NULL;
  }
  char *payload = malloc((size_t)len + 1);
  if (!payload) {
    *malformed = 1;
    return NULL;
  }
  for (size_t got = 0; got < (size_t)len;) {
    ssize_t n = read_control(payload + got, (size_t)len - got);
    if (n <= 0) {
      free(payload);
      return NULL;
    }
    got += (size_t)n;
  }
  payload[len] = '\0';
  *len_out = (size_t)len;
  return payload;
}

/* common/process-identity.ts isAlive: /proc/PID/stat exists and its state is not Z. */
static int is_alive(pid_t pid) {
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  /* The state follows the command's closing parenthesis (the command may hold spaces and parentheses). */
  char *paren = strrchr(buf, ')');
  return paren && paren[1] == ' ' && paren[2] != 'Z';
}

/* ---- The steps ---------------------------------------------------------------------------- */

/* What steps hand on to later steps (execute.ts's Progress). */
struct progress {
  char *home;
  int null_fd; /* the checked /dev/null for the masks, -1 until opened */
  int resolved;
  struct exec_target target;
  char **env;
  size_t n_env;
};

static int do_mount(struct failure *f, const char *source, const char *target, const char *fstype, int64_t flags, const char *data) {
  if (mount(source, target, fstype, (unsigned long)flags, data) == 0) return 0;
  int err = errno;
  args_reset();
  arg_str(source), arg_str(target), arg_str(fstype), arg_num(flags), arg_str(data);
  return sys_failed(f, err, "mount");
}

/* open(2) as KoffiSyscalls.open: its error names the path and the flags. */
static int do_open(struct failure *f, const char *path, int flags, mode_t mode, int *fd) {
  *fd = open(path, flags, mode);
  if (*fd >= 0) return 0;
  int err = errno;
  args_reset();
  arg_str(path), arg_num(flags);
  return sys_failed(f, err, "open");
}

static int do_prctl(struct failure *f, int64_t option, int64_t arg2) {
  if (prctl((int)option, (unsigned long)arg2, 0UL, 0UL, 0UL) != -1) return 0;
  int err = errno;
  args_reset();
  arg_num(option), arg_num(arg2), arg_num(0), arg_num(0), arg_num(0);
  return sys_failed(f, err, "prctl");
}

static int do_chdir(struct failure *f, const char *path) {
  if (chdir(path) == 0) return 0;
  int err = errno;
  args_reset();
  arg_str(path);
  return sys_failed(f, err, "chdir");
}

/* A host device node opened without following a symlink, checked to be the device major:minor. */
static int open_device(struct failure *f, const char *path, int64_t major, int64_t minor, int block, int *fd_out) {
  int fd;
  if (do_open(f, path, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0, &fd) != 0) return -1;
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    args_reset();
    arg_num(fd);
    return sys_failed(f, err, "fstat");
  }
  if ((st.st_mode & S_IFMT) != (block ? S_IFBLK : S_IFCHR) || st.st_rdev != makedev((unsigned)major, (unsigned)minor)) {
    close(fd);
    return setup_failed(f, "%s is not the %s device %" PRId64 ":%" PRId64, path, block ? "block" : "character", major, minor);
  }
  *fd_out = fd;
  return 0;
}

/* node's fs.openSync(path, 'a', 0o644), closed at once: an empty file to bind something onto. */
static int touch(struct failure *f, const char *path) {
  int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return fs_failed(f, errno, "open", path);
  close(fd);
  return 0;
}

/*
 * Sets mount attributes without touching the others (nosuid, noexec... of the source stay):
 * mount_setattr, recursive for a volume's submounts; before Linux 5.12 a bind remount, on the
 * one mount, with the flags it has (statfs) plus the new ones.
 */
static int restrict_mount(struct failure *f, const char *path, uint64_t attrs, int recursive) {
  struct mount_attr attr = {.attr_set = attrs};
  if (syscall(SYS_mount_setattr, AT_FDCWD, path, recursive ? AT_RECURSIVE : 0, &attr, sizeof attr) == 0) return 0;
  int err = errno;
  if (err != ENOSYS) {
    args_reset();
    arg_str(path), arg_num((int64_t)attrs), arg_num(0);
    if (recursive) arg_text("\"AT_RECURSIVE\"");
    else arg_num(0);
    return sys_failed(f, err, "mount_setattr");
  }
  struct statvfs sv;
  if (statvfs(path, &sv) != 0) {
    err = errno;
    args_reset();
    arg_str(path);
    return sys_failed(f, err, "statfs");
  }
  /* nodev kept too: a remount without it clears it (readonlyPath's /proc/sys, proc's own nodev). */
  unsigned long keep = sv.f_flag & (ST_RDONLY | ST_NOSUID | ST_NODEV | ST_NOEXEC | ST_NOATIME | ST_NODIRATIME | ST_RELATIME);
  unsigned long add = (attrs & MOUNT_ATTR_NODEV ? MS_NODEV : 0) | (attrs & MOUNT_ATTR_RDONLY ? MS_RDONLY : 0);
  return do_mount(f, NULL, path, NULL, (int64_t)(MS_BIND | MS_REMOUNT | keep | add), NULL);
}

/*
 * A descriptor (O_PATH) of INSIDE under ROOT, one component at a time, never following a symlink
 * (O_NOFOLLOW on each, opened through the previous one's /proc/self/fd link): what is mounted on
 * it is in the container whatever its content says. Missing components are made, directories
 * 0755 (the last one a file when KIND is "file").
 */
static int open_in_root(struct failure *f, const char *root, const char *inside, const char *kind, int *fd_out) {
  int fd;
  if (do_open(f, root, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0, &fd) != 0) return -1;
  char *copy = strdup(inside), *save = NULL;
  if (!copy) {
    close(fd);
    return setup_failed(f, "out of memory");
  }
  /* Every component, as execute.ts walks them: a fixed array cut a deeper path short, and the
     mount landed on one of its parents. At most one part per two bytes, plus one. */
  char **parts = malloc((strlen(inside) / 2 + 1) * sizeof *parts);
  if (!parts) {
    free(copy);
    close(fd);
    return setup_failed(f, "out of memory");
  }
  size_t n = 0;
  for (char *part = strtok_r(copy, "/", &save); part; part = strtok_r(NULL, "/", &save)) parts[n++] = part;
  for (size_t i = 0; i < n; i++) {
    int last = i == n - 1, want_file = last && !strcmp(kind, "file");
    int flags = O_PATH | O_NOFOLLOW | O_CLOEXEC | (want_file ? 0 : O_DIRECTORY);
    char at[4200];
    /* A component that does not fit is far over NAME_MAX: the kernel's answer, never a cut name. */
    if ((size_t)snprintf(at, sizeof at, "/proc/self/fd/%d/%s", fd, parts[i]) >= sizeof at) {
      args_reset();
      arg_str(at), arg_num(flags);
      sys_failed(f, ENAMETOOLONG, "open");
      goto fail;
    }
    int next = open(at, flags);
    if (next < 0 && errno == ENOENT) {
      if (want_file) {
        int made;
        if (do_open(f, at, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644, &made) != 0) goto fail;
        close(made);
      } else if (mkdir(at, 0755) != 0 && errno != EEXIST) {
        fs_failed(f, errno, "mkdir", at);
        goto fail;
      }
      if (do_open(f, at, flags, 0, &next) != 0) goto fail;
    } else if (next < 0 && (errno == ELOOP || errno == ENOTDIR)) {
      char shown[4200] = "";
      for (size_t j = 0; j <= i; j++) snprintf(shown + strlen(shown), sizeof shown - strlen(shown), "/%s", parts[j]);
      setup_failed(f, "cannot mount on %s: %s is a symlink or not a directory in the container", inside, shown);
      goto fail;
    } else if (next < 0) {
      int err = errno;
      args_reset();
      arg_str(at), arg_num(flags);
      sys_failed(f, err, "open");
      goto fail;
    }
    close(fd);
    fd = next;
  }
  free(parts);
  free(copy);
  *fd_out = fd;
  return 0;
fail:
  free(parts);
  free(copy);
  close(fd);
  return -1;
}

static int mount_in_root(struct failure *f, const struct step *st) {
  const char *root = st->f[0].s, *inside = st->f[1].s, *kind = st->f[2].s, *source = st->f[3].s, *fstype = st->f[4].s, *data = st->f[6].s;
  int64_t flags = st->f[5].i, restriction = st->f[7].i;
  int fd;
  if (open_in_root(f, root, inside, kind, &fd) != 0) return -1;
  char at[64];
  snprintf(at, sizeof at, "/proc/self/fd/%d", fd);
  int r = do_mount(f, source, at, fstype, flags, data);
  close(fd);
  if (r != 0 || restriction < 0) return r;
  /* Opened again: the walk now ends on the new mount's root, which is what gets the attributes. */
  if (open_in_root(f, root, inside, kind, &fd) != 0) return -1;
  snprintf(at, sizeof at, "/proc/self/fd/%d", fd);
  r = restrict_mount(f, at, MOUNT_ATTR_NODEV | (restriction == 1 ? MOUNT_ATTR_RDONLY : 0), 1);
  close(fd);
  return r;
}

/* The overlay root, with the first hardening options this kernel takes (unpack/overlay-mount.ts). */
static int mount_overlay(struct failure *f, const struct step *st) {
  const char *target = st->f[0].s, *data = st->f[2].s;
  int64_t flags = st->f[1].i;
  char **hardening = st->f[3].a.v;
  size_t n = st->f[3].a.n;
  for (size_t i = 0; i <= n; i++) {
    char *attempt = NULL;
    if (i < n && asprintf(&attempt, "%s,%s", data, hardening[i]) < 0) return setup_failed(f, "out of memory");
    int r = mount("overlay", target, "overlay", (unsigned long)flags, attempt ? attempt : data);
    int err = errno;
    /* EINVAL: an option this kernel does not know (or an option string over a page): the next, and
       the last attempt, without options, reports it. */
    if (r == 0 || i == n || err != EINVAL) {
      if (r != 0) {
        args_reset();
        arg_str("overlay"), arg_str(target), arg_str("overlay"), arg_num(flags), arg_str(attempt ? attempt : data);
        sys_failed(f, err, "mount");
      }
      free(attempt);
      return r == 0 ? 0 : -1;
    }
    free(attempt);
  }
  return 0;
}

static int bind_device(struct failure *f, const struct step *st) {
  int fd;
  if (open_device(f, st->f[0].s, st->f[2].i, st->f[3].i, (int)st->f[4].i, &fd) != 0) return -1;
  char at[64];
  snprintf(at, sizeof at, "/proc/self/fd/%d", fd);
  int r = touch(f, st->f[1].s);
  if (r == 0) r = do_mount(f, at, st->f[1].s, NULL, MS_BIND, NULL);
  close(fd);
  return r;
}

/* stat(2) that follows symlinks as node's statSync: 1 when there, 0 when absent (ENOENT, ENOTDIR). */
static int stat_path(struct failure *f, const char *path, struct stat *st) {
  if (stat(path, st) == 0) return 1;
  if (errno == ENOENT || errno == ENOTDIR) return 0;
  fs_failed(f, errno, "stat", path);
  return -1;
}

static int mask_path(struct failure *f, const char *path, struct progress *pr) {
  struct stat st;
  int there = stat_path(f, path, &st);
  if (there <= 0) return there;
  if (S_ISDIR(st.st_mode)) return do_mount(f, "tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0,mode=555");
  if (pr->null_fd < 0 && open_device(f, "/dev/null", 1, 3, 0, &pr->null_fd) != 0) return -1;
  char at[64];
  snprintf(at, sizeof at, "/proc/self/fd/%d", pr->null_fd);
  return do_mount(f, at, path, NULL, MS_BIND, NULL);
}

static int readonly_path(struct failure *f, const char *path) {
  struct stat st;
  int there = stat_path(f, path, &st);
  if (there <= 0) return there;
  if (do_mount(f, path, path, NULL, MS_BIND | MS_REC, NULL) != 0) return -1;
  return restrict_mount(f, path, MOUNT_ATTR_RDONLY, 0);
}

/* mkdir -p, one component at a time, 0755 (umask 0 at this point of the plan). */
static int mkdir_parents(const char *path) {
  char prefix[4096];
  size_t n = 0;
  for (const char *p = path; *p;) {
    while (*p == '/') p++;
    if (!*p) break;
    const char *end = strchrnul(p, '/');
    if (n + 1 + (size_t)(end - p) >= sizeof prefix) {
      errno = ENAMETOOLONG;
      return -1;
    }
    prefix[n++] = '/';
    memcpy(prefix + n, p, (size_t)(end - p));
    n += (size_t)(end - p);
    prefix[n] = '\0';
    if (mkdir(prefix, 0755) != 0 && errno != EEXIST) return -1;
    p = end;
  }
  return 0;
}

/*
 * chdir to the working directory, creating it (0755, as docker) when missing. It must be under the
 * container's root: a path through a magic link (/proc/self/fd/N of a host directory,
 * CVE-2024-21626's shape) could chdir out of it, and getcwd(2) fails (ENOENT, "unreachable") for
 * a directory outside the thread's root.
 */
static int workdir(struct failure *f, const char *path) {
  char cwd[4097];
  if (chdir(path) == 0) {
    /* Another libc (or an old kernel) returns "(unreachable)/..." instead of failing. */
    const char *got = getcwd(cwd, sizeof cwd);
    if (got == NULL || cwd[0] != '/') {
      const char *why = got == NULL ? errno_name(errno) : "ENOENT";
      return fail_with(f, "RUN_SETUP_FAILED", EXIT_SETUP, "cannot use the working directory %s: it is outside the container (%s)", path, why);
    }
    return 0;
  }
  if (errno != ENOENT) return fail_with(f, "RUN_SETUP_FAILED", EXIT_SETUP, "cannot use the working directory %s: %s", path, errno_name(errno));
  /* It lands in the container's upper layer: a build step's commit keeps it. */
  if (mkdir_parents(path) != 0 || chdir(path) != 0)
    return fail_with(f, "RUN_SETUP_FAILED", EXIT_SETUP, "cannot create the working directory %s: %s", path, errno_name(errno));
  return 0;
}

static int interface_up(struct failure *f, const char *name) {
  if (strlen(name) >= IFNAMSIZ) {
    args_reset();
    arg_str(name);
    return sys_failed(f, ENAMETOOLONG, "interface_up");
  }
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    int err = errno;
    args_reset();
    arg_str("AF_INET"), arg_str("SOCK_DGRAM");
    return sys_failed(f, err, "socket");
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, name, strlen(name));
  const char *which = "SIOCGIFFLAGS";
  int r = ioctl(fd, SIOCGIFFLAGS, &ifr);
  if (r == 0) {
    which = "SIOCSIFFLAGS";
    ifr.ifr_flags |= IFF_UP;
    r = ioctl(fd, SIOCSIFFLAGS, &ifr);
  }
  int err = errno;
  close(fd);
  if (r == 0) return 0;
  args_reset();
  arg_str(name), arg_str(which);
  return sys_failed(f, err, "ioctl");
}

static int switch_user(struct failure *f, const struct step *st, struct progress *pr) {
  struct resolved_user u;
  memset(&u, 0, sizeof u);
  if (resolve_user(st->f[0].s, st->f[1].a.v, st->f[1].a.n, &u, f) != 0) return -1;
  /* The raw calls, as KoffiSyscalls makes them. gid before uid: once the uid is not 0, the process
     may no longer change its gid. */
  if (syscall(SYS_setgroups, u.n_groups, u.groups) != 0) {
    int err = errno;
    char list[2048] = "[";
    for (size_t i = 0; i < u.n_groups && strlen(list) < sizeof list - 24; i++)
      snprintf(list + strlen(list), sizeof list - strlen(list), i ? (u.groups[i] > 255 ? ", 0x%x" : ", %u") : (u.groups[i] > 255 ? "0x%x" : "%u"), u.groups[i]);
    strcat(list, "]");
    args_reset();
    arg_text("%s", list);
    return sys_failed(f, err, "setgroups");
  }
  if (syscall(SYS_setresgid, u.gid, u.gid, u.gid) != 0) {
    int err = errno;
    args_reset();
    arg_num(u.gid);
    return sys_failed(f, err, "setresgid");
  }
  if (syscall(SYS_setresuid, u.uid, u.uid, u.uid) != 0) {
    int err = errno;
    args_reset();
    arg_num(u.uid);
    return sys_failed(f, err, "setresuid");
  }
  pr->home = u.home;
  return 0;
}

static const char *const CAPABILITY_NAMES[] = {
    "CAP_CHOWN",           "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER",         "CAP_FSETID",       "CAP_KILL",
    "CAP_SETGID",          "CAP_SETUID",       "CAP_SETPCAP",         "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",       "CAP_NET_RAW",      "CAP_IPC_LOCK",        "CAP_IPC_OWNER",      "CAP_SYS_MODULE",   "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",      "CAP_SYS_PTRACE",   "CAP_SYS_PACCT",       "CAP_SYS_ADMIN",      "CAP_SYS_BOOT",     "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",    "CAP_SYS_TIME",     "CAP_SYS_TTY_CONFIG",  "CAP_MKNOD",          "CAP_LEASE",        "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",   "CAP_SETFCAP",      "CAP_MAC_OVERRIDE",    "CAP_MAC_ADMIN",      "CAP_SYSLOG",       "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",   "CAP_AUDIT_READ",   "CAP_PERFMON",         "CAP_BPF",            "CAP_CHECKPOINT_RESTORE",
};

static int capabilities(struct failure *f, uint64_t eff, uint64_t prm, uint64_t inh) {
  if (capset_all(eff, prm, inh) != 0) {
    int err = errno;
    if (err != EPERM) {
      args_reset();
      arg_ubig(eff), arg_ubig(prm), arg_ubig(inh);
      return sys_failed(f, err, "capset");
    }
    /* EPERM: pivot was started without some of them (inside another container, say): name them. */
    uint64_t have = 0, inh_now;
    if (capget_sets(&have, &inh_now) != 0) {
      err = errno;
      args_reset();
      return sys_failed(f, err, "capget");
    }
    uint64_t missing = prm & ~have;
    char names[1024] = "";
    for (size_t bit = 0; bit < sizeof CAPABILITY_NAMES / sizeof CAPABILITY_NAMES[0]; bit++)
      if (missing >> bit & 1) snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", names[0] ? ", " : "", CAPABILITY_NAMES[bit]);
    return setup_failed(f, "pivot itself does not hold %s", names[0] ? names : "the capabilities asked for");
  }
  return do_prctl(f, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL);
}

static int load_seccomp(struct failure *f, const char *program) {
  size_t n = strlen(program);
  unsigned char *bytes = malloc(n / 4 * 3 + 3);
  ssize_t len = bytes ? base64_decode(program, n, bytes, n / 4 * 3 + 3) : -1;
  if (len <= 0 || len % 8 != 0 || len / 8 > 0xffff) {
    free(bytes);
    args_reset();
    arg_str("SECCOMP_SET_MODE_FILTER");
    arg_text("\"%zd bytes\"", len < 0 ? (ssize_t)0 : len);
    return sys_failed(f, EINVAL, "seccomp");
  }
  struct sock_fprog prog = {(unsigned short)(len / 8), (struct sock_filter *)bytes};
  /* Every later call of the init must pass it (capset, prctl, execve: all allowed). */
  if (load_seccomp_filter(&prog) != 0) {
    int err = errno;
    free(bytes);
    args_reset();
    arg_str("SECCOMP_SET_MODE_FILTER");
    return sys_failed(f, err, "seccomp");
  }
  free(bytes);
  return 0;
}

/*
 * -t: a pty of the container's devpts becomes this process's controlling terminal and stdio 0-2,
 * its slave is bound onto /dev/console, and its master goes to the holder (the monitor or `pivot
 * run`), which takes a copy (pidfd_getfd) once told its number on fd 4, and answers one byte.
 */
static int console(struct failure *f) {
  int master, slave;
  if (do_open(f, "/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC, 0, &master) != 0) return -1;
  int unlock = 0;
  unsigned int n = 0;
  const char *request = "TIOCSPTLCK";
  if (ioctl(master, TIOCSPTLCK, &unlock) != 0 || (request = "TIOCGPTN", ioctl(master, TIOCGPTN, &n) != 0)) {
    int err = errno;
    close(master);
    args_reset();
    arg_str("/dev/ptmx"), arg_str(request);
    return sys_failed(f, err, "ioctl");
  }
  char name[64];
  snprintf(name, sizeof name, "/dev/pts/%u", n);
  if (do_open(f, name, O_RDWR | O_NOCTTY | O_CLOEXEC, 0, &slave) != 0) {
    close(master);
    return -1;
  }
  /* docker's /dev/console is the container's terminal: what writes to the console is seen. */
  if (do_mount(f, name, "/dev/console", NULL, MS_BIND, NULL) != 0) return -1;
  if (setsid() < 0) {
    int err = errno;
    args_reset();
    return sys_failed(f, err, "setsid");
  }
  if (ioctl(slave, TIOCSCTTY, 0) != 0) {
    int err = errno;
    args_reset();
    arg_num(slave), arg_str("TIOCSCTTY");
    return sys_failed(f, err, "ioctl");
  }
  for (int fd = 0; fd <= 2; fd++) {
    if (dup3(slave, fd, 0) < 0) {
      int err = errno;
      args_reset();
      arg_num(slave), arg_num(fd);
      return sys_failed(f, err, "dup3");
    }
  }
  close(slave);
  char line[32];
  int len = snprintf(line, sizeof line, "%d\n", master);
  if (write(CONSOLE_FD, line, (size_t)len) != len) return fs_failed(f, errno, "write", NULL);
  for (;;) {
    char answer;
    ssize_t r = read(CONSOLE_FD, &answer, 1);
    if (r == 1) break;
    if (r == 0) return fail_with(f, "RUN_SETUP_FAILED", EXIT_SETUP, "container setup failed: the terminal holder went away");
    if (errno == EINTR) continue;
    if (errno == EAGAIN) {
      struct pollfd p = {CONSOLE_FD, POLLIN, 0};
      poll(&p, 1, -1);
      continue;
    }
    return fs_failed(f, errno, "read", NULL);
  }
  close(master);
  return 0;
}

static int close_fds(struct failure *f) {
  /* No host descriptor may reach the command (CVE-2024-21626): everything above 2 close-on-exec,
     fd 3 included (the parent reads EOF once the exec succeeded). */
  if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
    int err = errno;
    args_reset();
    arg_num(3), arg_str("CLOSE_RANGE_CLOEXEC");
    return sys_failed(f, err, "close_range");
  }
  /* 0-2 must NOT be close-on-exec, or the command's output is lost. */
  for (int fd = 0; fd <= 2; fd++) {
    int flags = fcntl(fd, F_GETFD);
    if (flags < 0) {
      int err = errno;
      args_reset();
      arg_num(fd), arg_str("F_GETFD");
      return sys_failed(f, err, "fcntl");
    }
    if (fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC) < 0) {
      int err = errno;
      args_reset();
      arg_num(fd), arg_str("F_SETFD"), arg_num(flags & ~FD_CLOEXEC);
      return sys_failed(f, err, "fcntl");
    }
  }
  return 0;
}

static int exec_step(struct failure *f, struct progress *pr) {
  if (!pr->resolved) return setup_failed(f, "exec before resolveCommand");
  /* HOME from the user's passwd entry ("/" without one) when the environment has none. */
  int has_home = 0;
  for (size_t i = 0; i < pr->n_env; i++)
    if (!strncmp(pr->env[i], "HOME=", 5)) has_home = 1;
  char **envp = calloc(pr->n_env + 2, sizeof *envp);
  if (!envp) return setup_failed(f, "out of memory");
  memcpy(envp, pr->env, pr->n_env * sizeof *envp);
  if (!has_home && asprintf(&envp[pr->n_env], "HOME=%s", pr->home ? pr->home : "/") < 0) return setup_failed(f, "out of memory");
  exec_command(&pr->target, envp, f);
  return -1;
}

static int run_step(struct failure *f, const struct step *st, struct progress *pr) {
  const union field *a = st->f;
  switch (st->op) {
  case OP_JOIN_CGROUP: {
    /* "0" to a cgroup v1 `tasks` file moves this thread, the whole process here. */
    int fd = open(a[0].s, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, "0", 1) != 1) {
      int err = errno;
      if (fd >= 0) close(fd);
      size_t len = strlen(a[0].s);
      int cut = len >= 6 && !strcmp(a[0].s + len - 6, "/tasks") ? 6 : 0;
      return fail_with(f, "RUN_SETUP_FAILED", EXIT_SETUP, "cannot move the container's init into its cgroup %.*s: %s", (int)(len - (size_t)cut), a[0].s,
                       errno_name(err));
    }
    close(fd);
    return 0;
  }
  case OP_UNSHARE:
    if (unshare((int)a[0].i) == 0) return 0;
    {
      int err = errno;
      args_reset();
      arg_num(a[0].i);
      return sys_failed(f, err, "unshare");
    }
  case OP_MOUNT:
    return do_mount(f, a[0].s, a[1].s, a[2].s, a[3].i, a[4].s);
  case OP_UMOUNT2:
    if (umount2(a[0].s, (int)a[1].i) == 0) return 0;
    {
      int err = errno;
      args_reset();
      arg_str(a[0].s), arg_num(a[1].i);
      return sys_failed(f, err, "umount2");
    }
  case OP_CHDIR:
    return do_chdir(f, a[0].s);
  case OP_PIVOT_ROOT:
    if (syscall(SYS_pivot_root, a[0].s, a[1].s) == 0) return 0;
    {
      int err = errno;
      args_reset();
      arg_str(a[0].s), arg_str(a[1].s);
      return sys_failed(f, err, "pivot_root");
    }
  case OP_SETHOSTNAME:
    if (sethostname(a[0].s, strlen(a[0].s)) == 0) return 0;
    {
      int err = errno;
      args_reset();
      arg_str(a[0].s);
      return sys_failed(f, err, "sethostname");
    }
  case OP_INTERFACE_UP:
    return interface_up(f, a[0].s);
  case OP_UMASK:
    umask((mode_t)a[0].i);
    return 0;
  case OP_PRCTL:
    return do_prctl(f, a[0].i, a[1].i);
  case OP_MKDIR:
    /* mkdir applies the umask; the set-gid/sticky bits are not set by mkdir on every fs. */
    if (mkdir(a[0].s, (mode_t)a[1].i) != 0) return fs_failed(f, errno, "mkdir", a[0].s);
    if (chmod(a[0].s, (mode_t)a[1].i) != 0) return fs_failed(f, errno, "chmod", a[0].s);
    return 0;
  case OP_TOUCH:
    return touch(f, a[0].s);
  case OP_SYMLINK:
    if (symlink(a[0].s, a[1].s) != 0) return fs_failed(f, errno, "symlink", a[0].s);
    return 0;
  case OP_SWITCH_USER:
    return switch_user(f, st, pr);
  case OP_WORKDIR:
    return workdir(f, a[0].s);
  case OP_RESET_SIGNALS: {
    /* Every signal but SIGKILL and SIGSTOP back to SIG_DFL: an ignored one stays ignored across exec. */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig <= 31; sig++) {
      if (sig == SIGKILL || sig == SIGSTOP || sigaction(sig, &dfl, NULL) == 0) continue;
      int err = errno;
      args_reset();
      arg_num(sig), arg_str("SIG_DFL");
      return sys_failed(f, err, "sigaction");
    }
    return 0;
  }
  case OP_CLOSE_FDS:
    return close_fds(f);
  case OP_MOUNT_OVERLAY:
    return mount_overlay(f, st);
  case OP_BIND_DEVICE:
    return bind_device(f, st);
  case OP_MOUNT_IN_ROOT:
    return mount_in_root(f, st);
  case OP_SETRLIMIT: {
    struct rlimit rl = {(rlim_t)a[1].i, (rlim_t)a[2].i};
    if (prlimit(0, (__rlimit_resource_t)a[0].i, &rl, NULL) == 0) return 0;
    int err = errno;
    args_reset();
    arg_num(a[0].i), arg_big(a[1].i), arg_big(a[2].i);
    return sys_failed(f, err, "prlimit64");
  }
  case OP_RESTRICT_MOUNT:
    return restrict_mount(f, a[0].s, MOUNT_ATTR_NODEV | (a[1].i ? MOUNT_ATTR_RDONLY : 0), 1);
  case OP_MASK_PATH:
    return mask_path(f, a[0].s, pr);
  case OP_READONLY_PATH:
    return readonly_path(f, a[0].s);
  case OP_CAP_BOUNDING:
    for (int cap = 0; cap < 64; cap++) {
      if (a[0].u >> cap & 1) continue;
      if (prctl(PR_CAPBSET_DROP, (unsigned long)cap, 0UL, 0UL, 0UL) == 0) continue;
      if (errno == EINVAL) break; /* past the kernel's last capability */
      int err = errno;
      args_reset();
      arg_num(PR_CAPBSET_DROP), arg_num(cap), arg_num(0), arg_num(0), arg_num(0);
      return sys_failed(f, err, "prctl");
    }
    return 0;
  case OP_RAISE_EFFECTIVE: {
    /* A switch to a non-root uid cleared the effective set; KEEPCAPS kept the permitted one. */
    uint64_t prm, inh;
    if (capget_sets(&prm, &inh) != 0) {
      int err = errno;
      args_reset();
      return sys_failed(f, err, "capget");
    }
    if (capset_all(prm, prm, inh) == 0) return 0;
    int err = errno;
    args_reset();
    arg_ubig(prm), arg_ubig(prm), arg_ubig(inh);
    return sys_failed(f, err, "capset");
  }
  case OP_CAPABILITIES:
    return capabilities(f, a[0].u, a[1].u, a[2].u);
  case OP_SECCOMP:
    return load_seccomp(f, a[0].s);
  case OP_RESOLVE_COMMAND:
    /* Before the user switch and the capability drop: the checks read the command's first bytes,
       which the user may lack the right to (an execute-only file); the exec still checks it. */
    if (resolve_command(a[0].a.v, a[0].a.n, a[1].a.v, a[1].a.n, &pr->target, f) != 0) return -1;
    pr->resolved = 1;
    pr->env = a[1].a.v;
    pr->n_env = a[1].a.n;
    return 0;
  case OP_CONSOLE:
    return console(f);
  case OP_EXEC:
    return exec_step(f, pr);
  case OP_UNKNOWN:
    break;
  }
  return fail_with(f, "RUN_SETUP_FAILED", EXIT_SETUP, "unknown setup step %s", st->name);
}

int main(int argc, char **argv) {
  struct failure f;
  if (argc > 1) control_fd = atoi(argv[1]);
  /* First, so that the process never runs the host's file while it is in the container. When it
     cannot (a host with vm.memfd_noexec=2 refuses an executable memfd), say why on fd 3: a silent
     125 left `pivot run` with nothing to tell the user. */
  if (run_from_sealed_copy(argv, "pivot-init") != 0) {
    fail_with(&f, "RUN_INIT_FAILED", EXIT_SETUP, "container init: cannot run from a sealed copy of its binary: %s", errno_name(errno));
    report(&f);
  }
  /* Non-dumpable until exec: a container process must not reach this process through
     /proc/1/exe, /proc/1/mem or ptrace (CVE-2019-5736's shape). exec resets it. */
  prctl(PR_SET_DUMPABLE, 0UL, 0UL, 0UL, 0UL);
  /* Die with `pivot run`: a SIGKILLed parent cannot clean up, so the container must not outlive it. */
  prctl(PR_SET_PDEATHSIG, (unsigned long)SIGKILL, 0UL, 0UL, 0UL);
  /* A write to a closed fd 3 or 4 (the console holder gone) must fail with EPIPE and be reported,
     as it was in the node init (node ignores SIGPIPE), not kill the init with no word. The
     resetSignals step gives the command the default back. */
  signal(SIGPIPE, SIG_IGN);
  size_t len = 0;
  int malformed;
  char *payload = read_message(&len, &malformed);
  /* EOF before the whole message: the parent abandoned this init (or died before "go"). */
  if (!payload && !malformed) _exit(EXIT_SETUP);
  pid_t parent = 0;
  struct step *steps = NULL;
  int n = payload ? parse_message(payload, len, &parent, &steps) : -1;
  if (n < 0) {
    fail_with(&f, "RUN_INIT_FAILED", EXIT_SETUP, "container init: unreadable config");
    report(&f);
  }
  /* The parent may have sent the message and died before the prctl above: no death signal came,
     and the message was still buffered. /proc here is still the host's, so its pid is visible. */
  if (parent != 0 && !is_alive(parent)) _exit(EXIT_SETUP);
  struct progress pr;
  memset(&pr, 0, sizeof pr);
  pr.null_fd = -1;
  for (int i = 0; i < n; i++)
    if (run_step(&f, &steps[i], &pr) != 0) report(&f);
  fail_with(&f, "RUN_INIT_FAILED", EXIT_SETUP, "container init: the setup ended without exec");
  report(&f);
}
