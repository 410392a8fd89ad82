/*
 * The container's side of -u and of the command, for pivot-init (see init-common.h). Ports, in
 * behaviour and in every message, of src/runtime/user.ts (resolveUser), src/runtime/rootfs/
 * execute.ts (lookPath, groupId, the switchUser op's group list, the exec op) and
 * src/runtime/security/exec-guard.ts (resolveExecTarget, execError), which stay in TypeScript
 * for the OCI runtime's node init. Where the TypeScript leaned on JavaScript (Number() on a
 * passwd field, String.prototype.trim, a number printed in a message), this code does what
 * JavaScript does, so both inits give the same answer on the same files.
 *
 * Runs after pivot_root, as root with every capability: every path is the container's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "init-common.h"

#define MAX_ID 2147483647.0
#define ID_RANGE "uids and gids must be in range 0-2147483647"
/* binfmt_script's and binfmt_elf's nesting limit: more interpreters than this is ELOOP. */
#define MAX_INTERPRETERS 4
#define HEAD_BYTES 256 /* BINPRM_BUF_SIZE: all of a #! line the kernel reads */
#define PT_INTERP 3
#define MAX_FILE (64u << 20) /* the most read_file takes of /etc/passwd, /etc/group, /proc files */

/* ---------- small strings ---------- */

/* A growable byte string (always NUL-terminated; may hold NULs from a file). */
struct str {
  char *p;
  size_t n, cap;
};

static void str_add(struct str *s, const void *data, size_t n) {
  if (s->n + n + 1 > s->cap) {
    size_t cap = s->cap ? s->cap : 64;
    while (cap < s->n + n + 1) cap *= 2;
    char *p = realloc(s->p, cap);
    if (!p) abort();
    s->p = p;
    s->cap = cap;
  }
  memcpy(s->p + s->n, data, n);
  s->n += n;
  s->p[s->n] = 0;
}

static void str_adds(struct str *s, const char *text) { str_add(s, text, strlen(text)); }

static char *xstrndup(const char *p, size_t n) {
  char *s = malloc(n + 1);
  if (!s) abort();
  memcpy(s, p, n);
  s[n] = 0;
  return s;
}

/* JSON.stringify of a string, as the TypeScript's messages quote names (into one of two static buffers: a message may quote two). */
static const char *quoted(const char *text) {
  static char out[2][2048];
  static int which;
  char *o = out[which ^= 1];
  json_quote(o, sizeof out[0], text);
  return o;
}

/* The length of the JavaScript white space or line terminator (what trim() and Number() skip) at p, in UTF-8; 0 if none. */
static size_t js_space_at(const unsigned char *p, const unsigned char *end) {
  size_t left = (size_t)(end - p);
  if (left == 0) return 0;
  if (*p == ' ' || (*p >= '\t' && *p <= '\r')) return 1;
  if (left >= 2 && p[0] == 0xc2 && p[1] == 0xa0) return 2; /* U+00A0 */
  if (left < 3) return 0;
  unsigned cp = 0;
  if ((p[0] & 0xf0) == 0xe0 && (p[1] & 0xc0) == 0x80 && (p[2] & 0xc0) == 0x80) cp = ((p[0] & 0x0fu) << 12) | ((p[1] & 0x3fu) << 6) | (p[2] & 0x3fu);
  if (cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 || cp == 0x202f || cp == 0x205f || cp == 0x3000 || cp == 0xfeff) return 3;
  return 0;
}

/* String.prototype.trim on [*b, *e). */
static void js_trim(const char **b, const char **e) {
  const unsigned char *s = (const unsigned char *)*b, *t = (const unsigned char *)*e;
  size_t n;
  while (s < t && (n = js_space_at(s, t)) > 0) s += n;
  while (t > s) {
    if (js_space_at(t - 1, t) == 1) t -= 1;
    else if (t - s >= 2 && js_space_at(t - 2, t) == 2) t -= 2;
    else if (t - s >= 3 && js_space_at(t - 3, t) == 3) t -= 3;
    else break;
  }
  *b = (const char *)s;
  *e = (const char *)t;
}

/* Number(text) of JavaScript, for [b, e): NAN where it gives NaN. */
static double js_number(const char *b, const char *e) {
  js_trim(&b, &e);
  if (b == e) return 0;
  size_t n = (size_t)(e - b);
  if (n > 2 && b[0] == '0' && strchr("xXoObB", b[1])) {
    int base = (b[1] == 'x' || b[1] == 'X') ? 16 : (b[1] == 'o' || b[1] == 'O') ? 8 : 2;
    double v = 0;
    for (const char *p = b + 2; p < e; p++) {
      int d = (*p >= '0' && *p <= '9') ? *p - '0' : (*p >= 'a' && *p <= 'f') ? *p - 'a' + 10 : (*p >= 'A' && *p <= 'F') ? *p - 'A' + 10 : 99;
      if (d >= base) return NAN;
      v = v * base + d;
    }
    return v;
  }
  const char *p = b;
  if (*p == '+' || *p == '-') p++;
  if ((size_t)(e - p) == 8 && memcmp(p, "Infinity", 8) == 0) return *b == '-' ? -INFINITY : INFINITY;
  size_t digits = 0;
  while (p < e && *p >= '0' && *p <= '9') p++, digits++;
  if (p < e && *p == '.') {
    p++;
    while (p < e && *p >= '0' && *p <= '9') p++, digits++;
  }
  if (digits == 0) return NAN;
  if (p < e && (*p == 'e' || *p == 'E')) {
    p++;
    if (p < e && (*p == '+' || *p == '-')) p++;
    size_t exp = 0;
    while (p < e && *p >= '0' && *p <= '9') p++, exp++;
    if (exp == 0) return NAN;
  }
  if (p != e) return NAN;
  char *copy = xstrndup(b, n);
  double v = strtod(copy, NULL); /* the grammar is checked: strtod reads the same number, correctly rounded */
  free(copy);
  return v;
}

