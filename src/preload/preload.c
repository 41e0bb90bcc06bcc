/*
 * preload.c — libcorral-preload.so: hands the corral daemon's listening
 * sockets to unmodified apps (cluster mode without a proxy).
 *
 * The daemon starts each cluster-mode instance with LD_PRELOAD naming this
 * library, $CORRAL_BROKER_FD naming an inherited AF_UNIX SOCK_SEQPACKET
 * socket (the broker channel) and $CORRAL_BROKER_SOCKET naming a unix socket
 * address where the daemon listens for that process's descendants. The
 * wire format is in common/brokerproto.h.
 *
 * Which way: the inherited channel when the fd in $CORRAL_BROKER_FD is an
 * AF_UNIX SOCK_SEQPACKET socket in this process; else (or when sending on
 * it fails) a new connection to $CORRAL_BROKER_SOCKET, closed as soon as
 * the request is sent. The fd does not reach every descendant: npm, yarn and
 * pnpm run a start script from Node, whose child_process passes only stdio
 * (Node marks the low fds it inherited close-on-exec), so the real server
 * has another file at that number, or none. The variables do reach it.
 *
 * What is intercepted, and why:
 *
 *   bind()    On a TCP socket (AF_INET or AF_INET6, SOCK_STREAM, IPPROTO_TCP)
 *             that is not bound yet, for an address of the socket's family
 *             with a non-zero port, the library asks the broker for the
 *             daemon's socket for that address: it sends one request datagram
 *             ("bind 1 <family> <addr> <port> <v6only>") carrying, with
 *             SCM_RIGHTS, one end of a fresh socketpair, and waits up to
 *             BROKER_REPLY_TIMEOUT_MS for one reply on the other end.
 *               "ok" + fd   the received socket is dup3()ed over the app's fd,
 *                           keeping the app's O_NONBLOCK and FD_CLOEXEC, and
 *                           bind() returns 0. The socket is already bound and
 *                           listening; getsockname() shows the daemon's
 *                           address.
 *               "pass"      the real bind() runs: corral does not share it.
 *               "err N msg" bind() fails with errno N; msg goes to stderr,
 *                           one line per refused bind() ("corral-preload: the
 *                           corral daemon refused <addr>:<port>: msg (errno N)").
 *             Everything else (UDP, unix sockets, port 0, link-local IPv6
 *             with a scope id) goes to the real bind() untouched.
 *   listen()  A brokered socket arrives already listening. listen() on a
 *             listening TCP socket only updates the backlog on Linux, so the
 *             call goes to the real listen() and the app's backlog applies.
 *             The library remembers (in a small fixed table) which fds it
 *             brokered; if the real listen() fails on one of those and the
 *             socket is still listening, listen() returns 0: the app asked
 *             for a listening socket and has one. (corral's first prototype
 *             swallowed listen(); passing it through is deliberate: the
 *             app gets the backlog it asked for. On a `shared` socket the
 *             last instance to call listen() sets it for all.)
 *
 * Failure modes:
 *   - Neither way reaches the broker (variables unset, the fd is not a
 *     broker socket here and the address is missing or refuses the
 *     connection, the daemon is gone): one line on stderr that names each
 *     way and what was wrong with it, the port and the consequence,
 *       "corral-preload: cannot reach the corral daemon's broker
 *        (CORRAL_BROKER_FD: <why>; CORRAL_BROKER_SOCKET: <why>): port <port>
 *        is not shared; binding <addr>:<port> directly, so the app's other
 *        instances will fail to bind it"
 *     and the real bind(). The library is only ever loaded into corral's
 *     cluster apps, so this is never silent; the daemon marks such an
 *     instance too (describe's "broker: not reached").
 *   - The broker was reached but no reply came within
 *     BROKER_REPLY_TIMEOUT_MS, the reply channel was closed (the daemon
 *     refused the connection after the request was sent, see
 *     docs/architecture.md; refused before, it is the line above with
 *     EPIPE), a malformed reply,
 *     "ok" without a socket or with a socket of the wrong kind, or a failing
 *     syscall on the way: one line on stderr,
 *       "corral-preload: cannot get <addr>:<port> from the corral daemon
 *        (<reason>); binding it directly"
 *     and the real bind(): the app keeps working as if corral were absent.
 *   - An inherited fd at that number that is an AF_UNIX SOCK_SEQPACKET
 *     socket but not the broker (the app's own) would get the request; no
 *     reply comes and the timeout above applies.
 *   - Socket options the app set before bind() (SO_RCVBUF, TCP_DEFER_ACCEPT…)
 *     were set on the socket that the daemon's replaces, so they are lost;
 *     options set after bind() apply to the daemon's socket, which other
 *     instances may share (as does O_NONBLOCK, which lives on the open file
 *     description).
 *   - Only dynamically linked programs that call libc's bind() are covered
 *     (not Go or other static binaries, nor raw syscalls): those apps should
 *     use systemd-style socket activation instead.
 *   - If another thread fork()s between the socketpair() and the close of
 *     the end that was sent, that child holds the end too, so a daemon that
 *     drops the request without replying is noticed at the timeout rather
 *     than at once. Harmless otherwise.
 *
 * Rules for code that runs inside someone else's process: never abort, never
 * malloc, no stdio (messages are one write(2) to fd 2), no locks (fork-safe),
 * errno preserved on success, every fd created CLOEXEC. The library does not
 * unset the variables or LD_PRELOAD and the broker fd is inherited on
 * purpose, so an app's children (sh -c "node app.js", npm start) behave the
 * same way. Only bind and listen are exported (-fvisibility=hidden).
 */
