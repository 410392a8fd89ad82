/*
 * pivot-exec: the process side of `pivot exec` (src/runtime/lifecycle/exec.ts decides, this does).
 * C, because joining a container's namespaces needs a single-threaded process (FACTS §6.2: setns
 * of the mount namespace fails in Node's threads, a user namespace never works) and the exec'd
 * process must get exactly PID 1's walls, which the kernel only sets on the calling thread.
 *
 *   pivot-exec [-u UID:GID:G1,G2...] [-P] [-t] [-i] PID CWD FILTER_FLAG CGROUP_PROCS... -- CMD [ARG...]
 *
 * -u: this user and these groups instead of PID 1's (a non-root user gets no effective,
 *     permitted or ambient capability, as a container started with -u). -P (--privileged):
 *     every capability, the full bounding set; the seccomp filter and no_new_privs stay PID 1's
 *     (docker's exec --privileged). -t: a pty of the container's devpts (opened after the mount
 *     namespace is joined) is the command's terminal; this process relays it to its own stdout
 *     and, with -i, its stdin to it (in raw mode when stdin is a terminal, restored before exit),
 *     and passes window size changes (SIGWINCH) on.
 *
 * The environment is the command's. FILTER_FLAG is 1 when fd 3 carries PID 1's seccomp program
 * (a BPF array, as the init loads it), 0 when PID 1 has none (--privileged, unconfined). In order:
 *   0. join PID 1's user namespace when it has one of its own (join_userns);
 *   1. read PID 1's Uid, Gid, Groups, Cap{Inh,Prm,Eff,Bnd,Amb}, NoNewPrivs from /proc/PID/status;
 *   2. join each cgroup of CGROUP_PROCS (the container's, host paths: before the mount namespace
 *      changes; v1: through its `tasks` file, see join_cgroup), so the command is counted and
 *      limited from its first instruction;
 *   3. setns into PID 1's ipc, uts, net, cgroup, pid and mnt namespaces (mnt last: it changes our
 *      root and cwd to the container's, where the other /proc/PID paths no longer resolve);
 *   4. fork (the pid namespace applies to children only); the child: chdir CWD, drop the bounding
 *      set to PID 1's, keep capabilities across the uid change, setgroups/setresgid/setresuid,
 *      no_new_privs if PID 1 has it, the seccomp filter, then PID 1's exact capability sets and
 *      ambient set, and execvpe (PATH from the command's environment);
 *   5. the parent waits and exits with the command's status (128+N for signal N), passing on
 *      SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2.
 * Failures before exec: one line `pivot: exec: ...` on stderr, status 126 when the command cannot
 * be run (missing too: docker exec 20.10's status), 125 for anything else.
 *
 * FILTER_FLAG with a `d` after it (`0d`, `1d`: the OCI runtime's `exec --detach`, src/oci): step 5
 * becomes "write the command's pid, as a decimal line, on fd 4 and exit 0 at once", so the command
 * is re-parented to the caller's subreaper (containerd's shim), which reaps it itself.
 *
 * Options of the OCI runtime's exec (src/oci/oci-exec.ts: process.json asks for its own walls,
 * as runc's exec does): -c BND:EFF:PRM:INH:AMB (hex) the capability sets instead of PID 1's,
 * -n 0|1 no_new_privs instead of PID 1's, -l RES:SOFT:HARD (repeatable) an rlimit, -o ADJ the
 * oom_score_adj, -m MASK (octal) the umask, -s PATH a console socket: with -t the pty master is
 * sent there (SCM_RIGHTS, as runc's --console-socket) instead of relayed, -w ROWS:COLS its size.
 *
 * -f OFF:LEN (`pivot exec`): fd 3 is the container's config.json, and the program is the base64
 * text of its seccompFilter, LEN bytes at byte OFF (found and checked there by lifecycle/exec.ts),
 * instead of fd 3's whole content: no pipe to write it into, which cost the caller (node) ~1.5 ms.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <poll.h>
#include <termios.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "process-common.h"

#define MAX_GROUPS 256

struct walls {
  uid_t uid[4];
  gid_t gid[4];
  gid_t groups[MAX_GROUPS];
  int ngroups;
  uint64_t inh, prm, eff, bnd, amb;
  int nnp;
};

static void die(int status, const char *what) {
  dprintf(2, "pivot: exec: %s: %s\n", what, strerror(errno));
  _exit(status);
}

static uint64_t hex64(const char *s) { return strtoull(s, NULL, 16); }

/*
 * A container in a user namespace of its own (rootless, --userns): join it before anything else.
 * PID 1's ids read from /proc then come out as the container sees them (0, not the host uid it
 * maps to), and the namespaces it owns can be joined with the capabilities it gives. The user
 * that made the namespace (its owner) may join it; nobody else but root can.
 */
