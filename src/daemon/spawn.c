/*
 * spawn.c — vfork-style clone and exec, failures reported through memory
 * the child shares.
 *
 * vfork(): the child borrows the daemon's memory and the daemon waits until
 * it has exec'd or failed. With fork() each spawn copied the daemon's page
 * tables, and the daemon then slept on a pipe until the child reached exec
 * (which closes every inherited descriptor first): with 1000 apps that was
 * most of a `start`. The child only makes system calls (no allocation: the
 * supplementary groups are looked up before) and runs with every signal's
 * disposition at its default, so nothing of the daemon's runs on its stack.
 *
 * The descriptor table. A vfork()ed child gets a copy of the daemon's
 * table and closes it before exec: with a thousand apps that is five
 * thousand descriptors copied and closed per spawn, the larger part of a
 * `start`. So when the kernel can (Linux 5.9: close_range's
 * CLOSE_RANGE_UNSHARE), the child shares the daemon's table instead
 * (clone with CLONE_FILES) and its first call unshares it keeping only the
 * descriptors below a small number: the daemon first places the ones the
 * app gets in a window of low descriptors it holds for that (/dev/null
 * until a spawn needs them), so what is copied is that window and the
 * handful below it, however many apps run.
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
#include <sched.h>
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

/* The window of low descriptors (see the top of this file): placeholders
 * on /dev/null, each replaced by an app's descriptor for one spawn. */
#define STAGE_FDS_MAX 8
static int stage_fd[STAGE_FDS_MAX];
static int stage_null = -1;     /* what the placeholders are copies of */
static unsigned stage_limit;    /* every stage fd is below it */
static bool stage_ok;

/* The child's stack when it runs on the daemon's memory without vfork. */
static char child_stack[256 << 10] __attribute__((aligned(16)));

/* What the child reports, in the daemon's memory: stage 0 until it fails. */
struct child_error {
	int stage;
	int err;
};

/* Everything the child needs, prepared by the parent. */
struct child_ctx {
	const struct spawn_opts *o;
	gid_t *groups;              /* supplementary groups (change_ids) */
	int ngroups;
	char *listen_pid;           /* the "LISTEN_PID=" buffer to fill, or NULL */
	size_t listen_pid_cap;
	volatile struct child_error *ce;
	unsigned unshare_below;     /* sharing the daemon's table: keep below */
};

static void NORETURN
child_fail(const struct child_ctx *cx, int stage)
{
	cx->ce->err = errno;
	cx->ce->stage = stage;
	_exit(127);
}

/* Mark every fd >= lowest close-on-exec. */
static void
cloexec_from(int lowest)
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
			if (d->name[0] != '.' && fd >= lowest && fd != dfd)
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