#include "common/brokerproto.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

/* How long bind() waits for the daemon's reply before binding directly. */
#define BROKER_REPLY_TIMEOUT_MS 10000
/* fds this process received from the broker; see listen(). */
#define BROKERED_FDS_MAX 64
/* Room for the fds of one reply: one is expected, more are closed. */
#define REPLY_FDS_MAX 8

typedef int (*bind_fn)(int, const struct sockaddr *, socklen_t);
typedef int (*listen_fn)(int, int);

/*
 * The next definitions of bind and listen, looked up on first use. Racing
 * threads may both call dlsym(); they get the same answer, so a plain atomic
 * store is enough and nothing can be left half-initialised by fork().
 */
static _Atomic(bind_fn) real_bind_fn;
static _Atomic(listen_fn) real_listen_fn;

/* fd + 1 of each socket received from the broker, 0 for a free slot. Entries
 * are never removed (close() is not intercepted); listen() checks that the
 * socket is still listening, so a stale entry for a reused fd number is
 * harmless. */
static atomic_int brokered_fds[BROKERED_FDS_MAX];

static int
real_bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	bind_fn fn = atomic_load(&real_bind_fn);
	if (fn == NULL) {
		fn = (bind_fn)dlsym(RTLD_NEXT, "bind");
		if (fn == NULL) {
			errno = ENOSYS;
			return -1;
		}
		atomic_store(&real_bind_fn, fn);
	}
	return fn(fd, addr, len);
}

static int
real_listen(int fd, int backlog)
{
	listen_fn fn = atomic_load(&real_listen_fn);
	if (fn == NULL) {
		fn = (listen_fn)dlsym(RTLD_NEXT, "listen");
		if (fn == NULL) {
			errno = ENOSYS;
			return -1;
		}
		atomic_store(&real_listen_fn, fn);
	}
	return fn(fd, backlog);
}

static void
brokered_remember(int fd)
{
	int want = fd + 1;
	for (int i = 0; i < BROKERED_FDS_MAX; i++) {
		if (atomic_load(&brokered_fds[i]) == want)
			return;
	}
	for (int i = 0; i < BROKERED_FDS_MAX; i++) {
		int expected = 0;
		if (atomic_compare_exchange_strong(&brokered_fds[i], &expected, want))
			return;
	}
	/* Table full: listen() on this fd just reports what the kernel says. */
}

