/*
 * pivot-userns: starts a program as PID 1 of a new PID namespace owned by a new user namespace
 * (src/userns/spawn-in-userns.ts drives it; docs/security.md, "User namespaces").
 * C, because unshare(CLONE_NEWUSER) fails in a multithreaded process (node is), and /proc can
 * only be mounted from a PID namespace owned by the user namespace, so the two are made together
 * by one clone() here.
 *
 *   pivot-userns -c FD [-n] [-m] [-s DIR] [-i SRC[=DEST]]... [-b SRC=DEST]... [-d DIR]...
 *                [-u PATH] [-j PATH]... [-P] [-x] -- PROG [ARG...]
 *
 * FD is a socket to pivot (the channel). The OCI runtime mode's options (src/oci, through
 * spawn-for-runtime.ts), applied before step 2:
 *   -u PATH: join that user namespace instead of making one (its maps exist: pivot writes none);
 *   -j PATH: join that namespace (any type but user), in the order given, after -u: with host
 *      privileges when the user namespace is new, so a namespace of the host can still be joined
 *      (runc's order: joins first, then the new user namespace, which owns what is made after);
 *   -P: no new PID namespace (the program stays in ours, or in the one a -j PATH entered);
 *   -x: once the program has exec'd (or failed), we exit 0 instead of staying its parent, and the
 *      program gets no parent-death signal: it becomes the child of our caller's subreaper, as
 *      runc's container init does (containerd's shim reaps it).
 * In order:
 *   1. -m (or any -i): a private mount namespace of our own first, / made rprivate, so the
 *      idmapped mounts below exist only for this process and the child (which shares it until the
 *      container's init unshares its own copy) and vanish with them: nothing can leak on the host;
 *   2. clone(CLONE_NEWUSER | CLONE_NEWPID, and CLONE_NEWNET with -n: a network namespace the user
 *      namespace owns, so its root has CAP_NET_RAW and the like there; pivot configures it from
 *      outside through the child's pid): the child blocks on a pipe, all signals still blocked;
 *   3. we write the child's host pid as a decimal line on FD; pivot writes its uid and gid maps
 *      from outside (directly as root, through newuidmap/newgidmap otherwise) and answers `go`;
 *   4. -s DIR: a small tmpfs (0755) on DIR, the staging place: a path the namespace's root (an
 *      unprivileged host uid) can reach, where pivot's own 0700 cache is not; then each -i SRC is
 *      an idmapped bind mount of SRC (open_tree + mount_setattr MOUNT_ATTR_IDMAP with the child's
 *      user namespace + move_mount) on DEST, or on SRC itself: files owned by host uid N show as N
 *      inside, so image layers keep their ownership without a chowned copy; each -b SRC=DEST a
 *      plain bind mount; each -d DIR a directory (0755). A missing DEST is made first;
 *   5. the child is released: setgroups([]) where allowed, setresgid/setresuid(0) inside (the
 *      maps exist now), signal mask restored, exec PROG; FD is close-on-exec in it;
 *   6. we close FD and stdio and stay as the child's parent: every signal we get goes to the
 *      child; we exit with its status, or die of its signal.
 * A failure before the child's exec: one JSON line {"code","message","exitCode"} on FD (the
 * init's failure format), status 125. EOF on FD without a failure line means the child runs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/mount.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_IDMAP 256
#define USAGE \
  "usage: pivot-userns -c FD [-n] [-m] [-s DIR] [-i SRC[=DEST]]... [-b SRC=DEST]... [-d DIR]... [-u PATH] [-j PATH]... [-P] [-x] -- PROG [ARG...]\n"

static int channel = -1;

/* The failure line pivot parses (run-container.ts parseFailure); the message is JSON-escaped. */
static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...) {
  char msg[1024], out[2300];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  size_t n = 0;
  n += snprintf(out, sizeof out, "{\"code\":\"RUN_USERNS_FAILED\",\"message\":\"");
  for (const char *p = msg; *p && n < sizeof out - 40; p++) {
    if (*p == '"' || *p == '\\') out[n++] = '\\';
    out[n++] = (*p == '\n') ? ' ' : *p;
  }
  n += snprintf(out + n, sizeof out - n, "\",\"exitCode\":125}\n");
  if (channel >= 0 && write(channel, out, n) < 0) {
    /* pivot is gone: nobody to tell */
  }
  _exit(125);
}

/* One line from FD, a byte at a time: nothing past the newline is consumed. */
static int read_line(int fd, char *buf, size_t size) {
  size_t n = 0;
  while (n + 1 < size) {
    ssize_t r = read(fd, buf + n, 1);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    if (buf[n] == '\n') break;
    n++;
  }
  buf[n] = 0;
  return (int)n;
}

/* "SRC=DEST" split in place; DEST is SRC without '='. */
static const char *split(char *spec) {
  char *eq = strchr(spec, '=');
  if (!eq) return spec;
  *eq = 0;
  return eq + 1;
}

