/*
 * spawn.c — fork/exec with an exec-error pipe.
 */
#include "daemon/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/close_range.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"

enum stage {
	STAGE_FDS = 1,
	STAGE_CHDIR,
	STAGE_GROUPS,
	STAGE_SETGID,
	STAGE_SETUID,
	STAGE_EXEC,
};

struct child_error {
	int stage;
	int err;
};

static void NORETURN
child_fail(int errfd, int stage)
{
	struct child_error ce = {stage, errno};
	ssize_t unused = write(errfd, &ce, sizeof(ce));
	(void)unused;
	_exit(127);
}

/* Mark every fd >= lowest close-on-exec (except keep, already CLOEXEC). */
static void
cloexec_from(int lowest, int keep)
{
	int dfd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return;
	char buf[4096];
	for (;;) {
		long n = syscall(SYS_getdents64, dfd, buf, sizeof(buf));
		if (n <= 0)
			break;
		for (long off = 0; off < n;) {
			struct {
				unsigned long long ino;
				long long off;
				unsigned short reclen;
				unsigned char type;
				char name[];
			} *d = (void *)(buf + off);
			int fd = atoi(d->name);
			if (d->name[0] != '.' && fd >= lowest && fd != keep && fd != dfd)
				fcntl(fd, F_SETFD, FD_CLOEXEC);
			off += d->reclen;
		}
	}
	close(dfd);
}

/* Close every descriptor but the n in keep (the child's copy of the
 * daemon's table, all close-on-exec anyway): near the descriptor limit,
 * the child needs free numbers to place the app's. Without close_range
 * (Linux < 5.9) the table stays as it is. */
static void
close_all_but(int *keep, size_t n)
{
	for (size_t i = 1; i < n; i++)
		for (size_t k = i; k > 0 && keep[k - 1] > keep[k]; k--) {
			int t = keep[k];
			keep[k] = keep[k - 1];
			keep[k - 1] = t;
		}
	unsigned lo = 0;
	for (size_t i = 0; i <= n; i++) {
		unsigned hi = i < n ? (unsigned)keep[i] : ~0U;
		if (i < n && keep[i] < 0)
			continue;
		if (hi > lo && syscall(SYS_close_range, lo, hi - 1, 0) < 0)
			return;
		if (i < n)
			lo = (unsigned)keep[i] + 1;
	}
}

