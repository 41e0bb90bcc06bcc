/*
 * broker.c — the daemon's side of the broker channel: bind requests from
 * libcorral-preload.so inside a cluster app (the wire format is in
 * common/brokerproto.h), answered with the listening socket of the peer's
 * slot in the app's group for that address.
 *
 * Not every bind is shared: the Node inspector's ports never are (several
 * instances must not fight over one debugger), and with `share_ports` only
 * the listed ports are. Those are answered "pass": the app binds itself.
 *
 * A peer's processes reach it two ways: the socketpair its process
 * inherited, and a listening socket of its own at a random abstract address
 * ($CORRAL_BROKER_SOCKET) for descendants the fd did not reach (npm, yarn
 * and pnpm run scripts with only stdio). Each accepted connection is one
 * more channel, checked first (channel_allowed); at most BROKER_CHANNELS at
 * once, the rest wait in the backlog. Nothing here blocks: every socket is
 * non-blocking and the loop only ever reads what is there.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cluster/group.h"
#include "common/brokerproto.h"
#include "common/inspect.h"
#include "common/log.h"
#include "common/util.h"

/* Connections waiting to be accepted on a broker address. */
#define BROKER_BACKLOG 8
/* How long accepting pauses when every channel is busy or accept fails. */
#define BROKER_RETRY_MS 100

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
	const char *opts = spec_env_get(s, "NODE_OPTIONS");
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
channel_close(struct broker_channel *ch)
{
	if (ch->fd < 0)
		return;
	io_del(ch->peer->c->loop, &ch->io);
	close(ch->fd);
	ch->fd = -1;
}

/* Take the request datagrams waiting on one channel; close it at EOF. */
static void
on_broker(struct loop *l, struct io *io, uint32_t events, void *arg)
{
	struct broker_channel *ch = arg;
	struct cluster_peer *peer = ch->peer;
	for (int i = 0; i < 16 && ch->fd >= 0; i++) {
		char buf[BROKER_MSG_MAX];
		union {
			struct cmsghdr h;
			char space[CMSG_SPACE(sizeof(int) * 4)];
		} ctl;
		struct iovec iov = {buf, sizeof(buf)};
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1,
		    .msg_control = &ctl, .msg_controllen = sizeof(ctl)};
		ssize_t n = recvmsg(ch->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			/* Every copy of the app's end is closed. */
			channel_close(ch);
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
		peer->asked = true;
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

/* A free channel of peer, or NULL when all BROKER_CHANNELS are open. */
static struct broker_channel *
channel_free(struct cluster_peer *peer)
{
	for (int i = 0; i < BROKER_CHANNELS; i++)
		if (peer->channels[i].fd < 0)
			return &peer->channels[i];
	return NULL;
}

/* Watch fd (taken over) as the free channel ch of its peer. */
static void
channel_open(struct broker_channel *ch, int fd)
{
	fd_set_nonblock(fd, true);
	if (io_add(ch->peer->c->loop, &ch->io, fd, EPOLLIN, on_broker, ch) < 0) {
		dlog("cannot watch a broker channel of pid %d: %s", (int)ch->peer->pid,
		    strerror(errno));
		close(fd);
		return;
	}
	ch->fd = fd;
}

/*
 * May the process at the other end of fd use peer's broker? The kernel
 * vouches for its uid and pid (SO_PEERCRED, as of connect()). Its uid must
 * be the instance's or root's, and it must be the instance's process or in
 * its process group (the instance's process leads a group of its own, and
 * wrappers such as sh -c, npm, yarn and pnpm keep their children in it).
 * The uid is the boundary (a process of the same user could read the
 * address in /proc and ptrace the app anyway); the group keeps one
 * instance's processes off another's sockets. Why not is put in *why.
 */
static bool
channel_allowed(const struct cluster_peer *peer, int fd, const char **why, pid_t *pid)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	*pid = 0;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		*why = "no credentials";
		return false;
	}
	*pid = cred.pid;
	/* pid 0: it is in a pid namespace we cannot see into. */
	if (cred.pid <= 0) {
		*why = "no pid";
		return false;
	}
	if (cred.uid != peer->uid && cred.uid != 0) {
		*why = "another user";
		return false;
	}
	if (cred.pid != peer->pid && getpgid(cred.pid) != peer->pid) {
		*why = "not in the instance's process group";
		return false;
	}
	return true;
}

