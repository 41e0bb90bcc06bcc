/*
 * test_cluster.c — cluster mode on its own (src/cluster/cluster.h), with a
 * real event loop, real broker channels (SOCK_SEQPACKET socketpairs, as the
 * preload library uses) and real TCP sockets on 127.0.0.1; no daemon.
 *
 * A bind request over a peer's broker channel gets a listening socket and
 * reports the bind; another app's bind of the same address is refused with
 * the owner's name; the Node inspector's port and a peer no longer in its
 * slot are passed through; the steering program sends new connections only
 * to peers that take traffic; a crashed peer's socket waits, with its queue,
 * for the slot's next peer; drained is told by the accept queue; an idle
 * slot frees the port; a shared group hands every peer the same socket;
 * LISTEN_FDS sockets are reserved for the next peer; the orphan sweep asks
 * the daemon (ops) whether the slot moved on; a peer freed while its channel
 * has an event pending in the loop's batch is not touched after.
 */
#include "unit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cluster/cluster.h"
#include "cluster/group.h"
#include "common/brokerproto.h"
#include "common/spec.h"
#include "common/util.h"
#include "ev/loop.h"

/* What the cluster told the "daemon" through its ops. */
struct fake_daemon {
	int bound_calls;
	void *bound_owner;
	char bound_how[96];
	bool serving;               /* slot_serving_since answers */
	int64_t serving_since;
};

static void
fake_bound(void *owner, const char *how)
{
	struct fake_daemon *d = owner;
	d->bound_calls++;
	d->bound_owner = owner;
	snprintf(d->bound_how, sizeof(d->bound_how), "%s", how);
}

static bool
fake_serving_since(void *arg, uint64_t slot_uid, int64_t *since_ms)
{
	struct fake_daemon *d = arg;
	*since_ms = d->serving_since;
	return d->serving;
}

static const struct cluster_ops fake_ops = {
	.bound = fake_bound,
	.slot_serving_since = fake_serving_since,
};

struct fixture {
	struct loop *loop;
	struct fake_daemon d;
	struct cluster *c;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->loop = loop_new();
	assert_non_null(f->loop);
	f->c = cluster_new(f->loop, &fake_ops, &f->d);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	cluster_free(f->c);
	loop_flush(f->loop);
	loop_free(f->loop);
	free(f);
	return 0;
}

/* A port nobody listens on now. */
static uint16_t
free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

static void
make_spec(struct spec *s, const char *name, const char *lb, const char *listen)
{
	json_t *j = json_pack("{s:s, s:s, s:s, s:s}", "name", name, "script", "/bin/true",
	    "exec_mode", "cluster", "lb", lb);
	if (listen)
		json_object_set_new(j, "listen", json_pack("[s]", listen));
	char *err = NULL;
	int rc = spec_from_json(j, s, &err);
	if (rc < 0)
		fail_msg("spec: %s", err);
	json_decref(j);
}

/* One app's process as the test drives it: the app's end of the broker
 * channel, and the peer the cluster made of the daemon's end. */
struct app_proc {
	int app_end;
	struct cluster_peer *peer;
};

static struct app_proc
spawn(struct fixture *f, const struct cluster_slot *slot, pid_t pid)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	struct app_proc ap = {.app_end = sv[1]};
	ap.peer = cluster_peer_new(f->c, slot, pid, sv[0], -1, &f->d);
	return ap;
}

/* Send a request for 127.0.0.1:port on a broker channel as
 * libcorral-preload.so would; returns our end of its reply channel. */
static int
send_bind(int channel_fd, uint16_t port)
{
	int reply[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, reply), 0);
	struct broker_req req = {.family = 4, .port = port};
	strcpy(req.addr, "127.0.0.1");
	char buf[BROKER_MSG_MAX];
	int len = broker_req_encode(&req, buf, sizeof(buf));
	assert_true(len > 0);
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(sizeof(int))];
	} ctl;
	memset(&ctl, 0, sizeof(ctl));
	struct iovec iov = {buf, (size_t)len};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = &ctl,
	    .msg_controllen = sizeof(ctl)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &reply[0], sizeof(int));
	assert_int_equal(sendmsg(channel_fd, &mh, 0), len);
	close(reply[0]);
	return reply[1];
}