/* Number.isInteger (no libm: the init links nothing but libc). Every double from 2^53 up is an integer. */
static int js_is_integer(double v) {
  if (!isfinite(v)) return 0;
  if (v >= 9007199254740992.0 || v <= -9007199254740992.0) return 1;
  return (double)(int64_t)v == v;
}

/* A non-negative integer as JavaScript prints it (String(n)): the shortest digits, exponent form from 1e21. */
static const char *js_integer_string(double v) {
  static char out[64];
  if (isinf(v)) return "Infinity";
  char buf[40];
  int prec;
  for (prec = 1; prec <= 17; prec++) {
    snprintf(buf, sizeof buf, "%.*e", prec - 1, v);
    if (strtod(buf, NULL) == v) break;
  }
  char digits[24];
  size_t nd = 0;
  const char *p = buf;
  for (; *p && *p != 'e'; p++)
    if (*p >= '0' && *p <= '9') digits[nd++] = *p;
  digits[nd] = 0;
  int exp = atoi(p + 1);
  if (v < 1e21) {
    size_t k = 0;
    for (size_t i = 0; i < nd; i++) out[k++] = digits[i];
    for (int i = (int)nd; i <= exp; i++) out[k++] = '0';
    out[k] = 0;
  } else if (nd == 1) {
    snprintf(out, sizeof out, "%ce+%d", digits[0], exp);
  } else {
    snprintf(out, sizeof out, "%c.%se+%d", digits[0], digits + 1, exp);
  }
  return out;
}

/* /^\d+$/ */
static int all_digits(const char *s) {
  if (!*s) return 0;
  for (; *s; s++)
    if (*s < '0' || *s > '9') return 0;
  return 1;
}

/* A JavaScript number as the kernel gets it through koffi's `long` (uid_t is its low 32 bits). */
static uint32_t id_of(double v) {
  if (!(v > -9.2e18 && v < 9.2e18)) return 0;
  return (uint32_t)(int64_t)v;
}

/* ---------- the failures the TypeScript raises ---------- */

/* execError: an exec failure as docker reports it, 127 for a missing file, 126 for one that cannot run. */
static int exec_error(struct failure *f, const char *name, int err) {
  const char *q = quoted(name);
  switch (err) {
  case ENOENT: return fail_with(f, "RUN_COMMAND_NOT_FOUND", EXIT_NOT_FOUND, "exec: %s: no such file or directory", q);
  case EACCES:
  case EPERM: return fail_with(f, "RUN_CANNOT_INVOKE", EXIT_CANNOT_INVOKE, "exec: %s: permission denied", q);
  case EISDIR: return fail_with(f, "RUN_CANNOT_INVOKE", EXIT_CANNOT_INVOKE, "exec: %s: is a directory", q);
  case ENOEXEC: return fail_with(f, "RUN_CANNOT_INVOKE", EXIT_CANNOT_INVOKE, "exec: %s: exec format error", q);
  case ETXTBSY: return fail_with(f, "RUN_CANNOT_INVOKE", EXIT_CANNOT_INVOKE, "exec: %s: text file busy", q);
  case ELOOP: return fail_with(f, "RUN_CANNOT_INVOKE", EXIT_CANNOT_INVOKE, "exec: %s: too many levels of symbolic links or interpreters", q);
  default: return fail_with(f, "RUN_CANNOT_INVOKE", EXIT_CANNOT_INVOKE, "exec: %s: %s", q, errno_name(err));
  }
}

/* ---------- files ---------- */

/*
 * The whole file, as nodeSetupFs().readFile: 1 with its bytes, 0 when it does not exist (ENOENT
 * only), -1 with f filled for any other failure (node's message: open's, or read's without a path).
 */
static int read_file(const char *path, struct str *out, struct failure *f) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return 0;
    return fs_failed(f, errno, "open", path);
  }
  char buf[8192];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      close(fd);
      return fs_failed(f, err, "read", NULL);
    }
    if (n == 0) break;
    /* An image's /etc/passwd can be a link to /dev/zero: read without end, the init (root, in the
       container's cgroup, often without a memory limit) would take the host's memory, then abort
       with no word. node's readFileSync stopped at 2 GiB; no real passwd or group file is near this. */
    if (out->n + (size_t)n > MAX_FILE) {
      close(fd);
      free(out->p);
      *out = (struct str){0};
      return fs_failed(f, EFBIG, "read", path);
    }
    str_add(out, buf, (size_t)n);
  }
  close(fd);
  if (!out->p) str_add(out, "", 0);
  return 1;
}

/* ---------- -u: user.ts ---------- */

/* Fields of one line split on ':' (the line as [b, e)). */
struct fields {
  const char *b[16], *e[16];
  size_t n; /* how many (counted past 16, only the first 16 kept) */
};

static void split_fields(const char *b, const char *e, struct fields *out) {
  out->n = 0;
  const char *start = b;
  for (const char *p = b;; p++) {
    if (p == e || *p == ':') {
      if (out->n < 16) {
        out->b[out->n] = start;
        out->e[out->n] = p;
      }
      out->n++;
      if (p == e) break;
      start = p + 1;
    }
  }
}