static bool
brokered_contains(int fd)
{
	int want = fd + 1;
	for (int i = 0; i < BROKERED_FDS_MAX; i++) {
		if (atomic_load(&brokered_fds[i]) == want)
			return true;
	}
	return false;
}

/* Why neither way to the broker worked: for each variable, NULL when it
 * is not set, else what went wrong and the errno of the failed syscall (or
 * 0). */
struct unreachable {
	const char *fd_why;
	int fd_err;
	const char *addr_why;
	int addr_err;
};

/* A stack buffer for one stderr line, filled by hand (no stdio, no malloc). */
struct line {
	char buf[512];
	size_t len;
};

static void
line_add(struct line *l, const char *s)
{
	size_t n = strlen(s);
	/* Keep one byte for the newline. */
	if (n > sizeof(l->buf) - 1 - l->len)
		n = sizeof(l->buf) - 1 - l->len;
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

static void
line_add_uint(struct line *l, unsigned v)
{
	char digits[16];
	size_t n = sizeof(digits) - 1;
	digits[n] = '\0';
	do {
		digits[--n] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	line_add(l, digits + n);
}

/* "127.0.0.1:8080" or "[::]:8080". */
static void
line_add_endpoint(struct line *l, const struct broker_req *req)
{
	if (req->family == 6)
		line_add(l, "[");
	line_add(l, req->addr);
	if (req->family == 6)
		line_add(l, "]");
	line_add(l, ":");
	line_add_uint(l, req->port);
}

/* Write the line and a newline to stderr in one write(2), so lines from
 * threads and processes sharing the log do not interleave. */
static void
line_emit(struct line *l)
{
	l->buf[l->len++] = '\n';
	ssize_t n;
	do {
		n = write(STDERR_FILENO, l->buf, l->len);
	} while (n < 0 && errno == EINTR);
}

static void
line_add_errname(struct line *l, int err)
{
	if (err != 0) {
		line_add(l, ": ");
		line_add(l, strerrorname_np(err) ? strerrorname_np(err) : "errno");
	}
}

static void
warn_fallback(const struct broker_req *req, const char *reason, int err)
{
	struct line l = {.len = 0};
	line_add(&l, "corral-preload: cannot get ");
	line_add_endpoint(&l, req);
	line_add(&l, " from the corral daemon (");
	line_add(&l, reason);
	line_add_errname(&l, err);
	line_add(&l, "); binding it directly");
	line_emit(&l);
}

static void
line_add_way(struct line *l, const char *var, const char *why, int err)
{
	line_add(l, var);
	line_add(l, ": ");
	line_add(l, why != NULL ? why : "not set");
	line_add_errname(l, err);
}

/* The loud line: this process is a corral cluster app (the library is only
 * loaded into those), its bind() should have been shared, and it cannot be.
 * Its other instances will fail to bind the port: say so where the user
 * looks first, the app's error log. */
static void
warn_unreachable(const struct broker_req *req, const struct unreachable *u)
{
	struct line l = {.len = 0};
	line_add(&l, "corral-preload: cannot reach the corral daemon's broker (");
	if (u->fd_why == NULL && u->addr_why == NULL) {
		line_add(&l, BROKER_ENV_FD " and " BROKER_ENV_SOCKET " are not set");
	} else {
		line_add_way(&l, BROKER_ENV_FD, u->fd_why, u->fd_err);
		line_add(&l, "; ");
		line_add_way(&l, BROKER_ENV_SOCKET, u->addr_why, u->addr_err);
	}
	line_add(&l, "): port ");
	line_add_uint(&l, req->port);
	line_add(&l, " is not shared; binding ");
	line_add_endpoint(&l, req);
	line_add(&l, " directly, so the app's other instances will fail to bind it");
	line_emit(&l);
}

static void
warn_refused(const struct broker_req *req, const struct broker_reply *rep)
{
	struct line l = {.len = 0};
	line_add(&l, "corral-preload: the corral daemon refused ");
	line_add_endpoint(&l, req);
	line_add(&l, ": ");
	line_add(&l, rep->msg[0] != '\0' ? rep->msg : "no reason given");
	line_add(&l, " (errno ");
	line_add_uint(&l, (unsigned)rep->err);
	line_add(&l, ")");
	line_emit(&l);
}

/* The fd in $CORRAL_BROKER_FD if it names an AF_UNIX SOCK_SEQPACKET socket,
 * else -1 and *why says what it is instead (NULL: the variable is not set).
 * Being open is not enough: a descendant that did not inherit the fd
 * (Node's child_process passes only stdio) has some file of its own there. */
static int
broker_fd_from_env(const char **why)
{
	const char *s = getenv(BROKER_ENV_FD);
	*why = NULL;
	if (s == NULL || *s == '\0')
		return -1;
	*why = "not a number";
	long fd = 0;
	/* At most nine digits: no overflow, and fds are far below that. */
	for (int digits = 0; *s != '\0'; s++, digits++) {
		if (*s < '0' || *s > '9' || digits == 9)
			return -1;
		fd = fd * 10 + (*s - '0');
	}
	*why = "that fd is not a broker socket in this process";
	int domain, type;
	socklen_t len = sizeof(domain);
	if (getsockopt((int)fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0 ||
	    domain != AF_UNIX)
		return -1;
	len = sizeof(type);
	if (getsockopt((int)fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
	    type != SOCK_SEQPACKET)
		return -1;
	*why = NULL;
	return (int)fd;
}

/*
 * Should this bind() go to the broker? If so, fill req and return true. Only
 * unbound TCP sockets binding an address of their own family to a fixed port
 * qualify; every syscall failure here means "no" and the real bind() decides.
 */
static bool
request_for(int fd, const struct sockaddr *addr, socklen_t addr_len,
    struct broker_req *req)
{
	int domain, type, protocol, v6only = 0;
	socklen_t len;

	if (addr == NULL || addr_len < sizeof(sa_family_t))
		return false;
	len = sizeof(domain);
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0)
		return false;
	if ((domain != AF_INET && domain != AF_INET6) || addr->sa_family != domain)
		return false;
	len = sizeof(type);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_STREAM)
		return false;
	len = sizeof(protocol);
	if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &protocol, &len) < 0 ||
	    protocol != IPPROTO_TCP)
		return false;

	memset(req, 0, sizeof(*req));
	if (domain == AF_INET) {
		struct sockaddr_in sin;
		if (addr_len < sizeof(sin))
			return false;
		memcpy(&sin, addr, sizeof(sin));
		if (sin.sin_port == 0)
			return false;
		req->family = 4;
		req->port = ntohs(sin.sin_port);
		if (inet_ntop(AF_INET, &sin.sin_addr, req->addr, sizeof(req->addr)) == NULL)
			return false;
	} else {
		/* Like the kernel, accept the old 24-byte form without a scope id. */
		struct sockaddr_in6 sin6;
		if (addr_len < offsetof(struct sockaddr_in6, sin6_scope_id))
			return false;
		memset(&sin6, 0, sizeof(sin6));
		memcpy(&sin6, addr, addr_len < sizeof(sin6) ? addr_len : sizeof(sin6));
		/* The request has no room for a scope id: link-local binds with
		 * an interface are the app's own business. */
		if (sin6.sin6_port == 0 || sin6.sin6_scope_id != 0)
			return false;
		len = sizeof(v6only);
		if (getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &len) < 0)
			return false;
		req->family = 6;
		req->port = ntohs(sin6.sin6_port);
		req->v6only = v6only != 0;
		if (inet_ntop(AF_INET6, &sin6.sin6_addr, req->addr, sizeof(req->addr)) == NULL)
			return false;
	}

	/* Already bound: let the kernel say EINVAL, do not bother the daemon. */
	struct sockaddr_storage cur;
	len = sizeof(cur);
	if (getsockname(fd, (struct sockaddr *)&cur, &len) < 0)
		return false;
	if (cur.ss_family == AF_INET && ((struct sockaddr_in *)&cur)->sin_port != 0)
		return false;
	if (cur.ss_family == AF_INET6 && ((struct sockaddr_in6 *)&cur)->sin6_port != 0)
		return false;
	return true;
}