/* Run the loop until the reply on reply_fd comes (which is closed then).
 * Returns it; *fd gets the socket (or -1). */
static struct broker_reply
wait_reply(struct fixture *f, int reply_fd, int *fd)
{
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct broker_reply rep;
	*fd = -1;
	int64_t deadline = mono_ms() + 2000;
	for (;;) {
		assert_int_equal(loop_run_once(f->loop, 20), 0);
		char rbuf[BROKER_MSG_MAX];
		struct iovec riov = {rbuf, sizeof(rbuf)};
		memset(&ctl, 0, sizeof(ctl));
		struct msghdr rmh = {.msg_iov = &riov, .msg_iovlen = 1, .msg_control = &ctl,
		    .msg_controllen = sizeof(ctl)};
		ssize_t n = recvmsg(reply_fd, &rmh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n > 0) {
			assert_int_equal(broker_reply_decode(rbuf, (size_t)n, &rep), 0);
			struct cmsghdr *rc = CMSG_FIRSTHDR(&rmh);
			if (rc && rc->cmsg_type == SCM_RIGHTS)
				memcpy(fd, CMSG_DATA(rc), sizeof(int));
			break;
		}
		assert_true(mono_ms() < deadline);
	}
	close(reply_fd);
	return rep;
}

/* Ask for 127.0.0.1:port as libcorral-preload.so would; run the loop until
 * the reply comes. Returns the reply; *fd gets the socket (or -1). */
static struct broker_reply
bind_request(struct fixture *f, struct app_proc *ap, uint16_t port, int *fd)
{
	return wait_reply(f, send_bind(ap->app_end, port), fd);
}

/* A connection to a peer's broker address, as the library makes when the
 * inherited channel did not reach its process. */
