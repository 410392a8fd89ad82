/*
 * pivot-monitor: the per-container monitor of a detached container (`pivot run -d`), the role of
 * containerd-shim and conmon. C, not Node: it lives as long as the container, one per container,
 * and a Node process costs ~40 MiB of RSS where this costs under 1 MiB (docs/DESIGN.md, "Detached
 * containers").
 *
 *   pivot-monitor [-u STARTER FD [-o ARG]...] [-t] [-a SOCKET [-i] [-w]] [-s MAX_BYTES -n MAX_FILES] LOG EXIT NODE INIT [CLEANUP ARG...]
 *
 * -u (a user other than root, who may not make a PID namespace): instead of NODE INIT in a new PID
 * namespace, fork STARTER -c FD -- NODE INIT (src/userns/userns.c), which makes the user and PID
 * namespaces; FD is its channel to pivot, inherited from pivot and closed here after the fork. The
 * pid on fd 3 is then the starter's; pivot learns the init's from the channel. Each -o ARG after
 * it is one more argument for STARTER before its `--` (root's --userns remap: -n, -s, -i, -b, -d).
 * -a (`attach`, `start -a`): a unix socket at SOCKET where clients attach. Each client gets the
 * container's output as it comes, in docker's stdcopy frames (8 bytes: stream 1 or 2, three
 * zeros, the length big-endian; then the bytes); a client that does not keep up is dropped (the
 * container never waits for a reader). With -i (`run -d -i`) the init's stdin is a pipe whose
 * writing end the monitor holds, and what any client sends as stdin goes there (to the pty with
 * -t): stdin stays open when a client leaves, as docker keeps it for `-d -i`. With -w (`start -a`)
 * the init is forked only once the first client is there, so it sees the output from the first
 * byte. A client sends frames of the same 8-byte header: kind 0 (its stdin; at most 4096 bytes a
 * frame) or kind 1 (a window size: 4 bytes, rows and columns big-endian, for the pty with -t;
 * docker's resize call, sent at attach and on each SIGWINCH of the client's terminal).
 *
 * -s/-n (`--log-opt max-size/max-file`): once LOG reaches MAX_BYTES it becomes LOG.1 (LOG.1
 * becomes LOG.2... up to MAX_FILES-1 kept files; the oldest is dropped), docker's json-file rotation.
 *
 * -t (`run -d -t`): the init gets a console channel on fd 4 and announces there the descriptor
 * of its pty master; the monitor takes a copy (pidfd_getfd), answers one byte, and logs what the
 * pty prints as stdout (docker logs a tty container's output as stdout, \r\n and all).
 *
 * Started by `pivot run -d` in a session of its own, stdin/stdout/stderr on /dev/null and the
 * run's control socket on fd 3. It:
 *   1. makes the container's stdout/stderr pipes;
 *   2. forks NODE INIT (the container's init) as PID 1 of a new PID namespace, its stdin
 *      /dev/null, its stdout/stderr the pipes, fd 3 the control socket (the run sends it the
 *      config there and reads its failure, exactly as for a foreground run);
 *   3. writes the init's pid as one line on fd 3 and closes its own copy, so the run reads EOF
 *      when the init execs the command (or dies);
 *   4. appends every line of output to LOG in docker's json-file format until the init exits;
 *   5. writes EXIT atomically: {"exitCode":N,"finished":"<RFC 3339 UTC>"} (128+N for signal N);
 *   6. execs CLEANUP (node on dist/src/runtime/monitor/cleanup.js: cgroup, record, --rm), in the
 *      same process, so the record's owner (this pid and its start time) stays alive until the
 *      container's record is final.
 * The init has the parent-death signal SIGKILL: a killed monitor takes its container with it, and
 * `pivot ps` shows the container as dead (its owner is gone) until rm or prune removes it (and
 * its attach socket: prune sweeps those no monitor names). SIGTERM and SIGINT SIGKILL the init
 * instead, and the monitor ends through steps 4-6 as when the container exits by itself.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* -o options passed on to the user-namespace starter: its -i/-b/-d come in pairs, one per layer. */