static void make_dir(const char *dir) {
  if (mkdir(dir, 0755) < 0 && errno != EEXIST) fail("cannot make %s: %s", dir, strerror(errno));
}

static void idmap(const char *dir, const char *dest, int userns) {
  int tree = (int)syscall(SYS_open_tree, AT_FDCWD, dir, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
  if (tree < 0) fail("cannot idmap %s: open_tree: %s", dir, strerror(errno));
  struct mount_attr attr = {.attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (uint64_t)userns};
  if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0) {
    /* EINVAL: the filesystem has no FS_ALLOW_IDMAP (ramfs, fuse, nfs...): the layers or a volume. */
    fail("cannot idmap %s: mount_setattr(MOUNT_ATTR_IDMAP): %s (--userns remap needs a filesystem that supports idmapped mounts for the cache and its volumes: ext4, xfs, btrfs, tmpfs)", dir, strerror(errno));
  }
  if (syscall(SYS_move_mount, tree, "", AT_FDCWD, dest, MOVE_MOUNT_F_EMPTY_PATH) < 0) fail("cannot idmap %s: move_mount: %s", dir, strerror(errno));
  close(tree);
}

/* setns by path; type 0 takes whatever namespace the file is (the caller checked the types). */
static void join_ns(const char *path, int type) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("cannot open the namespace %s: %s", path, strerror(errno));
  if (setns(fd, type) < 0) fail("cannot join the namespace %s: %s", path, strerror(errno));
  close(fd);
}