struct passwd_entry {
  const char *name; /* into the file's text: [name, name_end) */
  const char *name_end;
  double uid, gid;
  const char *home, *home_end;
};

/* The fields of the next line of [*at, end) that has at least MIN of them and is no comment; 0 at the end. */
static int next_record(const char **at, const char *end, size_t min, struct fields *fl) {
  while (*at && *at <= end) {
    const char *b = *at;
    const char *nl = memchr(b, '\n', (size_t)(end - b));
    const char *e = nl ? nl : end;
    *at = nl ? nl + 1 : NULL;
    split_fields(b, e, fl);
    if (fl->n >= min && !(e > b && *b == '#')) return 1;
  }
  return 0;
}

/* parsePasswd: the next usable line of [*at, end), or 0 at the end. */
static int next_passwd(const char **at, const char *end, struct passwd_entry *out) {
  struct fields fl;
  while (next_record(at, end, 7, &fl)) {
    double uid = js_number(fl.b[2], fl.e[2]), gid = js_number(fl.b[3], fl.e[3]);
    if (!js_is_integer(uid) || !js_is_integer(gid)) continue;
    *out = (struct passwd_entry){fl.b[0], fl.e[0], uid, gid, fl.b[5], fl.e[5]};
    return 1;
  }
  return 0;
}

struct group_entry {
  const char *name, *name_end;
  double gid;
  const char *members, *members_end;
};

/* parseGroup: the next usable line, or 0 at the end. */
static int next_group(const char **at, const char *end, struct group_entry *out) {
  struct fields fl;
  while (next_record(at, end, 4, &fl)) {
    double gid = js_number(fl.b[2], fl.e[2]);
    if (!js_is_integer(gid)) continue;
    *out = (struct group_entry){fl.b[0], fl.e[0], gid, fl.b[3], fl.e[3]};
    return 1;
  }
  return 0;
}

static int span_is(const char *b, const char *e, const char *text, size_t n) { return (size_t)(e - b) == n && memcmp(b, text, n) == 0; }

/* members.split(',').map(trim).filter(Boolean).includes(name) */
static int group_lists(const struct group_entry *g, const char *name, size_t name_n) {
  const char *p = g->members;
  for (;;) {
    const char *comma = memchr(p, ',', (size_t)(g->members_end - p));
    const char *b = p, *e = comma ? comma : g->members_end;
    js_trim(&b, &e);
    if (b < e && span_is(b, e, name, name_n)) return 1;
    if (!comma) return 0;
    p = comma + 1;
  }
}

static void add_group(struct resolved_user *u, double gid, double *seen, int dedup) {
  if (dedup)
    for (size_t i = 0; i < u->n_groups; i++)
      if (seen[i] == gid) return;
  seen[u->n_groups] = gid;
  u->groups[u->n_groups++] = id_of(gid);
}

/* execute.ts groupId: a --group-add entry, a gid or a name of the group file (any line with a numeric third field). */
static int group_id(const char *group, const struct str *text, double *out, struct failure *f) {
  if (all_digits(group)) {
    *out = js_number(group, group + strlen(group));
    return 0;
  }
  size_t glen = strlen(group);
  const char *at = text->p, *end = text->p + text->n;
  while (at && at <= end) {
    const char *nl = memchr(at, '\n', (size_t)(end - at));
    const char *e = nl ? nl : end;
    struct fields fl;
    split_fields(at, e, &fl);
    at = nl ? nl + 1 : NULL;
    if (fl.n < 3 || !span_is(fl.b[0], fl.e[0], group, glen) || fl.b[2] == fl.e[2]) continue;
    int digits = 1;
    for (const char *p = fl.b[2]; p < fl.e[2]; p++)
      if (*p < '0' || *p > '9') digits = 0;
    if (!digits) continue;
    *out = js_number(fl.b[2], fl.e[2]);
    return 0;
  }
  return fail_with(f, "RUN_BAD_USER", EXIT_SETUP, "Unable to find group %s: no matching entries in group file", group);
}

