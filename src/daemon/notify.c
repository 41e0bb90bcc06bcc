/*
 * notify.c — the sd_notify datagram socket.
 */
#include "daemon/notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "common/metrics.h"
#include "daemon/keep.h"
#include "daemon/server.h"
#include "daemon/state.h"
#include "daemon/supervise.h"
#include "daemon/table.h"

#define NOTIFY_MAX 4096

/* Two sockets, one protocol: the file $CORRAL_HOME/notify.sock for apps that
 * run as the daemon's user, and an abstract one for apps that run as another
 * (the uid option): they cannot reach a file inside the 0700 home. Anyone on
 * the host may send to the abstract one, but the kernel vouches for the
 * sender's pid and only an instance's own process group is listened to. */
enum { NOTIFY_FILE, NOTIFY_ABSTRACT, NOTIFY_SOCKS };
static struct io socks[NOTIFY_SOCKS];   /* open while active */
static char abstract_env[64];   /* "@corral-notify-<pid>-<random>" */

/* The process a message from pid belongs to: itself, or the process group
 * it is in (a wrapper shell's child speaks for the instance). */
static struct proc *
proc_of(int pid)
{
	struct proc *p = proc_by_pid(pid);
	if (p)
		return p;
	pid_t pgid = getpgid(pid);
	return pgid > 0 ? proc_by_pid(pgid) : NULL;
}

void
notify_handle(int pid, const char *msg, size_t len)
{
	struct proc *p = proc_of(pid);
	if (!p)
		return;
	const char *end = msg + len;
	while (msg < end) {
		const char *nl = memchr(msg, '\n', (size_t)(end - msg));
		size_t n = nl ? (size_t)(nl - msg) : (size_t)(end - msg);
		if (n == 7 && memcmp(msg, "READY=1", 7) == 0) {
			proc_mark_ready(p, "READY=1");
		} else if (p->inst && metrics_from_notify(&p->inst->metrics, msg, n,
		    wall_ms()) != -ENOENT) {
			/* a metric, set or refused */
		} else if (n >= 7 && memcmp(msg, "STATUS=", 7) == 0 && p->inst) {
			free(p->inst->status_text);
			p->inst->status_text = xstrndup(msg + 7, n - 7);
			if (!utf8_valid(p->inst->status_text, n - 7)) {
				free(p->inst->status_text);
				p->inst->status_text = xstrdup("(not UTF-8)");
			}
		}
		msg += n + 1;
	}
}

static void
on_notify(struct loop *l, struct io *io, uint32_t events, void *arg)
{
	for (int i = 0; i < 32; i++) {
		char buf[NOTIFY_MAX];
		union {
			struct cmsghdr h;
			char space[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int) * 8)];
		} ctl;
		struct iovec iov = {buf, sizeof(buf)};
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1,
		    .msg_control = &ctl, .msg_controllen = sizeof(ctl)};
		ssize_t n = recvmsg(io->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC | MSG_TRUNC);
		if (n < 0)
			return;
		int pid = 0;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
				struct ucred cred;
				memcpy(&cred, CMSG_DATA(c), sizeof(cred));
				pid = cred.pid;
			} else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
				/* FDSTORE is not supported: never keep stray fds. */
				int nfds = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
				for (int k = 0; k < nfds; k++) {
					int fd;
					memcpy(&fd, CMSG_DATA(c) + k * sizeof(int), sizeof(int));
					close(fd);
				}
			}
		}
		if (pid > 0 && (size_t)n <= sizeof(buf))
			notify_handle(pid, buf, (size_t)n);
	}
}

/* A datagram socket bound to addr (len bytes), watched as socks[which];
 * name is for the message. */
static int
listen_on(int which, const struct sockaddr_un *addr, socklen_t len,
    const char *name, char **err)
{
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		*err = xasprintf("notify socket: %s", strerror(errno));
		return -errno;
	}
	int one = 1;
	if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0 ||
	    bind(fd, (const struct sockaddr *)addr, len) < 0) {
		int e = errno;
		*err = xasprintf("cannot bind %s: %s", name, strerror(e));
		close(fd);
		return -e;
	}
	int rc = io_add(D->loop, &socks[which], fd, EPOLLIN, on_notify, NULL);
	if (rc < 0) {
		*err = xasprintf("cannot watch %s: %s", name, strerror(-rc));
		close(fd);
	}
	return rc;
}

void
notify_keep_all(void)
{
	for (int i = 0; i < NOTIFY_SOCKS; i++)
		if (socks[i].active)
			keep_put(KK_NOTIFY, (uint64_t)i, json_pack("{s:s}", "name",
			    i == NOTIFY_ABSTRACT ? abstract_env : D->paths.notify), &socks[i].fd, 1);
}

void
notify_adopt(int file_fd, int abstract_fd, const char *abstract_name)
{
	int fds[NOTIFY_SOCKS] = {file_fd, abstract_fd};
	for (int i = 0; i < NOTIFY_SOCKS; i++) {
		if (fds[i] < 0)
			continue;
		if (socks[i].active || io_add(D->loop, &socks[i], fds[i], EPOLLIN, on_notify, NULL) < 0) {
			close(fds[i]);
			continue;
		}
		fd_set_nonblock(fds[i], true);
		if (i == NOTIFY_ABSTRACT && abstract_name &&
		    strlen(abstract_name) < sizeof(abstract_env))
			snprintf(abstract_env, sizeof(abstract_env), "%s", abstract_name);
	}
}

int
notify_listen(char **err)
{
	/* Adopted from the previous daemon: the apps know these. */
	if (socks[NOTIFY_FILE].active)
		return 0;
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", D->paths.notify);
	unlink(D->paths.notify);
	int rc = listen_on(NOTIFY_FILE, &addr, sizeof(addr), D->paths.notify, err);
	if (rc < 0)
		return rc;

	/* A random name: nobody can take it before us, so no other user can
	 * stand in for the daemon. If it cannot be had, apps of other users
	 * get the file and cannot report READY=1: worth a line in the log,
	 * not a daemon that refuses to start. */
	uint64_t rnd;
	if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		dlog("notify: getrandom: %s; apps of other users cannot send READY=1",
		    strerror(errno));
		return 0;
	}
	char name[sizeof(abstract_env)];
	snprintf(name, sizeof(name), "@corral-notify-%d-%016llx", (int)D->pid,
	    (unsigned long long)rnd);
	struct sockaddr_un abs = {.sun_family = AF_UNIX};
	size_t n = strlen(name);
	memcpy(abs.sun_path + 1, name + 1, n - 1);   /* sun_path[0] stays 0 */
	char *why = NULL;
	if (listen_on(NOTIFY_ABSTRACT, &abs,
	    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n), name, &why) < 0) {
		dlog("notify: %s; apps of other users cannot send READY=1", why);
		free(why);
		return 0;
	}
	memcpy(abstract_env, name, sizeof(name));
	return 0;
}

const char *
notify_socket_for(uid_t uid)
{
	return uid == geteuid() || !abstract_env[0] ? D->paths.notify : abstract_env;
}

void
notify_close(void)
{
	for (int i = 0; i < NOTIFY_SOCKS; i++) {
		if (!socks[i].active)
			continue;
		io_del(D->loop, &socks[i]);
		close(socks[i].fd);
	}
	unlink(D->paths.notify);
}