/* Runs in the child between vfork and exec: only system calls. */
static void NORETURN
child(const struct child_ctx *cx)
{
	const struct spawn_opts *o = cx->o;
	/* Sharing the daemon's table: take a copy of its low end only before
	 * anything else (nothing may change the daemon's). */
	if (cx->unshare_below &&
	    syscall(SYS_close_range, cx->unshare_below, ~0U, CLOSE_RANGE_UNSHARE) < 0 &&
	    unshare(CLONE_FILES) < 0)
		child_fail(cx, STAGE_FDS);
	int keep[2 + 64];
	size_t nkeep = 0;
	keep[nkeep++] = o->stdout_fd;
	keep[nkeep++] = o->stderr_fd;
	for (size_t i = 0; i < o->npass && i < 64; i++)
		keep[nkeep++] = o->pass_fds[i];
	close_all_but(keep, nkeep);
	sigset_t none;
	sigemptyset(&none);
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (setsid() < 0)
		child_fail(cx, STAGE_FDS);

	/* Lift every source fd above the targets first, so that placing one
	 * never clobbers another that is still to be placed. */
	int nsrc = 3 + (int)o->npass;
	int src[3 + 64];
	if (o->npass > 64) {
		errno = EMFILE;
		child_fail(cx, STAGE_FDS);
	}
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	src[0] = devnull;
	src[1] = o->stdout_fd >= 0 ? o->stdout_fd : devnull;
	src[2] = o->stderr_fd >= 0 ? o->stderr_fd : devnull;
	for (size_t i = 0; i < o->npass; i++)
		src[3 + i] = o->pass_fds[i];
	int floor_fd = nsrc + 16;
	for (int i = 0; i < nsrc; i++) {
		if (src[i] < 0)
			child_fail(cx, STAGE_FDS);
		src[i] = fcntl(src[i], F_DUPFD_CLOEXEC, floor_fd);
		/* EINVAL: no number left from floor_fd up to the limit. */
		if (src[i] < 0 && errno == EINVAL)
			errno = EMFILE;
		if (src[i] < 0)
			child_fail(cx, STAGE_FDS);
	}
	for (int i = 0; i < nsrc; i++) {
		if (dup2(src[i], i) < 0)
			child_fail(cx, STAGE_FDS);
	}
	/* Whatever else leaked without CLOEXEC must not reach the app. Before
	 * Linux 5.11 there is no CLOSE_RANGE_CLOEXEC: walk /proc/self/fd. */
	if (syscall(SYS_close_range, (unsigned)nsrc, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		cloexec_from(nsrc);
	umask(o->umask);
	if (o->nofile && setrlimit(RLIMIT_NOFILE, o->nofile) < 0)
		child_fail(cx, STAGE_FDS);

	if (chdir(o->cwd) < 0)
		child_fail(cx, STAGE_CHDIR);
	if (o->change_ids) {
		/* The system calls themselves: the daemon has threads (the pid
		 * files', pidfiles.c), and glibc's wrappers would make every
		 * thread of what they take for this process change its ids too,
		 * signalling and marking the daemon's threads in the memory
		 * this child shares with it. This child is a process of its
		 * own: its ids alone change. */
		if (syscall(SYS_setgroups, (size_t)cx->ngroups, cx->groups) < 0)
			child_fail(cx, STAGE_GROUPS);
		if (syscall(SYS_setgid, o->gid) < 0)
			child_fail(cx, STAGE_SETGID);
		if (syscall(SYS_setuid, o->uid) < 0)
			child_fail(cx, STAGE_SETUID);
	}

	/* systemd's LISTEN_PID must name the process that gets the fds. */
	if (cx->listen_pid)
		snprintf(cx->listen_pid, cx->listen_pid_cap, "LISTEN_PID=%d", (int)getpid());
	execve(o->path, o->argv, o->envp);
	child_fail(cx, STAGE_EXEC);
}

/* The supplementary groups of the user the app runs as: its groups with
 * `user`, none without. Looked up here, in the daemon, because the child
 * must not allocate. 0 or -errno. */
static int
lookup_groups(const struct spawn_opts *o, gid_t **groups, int *n)
{
	*groups = NULL;
	*n = 0;
	if (!o->change_ids || !o->user)
		return 0;
	int cap = 64;
	for (;;) {
		gid_t *g = xcalloc((size_t)cap, sizeof(*g));
		int got = cap;
		if (getgrouplist(o->user, o->gid, g, &got) >= 0) {
			*groups = g;
			*n = got;
			return 0;
		}
		free(g);
		if (got <= cap || cap >= 65536)
			return -EINVAL;
		cap = got;
	}
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

void
spawn_init(void)
{
	stage_null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (stage_null < 0)
		return;
	for (int i = 0; i < STAGE_FDS_MAX; i++) {
		stage_fd[i] = fcntl(stage_null, F_DUPFD_CLOEXEC, 0);
		if (stage_fd[i] < 0)
			return;
		if ((unsigned)stage_fd[i] + 1 > stage_limit)
			stage_limit = (unsigned)stage_fd[i] + 1;
	}
	if ((unsigned)stage_null + 1 > stage_limit)
		stage_limit = (unsigned)stage_null + 1;
	stage_ok = true;
}

/* The child with a copy of our table (no window, or an old kernel). */
static pid_t
vfork_child(struct child_ctx *cx)
{
	pid_t pid = vfork();
	if (pid == 0)
		child(cx);
	return pid;
}

static int
clone_child(void *arg)
{
	child(arg);
}

/* Start the child: sharing our table when o's descriptors fit the window
 * (they are placed there, and put back to /dev/null after), else vfork. */
static pid_t
start_child(struct child_ctx *cx)
{
	const struct spawn_opts *o = cx->o;
	if (!stage_ok || o->npass + 2 > STAGE_FDS_MAX)
		return vfork_child(cx);
	int pass[STAGE_FDS_MAX];
	struct spawn_opts staged = *o;
	size_t used = 0;
	bool placed = true;
	int *slots[2] = {&staged.stdout_fd, &staged.stderr_fd};
	for (size_t i = 0; i < 2 && placed; i++) {
		if (*slots[i] < 0)
			continue;
		placed = dup3(*slots[i], stage_fd[used], O_CLOEXEC) >= 0;
		*slots[i] = stage_fd[used++];
	}
	for (size_t i = 0; i < o->npass && placed; i++) {
		placed = o->pass_fds[i] >= 0 && dup3(o->pass_fds[i], stage_fd[used], O_CLOEXEC) >= 0;
		pass[i] = stage_fd[used++];
	}
	pid_t pid;
	if (placed) {
		staged.pass_fds = pass;
		cx->o = &staged;
		cx->unshare_below = stage_limit;
		pid = clone(clone_child, child_stack + sizeof(child_stack),
		    CLONE_VM | CLONE_VFORK | CLONE_FILES | SIGCHLD, cx);
		cx->o = o;
		cx->unshare_below = 0;
	}
	int e = errno;
	for (size_t i = 0; i < used; i++)
		dup3(stage_null, stage_fd[i], O_CLOEXEC);
	if (!placed)
		return vfork_child(cx);
	errno = e;
	return pid;
}

int
spawn_run(const struct spawn_opts *o, pid_t *pid_out, char **err)
{
	volatile struct child_error ce = {0, 0};
	struct child_ctx cx = {.o = o, .ce = &ce};
	if (lookup_groups(o, &cx.groups, &cx.ngroups) < 0) {
		*err = xasprintf("cannot find the groups of user %s", o->user);
		return -EINVAL;
	}
	/* The child writes its pid into LISTEN_PID: in a buffer of ours that
	 * stands in the environment for as long as the child uses it. */
	char listen_pid[32];
	char **slot = NULL, *was = NULL;
	for (char *const *e = o->envp; *e; e++) {
		if (strcmp(*e, "LISTEN_PID=") == 0) {
			slot = (char **)e;
			was = *slot;
			*slot = listen_pid;
			cx.listen_pid = listen_pid;
			cx.listen_pid_cap = sizeof(listen_pid);
			snprintf(listen_pid, sizeof(listen_pid), "LISTEN_PID=");
		}
	}
	/* Returns once the child has exec'd or exited. */
	pid_t pid = start_child(&cx);
	int e = errno;
	if (slot)
		*slot = was;
	free(cx.groups);
	if (pid < 0) {
		*err = xasprintf("cannot start %s: %s", o->path, strerror(e));
		return -e;
	}
	if (ce.stage != 0) {
		struct child_error copy = {ce.stage, ce.err};
		int status;
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		*err = describe_failure(o, &copy);
		return -copy.err;
	}
	*pid_out = pid;
	return 0;
}
