/*
 * notify.c — the sd_notify datagram socket.
 */
#include "daemon/notify.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/daemon.h"
#include "daemon/server.h"
#include "daemon/supervise.h"
#include "daemon/table.h"

#define NOTIFY_MAX 4096

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
on_notify(struct io *io, uint32_t events)
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
		ssize_t n = recvmsg(D->notify_fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC | MSG_TRUNC);
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

int
notify_listen(char **err)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", D->paths.notify);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		*err = xasprintf("notify socket: %s", strerror(errno));
		return -errno;
	}
	int one = 1;
	unlink(D->paths.notify);
	if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		int e = errno;
		*err = xasprintf("cannot bind %s: %s", D->paths.notify, strerror(e));
		close(fd);
		return -e;
	}
	/* Apps may run under another uid (the uid option): let them send,
	 * the directory's 0700 still keeps strangers out. */
	chmod(D->paths.notify, 0622);
	D->notify_fd = fd;
	return io_add(D->loop, &D->notify_io, fd, EPOLLIN, on_notify);
}

void
notify_close(void)
{
	if (D->notify_fd < 0)
		return;
	io_del(D->loop, &D->notify_io);
	close(D->notify_fd);
	D->notify_fd = -1;
	unlink(D->paths.notify);
}