static long long
mono_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait until fd has events or the deadline passes, across signals.
 * 1 when ready, 0 on timeout, -errno on failure. */
static int
wait_fd(int fd, short events, long long deadline_ms)
{
	for (;;) {
		long long left = deadline_ms - mono_now_ms();
		if (left <= 0)
			return 0;
		struct pollfd pfd = {.fd = fd, .events = events};
		int n = poll(&pfd, 1, (int)left);
		if (n > 0)
			return 1;
		if (n == 0)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

/* Send the request datagram with the reply channel attached. Never blocks
 * past the deadline, even if the broker fd is non-blocking or the daemon's
 * queue is full. 0, -ETIMEDOUT or -errno. */
static int
send_request(int broker_fd, const char *msg, size_t msg_len, int channel_fd,
    long long deadline_ms)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} control;
	struct iovec iov = {.iov_base = (void *)msg, .iov_len = msg_len};
	struct msghdr mh = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = control.buf,
		.msg_controllen = sizeof(control.buf),
	};
	memset(control.buf, 0, sizeof(control.buf));
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &channel_fd, sizeof(int));

	for (;;) {
		/* MSG_NOSIGNAL: a dead daemon must not SIGPIPE the app. */
		if (sendmsg(broker_fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		int rc = wait_fd(broker_fd, POLLOUT, deadline_ms);
		if (rc == 0)
			return -ETIMEDOUT;
		if (rc < 0)
			return rc;
	}
}

/*
 * A new connection to the broker's address in $CORRAL_BROKER_SOCKET, made
 * before the deadline (a full backlog makes connect() wait: SO_SNDTIMEO
 * bounds it). The fd, or -1 with u->addr_why (NULL when the variable is not
 * set) and u->addr_err.
 */
static int
broker_connect(long long deadline_ms, struct unreachable *u)
{
	const char *text = getenv(BROKER_ENV_SOCKET);
	struct sockaddr_un sa;
	socklen_t sa_len;
	if (text == NULL || *text == '\0')
		return -1;
	if (broker_addr_parse(text, strlen(text), &sa, &sa_len) < 0) {
		u->addr_why = "not a unix socket address";
		return -1;
	}
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		u->addr_why = "socket failed";
		u->addr_err = errno;
		return -1;
	}
	for (;;) {
		long long left_ms = deadline_ms - mono_now_ms();
		struct timeval tv = {.tv_sec = left_ms / 1000, .tv_usec = left_ms % 1000 * 1000};
		if (left_ms <= 0) {
			errno = ETIMEDOUT;
			break;
		}
		if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
			break;
		if (connect(fd, (struct sockaddr *)&sa, sa_len) == 0 || errno == EISCONN)
			return fd;
		if (errno != EINTR)
			break;
	}
	u->addr_why = "cannot connect";
	u->addr_err = errno;
	close(fd);
	return -1;
}

