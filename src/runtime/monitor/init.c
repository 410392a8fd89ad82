/*
 * docker-init: the tiny init `pivot run --init` puts in the container as PID 1 (docker runs tini
 * as /sbin/docker-init for the same flag). PID 1 has two jobs a normal program does not do:
 *   - reap: orphans are re-parented to PID 1, and a program that never calls wait() leaves them
 *     as zombies until the pid space is full;
 *   - pass signals on: the kernel drops a signal to PID 1 that PID 1 has no handler for, so a
 *     shell or a server that does not install one never sees `pivot stop`'s SIGTERM.
 * Usage: docker-init -- COMMAND [ARG...]. It forks the command, forwards every catchable signal to
 * it, reaps every child, and exits with the command's status (128+N when killed by signal N).
 * Built static (src/runtime/monitor/build.sh): it runs inside images that have no libc.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int first = 1;
    if (argc > 1 && strcmp(argv[1], "--") == 0) first = 2;
    if (first >= argc) {
        fprintf(stderr, "docker-init: usage: pivot-init -- COMMAND [ARG...]\n");
        return 125;
    }
    /* Every signal blocked, then taken with sigwaitinfo: no handler runs between fork and exec. */
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    sigprocmask(SIG_BLOCK, &all, NULL);
    pid_t child = fork();
    if (child < 0) {
        perror("docker-init: fork");
        return 125;
    }
    if (child == 0) {
        /* Its own process group, with the terminal when there is one (job control in a shell). */
        setpgid(0, 0);
        if (isatty(0)) {
            signal(SIGTTOU, SIG_IGN);
            tcsetpgrp(0, getpid());
            signal(SIGTTOU, SIG_DFL);
        }
        sigprocmask(SIG_SETMASK, &none, NULL);
        execvp(argv[first], argv + first);
        fprintf(stderr, "docker-init: exec %s: %s\n", argv[first], strerror(errno));
        _exit(errno == ENOENT ? 127 : 126);
    }
    for (;;) {
        siginfo_t info;
        int sig = sigwaitinfo(&all, &info);
        if (sig < 0) {
            if (errno == EINTR) continue;
            perror("docker-init: sigwaitinfo");
            return 125;
        }
        if (sig != SIGCHLD) {
            /* SIGTTIN/SIGTTOU/SIGTSTP are for the command's group too: pass everything on. */
            kill(child, sig);
            continue;
        }
        int status;
        pid_t pid;
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
            if (pid != child) continue;
            if (WIFEXITED(status)) return WEXITSTATUS(status);
            if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
        }
    }
}