static void join_userns(const char *pid) {
  char path[64];
  struct stat own, theirs;
  snprintf(path, sizeof path, "/proc/%s/ns/user", pid);
  if (stat("/proc/self/ns/user", &own) != 0 || stat(path, &theirs) != 0) die(125, path);
  if (own.st_ino == theirs.st_ino && own.st_dev == theirs.st_dev) return;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0 || setns(fd, CLONE_NEWUSER) != 0) die(125, "user");
  close(fd);
}

static int read_walls(const char *pid, struct walls *w) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%s/status", pid);
  FILE *f = fopen(path, "re");
  if (!f) return -1;
  char line[4096];
  int seen = 0;
  while (fgets(line, sizeof line, f)) {
    if (!strncmp(line, "Uid:", 4)) {
      sscanf(line + 4, "%u %u %u %u", &w->uid[0], &w->uid[1], &w->uid[2], &w->uid[3]);
      seen |= 1;
    } else if (!strncmp(line, "Gid:", 4)) {
      sscanf(line + 4, "%u %u %u %u", &w->gid[0], &w->gid[1], &w->gid[2], &w->gid[3]);
      seen |= 2;
    } else if (!strncmp(line, "Groups:", 7)) {
      char *p = line + 7, *end;
      w->ngroups = 0;
      for (;;) {
        unsigned long g = strtoul(p, &end, 10);
        if (end == p || w->ngroups == MAX_GROUPS) break;
        w->groups[w->ngroups++] = (gid_t)g;
        p = end;
      }
      seen |= 4;
    } else if (!strncmp(line, "CapInh:", 7)) w->inh = hex64(line + 7), seen |= 8;
    else if (!strncmp(line, "CapPrm:", 7)) w->prm = hex64(line + 7), seen |= 16;
    else if (!strncmp(line, "CapEff:", 7)) w->eff = hex64(line + 7), seen |= 32;
    else if (!strncmp(line, "CapBnd:", 7)) w->bnd = hex64(line + 7), seen |= 64;
    else if (!strncmp(line, "CapAmb:", 7)) w->amb = hex64(line + 7), seen |= 128;
    else if (!strncmp(line, "NoNewPrivs:", 11)) w->nnp = atoi(line + 11), seen |= 256;
  }
  fclose(f);
  return seen == 511 ? 0 : -1;
}

/* The -f program: LEN bytes of base64 at OFF of fd 3, decoded into PROG (CAP bytes). */
static size_t read_filter_at(const char *at, unsigned char *prog, size_t cap) {
  unsigned long long off, len;
  int used = 0;
  if (sscanf(at, "%llu:%llu%n", &off, &len, &used) != 2 || at[used] != '\0' || len == 0 || len > 4 * (cap / 3) + 4) return 0;
  char *text = malloc(len);
  if (!text) return 0;
  ssize_t got = pread(3, text, len, (off_t)off);
  ssize_t n = got == (ssize_t)len ? base64_decode(text, len, prog, cap) : -1;
  free(text);
  return n > 0 ? (size_t)n : 0;
}