/*
 * Send the request on the inherited broker channel or, when there is none
 * in this process or it is closed, on a new connection to the broker's
 * address; that connection is closed at once (the reply comes on
 * channel_fd, and the daemon reads what was sent before it sees the close).
 * 0 when sent, -ETIMEDOUT when the broker is not reading, -ENOTCONN when
 * neither way worked (*u says why).
 */
static int
send_to_broker(const char *msg, size_t msg_len, int channel_fd, long long deadline_ms,
    struct unreachable *u)
{
	int rc;
	memset(u, 0, sizeof(*u));
	int fd = broker_fd_from_env(&u->fd_why);
	if (fd >= 0) {
		rc = send_request(fd, msg, msg_len, channel_fd, deadline_ms);
		if (rc == 0 || rc == -ETIMEDOUT)
			return rc;
		u->fd_why = "cannot send on it";
		u->fd_err = -rc;
	}
	fd = broker_connect(deadline_ms, u);
	if (fd < 0)
		return -ENOTCONN;
	rc = send_request(fd, msg, msg_len, channel_fd, deadline_ms);
	close(fd);
	if (rc == 0 || rc == -ETIMEDOUT)
		return rc;
	u->addr_why = "cannot send on it";
	u->addr_err = -rc;
	return -ENOTCONN;
}