int main(int argc, char **argv) {
  char *idmaps[MAX_IDMAP], *binds[MAX_IDMAP], *dirs[MAX_IDMAP];
  const char *staging = NULL;
  char *joins[MAX_IDMAP];
  const char *join_user = NULL;
  int nidmap = 0, nbind = 0, ndir = 0, private_mnt = 0, new_net = 0, opt;
  int njoin = 0, new_pid = 1, detach = 0;
  while ((opt = getopt(argc, argv, "+c:nms:i:b:d:u:j:Px")) != -1) {
    if (opt == 'c') channel = atoi(optarg);
    else if (opt == 'n') new_net = 1;
    else if (opt == 'm') private_mnt = 1;
    else if (opt == 's') staging = optarg;
    else if (opt == 'i' && nidmap < MAX_IDMAP) idmaps[nidmap++] = optarg;
    else if (opt == 'b' && nbind < MAX_IDMAP && strchr(optarg, '=')) binds[nbind++] = optarg;
    else if (opt == 'd' && ndir < MAX_IDMAP) dirs[ndir++] = optarg;
    else if (opt == 'u') join_user = optarg;
    else if (opt == 'j' && njoin < MAX_IDMAP) joins[njoin++] = optarg;
    else if (opt == 'P') new_pid = 0;
    else if (opt == 'x') detach = 1;
    else {
      fprintf(stderr, "%s", USAGE);
      return 125;
    }
  }
  if (channel < 0 || optind >= argc) {
    fprintf(stderr, "%s", USAGE);
    return 125;
  }
  char **prog = argv + optind;
  if (fcntl(channel, F_SETFD, FD_CLOEXEC) < 0) fail("bad channel fd: %s", strerror(errno));
  /* Die with pivot: a SIGKILLed `pivot run` cannot clean up, and the child dies with us in turn. */
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  pid_t parent = getppid();
  if (parent == 1) _exit(125);

  int mounts = staging || nidmap > 0 || nbind > 0 || ndir > 0;
  if (private_mnt || mounts) {
    if (unshare(CLONE_NEWNS) < 0) fail("cannot make a mount namespace: %s", strerror(errno));
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) fail("cannot make / private: %s", strerror(errno));
  }

  if (join_user) join_ns(join_user, CLONE_NEWUSER);
  for (int i = 0; i < njoin; i++) join_ns(joins[i], 0);

  /* Everything blocked from before the clone: a signal between the clone and the wait loop is
     kept pending and forwarded, not lost; the child restores this mask before its exec. */
  sigset_t all, old;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, &old);

  int gate[2];
  if (pipe2(gate, O_CLOEXEC) < 0) fail("pipe: %s", strerror(errno));
  /* -x: the child's end closes at its exec (close-on-exec) or death: EOF tells us when to go. */
  int execed[2] = {-1, -1};
  if (detach && pipe2(execed, O_CLOEXEC) < 0) fail("pipe: %s", strerror(errno));
  /* clone with a NULL stack behaves as fork(), in the new namespaces. */
  long flags = (join_user ? 0 : CLONE_NEWUSER) | (new_pid ? CLONE_NEWPID : 0) | (new_net ? CLONE_NEWNET : 0) | SIGCHLD;
  pid_t child = (pid_t)syscall(SYS_clone, flags, NULL, NULL, NULL, 0);
  if (child < 0) {
    if (errno == EINVAL || errno == EPERM || errno == ENOSPC || errno == EUSERS) {
      fail("cannot make a user namespace: %s (user namespaces disabled? see sysctl user.max_user_namespaces)", strerror(errno));
    }
    fail("cannot make a user namespace: %s", strerror(errno));
  }
  if (child == 0) {
    close(gate[1]);
    if (detach) close(execed[0]);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    char c;
    ssize_t r;
    do r = read(gate[0], &c, 1);
    while (r < 0 && errno == EINTR);
    if (r != 1) _exit(125); /* the helper failed (and said so) or died */
    close(gate[0]);
    /* Supplementary groups from the host would show as nobody; refused (EPERM) after a
       setgroups deny, where the single-id map leaves only the one group anyway. */
    if (setgroups(0, NULL) < 0 && errno != EPERM) fail("setgroups: %s", strerror(errno));
    if (setresgid(0, 0, 0) < 0) fail("setresgid(0) in the user namespace: %s (is gid 0 mapped?)", strerror(errno));
    if (setresuid(0, 0, 0) < 0) fail("setresuid(0) in the user namespace: %s (is uid 0 mapped?)", strerror(errno));
    /* The uid change cleared it (unless uid 0 inside is host root: -x clears it itself, as we
       exit once it runs; until then we are alive, waiting for this exec). */
    prctl(PR_SET_PDEATHSIG, detach ? 0 : SIGKILL);
    sigprocmask(SIG_SETMASK, &old, NULL);
    execv(prog[0], prog);
    fail("cannot execute %s: %s", prog[0], strerror(errno));
  }
  close(gate[0]);
  if (detach) close(execed[1]);

  char line[64];
  int n = snprintf(line, sizeof line, "%d\n", (int)child);
  if (write(channel, line, (size_t)n) != n) {
    kill(child, SIGKILL);
    _exit(125);
  }
  if (read_line(channel, line, sizeof line) < 0 || strcmp(line, "go") != 0) {
    /* pivot gave up (or failed writing the maps, and says so itself). */
    kill(child, SIGKILL);
    _exit(125);
  }
  if (staging && mount("tmpfs", staging, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755,size=64k") < 0) {
    fail("cannot mount the staging tmpfs on %s: %s", staging, strerror(errno));
  }
  if (nidmap > 0) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/ns/user", (int)child);
    int userns = open(path, O_RDONLY | O_CLOEXEC);
    /* A failure kills the child too: its parent-death signal. */
    if (userns < 0) fail("cannot open %s: %s", path, strerror(errno));
    for (int i = 0; i < nidmap; i++) {
      const char *dest = split(idmaps[i]);
      if (dest != idmaps[i]) make_dir(dest);
      idmap(idmaps[i], dest, userns);
    }
    close(userns);
  }
  for (int i = 0; i < nbind; i++) {
    const char *dest = split(binds[i]);
    make_dir(dest);
    if (mount(binds[i], dest, NULL, MS_BIND | MS_REC, NULL) < 0) fail("cannot bind %s on %s: %s", binds[i], dest, strerror(errno));
  }
  for (int i = 0; i < ndir; i++) make_dir(dirs[i]);
  if (write(gate[1], "g", 1) != 1) fail("cannot release the child: %s", strerror(errno));
  close(gate[1]);
  if (detach) {
    char c;
    ssize_t r;
    do r = read(execed[0], &c, 1);
    while (r < 0 && errno == EINTR);
    _exit(0);
  }

  /* From here on the child is on its own: our stdio and the channel go, so pivot reads EOF on
     the channel (and on the container's pipes) when the child closes them, not later. */
  close(channel);
  int devnull = open("/dev/null", O_RDWR);
  if (devnull >= 0) {
    dup2(devnull, 0);
    dup2(devnull, 1);
    dup2(devnull, 2);
    if (devnull > 2) close(devnull);
  }
  for (int fd = 3; fd < 64; fd++) close(fd);

  for (;;) {
    siginfo_t info;
    int sig = sigwaitinfo(&all, &info);
    if (sig < 0) continue;
    if (sig != SIGCHLD) {
      kill(child, sig);
      continue;
    }
    int status;
    pid_t w;
    while ((w = waitpid(-1, &status, WNOHANG)) > 0) {
      if (w != child) continue;
      if (WIFEXITED(status)) _exit(WEXITSTATUS(status));
      /* Die of the same signal, so pivot reports it as it would without us (no core of our own). */
      int s = WTERMSIG(status);
      struct rlimit none = {0, 0};
      setrlimit(RLIMIT_CORE, &none);
      signal(s, SIG_DFL);
      sigset_t one;
      sigemptyset(&one);
      sigaddset(&one, s);
      sigprocmask(SIG_UNBLOCK, &one, NULL);
      raise(s);
      _exit(128 + s);
    }
  }
}