#define MAX_STARTER_OPTS 1024

/* docker's json-file splits a line longer than this into several records (its own buffer size). */
#define LINE_MAX_BYTES (16 * 1024)

struct stream {
  const char *name;
  int fd;
  char buf[LINE_MAX_BYTES];
  size_t len;
};

static int log_fd = -1;
static const char *log_file;
static long long log_bytes, max_bytes;
static int max_files = 1;

/* LOG.(n-1) is dropped, LOG.k becomes LOG.(k+1), LOG becomes LOG.1 (or is emptied with one file). */
static void rotate(void) {
  char from[4096], to[4096];
  for (int k = max_files - 1; k >= 1; k--) {
    if (k == 1) snprintf(from, sizeof from, "%s", log_file);
    else snprintf(from, sizeof from, "%s.%d", log_file, k - 1);
    snprintf(to, sizeof to, "%s.%d", log_file, k);
    rename(from, to);
  }
  int fd = open(log_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (max_files == 1 ? O_TRUNC : 0), 0600);
  if (fd >= 0) {
    close(log_fd);
    log_fd = fd;
  }
  log_bytes = 0;
}

static void write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return; /* a full disk loses log lines, never the container */
    }
    p += w;
    n -= (size_t)w;
  }
}

static void timestamp(char *out, size_t size) {
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  char base[32];
  strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(out, size, "%s.%09ldZ", base, ts.tv_nsec);
}

/* One json-file record: {"log":"<text, JSON-escaped>","stream":"stdout","time":"..."}. */
static void emit(struct stream *s, const char *text, size_t n) {
  /* Worst case 6 bytes per input byte (\u00XX), plus the frame. */
  static char out[LINE_MAX_BYTES * 6 + 128];
  size_t o = 0;
  o += (size_t)snprintf(out, sizeof out, "{\"log\":\"");
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)text[i];
    switch (c) {
      case '"': out[o++] = '\\'; out[o++] = '"'; break;
      case '\\': out[o++] = '\\'; out[o++] = '\\'; break;
      case '\n': out[o++] = '\\'; out[o++] = 'n'; break;
      case '\r': out[o++] = '\\'; out[o++] = 'r'; break;
      case '\t': out[o++] = '\\'; out[o++] = 't'; break;
      default:
        if (c < 0x20 || c == 0x7f) o += (size_t)snprintf(out + o, sizeof out - o, "\\u%04x", c);
        else out[o++] = (char)c;
    }
  }
  char ts[64];
  timestamp(ts, sizeof ts);
  o += (size_t)snprintf(out + o, sizeof out - o, "\",\"stream\":\"%s\",\"time\":\"%s\"}\n", s->name, ts);
  write_all(log_fd, out, o);
  log_bytes += (long long)o;
  /* docker's json-file: the file that reached max-size is rotated before the next record. */
  if (max_bytes > 0 && log_bytes >= max_bytes) rotate();
}

/* Logs every complete line in the buffer; a line that fills the buffer is logged as it is. */
static void flush_lines(struct stream *s, int at_eof) {
  size_t start = 0;
  for (size_t i = 0; i < s->len; i++) {
    if (s->buf[i] == '\n') {
      emit(s, s->buf + start, i + 1 - start);
      start = i + 1;
    }
  }
  if (start < s->len && (at_eof || (start == 0 && s->len == sizeof s->buf))) {
    emit(s, s->buf + start, s->len - start);
    start = s->len;
  }
  memmove(s->buf, s->buf + start, s->len - start);
  s->len -= start;
}

static void broadcast(int stream, const char *p, size_t n);