static int
connect_address(const char *address)
{
	struct sockaddr_un sa;
	socklen_t len;
	assert_int_equal(broker_addr_parse(address, strlen(address), &sa, &len), 0);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	if (connect(fd, (struct sockaddr *)&sa, len) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

static bool
is_listening_on(int fd, uint16_t port)
{
	int on = 0;
	socklen_t len = sizeof(on);
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) == 0 && on &&
	    getsockname(fd, (struct sockaddr *)&a, &alen) == 0 && ntohs(a.sin_port) == port;
}

static bool
same_socket(int a, int b)
{
	struct stat sa, sb;
	return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_ino == sb.st_ino;
}

static int
connect_to(uint16_t port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port),
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

/* Accept without blocking: -1 when nothing is queued. */
static int
try_accept(int listen_fd)
{
	struct pollfd pfd = {.fd = listen_fd, .events = POLLIN};
	if (poll(&pfd, 1, 0) != 1)
		return -1;
	return accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
}

/* As a server would bind it: SO_REUSEADDR, so only a listener blocks it,
 * not the TIME_WAIT of a connection the test closed. */
static bool
port_bindable(uint16_t port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port),
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	bool ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

static json_t *
only_group(struct fixture *f, uint64_t app_id)
{
	json_t *d = cluster_describe(f->c, app_id);
	assert_int_equal(json_array_size(d), 1);
	json_t *g = json_incref(json_array_get(d, 0));
	json_decref(d);
	return g;
}

static void
test_bind_gives_listening_socket(void **state)
{
	struct fixture *f = *state;
	struct spec s;
	make_spec(&s, "web", "even", NULL);
	struct cluster_slot slot = {.app_id = 1, .spec = &s, .uid = 10, .pm_id = 0};
	struct app_proc ap = spawn(f, &slot, 4242);
	uint16_t port = free_port();
	int fd;
	struct broker_reply rep = bind_request(f, &ap, port, &fd);
	assert_int_equal(rep.kind, BROKER_OK);
	assert_true(is_listening_on(fd, port));
	assert_int_equal(f->d.bound_calls, 1);
	assert_ptr_equal(f->d.bound_owner, &f->d);
	char want[64];
	snprintf(want, sizeof(want), "bound 127.0.0.1:%u", port);
	assert_string_equal(f->d.bound_how, want);

	json_t *g = only_group(f, 1);
	snprintf(want, sizeof(want), "127.0.0.1:%u", port);
	assert_string_equal(json_string_value(json_object_get(g, "address")), want);
	assert_string_equal(json_string_value(json_object_get(g, "lb")), "even");
	json_t *m = json_array_get(json_object_get(g, "members"), 0);
	assert_int_equal(json_integer_value(json_object_get(m, "pid")), 4242);
	assert_false(json_is_true(json_object_get(m, "gets_traffic")));
	json_decref(g);
	cluster_peer_set_traffic(ap.peer, true);
	g = only_group(f, 1);
	m = json_array_get(json_object_get(g, "members"), 0);
	assert_true(json_is_true(json_object_get(m, "gets_traffic")));
	json_decref(g);

	/* The same bind again (a forked child, a second listen()) gets the
	 * same socket, not a second member. */
	int fd2;
	rep = bind_request(f, &ap, port, &fd2);
	assert_int_equal(rep.kind, BROKER_OK);
	assert_true(same_socket(fd, fd2));
	g = only_group(f, 1);
	assert_int_equal(json_array_size(json_object_get(g, "members")), 1);
	json_decref(g);
	close(fd);
	close(fd2);
	close(ap.app_end);
	spec_free(&s);
}

static void
test_other_app_refused_by_name(void **state)
{
	struct fixture *f = *state;
	struct spec s1, s2;
	make_spec(&s1, "first", "even", NULL);
	make_spec(&s2, "second", "even", NULL);
	struct cluster_slot a = {.app_id = 1, .spec = &s1, .uid = 1};
	struct cluster_slot b = {.app_id = 2, .spec = &s2, .uid = 2};
	struct app_proc pa = spawn(f, &a, 100), pb = spawn(f, &b, 200);
	uint16_t port = free_port();
	int fd, fd2;
	assert_int_equal(bind_request(f, &pa, port, &fd).kind, BROKER_OK);
	struct broker_reply rep = bind_request(f, &pb, port, &fd2);
	assert_int_equal(rep.kind, BROKER_ERR);
	assert_int_equal(fd2, -1);
	assert_int_equal(rep.err, EADDRINUSE);
	char want[96];
	snprintf(want, sizeof(want), "127.0.0.1:%u is already used by app first", port);
	assert_string_equal(rep.msg, want);
	close(fd);
	close(pa.app_end);
	close(pb.app_end);
	spec_free(&s1);
	spec_free(&s2);
}

static void
test_inspector_port_and_unslotted_peer_pass(void **state)
{
	struct fixture *f = *state;
	struct spec s;
	make_spec(&s, "web", "even", NULL);
	struct cluster_slot slot = {.app_id = 1, .spec = &s, .uid = 1};
	struct app_proc ap = spawn(f, &slot, 1);
	int fd;
	assert_int_equal(bind_request(f, &ap, 9229, &fd).kind, BROKER_PASS);
	assert_int_equal(fd, -1);
	cluster_peer_unslot(ap.peer);
	assert_int_equal(bind_request(f, &ap, free_port(), &fd).kind, BROKER_PASS);
	json_t *d = cluster_describe(f->c, 1);
	assert_int_equal(json_array_size(d), 0);
	json_decref(d);
	assert_int_equal(f->d.bound_calls, 0);
	close(ap.app_end);
	spec_free(&s);
}

/* Two peers of one app: connections go only to the one taking traffic. */
static void
test_steering_follows_traffic(void **state)
{
	struct fixture *f = *state;
	struct spec s;
	make_spec(&s, "web", "even", NULL);
	struct cluster_slot s1 = {.app_id = 1, .spec = &s, .uid = 1, .pm_id = 0};
	struct cluster_slot s2 = {.app_id = 1, .spec = &s, .uid = 2, .pm_id = 1};
	struct app_proc p1 = spawn(f, &s1, 1), p2 = spawn(f, &s2, 2);
	uint16_t port = free_port();
	int fd1, fd2;
	assert_int_equal(bind_request(f, &p1, port, &fd1).kind, BROKER_OK);
	assert_int_equal(bind_request(f, &p2, port, &fd2).kind, BROKER_OK);
	assert_false(same_socket(fd1, fd2));
	cluster_peer_set_traffic(p2.peer, true);
	int clients[20];
	for (int i = 0; i < 20; i++)
		clients[i] = connect_to(port);
	assert_int_equal(try_accept(fd1), -1);
	for (int i = 0; i < 20; i++) {
		int c = try_accept(fd2);
		assert_true(c >= 0);
		close(c);
	}
	/* Swap: now only p1 takes traffic. */
	cluster_peer_set_traffic(p1.peer, true);
	cluster_peer_set_traffic(p2.peer, false);
	int c = connect_to(port);
	int got = -1;
	for (int i = 0; i < 100 && got < 0; i++) {
		got = try_accept(fd1);
		if (got < 0)
			usleep(1000);
	}
	assert_true(got >= 0);
	assert_int_equal(try_accept(fd2), -1);
	close(got);
	close(c);
	for (int i = 0; i < 20; i++)
		close(clients[i]);
	close(fd1);
	close(fd2);
	close(p1.app_end);
	close(p2.app_end);
	spec_free(&s);
}

/* A crashed peer's socket waits with its queue for the slot's next peer;
 * drained is told by that queue; an idle slot frees the port. */
static void
test_crash_keeps_socket_for_next_peer(void **state)
{
	struct fixture *f = *state;
	struct spec s;
	make_spec(&s, "web", "even", NULL);
	struct cluster_slot slot = {.app_id = 1, .spec = &s, .uid = 7, .pm_id = 3};
	struct app_proc first = spawn(f, &slot, 111);
	uint16_t port = free_port();
	int fd1;
	assert_int_equal(bind_request(f, &first, port, &fd1).kind, BROKER_OK);
	cluster_peer_set_traffic(first.peer, true);
	assert_true(cluster_peer_drained(first.peer));
	int client = connect_to(port);
	assert_false(cluster_peer_drained(first.peer));

	cluster_peer_exited(first.peer);
	cluster_peer_free(first.peer, true);
	close(first.app_end);
	close(fd1);
	json_t *g = only_group(f, 1);
	json_t *m = json_array_get(json_object_get(g, "members"), 0);
	assert_int_equal(json_integer_value(json_object_get(m, "pid")), 0);
	assert_int_equal(json_integer_value(json_object_get(m, "pm_id")), 3);
	assert_int_equal(json_integer_value(json_object_get(m, "queued")), 1);
	json_decref(g);

	struct app_proc next = spawn(f, &slot, 222);
	int fd2;
	assert_int_equal(bind_request(f, &next, port, &fd2).kind, BROKER_OK);
	int c = try_accept(fd2);
	assert_true(c >= 0);                       /* the queued client, kept */
	close(c);
	assert_true(cluster_peer_drained(next.peer));
	close(client);

	/* Stopped for good: the socket goes, the port is free. */
	cluster_peer_exited(next.peer);
	cluster_peer_free(next.peer, true);
	close(next.app_end);
	close(fd2);
	assert_false(port_bindable(port));         /* still kept for the slot */
	cluster_slot_idle(f->c, 1, 7, false);
	json_t *d = cluster_describe(f->c, 1);
	assert_int_equal(json_array_size(d), 0);
	json_decref(d);
	assert_true(port_bindable(port));
	spec_free(&s);
}

/* A peer replaced by a reload (not its slot's serving process) gives its
 * socket up at once; the orphan sweep gives up a kept socket once the slot's
 * new process has been serving for a while without taking it. */
static void
test_release_and_sweep(void **state)
{
	struct fixture *f = *state;
	struct spec s;
	make_spec(&s, "web", "least-busy", NULL);
	struct cluster_slot slot = {.app_id = 1, .spec = &s, .uid = 1};
	uint16_t port = free_port();
	struct app_proc a = spawn(f, &slot, 1);
	int fd;
	assert_int_equal(bind_request(f, &a, port, &fd).kind, BROKER_OK);
	close(fd);
	cluster_peer_free(a.peer, false);
	close(a.app_end);
	json_t *d = cluster_describe(f->c, 1);
	assert_int_equal(json_array_size(d), 0);
	json_decref(d);

	struct app_proc b = spawn(f, &slot, 2);
	assert_int_equal(bind_request(f, &b, port, &fd).kind, BROKER_OK);
	close(fd);
	cluster_peer_free(b.peer, true);
	close(b.app_end);
	f->d.serving = true;
	f->d.serving_since = mono_ms();            /* not long enough yet */
	cluster_sweep_orphans(f->c);
	d = cluster_describe(f->c, 1);
	assert_int_equal(json_array_size(d), 1);
	json_decref(d);
	f->d.serving_since = mono_ms() - 5000;
	cluster_sweep_orphans(f->c);
	d = cluster_describe(f->c, 1);
	assert_int_equal(json_array_size(d), 0);
	json_decref(d);
	assert_true(port_bindable(port));
	spec_free(&s);
}

/* lb shared: every peer gets the same socket; it closes with the last. */
static void
test_shared_group(void **state)
{
	struct fixture *f = *state;
	struct spec s;
	make_spec(&s, "web", "shared", NULL);
	struct cluster_slot s1 = {.app_id = 1, .spec = &s, .uid = 1};
	struct cluster_slot s2 = {.app_id = 1, .spec = &s, .uid = 2};
	struct app_proc p1 = spawn(f, &s1, 1), p2 = spawn(f, &s2, 2);
	uint16_t port = free_port();
	int fd1, fd2;
	assert_int_equal(bind_request(f, &p1, port, &fd1).kind, BROKER_OK);
	assert_int_equal(bind_request(f, &p2, port, &fd2).kind, BROKER_OK);
	assert_true(same_socket(fd1, fd2));
	json_t *g = only_group(f, 1);
	assert_string_equal(json_string_value(json_object_get(g, "lb")), "shared");
	json_decref(g);
	close(fd1);
	close(fd2);
	cluster_peer_free(p1.peer, false);
	assert_false(port_bindable(port));
	cluster_peer_free(p2.peer, false);
	assert_true(port_bindable(port));
	close(p1.app_end);
	close(p2.app_end);
	spec_free(&s);
}

/* LISTEN_FDS: sockets reserved for the slot before its process exists,
 * claimed by the next peer of that slot. */
static void
test_listen_fds_reserved_for_next_peer(void **state)
{
	struct fixture *f = *state;
	uint16_t port = free_port();
	char addr[32];
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
	struct spec s;
	make_spec(&s, "go", "even", addr);
	struct cluster_slot slot = {.app_id = 5, .spec = &s, .uid = 9, .pm_id = 2};
	int fds[4];
	char *names = NULL, *err = NULL;
	assert_int_equal(cluster_listen_fds(f->c, &slot, fds, 4, &names, &err), 1);
	assert_string_equal(names, addr);
	free(names);
	assert_true(is_listening_on(fds[0], port));
	json_t *g = only_group(f, 5);
	json_t *m = json_array_get(json_object_get(g, "members"), 0);
	assert_int_equal(json_integer_value(json_object_get(m, "pid")), 0);
	json_decref(g);
	struct cluster_peer *peer = cluster_peer_new(f->c, &slot, 77, -1, -1, &f->d);
	g = only_group(f, 5);
	m = json_array_get(json_object_get(g, "members"), 0);
	assert_int_equal(json_integer_value(json_object_get(m, "pid")), 77);
	json_decref(g);
	cluster_peer_free(peer, false);
	assert_true(port_bindable(port));

	/* A bad address is refused with the text. */
	spec_free(&s);
	make_spec(&s, "go", "even", "nowhere:99999");
	assert_int_equal(cluster_listen_fds(f->c, &slot, fds, 4, &names, &err), -1);
	assert_non_null(strstr(err, "\"nowhere:99999\" is not an address"));
	free(err);
	spec_free(&s);
}

/* A peer freed by an event earlier in the same batch as its own broker
 * channel's event: the loop must still find its io (the free is deferred).
 * Under ASan a use-after-free here fails the test run. */
struct freeing_io {
	struct io io;
	struct cluster_peer *victim;
	bool fired;
};

static void
on_free_peer(struct loop *l, struct io *io, uint32_t events, void *arg)
{
	struct freeing_io *fi = arg;
	if (fi->victim)
		cluster_peer_free(fi->victim, false);
	fi->victim = NULL;
	fi->fired = true;
	io_del(l, io);
}

static void
test_peer_freed_inside_a_batch(void **state)
{
	struct fixture *f = *state;
	struct spec s;
	make_spec(&s, "web", "even", NULL);
	struct cluster_slot slot = {.app_id = 1, .spec = &s, .uid = 1};
	struct app_proc ap = spawn(f, &slot, 1);
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	struct freeing_io fi = {.victim = ap.peer};
	assert_int_equal(io_add(f->loop, &fi.io, p[0], EPOLLIN, on_free_peer, &fi), 0);
	/* The pipe becomes ready first, then the broker channel. */
	assert_int_equal(write(p[1], "x", 1), 1);
	assert_int_equal(send(ap.app_end, "bind 1 4 127.0.0.1 1 0", 22, 0), 22);
	assert_int_equal(loop_run_once(f->loop, 1000), 0);
	assert_true(fi.fired);
	close(p[0]);
	close(p[1]);
	close(ap.app_end);
	spec_free(&s);
}

/* A peer for process pid of app "web" (spec s, which the test frees) with a
 * broker address and no inherited channel; address gets the address. */
static struct cluster_peer *
address_peer(struct fixture *f, struct spec *s, pid_t pid, char address[64])
{
	make_spec(s, "web", "even", NULL);
	struct cluster_slot slot = {.app_id = 1, .spec = s, .uid = 10, .pm_id = 0};
	char *err = NULL;
	int listen_fd = cluster_broker_listen(address, 64, &err);
	assert_true(listen_fd >= 0);
	assert_true(str_starts(address, "@corral-broker-"));
	return cluster_peer_new(f->c, &slot, pid, -1, listen_fd, &f->d);
}

/* A peer's broker address: each connection is a channel, one bind each
 * (the library closes it once the request is sent); more connections one
 * after another than a peer has channels at once; the address goes with
 * the peer. */
static void
test_broker_address(void **state)
{
	struct fixture *f = *state;
	struct spec s;
	char address[64];
	/* The peer is this process, so its connections are the peer's own. */
	struct cluster_peer *peer = address_peer(f, &s, getpid(), address);
	bool asked = true;
	assert_true(cluster_peer_broker(peer, &asked));
	assert_false(asked);

	uint16_t port = free_port();
	int first = -1;
	for (int batch = 0; batch < 3; batch++) {
		int replies[4];
		for (int i = 0; i < 4; i++) {
			int conn = connect_address(address);
			assert_true(conn >= 0);
			replies[i] = send_bind(conn, port);
			close(conn);
		}
		for (int i = 0; i < 4; i++) {
			int fd;
			struct broker_reply rep = wait_reply(f, replies[i], &fd);
			assert_int_equal(rep.kind, BROKER_OK);
			assert_true(is_listening_on(fd, port));
			if (first < 0)
				first = fd;
			else {
				assert_true(same_socket(first, fd));
				close(fd);
			}
		}
	}
	assert_true(cluster_peer_broker(peer, &asked));
	assert_true(asked);
	assert_int_equal(f->d.bound_calls, 12);

	cluster_peer_free(peer, false);
	loop_flush(f->loop);
	assert_int_equal(connect_address(address), -ECONNREFUSED);
	close(first);
	spec_free(&s);
}

/* At most BROKER_CHANNELS connections are channels at once; one more waits
 * in the backlog, unanswered, until one of them closes. */
static void
test_broker_address_channel_limit(void **state)
{
	struct fixture *f = *state;
	struct spec s;
	char address[64];
	struct cluster_peer *peer = address_peer(f, &s, getpid(), address);
	uint16_t port = free_port();
	int conns[BROKER_CHANNELS];
	for (int i = 0; i < BROKER_CHANNELS; i++) {
		conns[i] = connect_address(address);
		assert_true(conns[i] >= 0);
		int fd;
		assert_int_equal(wait_reply(f, send_bind(conns[i], port), &fd).kind, BROKER_OK);
		close(fd);
	}
	int late = connect_address(address);
	assert_true(late >= 0);
	int reply = send_bind(late, port);
	int64_t until = mono_ms() + 300;
	char buf[BROKER_MSG_MAX];
	while (mono_ms() < until) {
		assert_int_equal(loop_run_once(f->loop, 20), 0);
		assert_int_equal(recv(reply, buf, sizeof(buf), MSG_DONTWAIT), -1);
		assert_int_equal(errno, EAGAIN);
	}
	close(conns[0]);
	int fd;
	assert_int_equal(wait_reply(f, reply, &fd).kind, BROKER_OK);
	close(fd);
	for (int i = 1; i < BROKER_CHANNELS; i++)
		close(conns[i]);
	close(late);
	cluster_peer_free(peer, false);
	spec_free(&s);
}

/* A process that is neither the peer's nor in its process group is not
 * served: its connection is closed unread, so its reply channel ends. */
static void
test_broker_address_refuses_strangers(void **state)
{
	struct fixture *f = *state;
	struct spec s;
	char address[64];
	/* The instance's process leads its own group, as the daemon starts it. */
	int ready[2];
	assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		setpgid(0, 0);
		close(ready[1]);
		char c;
		ssize_t unused = read(ready[0], &c, 1);   /* until the test is done */
		(void)unused;
		_exit(0);
	}
	setpgid(child, child);
	close(ready[0]);
	struct cluster_peer *peer = address_peer(f, &s, child, address);

	int conn = connect_address(address);
	assert_true(conn >= 0);
	int reply = send_bind(conn, free_port());
	int64_t deadline = mono_ms() + 2000;
	char buf[BROKER_MSG_MAX];
	ssize_t n;
	while ((n = recv(reply, buf, sizeof(buf), MSG_DONTWAIT)) < 0 && errno == EAGAIN) {
		assert_true(mono_ms() < deadline);
		assert_int_equal(loop_run_once(f->loop, 20), 0);
	}
	assert_int_equal(n, 0);
	bool asked = true;
	assert_true(cluster_peer_broker(peer, &asked));
	assert_false(asked);
	assert_int_equal(f->d.bound_calls, 0);
	close(reply);
	close(conn);

	cluster_peer_free(peer, false);
	close(ready[1]);
	int status;
	assert_int_equal(waitpid(child, &status, 0), child);
	spec_free(&s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bind_gives_listening_socket, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_app_refused_by_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inspector_port_and_unslotted_peer_pass, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_steering_follows_traffic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_keeps_socket_for_next_peer, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_release_and_sweep, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shared_group, setup, teardown),
		cmocka_unit_test_setup_teardown(test_listen_fds_reserved_for_next_peer, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_peer_freed_inside_a_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_broker_address, setup, teardown),
		cmocka_unit_test_setup_teardown(test_broker_address_refuses_strangers, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_broker_address_channel_limit, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