/*
 * Wait for the one reply datagram on the channel. On success the reply is
 * decoded and *fd_out holds the single fd it carried, or -1; extra fds are
 * closed. Returns 0 or -1; then *reason says why in words and *sys_err is the
 * errno of the syscall that failed, or 0 if none did.
 */
static int
recv_reply(int channel_fd, long long deadline_ms, struct broker_reply *rep,
    int *fd_out, const char **reason, int *sys_err)
{
	char buf[BROKER_MSG_MAX + 1];
	union {
		char buf[CMSG_SPACE(sizeof(int) * REPLY_FDS_MAX)];
		struct cmsghdr align;
	} control;
	struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
	struct msghdr mh;
	ssize_t n;
	int received = -1;
	int rc;

	*fd_out = -1;
	*sys_err = 0;
	rc = wait_fd(channel_fd, POLLIN, deadline_ms);
	if (rc == 0) {
		*reason = "no reply in time";
		return -1;
	}
	if (rc < 0) {
		*reason = "poll failed";
		*sys_err = -rc;
		return -1;
	}
	for (;;) {
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = control.buf;
		mh.msg_controllen = sizeof(control.buf);
		n = recvmsg(channel_fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		if (n >= 0 || errno != EINTR)
			break;
	}
	if (n < 0) {
		*reason = "cannot read the reply";
		*sys_err = errno;
		return -1;
	}

	/* Collect every fd first so none leaks, whatever else is wrong. */
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		size_t nfds = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < nfds; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (received < 0)
				received = fd;
			else
				close(fd);
		}
	}

	if (n == 0) {
		*reason = "the daemon closed the reply channel";
		goto fail;
	}
	if ((mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0 ||
	    broker_reply_decode(buf, (size_t)n, rep) < 0) {
		*reason = "malformed reply";
		goto fail;
	}
	if (rep->kind == BROKER_OK) {
		*fd_out = received;
	} else if (received >= 0) {
		close(received);
	}
	return 0;

fail:
	if (received >= 0)
		close(received);
	return -1;
}

/* Does fd look like what we asked for: a TCP listening socket of the family? */
static bool
socket_matches(int fd, int family)
{
	int domain, type, listening;
	socklen_t len = sizeof(domain);
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0)
		return false;
	len = sizeof(type);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
		return false;
	len = sizeof(listening);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0)
		return false;
	return domain == (family == 4 ? AF_INET : AF_INET6) && type == SOCK_STREAM &&
	    listening;
}

/*
 * Put the daemon's socket where the app's socket was: same fd number, the
 * app's O_NONBLOCK and FD_CLOEXEC. Always consumes received. 0 or -errno; on
 * failure the app's fd is untouched (dup3 replaces it atomically or not at
 * all). O_NONBLOCK lives on the open file description, so setting it here
 * sets it for the daemon and every instance sharing the socket
 * (docs/architecture.md, "Listener groups": why `shared` has this cost).
 */