int resolve_user(const char *spec, char *const *group_add, size_t n_group_add, struct resolved_user *out, struct failure *f) {
  memset(out, 0, sizeof *out);
  /* The switchUser op reads the group file first, then passwd (a failure names the first that fails). */
  struct str group_text = {0}, passwd_text = {0};
  int rc = read_file("/etc/group", &group_text, f);
  if (rc < 0) return -1;
  if (rc == 0) str_add(&group_text, "", 0);
  rc = read_file("/etc/passwd", &passwd_text, f);
  if (rc < 0) return -1;
  if (rc == 0) str_add(&passwd_text, "", 0);
  const char *pend = passwd_text.p + passwd_text.n, *gend = group_text.p + group_text.n;

  /* `(spec ?? '0').split(':', 2)`: what follows a second ':' is dropped; an empty user part is uid 0. */
  const char *s = spec ? spec : "0";
  const char *colon = strchr(s, ':');
  char *given = colon ? xstrndup(s, (size_t)(colon - s)) : xstrndup(s, strlen(s));
  char *group_part = NULL;
  if (colon) {
    const char *second = strchr(colon + 1, ':');
    group_part = second ? xstrndup(colon + 1, (size_t)(second - colon - 1)) : xstrndup(colon + 1, strlen(colon + 1));
  }
  const char *user_part = *given ? given : "0";

  struct passwd_entry entry = {0}, p;
  int has_entry = 0;
  double uid;
  const char *at = passwd_text.p;
  if (all_digits(user_part)) {
    uid = js_number(user_part, user_part + strlen(user_part));
    if (uid > MAX_ID) return fail_with(f, "RUN_BAD_USER", EXIT_SETUP, "invalid user %s: uid %s is out of range", quoted(s), js_integer_string(uid));
    while (!has_entry && next_passwd(&at, pend, &p))
      if (p.uid == uid) entry = p, has_entry = 1;
  } else {
    size_t n = strlen(user_part);
    while (!has_entry && next_passwd(&at, pend, &p))
      if (span_is(p.name, p.name_end, user_part, n)) entry = p, has_entry = 1;
    if (!has_entry) return fail_with(f, "RUN_BAD_USER", EXIT_SETUP, "unable to find user %s: no matching entries in passwd file", user_part);
    uid = entry.uid;
  }
  double gid = has_entry ? entry.gid : 0;
  int named_group = group_part && *group_part;
  if (named_group) {
    if (all_digits(group_part)) {
      gid = js_number(group_part, group_part + strlen(group_part));
      if (gid > MAX_ID) return fail_with(f, "RUN_BAD_USER", EXIT_SETUP, "invalid group %s: gid %s is out of range", quoted(group_part), js_integer_string(gid));
    } else {
      struct group_entry g;
      int found = 0;
      size_t n = strlen(group_part);
      at = group_text.p;
      while (!found && next_group(&at, gend, &g))
        if (span_is(g.name, g.name_end, group_part, n)) found = 1, gid = g.gid;
      if (!found) return fail_with(f, "RUN_BAD_USER", EXIT_SETUP, "unable to find group %s: no matching entries in group file", group_part);
    }
  }

  size_t n_lines = 1;
  for (const char *q = group_text.p; q < gend; q++) n_lines += *q == '\n';
  size_t cap = 1 + n_lines + n_group_add;
  out->groups = calloc(cap, sizeof *out->groups);
  double *seen = calloc(cap, sizeof *seen);
  if (!out->groups || !seen) abort();
  /* docker: the primary gid first, then (only when -u named no group) the groups listing the user by name. */
  add_group(out, gid, seen, 1);
  if (has_entry && !named_group) {
    struct group_entry g;
    size_t name_n = (size_t)(entry.name_end - entry.name);
    at = group_text.p;
    while (next_group(&at, gend, &g))
      if (group_lists(&g, entry.name, name_n)) add_group(out, g.gid, seen, 1);
  }
  /* runc's range check, in docker's words: a uid of -1 from passwd would otherwise reach
   * setresuid(-1, -1, -1), which changes nothing, and the command would run as root. */
  if (uid < 0 || uid > MAX_ID) return fail_with(f, "RUN_BAD_USER", EXIT_SETUP, ID_RANGE);
  for (size_t i = 0; i < out->n_groups; i++)
    if (seen[i] < 0 || seen[i] > MAX_ID) return fail_with(f, "RUN_BAD_USER", EXIT_SETUP, ID_RANGE);

  /* The --group-add entries: an unknown one fails the step; setgroups takes 32-bit gids
   * (4294967296 would become 0, the root group). */
  double *extra = calloc(n_group_add + 1, sizeof *extra);
  if (!extra) abort();
  for (size_t i = 0; i < n_group_add; i++)
    if (group_id(group_add[i], &group_text, &extra[i], f) < 0) return -1;
  for (size_t i = 0; i < n_group_add; i++)
    if (extra[i] > MAX_ID) return fail_with(f, "RUN_BAD_USER", EXIT_SETUP, ID_RANGE);

  /* Then --group-add: those not already among the user's groups (execute.ts filters against
   * the user's list only, so a gid given twice to --group-add is passed twice, as there). */
  size_t user_n = out->n_groups;
  for (size_t i = 0; i < n_group_add; i++) {
    int dup = 0;
    for (size_t k = 0; k < user_n; k++)
      if (seen[k] == extra[i]) dup = 1;
    if (!dup) add_group(out, extra[i], seen, 0);
  }
  out->uid = id_of(uid);
  out->gid = id_of(gid);
  out->home = has_entry && entry.home_end > entry.home ? xstrndup(entry.home, (size_t)(entry.home_end - entry.home)) : xstrndup("/", 1);
  free(extra);
  free(seen);
  free(given);
  free(group_part);
  free(passwd_text.p);
  free(group_text.p);
  return 0;
}

/* ---------- the command: lookPath (execute.ts) ---------- */

/*
 * Go's exec.LookPath, which runc uses: a name with a slash is used as it is; otherwise the first
 * PATH entry (the last PATH= of env wins) holding a regular file with an execute bit.
 */
static char *look_path(const char *name, char *const *env, size_t n_env, struct failure *f) {
  if (!*name) {
    fail_with(f, "RUN_COMMAND_NOT_FOUND", EXIT_NOT_FOUND, "exec: \"\": executable file not found in $PATH");
    return NULL;
  }
  if (strchr(name, '/')) return xstrndup(name, strlen(name));
  const char *path_var = "";
  for (size_t i = n_env; i-- > 0;)
    if (strncmp(env[i], "PATH=", 5) == 0) {
      path_var = env[i] + 5;
      break;
    }
  for (const char *dir = path_var;;) {
    const char *colon = strchr(dir, ':');
    size_t n = colon ? (size_t)(colon - dir) : strlen(dir);
    struct str candidate = {0};
    if (n == 0) str_adds(&candidate, ".");
    else str_add(&candidate, dir, n);
    str_adds(&candidate, "/");
    str_adds(&candidate, name);
    /* Any failure (ENOTDIR, ELOOP...) skips the entry, as Go's LookPath. */
    struct stat st;
    if (stat(candidate.p, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111)) return candidate.p;
    free(candidate.p);
    if (!colon) break;
    dir = colon + 1;
  }
  fail_with(f, "RUN_COMMAND_NOT_FOUND", EXIT_NOT_FOUND, "exec: %s: executable file not found in $PATH", quoted(name));
  return NULL;
}

