/*
 * The C side of init-command.test.ts: runs pivot-init's command steps (src/runtime/monitor/
 * init-command.c) on one case, in the order the plan gives them, inside a rootfs, exactly as
 * init-command-driver.ts runs the TypeScript ones. Both are started by `unshare --mount
 * --propagation private`, with the same arguments:
 *
 *   driver ROOTFS CWD USER|- N GROUP_ADD... N COMMAND... N ENV... N SRC DST...
 *
 * ROOTFS is bound on itself, a fresh proc on its /proc, each SRC (a host path) on ROOTFS/DST;
 * then pivot_root into it, chdir CWD, resolveCommand, switchUser, exec (HOME added as the exec
 * step does). A failure prints the init's failure line, {"code":...,"message":...,"exitCode":N},
 * on stdout and exits with N. The failures are made by pivot-init's own init-failure.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "init-common.h"

/* The failure line, as pivot-init sends it on fd 3 (init-failure.c), on stdout; then its status. */
static void report(const struct failure *f) {
  static char line[sizeof f->message * 6 + 256];
  fputs(failure_line(f, line, sizeof line) > 0 ? line : "", stdout);
  fflush(stdout);
  exit(f->exit_code);
}

static void die(const char *what) {
  fprintf(stderr, "driver: %s: %s\n", what, strerror(errno));
  exit(99);
}

/* N then N strings from argv[*i]. */
static char **list(char **argv, int *i, size_t *n) {
  *n = (size_t)atoi(argv[(*i)++]);
  char **out = argv + *i;
  *i += (int)*n;
  return out;
}

int main(int argc, char **argv) {
  (void)argc;
  int i = 1;
  const char *rootfs = argv[i++], *cwd = argv[i++], *user = argv[i++];
  if (strcmp(user, "-") == 0) user = NULL;
  size_t n_groups, n_command, n_env, n_binds;
  char **groups = list(argv, &i, &n_groups);
  char **command = list(argv, &i, &n_command);
  char **env = list(argv, &i, &n_env);
  char **binds = list(argv, &i, &n_binds);

  char path[4096];
  if (mount(rootfs, rootfs, NULL, MS_BIND | MS_REC, NULL) < 0) die("bind rootfs");
  snprintf(path, sizeof path, "%s/proc", rootfs);
  if (mount("proc", path, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) die("mount proc");
  for (size_t b = 0; b + 1 < n_binds; b += 2) {
    snprintf(path, sizeof path, "%s%s", rootfs, binds[b + 1]);
    if (mount(binds[b], path, NULL, MS_BIND, NULL) < 0) die("bind");
  }
  if (chdir(rootfs) < 0 || syscall(SYS_pivot_root, ".", ".") < 0 || umount2(".", MNT_DETACH) < 0 || chdir("/") < 0) die("pivot_root");

  struct failure f = {0};
  if (chdir(cwd) < 0) die("chdir");
  struct exec_target t;
  if (resolve_command(command, n_command, env, n_env, &t, &f) < 0) report(&f);
  struct resolved_user u;
  if (resolve_user(user, groups, n_groups, &u, &f) < 0) report(&f);
  if (syscall(SYS_setgroups, u.n_groups, u.groups) < 0 || syscall(SYS_setresgid, u.gid, u.gid, u.gid) < 0 || syscall(SYS_setresuid, u.uid, u.uid, u.uid) < 0)
    die("switch user");
  char **envp = calloc(n_env + 2, sizeof *envp);
  int has_home = 0;
  for (size_t k = 0; k < n_env; k++) {
    envp[k] = env[k];
    if (strncmp(env[k], "HOME=", 5) == 0) has_home = 1;
  }
  if (!has_home && asprintf(&envp[n_env], "HOME=%s", u.home) < 0) die("asprintf");
  fflush(stdout);
  exec_command(&t, envp, &f);
  report(&f);
}