/* Reads what is there; returns 0 at EOF (the fd is then closed and set to -1). */
static int pump(struct stream *s) {
  ssize_t n = read(s->fd, s->buf + s->len, sizeof s->buf - s->len);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return 1;
  if (n <= 0) {
    flush_lines(s, 1);
    close(s->fd);
    s->fd = -1;
    return 0;
  }
  broadcast(s->name[3] == 'e' ? 2 : 1, s->buf + s->len, (size_t)n);
  s->len += (size_t)n;
  flush_lines(s, 0);
  return 1;
}

static void write_exit(const char *path, int status) {
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 125;
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return;
  char ts[64], line[160];
  timestamp(ts, sizeof ts);
  int n = snprintf(line, sizeof line, "{\"exitCode\":%d,\"finished\":\"%s\"}\n", code, ts);
  write_all(fd, line, (size_t)n);
  fsync(fd);
  close(fd);
  rename(tmp, path);
}

#define MAX_CLIENTS 8
/* A client's frame payload limit (kind 0: stdin bytes; kind 1: a window size). */
#define FRAME_MAX 4096

struct client {
  int fd;
  size_t len;
  unsigned char buf[8 + FRAME_MAX];
};
static struct client clients[MAX_CLIENTS];
static int nclients;

static void drop_client(int i) {
  close(clients[i].fd);
  clients[i] = clients[--nclients];
}

/* One stdcopy frame to every client; a client whose socket is full is dropped, never waited for. */
static void broadcast(int stream, const char *p, size_t n) {
  if (n == 0 || nclients == 0) return;
  unsigned char head[8] = {(unsigned char)stream, 0, 0, 0, (unsigned char)(n >> 24), (unsigned char)(n >> 16), (unsigned char)(n >> 8), (unsigned char)n};
  for (int i = nclients - 1; i >= 0; i--) {
    struct iovec v[2] = {{head, 8}, {(void *)p, n}};
    struct msghdr m = {0};
    m.msg_iov = v;
    m.msg_iovlen = 2;
    if (sendmsg(clients[i].fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)(n + 8)) drop_client(i);
  }
}

/* The attach socket, once bound: removed on every way out this process sees (a SIGKILL leaves it
   to `pivot rm`/`prune`, start-monitor.ts's sweepAttachSockets). */
static const char *bound_path;

static int fail(void) {
  if (bound_path) unlink(bound_path);
  return 125;
}

static int listen_at(const char *path) {
  struct sockaddr_un a = {0};
  a.sun_family = AF_UNIX;
  if (strlen(path) >= sizeof a.sun_path) return -1;
  strcpy(a.sun_path, path);
  /* A shared flock on the directory from the unlink to the listen: `pivot prune` sweeps sockets
     nobody listens on holding it exclusively, so it never sees this one between bind and listen
     (no listener yet) nor removes it just after this unlink-and-bind replaced a stale one. */
  char dir[sizeof a.sun_path];
  strcpy(dir, path);
  char *slash = strrchr(dir, '/');
  if (slash && slash != dir) *slash = 0;
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) flock(dfd, LOCK_SH);
  unlink(path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  int r = -1;
  if (fd >= 0) {
    mode_t old = umask(0077);
    r = bind(fd, (struct sockaddr *)&a, sizeof a);
    umask(old);
    if (r == 0) bound_path = path;
    if (r == 0 && listen(fd, MAX_CLIENTS) != 0) r = -1;
  }
  if (dfd >= 0) close(dfd); /* releases the flock */
  if (r != 0) {
    if (fd >= 0) close(fd);
    return -1;
  }
  return fd;
}

static void accept_client(int lfd) {
  int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (c < 0) return;
  if (nclients == MAX_CLIENTS) {
    close(c);
    return;
  }
  clients[nclients].fd = c;
  clients[nclients].len = 0;
  nclients++;
}

/* The last window size a client sent, for a pty the init has not handed over yet (start -a). */
static struct winsize pending_size;
static int have_size;

static void set_size(int master) {
  if (master >= 0 && have_size) ioctl(master, TIOCSWINSZ, &pending_size);
}