/* Runs in the child between fork and exec: only simple syscalls. */
static void NORETURN
child(const struct spawn_opts *o, int errfd)
{
	int keep[3 + 64];
	size_t nkeep = 0;
	keep[nkeep++] = errfd;
	keep[nkeep++] = o->stdout_fd;
	keep[nkeep++] = o->stderr_fd;
	for (size_t i = 0; i < o->npass && i < 64; i++)
		keep[nkeep++] = o->pass_fds[i];
	close_all_but(keep, nkeep);
	/* Keep the error pipe clear of the fd numbers we are about to fill. */
	int high = fcntl(errfd, F_DUPFD_CLOEXEC, 3 + 64 + 16);
	if (high >= 0)
		errfd = high;
	sigset_t none;
	sigemptyset(&none);
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (setsid() < 0)
		child_fail(errfd, STAGE_FDS);

	/* Lift every source fd above the targets first, so that placing one
	 * never clobbers another that is still to be placed. */
	int nsrc = 3 + (int)o->npass;
	int src[3 + 64];
	if (o->npass > 64) {
		errno = EMFILE;
		child_fail(errfd, STAGE_FDS);
	}
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	src[0] = devnull;
	src[1] = o->stdout_fd >= 0 ? o->stdout_fd : devnull;
	src[2] = o->stderr_fd >= 0 ? o->stderr_fd : devnull;
	for (size_t i = 0; i < o->npass; i++)
		src[3 + i] = o->pass_fds[i];
	int floor_fd = nsrc + 16 > errfd + 1 ? nsrc + 16 : errfd + 1;
	for (int i = 0; i < nsrc; i++) {
		if (src[i] < 0)
			child_fail(errfd, STAGE_FDS);
		src[i] = fcntl(src[i], F_DUPFD_CLOEXEC, floor_fd);
		/* EINVAL: no number left from floor_fd up to the limit. */
		if (src[i] < 0 && errno == EINVAL)
			errno = EMFILE;
		if (src[i] < 0)
			child_fail(errfd, STAGE_FDS);
	}
	for (int i = 0; i < nsrc; i++) {
		if (dup2(src[i], i) < 0)
			child_fail(errfd, STAGE_FDS);
	}
	/* Whatever else leaked without CLOEXEC must not reach the app. Before
	 * Linux 5.11 there is no CLOSE_RANGE_CLOEXEC: walk /proc/self/fd. */
	if (syscall(SYS_close_range, (unsigned)nsrc, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		cloexec_from(nsrc, errfd);
	umask(o->umask);
	if (o->nofile && setrlimit(RLIMIT_NOFILE, o->nofile) < 0)
		child_fail(errfd, STAGE_FDS);

	if (chdir(o->cwd) < 0)
		child_fail(errfd, STAGE_CHDIR);
	if (o->change_ids) {
		if (o->user ? initgroups(o->user, o->gid) < 0 : setgroups(0, NULL) < 0)
			child_fail(errfd, STAGE_GROUPS);
		if (setgid(o->gid) < 0)
			child_fail(errfd, STAGE_SETGID);
		if (setuid(o->uid) < 0)
			child_fail(errfd, STAGE_SETUID);
	}

	/* systemd's LISTEN_PID must name the process that gets the fds. */
	char listen_pid[32];
	for (char *const *e = o->envp; *e; e++) {
		if (strcmp(*e, "LISTEN_PID=") == 0) {
			snprintf(listen_pid, sizeof(listen_pid), "LISTEN_PID=%d", (int)getpid());
			*(char **)e = listen_pid;
		}
	}
	execve(o->path, o->argv, o->envp);
	child_fail(errfd, STAGE_EXEC);
}

static char *
describe_failure(const struct spawn_opts *o, const struct child_error *ce)
{
	const char *what = strerror(ce->err);
	switch (ce->stage) {
	case STAGE_CHDIR:
		return xasprintf("cannot enter the working directory %s: %s", o->cwd, what);
	case STAGE_GROUPS:
	case STAGE_SETGID:
		return xasprintf("cannot switch to group %u: %s", (unsigned)o->gid, what);
	case STAGE_SETUID:
		return xasprintf("cannot switch to user %u: %s", (unsigned)o->uid, what);
	case STAGE_EXEC:
		return xasprintf("cannot execute %s: %s", o->path, what);
	default:
		return xasprintf("cannot set up the process for %s: %s", o->path, what);
	}
}

int
spawn_run(const struct spawn_opts *o, pid_t *pid_out, char **err)
{
	int errpipe[2];
	if (pipe2(errpipe, O_CLOEXEC) < 0) {
		*err = xasprintf("cannot start %s: pipe: %s", o->path, strerror(errno));
		return -errno;
	}
	/* Modifications of envp in the child stay in the child. */
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(errpipe[0]);
		close(errpipe[1]);
		*err = xasprintf("cannot start %s: fork: %s", o->path, strerror(e));
		return -e;
	}
	if (pid == 0) {
		close(errpipe[0]);
		child(o, errpipe[1]);
	}
	close(errpipe[1]);
	/* This read returns as soon as the child has exec'd (EOF) or failed:
	 * both happen within microseconds of the fork. */
	struct child_error ce;
	ssize_t n = read_retry(errpipe[0], &ce, sizeof(ce));
	close(errpipe[0]);
	if (n == (ssize_t)sizeof(ce)) {
		int status;
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		*err = describe_failure(o, &ce);
		return -ce.err;
	}
	*pid_out = pid;
	return 0;
}