/* ---------- the exec guard (exec-guard.ts) ---------- */

struct guard {
  dev_t self_dev;
  ino_t self_ino;
  dev_t root_dev;
  /* /proc/self/mountinfo's mount ids, read on first need: most commands never need them. */
  int have_mounts;
  unsigned long long *mount_ids;
  size_t n_mounts;
};

/* argv of strings, NULL-terminated, each its own copy. */
struct args {
  char **v;
  size_t n;
};

static void args_add(struct args *a, const char *s) {
  char **v = realloc(a->v, (a->n + 2) * sizeof *v);
  if (!v) abort();
  a->v = v;
  a->v[a->n++] = xstrndup(s, strlen(s));
  a->v[a->n] = NULL;
}

static void args_free(struct args *a) {
  for (size_t i = 0; i < a->n; i++) free(a->v[i]);
  free(a->v);
  a->v = NULL;
  a->n = 0;
}

/* lstat as GuardFs gives it: 1 found, 0 missing (ENOENT only), -1 with f filled (node's lstat error). */
static int guard_lstat(const char *path, struct stat *st, struct failure *f) {
  if (lstat(path, st) == 0) return 1;
  if (errno == ENOENT) return 0;
  return fs_failed(f, errno, "lstat", path);
}

/* readlink as GuardFs gives it: the target (malloc'd), or NULL with f filled. */
static char *guard_readlink(const char *path, struct failure *f) {
  for (size_t size = 256;; size *= 2) {
    char *buf = malloc(size);
    if (!buf) abort();
    ssize_t n = readlink(path, buf, size);
    if (n < 0) {
      fs_failed(f, errno, "readlink", path);
      free(buf);
      return NULL;
    }
    if ((size_t)n < size) {
      buf[n] = 0;
      return buf;
    }
    free(buf);
  }
}

/* Splits path on '/' (empty parts dropped), appending the parts to *list in order. */
static void split_path(const char *path, struct args *list) {
  for (const char *p = path; *p;) {
    while (*p == '/') p++;
    const char *e = p;
    while (*e && *e != '/') e++;
    if (e > p) {
      char *part = xstrndup(p, (size_t)(e - p));
      args_add(list, part);
      free(part);
    }
    p = e;
  }
}

/*
 * Whether the kernel's resolution of `path` goes only through the container's root filesystem:
 * each component (after `..` and symlinks, resolved as the kernel would) on the root's device.
 * 1 yes, 0 no, -1 with f filled.
 */
static int stays_on_root(struct guard *g, const char *path, struct failure *f) {
  struct args parts = {0}, pending = {0};
  int result = 1;
  struct stat st;
  if (path[0] != '/') {
    int rc = guard_lstat(".", &st, f);
    if (rc < 0) return -1;
    if (rc == 0 || st.st_dev != g->root_dev) return 0;
    char *cwd = guard_readlink("/proc/self/cwd", f);
    if (!cwd) return -1;
    if (cwd[0] != '/') {
      free(cwd);
      return 0;
    }
    split_path(cwd, &parts);
    free(cwd);
  }
  split_path(path, &pending);
  size_t next = 0; /* pending[next..] is still to walk */
  int links = 0;
  while (next < pending.n) {
    char *c = pending.v[next++];
    if (strcmp(c, ".") == 0) continue;
    if (strcmp(c, "..") == 0) {
      if (parts.n > 0) free(parts.v[--parts.n]), parts.v[parts.n] = NULL;
      continue;
    }
    struct str candidate = {0};
    for (size_t i = 0; i < parts.n; i++) str_adds(&candidate, "/"), str_adds(&candidate, parts.v[i]);
    str_adds(&candidate, "/");
    str_adds(&candidate, c);
    int rc = guard_lstat(candidate.p, &st, f);
    if (rc <= 0 || st.st_dev != g->root_dev) {
      free(candidate.p);
      result = rc < 0 ? -1 : 0;
      break;
    }
    if (S_ISLNK(st.st_mode)) {
      if (++links > 40) {
        free(candidate.p);
        result = 0;
        break;
      }
      char *target = guard_readlink(candidate.p, f);
      free(candidate.p);
      if (!target) {
        result = -1;
        break;
      }
      if (target[0] == '/') {
        args_free(&parts);
      }
      /* pending = [...target's parts, ...pending[next..]] */
      struct args rest = {0};
      split_path(target, &rest);
      free(target);
      for (size_t i = next; i < pending.n; i++) args_add(&rest, pending.v[i]);
      args_free(&pending);
      pending = rest;
      next = 0;
      continue;
    }
    free(candidate.p);
    args_add(&parts, c);
  }
  args_free(&parts);
  args_free(&pending);
  return result;
}

/* The file of an O_PATH descriptor, from `position`, through a read-only reopen of /proc/self/fd/N (the very same file). */
static int read_at(int fd, unsigned long long position, size_t length, struct str *out, struct failure *f) {
  char proc[64];
  snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
  int rfd = open(proc, O_RDONLY | O_CLOEXEC);
  if (rfd < 0) {
    int err = errno;
    args_reset();
    arg_str(proc);
    arg_num(O_RDONLY | O_CLOEXEC);
    return sys_failed(f, err, "open");
  }
  char *buf = malloc(length + 1);
  if (!buf) abort();
  ssize_t n = pread(rfd, buf, length, (off_t)position);
  if (n < 0) {
    int err = errno;
    free(buf);
    close(rfd);
    args_reset();
    arg_num(rfd);
    arg_num((int64_t)length);
    arg_num((int64_t)position);
    return sys_failed(f, err, "pread");
  }
  close(rfd);
  str_add(out, buf, (size_t)n);
  free(buf);
  return 0;
}

