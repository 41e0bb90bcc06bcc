/*
 * spawn.h — start one process: a vfork-style clone, prepare the child,
 * execve.
 *
 * Failures in the child before exec (chdir, setuid, exec itself) travel back
 * through memory the child shares with the daemon, so the caller
 * learns synchronously that `corral start ./missing` cannot work — no crash
 * loop, a clear message.
 */
#ifndef CORRAL_SPAWN_H
#define CORRAL_SPAWN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/resource.h>
#include <sys/types.h>

struct spawn_opts {
	const char *path;            /* what to execve */
	char *const *argv;
	char *const *envp;           /* may hold "LISTEN_PID=" to be filled in */
	const char *cwd;
	int stdout_fd;               /* write ends; -1 = /dev/null */
	int stderr_fd;
	const int *pass_fds;         /* become fds 3, 4, ... in the child */
	size_t npass;
	bool change_ids;
	uid_t uid;
	gid_t gid;
	const char *user;            /* for supplementary groups, may be NULL */
	mode_t umask;
	const struct rlimit *nofile; /* RLIMIT_NOFILE for the app, NULL = ours */
};

/* 0 with *pid set, or -errno with *err (caller frees) such as
 * "cannot execute /srv/app.js: Permission denied". The child is its own
 * session and process group leader (pgid == pid). */
int spawn_run(const struct spawn_opts *o, pid_t *pid, char **err);
/* Hold the window of low descriptors spawns place an app's in (spawn.c):
 * call early, while low numbers are free. Without it spawns copy the whole
 * table. */
void spawn_init(void);

#endif
