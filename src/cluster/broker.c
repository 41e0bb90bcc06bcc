/*
 * broker.c — the daemon's side of the broker channel: bind requests from
 * libcorral-preload.so inside a cluster app (the wire format is in
 * common/brokerproto.h), answered with the listening socket of the peer's
 * slot in the app's group for that address.
 *
 * Not every bind is shared: the Node inspector's ports never are (several
 * instances must not fight over one debugger), and with `share_ports` only
 * the listed ports are. Those are answered "pass": the app binds itself.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cluster/group.h"
#include "common/brokerproto.h"
#include "common/inspect.h"
#include "common/log.h"
#include "common/util.h"

/* Ports the Node inspector may use: never shared. Node takes them from
 * its arguments and from NODE_OPTIONS. */
static bool
is_inspector_port(const struct cluster_peer *peer, uint16_t port)
{
	const struct spec *s = peer->spec;
	int p;
	if (port == INSPECT_DEFAULT_PORT || port == peer->inspect_port)
		return true;
	for (size_t i = 0; s->interpreter_args[i]; i++)
		if (inspect_option(s->interpreter_args[i], strlen(s->interpreter_args[i]), &p) &&
		    p == port)
			return true;
	const char *opts = json_string_value(json_object_get(s->env, "NODE_OPTIONS"));
	while (opts && *opts) {
		size_t len = strcspn(opts, " \t");
		if (inspect_option(opts, len, &p) && p == port)
			return true;
		opts += len;
		opts += strspn(opts, " \t");
	}
	return false;
}

static bool
port_is_shared(const struct cluster_peer *peer, uint16_t port)
{
	const struct spec *s = peer->spec;
	if (is_inspector_port(peer, port))
		return false;
	if (s->share_ports.n == 0)
		return true;
	for (size_t i = 0; i < s->share_ports.n; i++)
		if (s->share_ports.v[i] == port)
			return true;
	return false;
}

static void
broker_send(int reply_fd, const struct broker_reply *rep, int fd)
{
	char buf[BROKER_MSG_MAX];
	int len = broker_reply_encode(rep, buf, sizeof(buf));
	if (len < 0)
		return;
	struct iovec iov = {buf, (size_t)len};
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	if (fd >= 0) {
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = &ctl;
		mh.msg_controllen = sizeof(ctl);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	/* The reply channel is fresh and empty: this never blocks. */
	sendmsg(reply_fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
}

/* Answer one bind request from peer. */
static void
broker_answer(struct cluster_peer *peer, const struct broker_req *req, int reply_fd)
{
	struct broker_reply rep = {.kind = BROKER_PASS};
	char *err = NULL;
	if (!peer->has_slot || peer->exited || !port_is_shared(peer, req->port)) {
		broker_send(reply_fd, &rep, -1);
		return;
	}
	struct group key;
	if (group_key_make(&key, req->family == 4 ? AF_INET : AF_INET6, req->addr, req->port,
	    req->v6only) < 0) {
		rep.kind = BROKER_ERR;
		rep.err = EINVAL;
		snprintf(rep.msg, sizeof(rep.msg), "bad address %s", req->addr);
		broker_send(reply_fd, &rep, -1);
		return;
	}
	struct cluster_slot slot = {.app_id = peer->app_id, .spec = peer->spec,
	    .uid = peer->slot_uid, .pm_id = peer->pm_id};
	struct group *g = group_find_or_create(peer->c, &slot, &key, &err);
	int fd = g ? group_socket_for(g, &slot, peer, &err) : -EADDRINUSE;
	if (fd < 0) {
		rep.kind = BROKER_ERR;
		rep.err = -fd;
		snprintf(rep.msg, sizeof(rep.msg), "%s", err ? err : strerror(-fd));
		dlog("%s[%d]: bind %s refused: %s", peer->spec->name, peer->pm_id, key.label,
		    err ? err : strerror(-fd));
		free(err);
		broker_send(reply_fd, &rep, -1);
		return;
	}
	rep.kind = BROKER_OK;
	broker_send(reply_fd, &rep, fd);
	char how[96];
	snprintf(how, sizeof(how), "bound %s", g->label);
	if (peer->c->ops->bound)
		peer->c->ops->bound(peer->owner, how);
}

static void
on_broker(struct loop *l, struct io *io, uint32_t events, void *arg)
{
	struct cluster_peer *peer = arg;
	for (int i = 0; i < 16; i++) {
		char buf[BROKER_MSG_MAX];
		union {
			struct cmsghdr h;
			char space[CMSG_SPACE(sizeof(int) * 4)];
		} ctl;
		struct iovec iov = {buf, sizeof(buf)};
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1,
		    .msg_control = &ctl, .msg_controllen = sizeof(ctl)};
		ssize_t n = recvmsg(peer->broker_fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			/* Every copy of the app's end is closed. */
			broker_close(peer);
			return;
		}
		int reply_fd = -1;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
				continue;
			int nfds = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			for (int k = 0; k < nfds; k++) {
				int fd;
				memcpy(&fd, CMSG_DATA(c) + k * sizeof(int), sizeof(int));
				if (reply_fd < 0)
					reply_fd = fd;
				else
					close(fd);
			}
		}
		struct broker_req req;
		bool truncated = (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0;
		if (reply_fd >= 0 && !truncated && broker_req_decode(buf, (size_t)n, &req) == 0) {
			broker_answer(peer, &req, reply_fd);
		} else if (reply_fd >= 0) {
			struct broker_reply rep = {.kind = BROKER_ERR, .err = EPROTO};
			snprintf(rep.msg, sizeof(rep.msg), "malformed broker request");
			broker_send(reply_fd, &rep, -1);
		}
		if (reply_fd >= 0)
			close(reply_fd);
	}
}

void
broker_watch(struct cluster_peer *peer)
{
	fd_set_nonblock(peer->broker_fd, true);
	if (io_add(peer->c->loop, &peer->broker_io, peer->broker_fd, EPOLLIN, on_broker, peer) < 0)
		dlog("cannot watch the broker channel of pid %d: %s", (int)peer->pid,
		    strerror(errno));
}

void
broker_close(struct cluster_peer *peer)
{
	if (peer->broker_fd < 0)
		return;
	io_del(peer->c->loop, &peer->broker_io);
	close(peer->broker_fd);
	peer->broker_fd = -1;
}