/* The one child of PID (-u: the starter's, the init), from /proc; -1 when there is none. */
static pid_t only_child(pid_t pid) {
  char path[64], buf[64];
  snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)pid, (int)pid);
  int f = open(path, O_RDONLY | O_CLOEXEC);
  if (f < 0) return -1;
  ssize_t n = read(f, buf, sizeof buf - 1);
  close(f);
  if (n <= 0) return -1;
  buf[n] = 0;
  return (pid_t)atoi(buf);
}

/*
 * The init's pty master: its descriptor number comes on the console channel. -1 on failure.
 * `via_starter`: PID is the user-namespace starter; the descriptor is in its child's table (by
 * then the child runs: it announced the number).
 */
static int take_master(int channel, pid_t pid, int via_starter) {
  char buf[32];
  ssize_t n = read(channel, buf, sizeof buf - 1);
  if (n <= 0) return -1;
  buf[n] = 0;
  int fd = atoi(buf);
  if (via_starter && (pid = only_child(pid)) <= 0) return -1;
  int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (pidfd < 0) return -1;
  int master = (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
  close(pidfd);
  if (master >= 0) write_all(channel, "\n", 1);
  return master;
}

int main(int argc, char **argv) {
  int tty_mode = 0;
  const char *starter = NULL, *channel = NULL;
  /* The starter's own options (-o ARG each, root's --userns remap: its staging and idmapped binds). */
  char *starter_opts[MAX_STARTER_OPTS];
  int n_starter_opts = 0;
  if (argc > 3 && !strcmp(argv[1], "-u")) {
    starter = argv[2];
    channel = argv[3];
    argv += 3;
    argc -= 3;
    for (; argc > 2 && !strcmp(argv[1], "-o"); argv += 2, argc -= 2) {
      if (n_starter_opts == MAX_STARTER_OPTS) {
        fprintf(stderr, "pivot-monitor: more than %d starter options\n", MAX_STARTER_OPTS);
        return 125;
      }
      starter_opts[n_starter_opts++] = argv[2];
    }
  }
  if (argc > 1 && !strcmp(argv[1], "-t")) {
    tty_mode = 1;
    argv++;
    argc--;
  }
  const char *attach_path = NULL;
  int stdin_mode = 0, wait_client = 0;
  if (argc > 2 && !strcmp(argv[1], "-a")) {
    attach_path = argv[2];
    argv += 2;
    argc -= 2;
    for (; argc > 1 && (!strcmp(argv[1], "-i") || !strcmp(argv[1], "-w")); argv++, argc--) {
      if (argv[1][1] == 'i') stdin_mode = 1;
      else wait_client = 1;
    }
  }
  if (argc > 4 && !strcmp(argv[1], "-s") && !strcmp(argv[3], "-n")) {
    max_bytes = atoll(argv[2]);
    max_files = atoi(argv[4]);
    if (max_files < 1) max_files = 1;
    argv += 4;
    argc -= 4;
  }
  if (argc < 5) {
    fprintf(stderr, "usage: pivot-monitor LOG EXIT NODE INIT [CLEANUP ARG...]\n");
    return 125;
  }
  const char *log_path = argv[1], *exit_path = argv[2];
  log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log_fd < 0) return 125;
  log_file = log_path;
  struct stat st;
  if (fstat(log_fd, &st) == 0) log_bytes = st.st_size;

  /* SIGCHLD through a signalfd, in the same poll as the pipes; blocked before the fork so the
     init's exit cannot slip in between. SIGTERM and SIGINT too (a shutdown, a test's teardown):
     they end the container as a SIGKILLed monitor would, but through the normal way out (exit
     record, attach socket removed, cleanup), not leaving a dead container and its socket behind. */
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigaddset(&chld, SIGTERM);
  sigaddset(&chld, SIGINT);
  sigprocmask(SIG_BLOCK, &chld, NULL);
  int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  signal(SIGPIPE, SIG_IGN);
  signal(SIGHUP, SIG_IGN);

  int out[2], err[2];
  if (sfd < 0 || pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) return 125;
  int con[2] = {-1, -1};
  if (tty_mode && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, con) != 0) return 125;
  /* -i without -t: a pipe for the container's stdin (with -t the pty is its stdin). */
  int in[2] = {-1, -1};
  if (stdin_mode && !tty_mode && pipe2(in, O_CLOEXEC) != 0) return 125;
  int lfd = -1;
  if (attach_path) {
    lfd = listen_at(attach_path);
    if (lfd < 0) return fail();
  }
  if (wait_client && lfd >= 0) {
    /* start -a: the client connects right after spawning this; 10 s is plenty even under load. */
    struct pollfd w = {lfd, POLLIN, 0};
    if (poll(&w, 1, 10000) == 1) accept_client(lfd);
  }
  int own_pidns = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
  if (own_pidns < 0 || (!starter && unshare(CLONE_NEWPID) != 0)) return fail();
  pid_t pid = fork();
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    int null = in[0] >= 0 ? in[0] : open("/dev/null", O_RDONLY);
    if (null < 0 || dup2(null, 0) < 0 || dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0) _exit(125);
    if (null > 3) close(null);
    if (tty_mode && dup2(con[1], 4) < 0) _exit(125);
    /* fd 3, the control socket, is inherited as it is (not close-on-exec). */
    char *env[] = {NULL};
    if (starter) {
      char *uargs[MAX_STARTER_OPTS + 8];
      int k = 0;
      uargs[k++] = (char *)starter;
      uargs[k++] = "-c";
      uargs[k++] = (char *)channel;
      for (int i = 0; i < n_starter_opts; i++) uargs[k++] = starter_opts[i];
      uargs[k++] = "--";
      uargs[k++] = argv[3];
      uargs[k++] = argv[4];
      uargs[k] = NULL;
      execve(starter, uargs, env);
      _exit(127);
    }
    char *args[] = {argv[3], argv[4], NULL};
    execve(argv[3], args, env);
    _exit(127);
  }
  /* Only the starter keeps the channel: pivot reads its end-of-file as "the program runs". */
  if (channel) close(atoi(channel));
  /* Children forked later (none; the cleanup execs in place) belong in our own namespace. */
  setns(own_pidns, CLONE_NEWPID);
  close(own_pidns);
  close(out[1]);
  close(err[1]);
  if (con[1] >= 0) close(con[1]);
  if (in[0] >= 0) close(in[0]);
  /* Writes to a container that does not read its stdin must not stop the logging. */
  if (in[1] >= 0) fcntl(in[1], F_SETFL, O_NONBLOCK);
  if (pid < 0) return fail();
  char line[32];
  int n = snprintf(line, sizeof line, "%d\n", (int)pid);
  write_all(3, line, (size_t)n);
  close(3);

  static struct stream so = {"stdout", -1, {0}, 0}, se = {"stderr", -1, {0}, 0}, pt = {"stdout", -1, {0}, 0};
  so.fd = out[0];
  se.fd = err[0];
  int status = 0, exited = 0;
  while (!exited || so.fd >= 0 || se.fd >= 0 || pt.fd >= 0) {
    /* 0-4: the streams, SIGCHLD, the console channel, the pty; 5: the attach socket; then the clients. */
    struct pollfd p[6 + MAX_CLIENTS] = {{so.fd, POLLIN, 0}, {se.fd, POLLIN, 0}, {exited ? -1 : sfd, POLLIN, 0}, {con[0], POLLIN, 0}, {pt.fd, POLLIN, 0}, {exited ? -1 : lfd, POLLIN, 0}};
    int n_clients = nclients;
    for (int i = 0; i < n_clients; i++) p[6 + i] = (struct pollfd){clients[i].fd, POLLIN, 0};
    /* After PID 1's exit the kernel kills the rest of its namespace, which closes the pipes;
       a stuck writer (a process in D state) must not hold the exit record back for long. */
    int r = poll(p, (nfds_t)(6 + n_clients), exited ? 2000 : -1);
    if (r < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (r == 0) break;
    if (p[0].revents) pump(&so);
    if (p[1].revents) pump(&se);
    if (p[3].revents) {
      pt.fd = take_master(con[0], pid, starter != NULL);
      set_size(pt.fd);
      close(con[0]);
      con[0] = -1;
    }
    /* EIO once the container's last process closed the slave: pump takes it as the end. */
    if (p[4].revents) pump(&pt);
    if (p[5].revents) accept_client(lfd);
    /* A client's bytes go to the container's stdin (the pty with -t); without -i they are dropped.
       Backwards: drop_client moves the last client into the freed slot. */
    for (int i = n_clients - 1; i >= 0; i--) {
      if (!p[6 + i].revents) continue;
      struct client *c = &clients[i];
      ssize_t got = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
      if (got <= 0) {
        if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        drop_client(i);
        continue;
      }
      c->len += (size_t)got;
      /* Every whole frame read so far; a partial one waits for the rest. */
      size_t at = 0;
      int bad = 0;
      while (c->len - at >= 8) {
        unsigned char *h = c->buf + at;
        size_t size = ((size_t)h[4] << 24) | ((size_t)h[5] << 16) | ((size_t)h[6] << 8) | h[7];
        if (size > FRAME_MAX) {
          bad = 1;
          break;
        }
        if (c->len - at < 8 + size) break;
        if (h[0] == 0) {
          int target = !stdin_mode ? -1 : tty_mode ? pt.fd : in[1];
          /* What does not fit now is lost rather than block the logging (as a full pipe buffer of
             64 KiB unread by the container). */
          if (target >= 0 && write(target, h + 8, size) < 0 && errno == EPIPE && !tty_mode) {
            close(in[1]);
            in[1] = -1;
          }
        } else if (h[0] == 1 && size == 4 && tty_mode) {
          /* TIOCSWINSZ on the master: the kernel sends SIGWINCH to the pty's foreground group. */
          pending_size = (struct winsize){(unsigned short)((h[8] << 8) | h[9]), (unsigned short)((h[10] << 8) | h[11]), 0, 0};
          have_size = pending_size.ws_row > 0 && pending_size.ws_col > 0;
          set_size(pt.fd);
        }
        at += 8 + size;
      }
      if (bad) {
        drop_client(i);
        continue;
      }
      memmove(c->buf, c->buf + at, c->len - at);
      c->len -= at;
    }
    if (p[2].revents) {
      struct signalfd_siginfo si;
      while (read(sfd, &si, sizeof si) > 0) {
        /* The init's parent-death signal, sent now: the rest of its namespace dies with it. */
        if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) kill(pid, SIGKILL);
      }
      if (waitpid(pid, &status, WNOHANG) == pid) exited = 1;
    }
  }
  if (!exited) waitpid(pid, &status, 0);
  if (so.fd >= 0) flush_lines(&so, 1);
  if (se.fd >= 0) flush_lines(&se, 1);
  if (pt.fd >= 0) flush_lines(&pt, 1);
  fsync(log_fd);
  write_exit(exit_path, status);
  /* The clients see EOF once the exit is recorded (the cleanup's exec closes their sockets). */
  if (attach_path) unlink(attach_path);
  if (in[1] >= 0) close(in[1]);
  if (argc > 5) {
    /* A SIGTERM or SIGINT still pending would kill the cleanup before it has done its work. */
    struct timespec zero = {0, 0};
    while (sigtimedwait(&chld, NULL, &zero) > 0) {
    }
    sigprocmask(SIG_UNBLOCK, &chld, NULL);
    char *env[] = {NULL};
    execve(argv[5], argv + 5, env);
  }
  return 0;
}
