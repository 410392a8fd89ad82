/*
 * What pivot-exec (exec.c) and the container's init (container-init.c) share: both are host
 * binaries that end by exec'ing a command inside a container, with the same walls. Static
 * inline, so a file that includes this and leaves a function unused gets no warning.
 */
#ifndef PIVOT_PROCESS_COMMON_H
#define PIVOT_PROCESS_COMMON_H

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

extern char **environ;

/* linux/memfd.h's MFD_EXEC (Linux 6.3), absent from older headers. */
#ifdef MFD_EXEC
#define PIVOT_MFD_EXEC MFD_EXEC
#else
#define PIVOT_MFD_EXEC 0x0010U
#endif

/*
 * Runs this program again from a sealed in-memory copy, unless it already is one (runc's fix for
 * CVE-2019-5736): the command is exec'd by a process of this binary inside the container, and a
 * hostile image can make that command resolve to /proc/self/exe (`#!/proc/self/exe` as /bin/sh).
 * The process then shows this binary as its /proc/PID/exe to the container, which could reopen it
 * for writing once it exits. A sealed memfd cannot be written, and the host file is never there.
 * Returns only when this already is the sealed copy (0), or on failure (-1, errno set; the
 * caller says what failed).
 */
static inline int run_from_sealed_copy(char **argv, const char *name) {
  int self = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (self < 0) return -1;
  int seals = fcntl(self, F_GET_SEALS);
  if (seals >= 0 && (seals & F_SEAL_WRITE)) {
    close(self);
    return 0;
  }
  /* MFD_EXEC: with vm.memfd_noexec=1 (Linux 6.3+, per PID namespace) a memfd made without it is
     sealed non-executable and the fexecve below fails (EACCES). A kernel before 6.3 does not know
     the flag (EINVAL) and makes every memfd executable: ask again without it. */
  int mem = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING | PIVOT_MFD_EXEC);
  if (mem < 0 && errno == EINVAL) mem = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (mem < 0) goto fail;
  char buf[65536];
  for (;;) {
    ssize_t n = read(self, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) goto fail;
    if (n == 0) break;
    for (ssize_t off = 0; off < n;) {
      ssize_t w = write(mem, buf + off, (size_t)(n - off));
      if (w < 0) goto fail;
      off += w;
    }
  }
  close(self);
  self = -1;
  if (fcntl(mem, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) != 0) goto fail;
  fexecve(mem, argv, environ);
fail:;
  int e = errno;
  if (self >= 0) close(self);
  if (mem >= 0) close(mem);
  errno = e;
  return -1;
}

/* Standard base64 (with its `=` padding) of IN (N bytes) into OUT; the decoded length, or -1 when
   IN is not that or does not fit. */
static inline ssize_t base64_decode(const char *in, size_t n, unsigned char *out, size_t cap) {
  static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  if (n % 4 != 0) return -1;
  size_t len = 0;
  for (size_t i = 0; i < n; i += 4) {
    uint32_t v = 0;
    int pad = 0;
    for (int j = 0; j < 4; j++) {
      const char c = in[i + j];
      const char *at = c ? strchr(alphabet, c) : NULL;
      if (c == '=' && i + 4 == n && j >= 2 && (j == 3 || in[i + 3] == '=')) pad++;
      else if (at == NULL || pad) return -1;
      v = v << 6 | (uint32_t)(at ? at - alphabet : 0);
    }
    if (len + 3 - (size_t)pad > cap) return -1;
    out[len++] = (unsigned char)(v >> 16);
    if (pad < 2) out[len++] = (unsigned char)(v >> 8);
    if (pad < 1) out[len++] = (unsigned char)v;
  }
  return (ssize_t)len;
}

/* capset(2) of the three 64-bit sets (version 3: two 32-bit halves each). */
static inline int capset_all(uint64_t eff, uint64_t prm, uint64_t inh) {
  struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct d[2] = {
      {(uint32_t)eff, (uint32_t)prm, (uint32_t)inh},
      {(uint32_t)(eff >> 32), (uint32_t)(prm >> 32), (uint32_t)(inh >> 32)},
  };
  return (int)syscall(SYS_capset, &h, d);
}

/* capget(2): this thread's permitted and inheritable sets. */
static inline int capget_sets(uint64_t *prm, uint64_t *inh) {
  struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct d[2];
  if (syscall(SYS_capget, &h, d) != 0) return -1;
  *prm = (uint64_t)d[1].permitted << 32 | d[0].permitted;
  *inh = (uint64_t)d[1].inheritable << 32 | d[0].inheritable;
  return 0;
}

/* Loads a seccomp filter (struct sock_filter[]) for this thread, the only one: no TSYNC needed.
   Needs no_new_privs or CAP_SYS_ADMIN in the effective set. */
static inline int load_seccomp_filter(const struct sock_fprog *prog) { return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, prog); }

#endif