/* The mount ids of /proc/self/mountinfo (each line's first field). 0, or -1 with f filled. */
static int load_mount_ids(struct guard *g, struct failure *f) {
  struct str text = {0};
  int rc = read_file("/proc/self/mountinfo", &text, f);
  if (rc < 0) return -1;
  g->have_mounts = 1;
  if (rc == 0) return 0;
  for (const char *p = text.p, *end = text.p + text.n; p < end;) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *e = nl ? nl : end;
    const char *sp = memchr(p, ' ', (size_t)(e - p));
    const char *id_end = sp ? sp : e;
    /* The TypeScript keeps the first field as a string; a mount id is always decimal. */
    if (id_end > p) {
      char *id = xstrndup(p, (size_t)(id_end - p));
      unsigned long long *ids = realloc(g->mount_ids, (g->n_mounts + 1) * sizeof *ids);
      if (!ids) abort();
      g->mount_ids = ids;
      g->mount_ids[g->n_mounts++] = all_digits(id) ? strtoull(id, NULL, 10) : ~0ULL;
      free(id);
    }
    p = e + 1;
  }
  free(text.p);
  return 0;
}

/* The file's mount must be one the container sees (all of them its own, after pivot_root). Fails closed. */
static int check_mount(struct guard *g, int fd, const char *shown, struct failure *f) {
  if (!g->have_mounts && load_mount_ids(g, f) < 0) return -1;
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
  struct str info = {0};
  int rc = read_file(path, &info, f);
  if (rc < 0) return -1;
  int found = 0;
  if (rc > 0) {
    /* /^mnt_id:\s*(\d+)$/m */
    for (const char *p = info.p, *end = info.p + info.n; p < end && !found;) {
      const char *nl = memchr(p, '\n', (size_t)(end - p));
      const char *e = nl ? nl : end;
      if (e - p > 7 && memcmp(p, "mnt_id:", 7) == 0) {
        const char *d = p + 7;
        while (d < e && (*d == ' ' || *d == '\t')) d++;
        const char *digits = d;
        while (d < e && *d >= '0' && *d <= '9') d++;
        if (d > digits && d == e) {
          unsigned long long id = strtoull(digits, NULL, 10);
          for (size_t i = 0; i < g->n_mounts; i++)
            if (g->mount_ids[i] == id) found = 1;
          break;
        }
      }
      p = e + 1;
    }
    free(info.p);
  }
  if (!found)
    return fail_with(f, "RUN_CANNOT_INVOKE", EXIT_CANNOT_INVOKE, "exec: %s: refusing to run a file from outside the container's filesystems", quoted(shown));
  return 0;
}

/* open(O_PATH), then the checks that do not need the content: a regular file, not the init. The fd, or -1 with f filled. */
static int open_checked(struct guard *g, const char *file, const char *shown, struct failure *f) {
  int fd = open(file, O_PATH | O_CLOEXEC);
  if (fd < 0) return exec_error(f, shown, errno);
  struct stat st;
  if (fstat(fd, &st) < 0) {
    int err = errno;
    close(fd);
    args_reset();
    arg_num(fd);
    return sys_failed(f, err, "fstat");
  }
  if (S_ISDIR(st.st_mode)) {
    close(fd);
    return fail_with(f, "RUN_CANNOT_INVOKE", EXIT_CANNOT_INVOKE, "exec: %s: is a directory", quoted(shown));
  }
  /* execve refuses anything but a regular file with EACCES. */
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return exec_error(f, shown, EACCES);
  }
  if (st.st_dev == g->self_dev && st.st_ino == g->self_ino) {
    close(fd);
    return fail_with(f, "RUN_CANNOT_INVOKE", EXIT_CANNOT_INVOKE, "exec: %s: refusing to run pivot's own init binary in the container", quoted(shown));
  }
  return fd;
}

/* A #! line parsed as fs/binfmt_script.c does: 1 with the interpreter (and arg, or NULL), 0 where the kernel says ENOEXEC. */
static int shebang(const unsigned char *head, size_t head_n, char **interpreter, char **arg) {
  size_t len = head_n < HEAD_BYTES ? head_n : HEAD_BYTES;
  const unsigned char *buf = head;
#define IS_BLANK(c) ((c) == ' ' || (c) == '\t')
#define IS_END(c) ((c) == ' ' || (c) == '\t' || (c) == 0)
  const unsigned char *nl = memchr(buf, '\n', len);
  size_t end;
  if (!nl) {
    /* No newline in the buffer (whose last byte the kernel keeps for a NUL): fine only if the
     * interpreter's name visibly ends in it. */
    size_t last = len < HEAD_BYTES - 1 ? len : HEAD_BYTES - 1;
    size_t start = 2;
    while (start < last && IS_BLANK(buf[start])) start++;
    if (start >= last) return 0;
    size_t term = start;
    while (term < last && !IS_END(buf[term])) term++;
    if (term >= last) return 0;
    end = last;
  } else {
    end = (size_t)(nl - buf);
  }
  while (end > 2 && IS_BLANK(buf[end - 1])) end--;
  size_t name = 2;
  while (name < end && IS_BLANK(buf[name])) name++;
  if (name >= end) return 0;
  size_t sep = name;
  while (sep < end && !IS_END(buf[sep])) sep++;
  *interpreter = xstrndup((const char *)buf + name, sep - name);
  *arg = NULL;
  if (sep < end && buf[sep] != 0) {
    size_t a = sep;
    while (a < end && IS_BLANK(buf[a])) a++;
    if (a < end) {
      const unsigned char *nul = memchr(buf + a, 0, end - a);
      *arg = xstrndup((const char *)buf + a, (nul ? (size_t)(nul - buf) : end) - a);
    }
  }
#undef IS_BLANK
#undef IS_END
  return 1;
}