static void
listen_pause(struct cluster_peer *peer)
{
	io_mod(peer->c->loop, &peer->listen_io, 0);
	timer_start(peer->c->loop, &peer->listen_retry, BROKER_RETRY_MS);
}

static void
on_listen_retry(struct loop *l, struct timer *t, void *arg)
{
	struct cluster_peer *peer = arg;
	if (peer->listen_fd >= 0)
		io_mod(l, &peer->listen_io, EPOLLIN);
}

/* Connections to the peer's broker address: each allowed one is a channel. */
static void
on_listen(struct loop *l, struct io *io, uint32_t events, void *arg)
{
	struct cluster_peer *peer = arg;
	for (int i = 0; i < 16; i++) {
		/* Every channel busy: the connection waits in the backlog
		 * until one closes. */
		struct broker_channel *ch = channel_free(peer);
		if (!ch) {
			listen_pause(peer);
			return;
		}
		int fd = accept4(peer->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) {
			/* Out of descriptors or memory: the pending connection
			 * keeps the socket readable, so pause instead of spinning. */
			if (errno != EAGAIN && errno != EINTR) {
				dlog("%s[%d]: broker: accept: %s", peer->spec ? peer->spec->name : "?",
				    peer->pm_id, strerror(errno));
				listen_pause(peer);
			}
			return;
		}
		const char *why;
		pid_t pid;
		if (!channel_allowed(peer, fd, &why, &pid)) {
			dlog("%s[%d]: broker: refused a connection from pid %d (%s)",
			    peer->spec ? peer->spec->name : "?", peer->pm_id, (int)pid, why);
			close(fd);
			continue;
		}
		channel_open(ch, fd);
	}
}

int
cluster_broker_listen(char *address, size_t cap, char **err)
{
	uint64_t rnd;
	struct sockaddr_un sa;
	socklen_t sa_len;
	int fd = -1, rc;
	if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		rc = -errno;
		*err = xasprintf("getrandom: %s", strerror(errno));
		goto fail;
	}
	/* A random name: nobody can take it first, and nobody can guess it
	 * (other users can list it in /proc/net/unix, and are refused). */
	int n = snprintf(address, cap, "@corral-broker-%d-%016llx", (int)getpid(),
	    (unsigned long long)rnd);
	if (n < 0 || (size_t)n >= cap || broker_addr_parse(address, (size_t)n, &sa, &sa_len) < 0) {
		rc = -ENAMETOOLONG;
		*err = xstrdup("the broker address does not fit");
		goto fail;
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sa_len) < 0 ||
	    listen(fd, BROKER_BACKLOG) < 0) {
		rc = -errno;
		*err = xasprintf("cannot listen on %s: %s", address, strerror(errno));
		goto fail;
	}
	return fd;
fail:
	if (fd >= 0)
		close(fd);
	address[0] = '\0';
	return rc;
}

void
broker_watch(struct cluster_peer *peer, int channel_fd, int listen_fd)
{
	for (int i = 0; i < BROKER_CHANNELS; i++)
		peer->channels[i] = (struct broker_channel){.peer = peer, .fd = -1};
	peer->listen_fd = -1;
	peer->has_broker = channel_fd >= 0 || listen_fd >= 0;
	timer_init(&peer->listen_retry, on_listen_retry, peer);
	if (channel_fd >= 0)
		channel_open(&peer->channels[0], channel_fd);
	if (listen_fd < 0)
		return;
	if (io_add(peer->c->loop, &peer->listen_io, listen_fd, EPOLLIN, on_listen, peer) < 0) {
		dlog("cannot watch the broker address of pid %d: %s", (int)peer->pid,
		    strerror(errno));
		close(listen_fd);
		return;
	}
	peer->listen_fd = listen_fd;
}

void
broker_close(struct cluster_peer *peer)
{
	for (int i = 0; i < BROKER_CHANNELS; i++)
		channel_close(&peer->channels[i]);
	timer_stop(peer->c->loop, &peer->listen_retry);
	if (peer->listen_fd < 0)
		return;
	io_del(peer->c->loop, &peer->listen_io);
	close(peer->listen_fd);
	peer->listen_fd = -1;
}
