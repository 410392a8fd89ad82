/*
 * What the parts of the container's init (pivot-init: container-init.c, init-command.c, init-failure.c) share.
 * The init is C, not node: a second node start (~20 ms) and its modules sat on the critical path
 * of every `pivot run` (src/runtime/README.md). The parent still decides everything
 * (src/runtime/rootfs/plan.ts); the init only carries the steps out, in order.
 */
#ifndef PIVOT_INIT_COMMON_H
#define PIVOT_INIT_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* docker's exit statuses: pivot's own failure, cannot invoke, not found. */
#define EXIT_SETUP 125
#define EXIT_CANNOT_INVOKE 126
#define EXIT_NOT_FOUND 127

/*
 * A failure before exec, as the init reports it on its control socket: one JSON line
 * {"code":CODE,"message":MESSAGE,"exitCode":STATUS} (src/runtime/init-config.ts, InitFailure),
 * then it exits with STATUS. The messages are the ones the node init gave, word for word: tests
 * and users match them.
 */
struct failure {
  const char *code;
  int exit_code;
  char message[4096];
};

/*
 * init-failure.c: the failures in the node init's words, shared by both parts (and by
 * init-command.c's test driver).
 */

/* Fills f (code, exit status, printf-style message) and returns -1. */
int fail_with(struct failure *f, const char *code, int exit_code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* RUN_SETUP_FAILED, 125, `container setup failed: ` and the printf-style rest (executeSteps' wrap). Returns -1. */
int setup_failed(struct failure *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A failed syscall as SysError shows it, `CALL(ARGS) failed: ERRNO`, with the arguments given since args_reset. Returns -1. */
void args_reset(void);
void arg_str(const char *s); /* JSON-quoted; NULL as null */
void arg_num(int64_t v);     /* hex above 255 */
void arg_big(int64_t v);     /* a bigint: hex always */
void arg_ubig(uint64_t v);
void arg_text(const char *fmt, ...) __attribute__((format(printf, 1, 2))); /* written as given */
int sys_failed(struct failure *f, int err, const char *call);

/* A failed node:fs call as describe() shows it: `CALL PATH: ERRNO` (`CALL: ERRNO` without a path). Returns -1. */
int fs_failed(struct failure *f, int err, const char *call, const char *path);

/* errno's name as node's os.constants.errno gives it ("ENOENT"), or "errno N". */
const char *errno_name(int err);

/* JSON.stringify of a string into OUT (CAP bytes; cut short when it does not fit). */
void json_quote(char *out, size_t cap, const char *s);

/* The failure as its line for the parent, {"code","message","exitCode"} and "\n", into OUT; its length. */
int failure_line(const struct failure *f, char *out, size_t cap);

/*
 * init-command.c: the container's side of -u and of the command (ports of src/runtime/user.ts,
 * lookPath in src/runtime/rootfs/execute.ts and src/runtime/security/exec-guard.ts), run after
 * pivot_root, so every file they read is the container's.
 */

/* -u resolved against the container's /etc/passwd and /etc/group (runc's rules), with --group-add. */
struct resolved_user {
  uid_t uid;
  gid_t gid;
  gid_t *groups; /* supplementary groups, in the order setgroups gets them */
  size_t n_groups;
  char *home; /* from passwd; "/" without an entry */
};

/* spec: `uid[:gid]` or `name[:group]`, NULL for root. 0, or -1 with f filled. */
int resolve_user(const char *spec, char *const *group_add, size_t n_group_add, struct resolved_user *out, struct failure *f);

/* What to exec: by path (the kernel resolves it again) or by descriptor (execveat AT_EMPTY_PATH). */
struct exec_target {
  int by_fd;
  int fd; /* O_PATH, close-on-exec, open until the exec */
  char *path;
  char **argv; /* NULL-terminated */
};

/* command[0] looked up with env's PATH, opened and checked (exec-guard.ts). 0, or -1 with f filled. */
int resolve_command(char *const *command, size_t n_command, char *const *env, size_t n_env, struct exec_target *out, struct failure *f);

/* execve/execveat of the target with envp; returns only on failure, with f filled as execError does. */
void exec_command(const struct exec_target *t, char *const *envp, struct failure *f);

#endif
