/*
 * relay.c — the daemon's last-resort byte relay for connections that were
 * queued on a listener that must close (see relay.h for when and why).
 *
 * A relay has two sockets: side 0 the accepted client connection, side 1
 * the daemon's own connection to the group. buf[i] holds bytes read from
 * side i not yet written to the other side; a side is read only when its
 * buffer is empty, so memory stays at two buffers per connection.
 *
 *   connecting ──upstream connected──▶ copying ──both sides EOF and
 *       │                                 │        flushed──▶ closed
 *       └──connect failed / error / idle──┴──────────────────▶ closed
 */
#include "cluster/relay.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

#include "common/util.h"
#include "ev/loop.h"

#define RELAY_BUF 16384
#define RELAY_IDLE_MS 60000
/* At most this many connections taken from one queue (a listener's
 * backlog is 511 unless the app asked for more). */
#define RELAY_TAKE_MAX 512

LIST_HEAD(relay_list, relay);

struct relays {
	struct loop *loop;
	struct relay_list list;
};

struct relay {
	LIST_ENTRY(relay) link;     /* relays.list */
	struct relays *set;
	int fd[2];                  /* 0 client side, 1 upstream */
	struct io io[2];
	bool connected;             /* upstream connect() completed */
	bool eof[2];                /* side i will send nothing more */
	bool shut[2];               /* we shut down writing to side i */
	bool hup[2];                /* side i hung up: no longer watched */
	size_t len[2], off[2];      /* buf[i]: bytes off..len still to write */
	struct timer idle;
	char buf[2][RELAY_BUF];
};

static void
relay_free(void *p)
{
	free(p);
}

static void
relay_close(struct relay *r)
{
	struct loop *l = r->set->loop;
	for (int i = 0; i < 2; i++) {
		if (r->fd[i] >= 0) {
			io_del(l, &r->io[i]);
			close(r->fd[i]);
			r->fd[i] = -1;
		}
	}
	timer_stop(l, &r->idle);
	LIST_REMOVE(r, link);
	loop_defer_free(l, r, relay_free);
}

/* Move bytes both ways until the kernel says EAGAIN; pass EOFs on as
 * SHUT_WR; then watch what is needed next. false if r was closed. */
static bool
relay_pump(struct relay *r)
{
	bool moved = false;
	for (int i = 0; i < 2; i++) {
		int other = 1 - i;
		for (;;) {
			if (r->off[i] < r->len[i]) {
				ssize_t n = send(r->fd[other], r->buf[i] + r->off[i],
				    r->len[i] - r->off[i], MSG_DONTWAIT | MSG_NOSIGNAL);
				if (n < 0 && (errno == EAGAIN || errno == EINTR))
					break;
				if (n < 0)
					goto dead;
				r->off[i] += (size_t)n;
				moved = true;
				continue;
			}
			r->off[i] = r->len[i] = 0;
			if (r->eof[i]) {
				if (!r->shut[other]) {
					shutdown(r->fd[other], SHUT_WR);
					r->shut[other] = true;
				}
				break;
			}
			ssize_t n = recv(r->fd[i], r->buf[i], RELAY_BUF, MSG_DONTWAIT);
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				break;
			if (n < 0)
				goto dead;
			if (n == 0)
				r->eof[i] = true;
			r->len[i] = (size_t)n;
			moved = true;
		}
	}
	if (r->shut[0] && r->shut[1])
		goto dead;
	for (int i = 0; i < 2; i++) {
		int other = 1 - i;
		uint32_t ev = 0;
		if (!r->eof[i] && r->len[i] == 0)
			ev |= EPOLLIN;
		if (r->off[other] < r->len[other])
			ev |= EPOLLOUT;
		if (!r->hup[i] && ev != r->io[i].events)
			io_mod(r->set->loop, &r->io[i], ev);
	}
	/* Idle means no byte moved: wake-ups alone do not keep it alive. */
	if (moved)
		timer_start(r->set->loop, &r->idle, RELAY_IDLE_MS);
	return true;
dead:
	relay_close(r);
	return false;
}

/* Either side is ready: which one is told by the io that fired. */
static void
on_side(struct loop *l, struct io *io, uint32_t events, void *arg)
{
	struct relay *r = arg;
	int side = io == &r->io[0] ? 0 : 1;
	if (side == 1 && !r->connected) {
		int err = 0;
		socklen_t len = sizeof(err);
		if (getsockopt(r->fd[1], SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0) {
			relay_close(r);
			return;
		}
		r->connected = true;
		/* Both sides are live now: io[0] was registered idle. */
	}
	/* Bytes that arrived before a reset or hang-up are still passed on. */
	if (!relay_pump(r) || !(events & (EPOLLERR | EPOLLHUP)))
		return;
	if (events & EPOLLERR) {
		relay_close(r);        /* reset: nothing more goes either way */
		return;
	}
	/* Hung up both ways. epoll reports that whatever it is asked for, so
	 * the side must not stay watched. A client that left has no one to
	 * answer; an app that left may still have bytes in its socket, which
	 * the pump reads as the client takes what is already buffered. */
	if (side == 0) {
		relay_close(r);
		return;
	}
	io_del(l, &r->io[side]);
	r->hup[side] = true;
}

static void
on_idle(struct loop *l, struct timer *t, void *arg)
{
	relay_close(arg);
}

/* Start relaying client (an accepted connection) to dst. 0 or -errno; on
 * failure the client is closed (reset), as the listener's close would. */
static int
relay_one(struct relays *set, int client, const struct sockaddr *dst, socklen_t dst_len)
{
	int up = socket(dst->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (up < 0 || (connect(up, dst, dst_len) < 0 && errno != EINPROGRESS)) {
		int e = errno;
		if (up >= 0)
			close(up);
		close(client);
		return -e;
	}
	struct relay *r = xmalloc(sizeof(*r));
	memset(r, 0, offsetof(struct relay, buf));
	r->set = set;
	r->fd[0] = client;
	r->fd[1] = up;
	timer_init(&r->idle, on_idle, r);
	LIST_INSERT_HEAD(&set->list, r, link);
	/* The client is read only once the upstream side is connected. */
	int rc = io_add(set->loop, &r->io[0], client, 0, on_side, r);
	if (rc == 0)
		rc = io_add(set->loop, &r->io[1], up, EPOLLOUT, on_side, r);
	if (rc < 0) {
		relay_close(r);
		return rc;
	}
	timer_start(set->loop, &r->idle, RELAY_IDLE_MS);
	return 0;
}

struct relays *
relays_new(struct loop *l)
{
	struct relays *set = xcalloc(1, sizeof(*set));
	set->loop = l;
	LIST_INIT(&set->list);
	return set;
}

void
relays_free(struct relays *set)
{
	if (!set)
		return;
	struct relay *r;
	while ((r = LIST_FIRST(&set->list)) != NULL)
		relay_close(r);
	free(set);
}

int
relays_take_queue(struct relays *set, int listen_fd, const struct sockaddr *dst,
    socklen_t dst_len)
{
	int taken = 0;
	/* Only the daemon holds the socket now: non-blocking is safe. */
	fd_set_nonblock(listen_fd, true);
	for (int i = 0; i < RELAY_TAKE_MAX; i++) {
		int c = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			break;
		}
		if (relay_one(set, c, dst, dst_len) == 0)
			taken++;
	}
	return taken;
}