/* PT_INTERP of an ELF file (32 or 64 bit, either byte order): 1 with it, 0 without (static, or not ELF), -1 with f filled. */
static int elf_interpreter(int fd, const struct str *head, char **out, struct failure *f) {
  const unsigned char *h = (const unsigned char *)head->p;
  size_t hn = head->n;
  if (hn < 52 || memcmp(h, "\x7f" "ELF", 4) != 0) return 0;
  int is64 = h[4] == 2;
  int le = h[5] != 2;
  if (is64 && hn < 64) return 0;
#define U16(b, o) (le ? (uint16_t)((b)[o] | (b)[(o) + 1] << 8) : (uint16_t)((b)[(o) + 1] | (b)[o] << 8))
  uint64_t phoff = 0;
  for (int i = 0; i < (is64 ? 8 : 4); i++) phoff |= (uint64_t)h[(is64 ? 0x20 : 0x1c) + (le ? i : (is64 ? 7 : 3) - i)] << (8 * i);
  unsigned phentsize = U16(h, is64 ? 0x36 : 0x2a), phnum = U16(h, is64 ? 0x38 : 0x2c);
  /* The kernel refuses program header tables over 64 KiB (ENOEXEC): no need to read more. */
  if (phentsize < (is64 ? 56u : 32u) || phnum == 0 || phentsize * phnum > 65536) return 0;
  size_t tsize = (size_t)phentsize * phnum;
  struct str table = {0};
  if (phoff <= hn && tsize <= hn - phoff) str_add(&table, h + phoff, tsize);
  else if (read_at(fd, phoff, tsize, &table, f) < 0) return -1;
  const unsigned char *t = (const unsigned char *)table.p;
  int found = 0;
  for (size_t i = 0; t && i + phentsize <= table.n; i += phentsize) {
    uint32_t type = le ? (uint32_t)(t[i] | t[i + 1] << 8 | t[i + 2] << 16 | (uint32_t)t[i + 3] << 24) : (uint32_t)(t[i + 3] | t[i + 2] << 8 | t[i + 1] << 16 | (uint32_t)t[i] << 24);
    if (type != PT_INTERP) continue;
    uint64_t offset = 0, size = 0;
    size_t w = is64 ? 8 : 4, off_at = i + (is64 ? 0x08 : 0x04), size_at = i + (is64 ? 0x20 : 0x10);
    for (size_t k = 0; k < w; k++) {
      offset |= (uint64_t)t[off_at + (le ? k : w - 1 - k)] << (8 * k);
      size |= (uint64_t)t[size_at + (le ? k : w - 1 - k)] << (8 * k);
    }
    if (size > 4096) size = 4096;
    struct str raw = {0};
    if (offset <= hn && size <= hn - offset) str_add(&raw, h + offset, size);
    else if (read_at(fd, offset, size, &raw, f) < 0) {
      free(table.p);
      return -1;
    }
    const char *nul = raw.p ? memchr(raw.p, 0, raw.n) : NULL;
    *out = raw.p ? xstrndup(raw.p, nul ? (size_t)(nul - raw.p) : raw.n) : xstrndup("", 0);
    free(raw.p);
    found = 1;
    break;
  }
#undef U16
  free(table.p);
  return found;
}

/*
 * The TypeScript guard sees an interpreter's name decoded as UTF-8 (anything else becomes U+FFFD,
 * so it checked another file than the kernel runs) and refuses such names; so does this one, for
 * one behaviour in both inits: a name that is not valid UTF-8, or holds U+FFFD itself.
 */
static int refuse_unreadable_name(const char *name, const char *shown, struct failure *f) {
  const unsigned char *p = (const unsigned char *)name;
  int ok = 1;
  while (*p && ok) {
    unsigned c = *p;
    size_t n = c < 0x80 ? 1 : (c >= 0xc2 && c <= 0xdf) ? 2 : (c >= 0xe0 && c <= 0xef) ? 3 : (c >= 0xf0 && c <= 0xf4) ? 4 : 0;
    if (n == 0) {
      ok = 0;
      break;
    }
    for (size_t i = 1; i < n; i++)
      if ((p[i] & 0xc0) != 0x80) ok = 0;
    if (!ok) break;
    /* No overlong 3- or 4-byte forms, no surrogates, nothing past U+10FFFF. */
    if ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] > 0x9f) || (c == 0xf0 && p[1] < 0x90) || (c == 0xf4 && p[1] > 0x8f)) ok = 0;
    if (n == 3 && c == 0xef && p[1] == 0xbf && p[2] == 0xbd) ok = 0; /* U+FFFD */
    p += n;
  }
  if (ok) return 0;
  return fail_with(f, "RUN_CANNOT_INVOKE", EXIT_CANNOT_INVOKE, "exec: %s: refusing an interpreter whose name is not valid UTF-8", quoted(shown));
}