/*
 * Moves this process into the cgroup whose cgroup.procs file is PROCS. On v1 it writes "0" to the
 * `tasks` file beside it instead: that moves only the calling thread, which here is the whole
 * process (pivot-exec has one thread), and the kernel (5.x and later) then skips the global
 * cgroup_threadgroup_rwsem that a cgroup.procs write takes for writing. Taking that semaphore
 * waits for an RCU grace period when no other writer took it just before: 4-15 ms on an idle
 * host, most of pivot-exec's time (test/bench/exec.bench.ts). Where there is no `tasks` file
 * (v2) or it cannot be opened (a delegated v1 cgroup that chowned only cgroup.procs), the
 * cgroup.procs write, as before.
 */
static void join_cgroup(const char *procs) {
  const char *slash = strrchr(procs, '/');
  int fd = -1;
  if (slash && !strcmp(slash + 1, "cgroup.procs")) {
    char tasks[4096];
    if (snprintf(tasks, sizeof tasks, "%.*s/tasks", (int)(slash - procs), procs) < (int)sizeof tasks) fd = open(tasks, O_WRONLY | O_CLOEXEC);
  }
  if (fd < 0) fd = open(procs, O_WRONLY | O_CLOEXEC);
  if (fd < 0 || write(fd, "0\n", 2) != 2) die(125, procs);
  close(fd);
}

static pid_t child = -1;
static volatile sig_atomic_t resized = 0;

static void forward(int sig) {
  if (child > 0) kill(child, sig);
}

static void on_winch(int sig) {
  (void)sig;
  resized = 1;
}

static struct termios saved;
static int raw = 0;

static void restore_terminal(void) {
  if (raw) tcsetattr(0, TCSAFLUSH, &saved);
  raw = 0;
}

static void copy_size(int master) {
  struct winsize ws;
  if (ioctl(1, TIOCGWINSZ, &ws) == 0 || ioctl(0, TIOCGWINSZ, &ws) == 0) ioctl(master, TIOCSWINSZ, &ws);
}

