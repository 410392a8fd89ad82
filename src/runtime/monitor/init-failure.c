/*
 * The failures of pivot-init (container-init.c, init-command.c) in the words the node init used
 * (src/sys/sys-error.ts, execute.ts's describe), and the line that carries one to the parent.
 * One file for both parts, and for the test driver of init-command.c, so a message is made one
 * way only.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "init-common.h"

int fail_with(struct failure *f, const char *code, int exit_code, const char *fmt, ...) {
  va_list ap;
  f->code = code;
  f->exit_code = exit_code;
  va_start(ap, fmt);
  vsnprintf(f->message, sizeof f->message, fmt, ap);
  va_end(ap);
  return -1;
}

const char *errno_name(int err) {
  static char unknown[32];
  /* node's os.constants.errno, which the messages always used, names 95 ENOTSUP (its first name). */
  if (err == ENOTSUP) return "ENOTSUP";
  const char *name = strerrorname_np(err);
  if (name) return name;
  snprintf(unknown, sizeof unknown, "errno %d", err);
  return unknown;
}

/*
 * The arguments of a failed call, as src/sys/sys-error.ts formatArg shows them (strings JSON-quoted,
 * numbers above 255 in hex, null as null, 64-bit sets in hex always), so that
 * `container setup failed: mount("overlay", "/x", ...) failed: EINVAL` reads as it did.
 */
static char args_text[3072];
static size_t args_len;

void args_reset(void) {
  args_len = 0;
  args_text[0] = '\0';
}

/* One argument, written as given (after a comma when it is not the first). */
void arg_text(const char *fmt, ...) {
  if (args_len >= sizeof args_text - 1) return;
  if (args_len > 0) args_len += (size_t)snprintf(args_text + args_len, sizeof args_text - args_len, ", ");
  if (args_len >= sizeof args_text - 1) return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(args_text + args_len, sizeof args_text - args_len, fmt, ap);
  va_end(ap);
  args_len = n < 0 ? args_len : args_len + (size_t)n;
  if (args_len > sizeof args_text - 1) args_len = sizeof args_text - 1;
}

/* JSON.stringify of a string into OUT (CAP bytes). */
void json_quote(char *out, size_t cap, const char *s) {
  size_t n = 0;
  if (cap < 3) return;
  out[n++] = '"';
  for (; *s && n + 8 < cap; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') n += (size_t)snprintf(out + n, cap - n, "\\%c", c);
    else if (c == '\n') n += (size_t)snprintf(out + n, cap - n, "\\n");
    else if (c == '\t') n += (size_t)snprintf(out + n, cap - n, "\\t");
    else if (c == '\r') n += (size_t)snprintf(out + n, cap - n, "\\r");
    else if (c == '\b') n += (size_t)snprintf(out + n, cap - n, "\\b");
    else if (c == '\f') n += (size_t)snprintf(out + n, cap - n, "\\f");
    else if (c < 0x20) n += (size_t)snprintf(out + n, cap - n, "\\u%04x", c);
    else out[n++] = (char)c;
  }
  out[n++] = '"';
  out[n] = '\0';
}

void arg_str(const char *s) {
  if (!s) {
    arg_text("null");
    return;
  }
  char quoted[2048];
  json_quote(quoted, sizeof quoted, s);
  arg_text("%s", quoted);
}

void arg_num(int64_t v) {
  if (v > 255) arg_text("0x%" PRIx64, (uint64_t)v);
  else arg_text("%" PRId64, v);
}

/* A bigint argument: `0x${v.toString(16)}`, a minus sign after the 0x when negative. */
void arg_big(int64_t v) {
  if (v < 0) arg_text("0x-%" PRIx64, (uint64_t)0 - (uint64_t)v);
  else arg_text("0x%" PRIx64, (uint64_t)v);
}

void arg_ubig(uint64_t v) { arg_text("0x%" PRIx64, v); }

/* A failed syscall (SysError): `container setup failed: CALL(ARGS) failed: ERRNO`, args from args_*. */
int sys_failed(struct failure *f, int err, const char *call) {
  return setup_failed(f, "%s(%s) failed: %s", call, args_text, errno_name(err));
}

/* A failed node:fs call as execute.ts's describe() showed it: `SYSCALL PATH: CODE`. */
int fs_failed(struct failure *f, int err, const char *call, const char *path) {
  if (path) return setup_failed(f, "%s %s: %s", call, path, errno_name(err));
  return setup_failed(f, "%s: %s", call, errno_name(err));
}

/* Any other failure of a step, as executeSteps wraps it: `container setup failed: ...`. */
int setup_failed(struct failure *f, const char *fmt, ...) {
  static const char prefix[] = "container setup failed: ";
  f->code = "RUN_SETUP_FAILED";
  f->exit_code = EXIT_SETUP;
  memcpy(f->message, prefix, sizeof prefix);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(f->message + sizeof prefix - 1, sizeof f->message - (sizeof prefix - 1), fmt, ap);
  va_end(ap);
  return -1;
}

/* The failure as one JSON line {"code","message","exitCode"} and a newline, into OUT (CAP bytes); its length. */
int failure_line(const struct failure *f, char *out, size_t cap) {
  char quoted[sizeof f->message * 6 + 8];
  json_quote(quoted, sizeof quoted, f->message);
  return snprintf(out, cap, "{\"code\":\"%s\",\"message\":%s,\"exitCode\":%d}\n", f->code, quoted, f->exit_code);
}