static int
adopt_socket(int received, int fd)
{
	int rc;
	int app_fl = fcntl(fd, F_GETFL);
	int app_fd_flags = fcntl(fd, F_GETFD);
	int got_fl = fcntl(received, F_GETFL);
	if (app_fl < 0 || app_fd_flags < 0 || got_fl < 0) {
		rc = -errno;
		goto out;
	}
	if ((got_fl & O_NONBLOCK) != (app_fl & O_NONBLOCK)) {
		int fl = (got_fl & ~O_NONBLOCK) | (app_fl & O_NONBLOCK);
		if (fcntl(received, F_SETFL, fl) < 0) {
			rc = -errno;
			goto out;
		}
	}
	int dup_flags = (app_fd_flags & FD_CLOEXEC) ? O_CLOEXEC : 0;
	/* EBUSY: another thread is between open() and install on fd; brief. */
	for (int tries = 0;; tries++) {
		if (dup3(received, fd, dup_flags) >= 0) {
			rc = 0;
			break;
		}
		if ((errno != EINTR && errno != EBUSY) || tries >= 100) {
			rc = -errno;
			break;
		}
	}
out:
	close(received);
	return rc;
}

EXPORT int
bind(int fd, const struct sockaddr *addr, socklen_t addr_len)
{
	int saved_errno = errno;
	struct broker_req req;
	struct broker_reply rep;
	char msg[BROKER_MSG_MAX + 1];
	int channel[2] = {-1, -1};
	int received = -1;
	const char *reason = NULL;
	int sys_err = 0; /* errno of the failed syscall, if one did */
	int rc;

	struct unreachable unreachable;

	if (!request_for(fd, addr, addr_len, &req))
		goto direct;

	long long deadline_ms = mono_now_ms() + BROKER_REPLY_TIMEOUT_MS;
	int msg_len = broker_req_encode(&req, msg, sizeof(msg));
	if (msg_len < 0) {
		reason = "cannot encode the request";
		goto fallback;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, channel) < 0) {
		reason = "socketpair failed";
		sys_err = errno;
		goto fallback;
	}
	rc = send_to_broker(msg, (size_t)msg_len, channel[1], deadline_ms, &unreachable);
	/* Our copy of the daemon's end goes now, so that a daemon that drops
	 * the request shows up as EOF instead of a timeout. */
	close(channel[1]);
	channel[1] = -1;
	if (rc == -ETIMEDOUT) {
		reason = "the broker is not reading";
		goto fallback;
	}
	if (rc < 0) {
		close(channel[0]);
		warn_unreachable(&req, &unreachable);
		goto direct;
	}
	rc = recv_reply(channel[0], deadline_ms, &rep, &received, &reason, &sys_err);
	close(channel[0]);
	channel[0] = -1;
	if (rc < 0)
		goto fallback;

	switch (rep.kind) {
	case BROKER_OK:
		if (received < 0) {
			reason = "the reply carried no socket";
			goto fallback;
		}
		if (!socket_matches(received, req.family)) {
			close(received);
			reason = "the daemon sent a socket of the wrong kind";
			goto fallback;
		}
		rc = adopt_socket(received, fd);
		if (rc < 0) {
			reason = "cannot install the daemon's socket";
			sys_err = -rc;
			goto fallback;
		}
		brokered_remember(fd);
		errno = saved_errno;
		return 0;
	case BROKER_ERR:
		warn_refused(&req, &rep);
		errno = rep.err;
		return -1;
	case BROKER_PASS:
		break;
	}
	goto direct;

fallback:
	if (channel[0] >= 0)
		close(channel[0]);
	if (channel[1] >= 0)
		close(channel[1]);
	warn_fallback(&req, reason, sys_err);
direct:
	errno = saved_errno;
	return real_bind(fd, addr, addr_len);
}

EXPORT int
listen(int fd, int backlog)
{
	int saved_errno = errno;
	if (real_listen(fd, backlog) == 0)
		return 0;
	int listen_errno = errno;
	if (brokered_contains(fd)) {
		int listening = 0;
		socklen_t len = sizeof(listening);
		if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 &&
		    listening) {
			errno = saved_errno;
			return 0;
		}
	}
	errno = listen_errno;
	return -1;
}