static int write_full(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Relays the pty until the command's side is closed by all (read gives EIO). */
static void relay(int master, int interactive) {
  char buf[16384];
  int in_open = interactive;
  for (;;) {
    if (resized) {
      resized = 0;
      copy_size(master);
    }
    struct pollfd p[2] = {{master, POLLIN, 0}, {in_open ? 0 : -1, POLLIN, 0}};
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (p[0].revents) {
      ssize_t n = read(master, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      if (write_full(1, buf, (size_t)n) != 0) return;
    }
    if (p[1].revents) {
      ssize_t n = read(0, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) in_open = 0;
      else if (write_full(master, buf, (size_t)n) != 0) return;
    }
  }
}

/* A connected AF_UNIX stream socket to PATH (the caller's console socket, a host path). */
static int connect_socket(const char *path) {
  struct sockaddr_un sun;
  memset(&sun, 0, sizeof sun);
  sun.sun_family = AF_UNIX;
  if (strlen(path) >= sizeof sun.sun_path) {
    errno = ENAMETOOLONG;
    return -1;
  }
  strcpy(sun.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (connect(fd, (struct sockaddr *)&sun, sizeof sun) != 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

/* Sends FD over SOCKET with SCM_RIGHTS; the data is the pty's name, as runc sends it. */
static int send_fd(int socket, int fd, const char *name) {
  struct iovec iov = {(void *)name, strlen(name)};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } control;
  memset(&control, 0, sizeof control);
  struct msghdr msg = {0};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.buf;
  msg.msg_controllen = sizeof control.buf;
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof(int));
  return sendmsg(socket, &msg, 0) < 0 ? -1 : 0;
}

#define MAX_RLIMITS 32

int main(int argc, char **argv) {
  /* Runs again from a sealed copy first (below) with the same argv: options are read after. */
  int sep = 0;
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], "--")) {
      sep = i;
      break;
    }
  int first = 1, privileged = 0, tty = 0, interactive = 0, nnp = -1, nrlimits = 0;
  const char *user = NULL, *caps = NULL, *oom = NULL, *umask_text = NULL, *console = NULL, *size = NULL, *filter_at = NULL;
  const char *rlimits[MAX_RLIMITS];
  while (first < sep && argv[first][0] == '-') {
    if (!strcmp(argv[first], "-u") && first + 1 < sep) user = argv[++first];
    else if (!strcmp(argv[first], "-c") && first + 1 < sep) caps = argv[++first];
    else if (!strcmp(argv[first], "-n") && first + 1 < sep) nnp = atoi(argv[++first]);
    else if (!strcmp(argv[first], "-l") && first + 1 < sep && nrlimits < MAX_RLIMITS) rlimits[nrlimits++] = argv[++first];
    else if (!strcmp(argv[first], "-o") && first + 1 < sep) oom = argv[++first];
    else if (!strcmp(argv[first], "-m") && first + 1 < sep) umask_text = argv[++first];
    else if (!strcmp(argv[first], "-s") && first + 1 < sep) console = argv[++first];
    else if (!strcmp(argv[first], "-w") && first + 1 < sep) size = argv[++first];
    else if (!strcmp(argv[first], "-f") && first + 1 < sep) filter_at = argv[++first];
    else if (!strcmp(argv[first], "-P")) privileged = 1;
    else if (!strcmp(argv[first], "-t")) tty = 1;
    else if (!strcmp(argv[first], "-i")) interactive = 1;
    else break;
    first++;
  }
  /* No CGROUP_PROCS at all: a rootless container without a delegated cgroup. */
  if (sep - first < 3 || sep + 1 >= argc) {
    dprintf(2, "usage: pivot-exec [-u UID:GID:GROUPS] [-P] [-t] [-i] PID CWD FILTER_FLAG CGROUP_PROCS... -- CMD [ARG...]\n");
    return 125;
  }
  /* Not dumpable until the exec: between setns and execve this is a host binary, as root, inside
     the container's namespaces; its /proc entries (exe, mem) must not be reachable from there
     (CVE-2019-5736's shape). execve of the command makes it dumpable again. */
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  if (run_from_sealed_copy(argv, "pivot-exec") != 0) die(125, "cannot run from a sealed copy of /proc/self/exe");
  const char *pid = argv[first], *cwd = argv[first + 1];
  /* FILTER_FLAG: 1 or 0, with a `d` after it for the OCI runtime's exec --detach. */
  int with_filter = argv[first + 2][0] == '1';
  int detach = argv[first + 2][0] != '\0' && argv[first + 2][1] == 'd';
  join_userns(pid);
  struct walls w;
  memset(&w, 0, sizeof w);
  if (read_walls(pid, &w) != 0) die(125, "cannot read the container's PID 1");
  if (user) {
    unsigned uid, gid;
    int used = 0;
    if (sscanf(user, "%u:%u:%n", &uid, &gid, &used) < 2 || used == 0) {
      errno = EINVAL;
      die(125, "the user");
    }
    for (int i = 0; i < 4; i++) w.uid[i] = uid, w.gid[i] = gid;
    w.ngroups = 0;
    for (char *p = (char *)user + used; *p && w.ngroups < MAX_GROUPS;) {
      char *end;
      unsigned long g = strtoul(p, &end, 10);
      if (end == p) break;
      w.groups[w.ngroups++] = (gid_t)g;
      p = *end == ',' ? end + 1 : end;
    }
    if (uid != 0) w.eff = w.prm = w.inh = w.amb = 0;
  }
  if (caps) {
    unsigned long long set[5];
    if (sscanf(caps, "%llx:%llx:%llx:%llx:%llx", &set[0], &set[1], &set[2], &set[3], &set[4]) != 5) {
      errno = EINVAL;
      die(125, "the capability sets");
    }
    w.bnd = set[0], w.eff = set[1], w.prm = set[2], w.inh = set[3], w.amb = set[4];
  }
  if (nnp >= 0) w.nnp = nnp;
  /* --privileged: every capability this process holds (on a host that lacks one, asking for all
     41 would fail at capset, as docker's exec --privileged does there), the bounding set kept. */
  if (privileged) w.bnd = ~0ULL;

  static struct sock_filter prog[65536];
  struct sock_fprog fprog = {0, prog};
  if (with_filter && filter_at) {
    size_t got = read_filter_at(filter_at, (unsigned char *)prog, sizeof prog);
    if (got == 0 || got % sizeof prog[0] != 0) {
      errno = EINVAL;
      die(125, "the seccomp filter");
    }
    fprog.len = (unsigned short)(got / sizeof prog[0]);
  } else if (with_filter) {
    size_t got = 0;
    for (;;) {
      ssize_t n = read(3, (char *)prog + got, sizeof prog - got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += (size_t)n;
    }
    if (got == 0 || got % sizeof prog[0] != 0) {
      errno = EINVAL;
      die(125, "the seccomp filter");
    }
    fprog.len = (unsigned short)(got / sizeof prog[0]);
  }
  close(3);
  /* fd 4 (the pid report) must not reach the command. */
  if (detach && fcntl(4, F_SETFD, FD_CLOEXEC) != 0) die(125, "fd 4");

  for (int i = first + 3; i < sep; i++) join_cgroup(argv[i]);

  /* The console socket is a host path: connected before the mount namespace changes. */
  int console_fd = -1;
  if (console && (console_fd = connect_socket(console)) < 0) die(125, console);

  static const struct {
    const char *name;
    int type;
  } nss[] = {{"ipc", CLONE_NEWIPC}, {"uts", CLONE_NEWUTS}, {"net", CLONE_NEWNET}, {"cgroup", CLONE_NEWCGROUP}, {"pid", CLONE_NEWPID}, {"mnt", CLONE_NEWNS}};
  int fds[6];
  for (int i = 0; i < 6; i++) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%s/ns/%s", pid, nss[i].name);
    fds[i] = open(path, O_RDONLY | O_CLOEXEC);
    if (fds[i] < 0) die(125, path);
  }
  for (int i = 0; i < 6; i++) {
    /* One PID 1 shares with us (the host's cgroup namespace, for a rootless container without
       --cgroupns private) is not joined: a no-op for root, refused (EPERM) to anyone else. */
    char own_path[64];
    struct stat own, theirs;
    snprintf(own_path, sizeof own_path, "/proc/self/ns/%s", nss[i].name);
    int same = stat(own_path, &own) == 0 && fstat(fds[i], &theirs) == 0 && own.st_ino == theirs.st_ino && own.st_dev == theirs.st_dev;
    if (!same && setns(fds[i], nss[i].type) != 0) die(125, nss[i].name);
    close(fds[i]);
  }

  /* The container's own devpts (its /dev/ptmx), as `run -t`: the slave is a /dev/pts/N inside. */
  int master = -1, slave = -1;
  char slave_name[64] = "";
  if (tty) {
    master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    int unlock = 0;
    unsigned int n = 0;
    if (master < 0 || ioctl(master, TIOCSPTLCK, &unlock) != 0 || ioctl(master, TIOCGPTN, &n) != 0) die(125, "the container's /dev/ptmx");
    snprintf(slave_name, sizeof slave_name, "/dev/pts/%u", n);
    unsigned rows = 0, cols = 0;
    if (size && sscanf(size, "%u:%u", &rows, &cols) == 2 && rows && cols) {
      struct winsize ws = {(unsigned short)rows, (unsigned short)cols, 0, 0};
      ioctl(master, TIOCSWINSZ, &ws);
    } else if (console_fd < 0) {
      copy_size(master);
    }
    /* Opened before the fork: the master must not see the slave closed (EIO) before the child has it. */
    slave = open(slave_name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave < 0) die(125, slave_name);
    if (console_fd >= 0) {
      /* The caller (containerd's shim) relays the master from now on: ours go. */
      if (send_fd(console_fd, master, "/dev/ptmx") != 0) die(125, "the console socket");
      close(master);
      close(console_fd);
      master = -1;
    }
  }

  child = fork();
  if (child < 0) die(125, "fork");
  if (child == 0) {
    if (tty) {
      if (setsid() < 0 || ioctl(slave, TIOCSCTTY, 0) != 0) die(125, slave_name);
      if (dup2(slave, 0) < 0 || dup2(slave, 1) < 0 || dup2(slave, 2) < 0) die(125, "dup2");
    }
    if (chdir(cwd) != 0) die(125, cwd);
    for (int i = 0; i < nrlimits; i++) {
      unsigned res;
      unsigned long long soft, hard;
      if (sscanf(rlimits[i], "%u:%llu:%llu", &res, &soft, &hard) != 3) {
        errno = EINVAL;
        die(125, "an rlimit");
      }
      struct rlimit rl = {(rlim_t)soft, (rlim_t)hard};
      if (setrlimit((int)res, &rl) != 0) die(125, "setrlimit");
    }
    if (oom) {
      int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
      if (fd < 0 || write(fd, oom, strlen(oom)) != (ssize_t)strlen(oom)) die(125, "oom_score_adj");
      close(fd);
    }
    if (umask_text) umask((mode_t)strtoul(umask_text, NULL, 8));
    for (int cap = 0; cap <= 63; cap++) {
      if (!(w.bnd & (1ULL << cap)) && prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1 && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) die(125, "the bounding set");
    }
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) die(125, "keepcaps");
    if (setgroups((size_t)w.ngroups, w.groups) != 0) die(125, "setgroups");
    if (setresgid(w.gid[0], w.gid[1], w.gid[2]) != 0) die(125, "setresgid");
    if (setresuid(w.uid[0], w.uid[1], w.uid[2]) != 0) die(125, "setresuid");
    /* Our own full permitted set is kept across the uid change (KEEPCAPS) and made effective:
       loading the filter needs CAP_SYS_ADMIN unless no_new_privs is set. PID 1's sets after it. */
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct now[2];
    if (syscall(SYS_capget, &h, now) != 0) die(125, "capget");
    if (privileged && w.uid[0] == 0) w.eff = w.prm = ((uint64_t)now[1].permitted << 32) | now[0].permitted;
    if (capset_all(((uint64_t)now[1].permitted << 32) | now[0].permitted, ((uint64_t)now[1].permitted << 32) | now[0].permitted, w.inh) != 0) die(125, "capset");
    if (w.nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) die(125, "no_new_privs");
    /* --privileged keeps CAP_SYS_ADMIN, which loading the filter needs: its sets can come first
       (the container's filter refuses a capset that raises capabilities it does not hold). */
    if (privileged && capset_all(w.eff, w.prm, w.inh) != 0) die(125, "capset");
    if (with_filter && load_seccomp_filter(&fprog) != 0) die(125, "seccomp");
    if (!privileged && capset_all(w.eff, w.prm, w.inh) != 0) die(125, "capset");
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) die(125, "ambient");
    for (int cap = 0; cap <= 63; cap++) {
      if ((w.amb & (1ULL << cap)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) != 0) die(125, "ambient");
    }
    execvpe(argv[sep + 1], argv + sep + 1, environ);
    /* docker exec (20.10, the reference here) exits 126 for every exec failure, a missing
       command included (docker run: 127). */
    dprintf(2, "pivot: exec: %s: %s\n", argv[sep + 1], errno == ENOENT ? "executable file not found in $PATH" : strerror(errno));
    _exit(126);
  }
  if (detach) {
    dprintf(4, "%d\n", (int)child);
    return 0;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = forward;
  int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaction(sigs[i], &sa, NULL);
  if (tty && master < 0) close(slave);
  if (tty && master >= 0) {
    close(slave);
    sigaction(SIGWINCH, &(struct sigaction){.sa_handler = on_winch}, NULL);
    if (interactive && isatty(0) && tcgetattr(0, &saved) == 0) {
      struct termios r = saved;
      cfmakeraw(&r);
      if (tcsetattr(0, TCSAFLUSH, &r) == 0) raw = 1;
    }
    relay(master, interactive);
    restore_terminal();
    close(master);
  }
  int status;
  while (waitpid(child, &status, 0) < 0) {
    if (errno != EINTR) return 125;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