/* An ELF interpreter is opened by the kernel by path: it must be inside, not the init, and on the root filesystem (no one may swap it). */
static int check_elf_interpreter(struct guard *g, const char *interpreter, const char *shown, struct failure *f) {
  int fd = open_checked(g, interpreter, interpreter, f);
  if (fd < 0) {
    /* A missing interpreter: the exec fails with ENOENT, as it would anyway. */
    if (f->exit_code == EXIT_NOT_FOUND) return 0;
    return -1;
  }
  close(fd);
  int stable = stays_on_root(g, interpreter, f);
  if (stable < 0) return -1;
  if (!stable)
    return fail_with(f, "RUN_CANNOT_INVOKE", EXIT_CANNOT_INVOKE, "exec: %s: refusing an ELF interpreter (%s) outside the container's root filesystem", quoted(shown), interpreter);
  return 0;
}

static char **copy_argv(char **argv, size_t argc) {
  struct args copy = {0};
  for (size_t i = 0; i < argc; i++) args_add(&copy, argv[i]);
  if (!copy.v) {
    copy.v = calloc(1, sizeof *copy.v);
    if (!copy.v) abort();
  }
  return copy.v;
}

static int inspect(struct guard *g, const char *file, char **argv, size_t argc, int depth, struct exec_target *out, struct failure *f) {
  const char *shown = argc > 0 ? argv[0] : file;
  int fd = open_checked(g, file, shown, f);
  if (fd < 0) return -1;
  struct str head = {0};
  char *interp = NULL, *arg = NULL;
  /* On the root filesystem it is inside by construction; elsewhere its mount must be one of the
   * container's (not a host file reached through a /proc magic link). */
  int stable = stays_on_root(g, file, f);
  if (stable < 0) goto fail;
  if (!stable && check_mount(g, fd, shown, f) < 0) goto fail;
  if (read_at(fd, 0, 4096, &head, f) < 0) goto fail;
  if (head.n >= 2 && head.p[0] == '#' && head.p[1] == '!') {
    if (!shebang((const unsigned char *)head.p, head.n, &interp, &arg)) {
      exec_error(f, shown, ENOEXEC);
      goto fail;
    }
    if (refuse_unreadable_name(interp, shown, f) < 0) goto fail;
    if (depth + 1 > MAX_INTERPRETERS) {
      exec_error(f, shown, ELOOP);
      goto fail;
    }
    struct args inner_argv = {0};
    args_add(&inner_argv, interp);
    if (arg) args_add(&inner_argv, arg);
    args_add(&inner_argv, file);
    for (size_t i = 1; i < argc; i++) args_add(&inner_argv, argv[i]);
    struct exec_target inner;
    if (inspect(g, interp, inner_argv.v, inner_argv.n, depth + 1, &inner, f) < 0) {
      args_free(&inner_argv);
      goto fail;
    }
    args_free(&inner_argv);
    free(interp);
    free(arg);
    free(head.p);
    if (!inner.by_fd && stable) {
      /* The kernel can run the script itself: it finds the same interpreter again. */
      close(inner.fd);
      free(inner.path);
      for (char **a = inner.argv; *a; a++) free(*a);
      free(inner.argv);
      *out = (struct exec_target){0, fd, xstrndup(file, strlen(file)), copy_argv(argv, argc)};
      return 0;
    }
    close(fd);
    *out = inner;
    return 0;
  }
  int has = elf_interpreter(fd, &head, &interp, f);
  if (has < 0) goto fail;
  if (has && (refuse_unreadable_name(interp, shown, f) < 0 || check_elf_interpreter(g, interp, shown, f) < 0)) goto fail;
  free(interp);
  free(head.p);
  *out = (struct exec_target){!stable, fd, xstrndup(file, strlen(file)), copy_argv(argv, argc)};
  return 0;
fail:
  free(interp);
  free(arg);
  free(head.p);
  close(fd);
  return -1;
}

int resolve_command(char *const *command, size_t n_command, char *const *env, size_t n_env, struct exec_target *out, struct failure *f) {
  /* The planner never sends an empty command (RUN_NO_COMMAND is the parent's). */
  if (n_command == 0) return setup_failed(f, "no command to run");
  char *file = look_path(command[0], env, n_env, f);
  if (!file) return -1;
  struct guard g = {0};
  int self = open("/proc/self/exe", O_PATH | O_CLOEXEC);
  if (self < 0) {
    int err = errno;
    free(file);
    args_reset();
    arg_str("/proc/self/exe");
    arg_num(O_PATH | O_CLOEXEC);
    return sys_failed(f, err, "open");
  }
  struct stat st;
  if (fstat(self, &st) < 0) {
    int err = errno;
    close(self);
    free(file);
    args_reset();
    arg_num(self);
    return sys_failed(f, err, "fstat");
  }
  close(self);
  g.self_dev = st.st_dev;
  g.self_ino = st.st_ino;
  int rc = guard_lstat("/", &st, f);
  if (rc <= 0) {
    free(file);
    if (rc == 0) return setup_failed(f, "the root directory is missing");
    return -1;
  }
  g.root_dev = st.st_dev;
  rc = inspect(&g, file, (char **)command, n_command, 0, out, f);
  free(file);
  free(g.mount_ids);
  return rc;
}

void exec_command(const struct exec_target *t, char *const *envp, struct failure *f) {
  if (t->by_fd) syscall(SYS_execveat, t->fd, "", t->argv, envp, AT_EMPTY_PATH);
  else execve(t->path, t->argv, envp);
  exec_error(f, t->argv[0] ? t->argv[0] : t->path, errno);
}
