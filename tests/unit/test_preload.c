/*
 * test_preload.c — end-to-end test of the real libcorral-preload.so.
 *
 * The test process plays the corral daemon: it holds one end of a
 * SOCK_SEQPACKET socketpair (the broker) and starts an unmodified python3 or
 * node with the other end at BROKER_CHILD_FD, $CORRAL_BROKER_FD and
 * LD_PRELOAD; or it listens on an abstract address named by
 * $CORRAL_BROKER_SOCKET, which is how a descendant that did not inherit the
 * fd (npm start) reaches the broker. The app binds a TCP port; the test receives the request,
 * checks it, answers ("ok" with its own listening socket, "pass", "err", or
 * something broken) and then checks what a user would: the port the app
 * reports with getsockname(), that a connection to it is accepted by the
 * app, the errno the app saw, and the app's stderr.
 *
 * The library is build/libcorral-preload.so relative to the cwd (the repo
 * root), or $CORRAL_PRELOAD. Every child runs in its own process group and
 * is reaped (or killed and reaped) before its test ends; every wait is a
 * poll() with a deadline.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include "unit.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/brokerproto.h"

#define PYTHON "/usr/bin/python3"
#define NODE "/usr/bin/node"
#define BROKER_CHILD_FD 100
#define TIMEOUT_MS 10000
#define MAX_APPS 4
#define OUTPUT_MAX 16384

/*
 * The app: binds one TCP socket, listens, prints
 *   "bound <addr> <port> nonblock=<0|1> cloexec=<0|1> pid=<pid>"
 * and accepts one connection (answering "hello"), or prints
 * "error <errno>" and exits 3 when bind() fails.
 *   argv: <family: 4 | 6 | 6only> <port> <options, comma-separated:
 *          nonblock, inherit, noaccept, or ->
 * Two other modes:
 *   others <port> <unix path>: UDP on port, TCP on port 0, a unix socket
 *   threads <port1> <port2>: two threads bind at the same time
 */
static const char app_script[] =
    "import os, sys, socket, fcntl, select, threading\n"
    "def report(s, tag='bound'):\n"
    "    fl = fcntl.fcntl(s.fileno(), fcntl.F_GETFL)\n"
    "    fdfl = fcntl.fcntl(s.fileno(), fcntl.F_GETFD)\n"
    "    name = s.getsockname()\n"
    "    print('%s %s %d nonblock=%d cloexec=%d pid=%d' % (tag, name[0], name[1],\n"
    "          1 if fl & os.O_NONBLOCK else 0, 1 if fdfl & fcntl.FD_CLOEXEC else 0,\n"
    "          os.getpid()), flush=True)\n"
    "mode = sys.argv[1]\n"
    "if mode == 'others':\n"
    "    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
    "    u.bind(('127.0.0.1', int(sys.argv[2])))\n"
    "    report(u, 'udp')\n"
    "    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)\n"
    "    t.bind(('127.0.0.1', 0))\n"
    "    t.listen(4)\n"
    "    report(t, 'tcp0')\n"
    "    x = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
    "    x.bind(sys.argv[3])\n"
    "    print('unix ok', flush=True)\n"
    "    sys.exit(0)\n"
    "if mode == 'threads':\n"
    "    ports = [int(sys.argv[2]), int(sys.argv[3])]\n"
    "    got = {}\n"
    "    def work(p):\n"
    "        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)\n"
    "        s.bind(('127.0.0.1', p))\n"
    "        s.listen(4)\n"
    "        got[p] = s.getsockname()[1]\n"
    "    ts = [threading.Thread(target=work, args=(p,)) for p in ports]\n"
    "    for t in ts: t.start()\n"
    "    for t in ts: t.join()\n"
    "    print('threads %d=%d %d=%d' % (ports[0], got[ports[0]], ports[1], got[ports[1]]), flush=True)\n"
    "    sys.exit(0)\n"
    "opts = sys.argv[3].split(',')\n"
    "kind = socket.SOCK_STREAM | (socket.SOCK_NONBLOCK if 'nonblock' in opts else 0)\n"
    "if mode == '4':\n"
    "    s = socket.socket(socket.AF_INET, kind)\n"
    "    host = '127.0.0.1'\n"
    "else:\n"
    "    s = socket.socket(socket.AF_INET6, kind)\n"
    "    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1 if mode == '6only' else 0)\n"
    "    host = '::1' if mode == '6only' else '::'\n"
    "if 'inherit' in opts:\n"
    "    s.set_inheritable(True)\n"
    "try:\n"
    "    s.bind((host, int(sys.argv[2])))\n"
    "except OSError as e:\n"
    "    print('error %d' % e.errno, flush=True)\n"
    "    sys.exit(3)\n"
    "s.listen(16)\n"
    "report(s)\n"
    "if 'noaccept' not in opts:\n"
    "    r, _, _ = select.select([s], [], [], 10)\n"
    "    if not r:\n"
    "        print('accept timed out', flush=True)\n"
    "        sys.exit(4)\n"
    "    c, _ = s.accept()\n"
    "    c.setblocking(True)\n"
    "    c.sendall(b'hello\\n')\n"
    "    c.close()\n";

/* How the child learns about the broker. */
enum broker_env {
	ENV_BROKER,      /* seqpacket end at BROKER_CHILD_FD, $CORRAL_BROKER_FD names it */
	ENV_NONE,        /* the fd is there, the variable is not */
	ENV_STDOUT,      /* $CORRAL_BROKER_FD=1: a pipe, not a broker */
	ENV_GARBAGE,     /* $CORRAL_BROKER_FD=100x */
	ENV_STREAM,      /* a SOCK_STREAM unix socket at BROKER_CHILD_FD */
	ENV_ADDRESS,     /* $CORRAL_BROKER_FD names /dev/null (as in a grandchild);
	                  * $CORRAL_BROKER_SOCKET is broker_address */
	ENV_BOTH,        /* ENV_BROKER, and $CORRAL_BROKER_SOCKET too */
	ENV_BAD_ADDRESS, /* only $CORRAL_BROKER_SOCKET, and it is not an address */
};

/* $CORRAL_BROKER_SOCKET for ENV_ADDRESS and ENV_BOTH (address_listen). */
static char broker_address[64];
/* Where the app gets the broker: BROKER_CHILD_FD, or 3 as the daemon does. */
static int broker_child_fd = BROKER_CHILD_FD;

struct app {
	pid_t pid;       /* 0: slot free; also the process group id */
	int status;      /* from waitpid, once reaped */
	bool reaped;
	int out_fd;      /* read ends of the child's stdout and stderr */
	int err_fd;
	int broker_fd;   /* our end of the broker socketpair */
	char out[OUTPUT_MAX];
	size_t out_len;
	char err[OUTPUT_MAX];
	size_t err_len;
};

static char preload_path[PATH_MAX];
static struct app apps[MAX_APPS];

static long long
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
ms_left(long long deadline)
{
	long long left = deadline - now_ms();
	return left < 0 ? 0 : (int)left;
}

static void
close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Start argv[0] with the preload library and the given broker setup. */
static struct app *
app_start(const char *const argv[], enum broker_env env)
{
	struct app *app = NULL;
	for (size_t i = 0; i < MAX_APPS; i++) {
		if (apps[i].pid == 0) {
			app = &apps[i];
			break;
		}
	}
	assert_non_null(app);
	memset(app, 0, sizeof(*app));
	app->out_fd = app->err_fd = app->broker_fd = -1;

	int broker[2], out[2], err[2];
	int type = env == ENV_STREAM ? SOCK_STREAM : SOCK_SEQPACKET;
	assert_int_equal(socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, broker), 0);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	assert_int_equal(pipe2(err, O_CLOEXEC), 0);

	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* Own process group, so teardown can kill the app's children too. */
		setpgid(0, 0);
		/* dup2 clears FD_CLOEXEC on the copy: the app inherits these. */
		int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
		int src = env == ENV_ADDRESS ? null_fd : broker[1];
		char fd_s[16];
		snprintf(fd_s, sizeof(fd_s), "%d", broker_child_fd);
		if (dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0 ||
		    (src == broker_child_fd ? fcntl(src, F_SETFD, 0) :
		    dup2(src, broker_child_fd)) < 0)
			_exit(126);
		setenv("LD_PRELOAD", preload_path, 1);
		unsetenv(BROKER_ENV_SOCKET);
		switch (env) {
		case ENV_BROKER:
		case ENV_STREAM:
			setenv(BROKER_ENV_FD, fd_s, 1);
			break;
		case ENV_ADDRESS:
		case ENV_BOTH:
			setenv(BROKER_ENV_FD, fd_s, 1);
			setenv(BROKER_ENV_SOCKET, broker_address, 1);
			break;
		case ENV_BAD_ADDRESS:
			unsetenv(BROKER_ENV_FD);
			setenv(BROKER_ENV_SOCKET, "corral-broker", 1);
			break;
		case ENV_NONE:
			unsetenv(BROKER_ENV_FD);
			break;
		case ENV_STDOUT:
			setenv(BROKER_ENV_FD, "1", 1);
			break;
		case ENV_GARBAGE:
			setenv(BROKER_ENV_FD, "100x", 1);
			break;
		}
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	setpgid(pid, pid); /* both sides, whichever runs first */
	app->pid = pid;
	app->out_fd = out[0];
	app->err_fd = err[0];
	app->broker_fd = broker[0];
	close(broker[1]);
	close(out[1]);
	close(err[1]);
	return app;
}

/* Read whatever the app has written, waiting at most until deadline.
 * Returns false once both pipes are at EOF. */
static bool
app_pump(struct app *app, long long deadline)
{
	struct pollfd pfd[2] = {
		{.fd = app->out_fd, .events = POLLIN},
		{.fd = app->err_fd, .events = POLLIN},
	};
	if (app->out_fd < 0 && app->err_fd < 0)
		return false;
	int n = poll(pfd, 2, ms_left(deadline));
	if (n < 0 && errno != EINTR)
		fail_msg("poll: %s", strerror(errno));
	for (int i = 0; i < 2 && n > 0; i++) {
		if (pfd[i].fd < 0 || pfd[i].revents == 0)
			continue;
		char *buf = i == 0 ? app->out : app->err;
		size_t *len = i == 0 ? &app->out_len : &app->err_len;
		ssize_t r = read(pfd[i].fd, buf + *len, OUTPUT_MAX - 1 - *len);
		if (r > 0) {
			*len += (size_t)r;
			buf[*len] = '\0';
		} else if (r == 0 || (r < 0 && errno != EINTR)) {
			close_fd(i == 0 ? &app->out_fd : &app->err_fd);
		}
	}
	return app->out_fd >= 0 || app->err_fd >= 0;
}

/* Wait until stdout has a complete line starting with prefix; return a
 * pointer to it (inside app->out). Fails the test on timeout or EOF. */
static const char *
app_wait_line(struct app *app, const char *prefix)
{
	long long deadline = now_ms() + TIMEOUT_MS;
	for (;;) {
		const char *p = app->out;
		while (p != NULL && *p != '\0') {
			if (strncmp(p, prefix, strlen(prefix)) == 0 && strchr(p, '\n') != NULL)
				return p;
			p = strchr(p, '\n');
			if (p != NULL)
				p++;
		}
		if (now_ms() >= deadline || !app_pump(app, deadline))
			fail_msg("no \"%s\" line from the app; stdout: [%s] stderr: [%s]",
			    prefix, app->out, app->err);
	}
}

/* Wait for the app to exit (killing its group with sig first if sig != 0, and
 * with SIGKILL at the deadline), collect its output, reap it. */
static int
app_finish(struct app *app, int sig)
{
	if (sig != 0)
		kill(-app->pid, sig);
	long long deadline = now_ms() + TIMEOUT_MS;
	bool killed = false;
	for (;;) {
		if (!app_pump(app, deadline))
			break;
		if (now_ms() >= deadline) {
			kill(-app->pid, SIGKILL);
			killed = true;
			break;
		}
	}
	/* Stdout and stderr are closed: the app is exiting (or was killed). */
	while (waitpid(app->pid, &app->status, 0) < 0 && errno == EINTR)
		;
	app->reaped = true;
	/* Anything left in its group (a shell's child) goes too. */
	kill(-app->pid, SIGKILL);
	close_fd(&app->out_fd);
	close_fd(&app->err_fd);
	if (killed)
		fail_msg("the app did not exit; stdout: [%s] stderr: [%s]", app->out, app->err);
	return app->status;
}

static void
app_release(struct app *app)
{
	if (app->pid > 0 && !app->reaped) {
		kill(-app->pid, SIGKILL);
		while (waitpid(app->pid, &app->status, 0) < 0 && errno == EINTR)
			;
	}
	if (app->pid > 0)
		kill(-app->pid, SIGKILL);
	close_fd(&app->out_fd);
	close_fd(&app->err_fd);
	close_fd(&app->broker_fd);
	app->pid = 0;
}

static void
assert_exit_code(struct app *app, int code)
{
	if (!WIFEXITED(app->status) || WEXITSTATUS(app->status) != code)
		fail_msg("app status %#x, wanted exit %d; stdout: [%s] stderr: [%s]",
		    app->status, code, app->out, app->err);
}

static int
count_substr(const char *haystack, const char *needle)
{
	int n = 0;
	for (const char *p = strstr(haystack, needle); p != NULL; p = strstr(p + 1, needle))
		n++;
	return n;
}

/* Receive one request on a broker channel (fd): decode it into req and
 * return the reply channel that came with it. */
static int
broker_recv_on(struct app *app, int fd, struct broker_req *req)
{
	char buf[BROKER_MSG_MAX + 1];
	union {
		char buf[CMSG_SPACE(sizeof(int) * 4)];
		struct cmsghdr align;
	} control;
	struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
	struct msghdr mh = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = control.buf,
		.msg_controllen = sizeof(control.buf),
	};
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	long long deadline = now_ms() + TIMEOUT_MS;
	int n;
	do {
		n = poll(&pfd, 1, ms_left(deadline));
	} while (n < 0 && errno == EINTR);
	if (n != 1)
		fail_msg("no request from the app; stderr: [%s]", app->err);
	ssize_t len = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	assert_true(len > 0);
	assert_int_equal(mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC), 0);

	int fds = 0, channel = -1;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
		assert_int_equal(cm->cmsg_level, SOL_SOCKET);
		assert_int_equal(cm->cmsg_type, SCM_RIGHTS);
		fds += (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		memcpy(&channel, CMSG_DATA(cm), sizeof(int));
	}
	assert_int_equal(fds, 1);

	/* The reply channel is a SOCK_SEQPACKET unix socket. */
	int type = 0;
	socklen_t tlen = sizeof(type);
	assert_int_equal(getsockopt(channel, SOL_SOCKET, SO_TYPE, &type, &tlen), 0);
	assert_int_equal(type, SOCK_SEQPACKET);

	buf[len] = '\0';
	if (broker_req_decode(buf, (size_t)len, req) != 0)
		fail_msg("undecodable request \"%s\"", buf);
	return channel;
}

static int
broker_recv(struct app *app, struct broker_req *req)
{
	return broker_recv_on(app, app->broker_fd, req);
}

/* Listen at a fresh abstract address, as the daemon does for each process;
 * broker_address names it. Returns the listening socket. */
static int
address_listen(void)
{
	static unsigned serial;
	struct sockaddr_un sa;
	socklen_t sa_len;
	snprintf(broker_address, sizeof(broker_address), "@corral-test-preload-%d-%u",
	    (int)getpid(), serial++);
	assert_int_equal(broker_addr_parse(broker_address, strlen(broker_address), &sa,
	    &sa_len), 0);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sa_len), 0);
	assert_int_equal(listen(fd, 8), 0);
	return fd;
}

/* Accept the app's connection to the broker address; *pid gets the pid
 * that connected (SO_PEERCRED). */
static int
address_accept(struct app *app, int listen_fd, pid_t *pid)
{
	struct pollfd pfd = {.fd = listen_fd, .events = POLLIN};
	long long deadline = now_ms() + TIMEOUT_MS;
	int n;
	do {
		n = poll(&pfd, 1, ms_left(deadline));
	} while (n < 0 && errno == EINTR);
	if (n != 1)
		fail_msg("no connection from the app; stderr: [%s]", app->err);
	int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(fd >= 0);
	struct ucred cred;
	socklen_t len = sizeof(cred);
	assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len), 0);
	*pid = cred.pid;
	return fd;
}

/* Send a raw reply text on the channel, with fd attached if fd >= 0. */
static void
broker_send(int channel, const char *text, int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} control;
	struct iovec iov = {.iov_base = (void *)text, .iov_len = strlen(text)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	if (fd >= 0) {
		memset(&control, 0, sizeof(control));
		mh.msg_control = control.buf;
		mh.msg_controllen = sizeof(control.buf);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	assert_int_equal(sendmsg(channel, &mh, MSG_NOSIGNAL), (ssize_t)strlen(text));
}

/* Encode and send a reply, as the daemon would. */
static void
broker_reply(int channel, enum broker_reply_kind kind, int err, const char *msg, int fd)
{
	struct broker_reply rep = {.kind = kind, .err = err};
	char buf[BROKER_MSG_MAX + 1];
	snprintf(rep.msg, sizeof(rep.msg), "%s", msg);
	assert_true(broker_reply_encode(&rep, buf, sizeof(buf)) > 0);
	broker_send(channel, buf, fd);
}

static socklen_t
make_addr(int family, const char *addr, uint16_t port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		assert_int_equal(inet_pton(AF_INET, addr, &sin->sin_addr), 1);
		return sizeof(*sin);
	}
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(port);
	assert_int_equal(inet_pton(AF_INET6, addr, &sin6->sin6_addr), 1);
	return sizeof(*sin6);
}

static uint16_t
local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

/* The daemon's side of a listener: a listening socket on addr, port 0.
 * Returns the fd; *port gets the port the kernel chose. */
static int
daemon_listener(int family, const char *addr, bool v6only, bool nonblock, uint16_t *port)
{
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
	assert_true(fd >= 0);
	int one = 1, v6 = v6only;
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
	if (family == AF_INET6)
		assert_int_equal(setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6, sizeof(v6)), 0);
	struct sockaddr_storage ss;
	socklen_t len = make_addr(family, addr, 0, &ss);
	assert_int_equal(bind(fd, (struct sockaddr *)&ss, len), 0);
	assert_int_equal(listen(fd, 128), 0);
	*port = local_port(fd);
	return fd;
}

/* A TCP port that was free a moment ago on 127.0.0.1 (and ::1 when asked). */
static uint16_t
free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_storage ss;
	socklen_t len = make_addr(AF_INET, "127.0.0.1", 0, &ss);
	assert_int_equal(bind(fd, (struct sockaddr *)&ss, len), 0);
	uint16_t port = local_port(fd);
	close(fd);
	return port;
}

/* Can this port be bound on 127.0.0.1 right now (nobody holds it)? */
static bool
port_is_free(uint16_t port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_storage ss;
	socklen_t len = make_addr(AF_INET, "127.0.0.1", port, &ss);
	bool ok = bind(fd, (struct sockaddr *)&ss, len) == 0;
	close(fd);
	return ok;
}

/* Connect to addr:port, send request (may be NULL), read until EOF. The
 * answer goes to buf (NUL-terminated); timeouts keep this from hanging. */
static void
fetch(int family, const char *addr, uint16_t port, const char *request, char *buf,
    size_t cap)
{
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct timeval tv = {.tv_sec = TIMEOUT_MS / 1000};
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)), 0);
	struct sockaddr_storage ss;
	socklen_t len = make_addr(family, addr, port, &ss);
	if (connect(fd, (struct sockaddr *)&ss, len) != 0)
		fail_msg("connect to %s port %u: %s", addr, port, strerror(errno));
	if (request != NULL)
		assert_int_equal(send(fd, request, strlen(request), MSG_NOSIGNAL),
		    (ssize_t)strlen(request));
	size_t n = 0;
	for (;;) {
		ssize_t r = recv(fd, buf + n, cap - 1 - n, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			fail_msg("recv from port %u: %s", port, strerror(errno));
		if (r == 0 || (n += (size_t)r) == cap - 1)
			break;
	}
	buf[n] = '\0';
	close(fd);
}

/* What the app's "bound" line says. */
struct bound {
	char addr[64];
	unsigned port;
	int nonblock;
	int cloexec;
	int pid;
};

static struct bound
app_wait_bound(struct app *app)
{
	struct bound b;
	const char *line = app_wait_line(app, "bound ");
	if (sscanf(line, "bound %63s %u nonblock=%d cloexec=%d pid=%d", b.addr, &b.port,
	        &b.nonblock, &b.cloexec, &b.pid) != 5)
		fail_msg("bad line from the app: %s", line);
	return b;
}

static bool
have_ipv6(void)
{
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	struct sockaddr_storage ss;
	socklen_t len = make_addr(AF_INET6, "::1", 0, &ss);
	bool ok = bind(fd, (struct sockaddr *)&ss, len) == 0;
	close(fd);
	return ok;
}

/* Start the python app: family, port, options. */
static struct app *
python_start(const char *family, uint16_t port, const char *opts, enum broker_env env)
{
	char port_s[16];
	snprintf(port_s, sizeof(port_s), "%u", port);
	const char *argv[] = {PYTHON, "-c", app_script, family, port_s, opts, NULL};
	return app_start(argv, env);
}

/* Check the app got nothing from corral: the broker saw no request. Call
 * after the app exited, so anything it sent is already queued. */
static void
assert_no_request(struct app *app)
{
	char buf[BROKER_MSG_MAX];
	ssize_t n = recv(app->broker_fd, buf, sizeof(buf), MSG_DONTWAIT);
	/* 0: the app's end is closed and nothing was ever sent. */
	if (n != 0)
		fail_msg("the broker got something (recv returned %zd)", n);
}

/* "ok": the app's socket becomes the daemon's; the app accepts on it. */
static void
test_ok_v4(void **state)
{
	uint16_t p = free_port(), q;
	struct app *app = python_start("4", p, "-", ENV_BROKER);

	struct broker_req req;
	int channel = broker_recv(app, &req);
	assert_int_equal(req.family, 4);
	assert_string_equal(req.addr, "127.0.0.1");
	assert_int_equal(req.port, p);
	assert_false(req.v6only);

	/* Non-blocking on the daemon's side, blocking in the app: the app's
	 * choice must win. */
	int listener = daemon_listener(AF_INET, "127.0.0.1", false, true, &q);
	assert_int_not_equal(q, p);
	broker_reply(channel, BROKER_OK, 0, "", listener);
	close(channel);

	struct bound b = app_wait_bound(app);
	assert_string_equal(b.addr, "127.0.0.1");
	assert_int_equal(b.port, q);
	assert_int_equal(b.nonblock, 0);
	assert_int_equal(b.cloexec, 1);
	/* The app never bound its own port. */
	assert_true(port_is_free(p));
	/* The app's listen(16) went through to the shared socket: the backlog
	 * is the app's, not the daemon's 128 (TCP_INFO on a listening socket
	 * reports it as tcpi_sacked). */
	struct tcp_info ti;
	socklen_t ti_len = sizeof(ti);
	assert_int_equal(getsockopt(listener, IPPROTO_TCP, TCP_INFO, &ti, &ti_len), 0);
	assert_int_equal(ti.tcpi_sacked, 16);

	char answer[64];
	fetch(AF_INET, "127.0.0.1", q, NULL, answer, sizeof(answer));
	assert_string_equal(answer, "hello\n");

	app_finish(app, 0);
	assert_exit_code(app, 0);
	assert_string_equal(app->err, "");
	close(listener);
}

/* The app's O_NONBLOCK and a cleared FD_CLOEXEC survive the swap. */
static void
test_ok_keeps_flags(void **state)
{
	static const struct {
		const char *opts;
		int nonblock;
		int cloexec;
	} cases[] = {
		{"nonblock", 1, 1},
		{"inherit", 0, 0},
		{"nonblock,inherit", 1, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint16_t p = free_port(), q;
		struct app *app = python_start("4", p, cases[i].opts, ENV_BROKER);
		struct broker_req req;
		int channel = broker_recv(app, &req);
		assert_int_equal(req.port, p);
		int listener = daemon_listener(AF_INET, "127.0.0.1", false,
		    !cases[i].nonblock, &q);
		broker_reply(channel, BROKER_OK, 0, "", listener);
		close(channel);

		struct bound b = app_wait_bound(app);
		assert_int_equal(b.port, q);
		assert_int_equal(b.nonblock, cases[i].nonblock);
		assert_int_equal(b.cloexec, cases[i].cloexec);

		char answer[64];
		fetch(AF_INET, "127.0.0.1", q, NULL, answer, sizeof(answer));
		assert_string_equal(answer, "hello\n");
		app_finish(app, 0);
		assert_exit_code(app, 0);
		assert_string_equal(app->err, "");
		app_release(app);
		close(listener);
	}
}

/* Answer "pass" on channel: the app binds port p itself (and, if it
 * accepts, answers there), then exits quietly. */
static void
pass_and_finish(struct app *app, int channel, uint16_t p, bool accepts)
{
	broker_reply(channel, BROKER_PASS, 0, "", -1);
	close(channel);
	struct bound b = app_wait_bound(app);
	assert_int_equal(b.port, p);
	if (accepts) {
		char answer[64];
		fetch(AF_INET, "127.0.0.1", p, NULL, answer, sizeof(answer));
		assert_string_equal(answer, "hello\n");
	}
	app_finish(app, 0);
	assert_exit_code(app, 0);
	assert_string_equal(app->err, "");
}

/* "pass": the app binds its own port. */
static void
test_pass(void **state)
{
	uint16_t p = free_port();
	struct app *app = python_start("4", p, "-", ENV_BROKER);
	struct broker_req req;
	int channel = broker_recv(app, &req);
	assert_int_equal(req.port, p);
	pass_and_finish(app, channel, p, true);
}

/* "err": bind() fails with the daemon's errno; the message reaches stderr. */
static void
test_err(void **state)
{
	uint16_t p = free_port();
	struct app *app = python_start("4", p, "-", ENV_BROKER);
	struct broker_req req;
	int channel = broker_recv(app, &req);
	broker_reply(channel, BROKER_ERR, EADDRINUSE, "address in use", -1);
	close(channel);

	app_wait_line(app, "error 98\n");
	app_finish(app, 0);
	assert_exit_code(app, 3);
	assert_int_equal(count_substr(app->err, "corral-preload: "), 1);
	assert_non_null(strstr(app->err, "address in use"));
	/* Nothing was bound behind the daemon's back. */
	assert_true(port_is_free(p));
}

/* Broken daemons: the app binds its port directly and says so once. */
static void
test_fallback(void **state)
{
	static const struct {
		const char *what;
		const char *reply;  /* NULL: close the channel without a reply */
		int attach;         /* 0 none, 1 the daemon's listener, 2 a UDP socket, 3 a TCP socket not listening */
		const char *reason;
	} cases[] = {
		{"closed", NULL, 0, "the daemon closed the reply channel"},
		{"malformed", "okay", 1, "malformed reply"},
		{"bad errno", "err 0 zero", 0, "malformed reply"},
		{"ok without fd", "ok", 0, "the reply carried no socket"},
		{"ok with UDP", "ok", 2, "the daemon sent a socket of the wrong kind"},
		{"ok not listening", "ok", 3, "the daemon sent a socket of the wrong kind"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint16_t p = free_port(), q;
		struct app *app = python_start("4", p, "-", ENV_BROKER);
		struct broker_req req;
		int channel = broker_recv(app, &req);
		int fd = -1;
		if (cases[i].attach == 1)
			fd = daemon_listener(AF_INET, "127.0.0.1", false, false, &q);
		else if (cases[i].attach == 2)
			fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		else if (cases[i].attach == 3)
			fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (cases[i].reply != NULL)
			broker_send(channel, cases[i].reply, fd);
		close(channel);

		struct bound b = app_wait_bound(app);
		if (b.port != p)
			fail_msg("%s: app on port %u, wanted %u", cases[i].what, b.port, p);
		char answer[64];
		fetch(AF_INET, "127.0.0.1", p, NULL, answer, sizeof(answer));
		assert_string_equal(answer, "hello\n");
		app_finish(app, 0);
		assert_exit_code(app, 0);

		char want[256];
		snprintf(want, sizeof(want),
		    "corral-preload: cannot get 127.0.0.1:%u from the corral daemon (%s); "
		    "binding it directly\n", p, cases[i].reason);
		if (strcmp(app->err, want) != 0)
			fail_msg("%s: stderr [%s], wanted [%s]", cases[i].what, app->err, want);
		app_release(app);
		if (fd >= 0)
			close(fd);
	}
}

/* The daemon is gone before the app binds: same fallback, at once. */
static void
test_broker_gone(void **state)
{
	uint16_t p = free_port();
	struct app *app = python_start("4", p, "noaccept", ENV_BROKER);
	close_fd(&app->broker_fd);
	long long start = now_ms();
	struct bound b = app_wait_bound(app);
	assert_int_equal(b.port, p);
	assert_true(now_ms() - start < TIMEOUT_MS / 2);
	app_finish(app, 0);
	assert_exit_code(app, 0);
	char want[512];
	snprintf(want, sizeof(want), "corral-preload: cannot reach the corral daemon's broker "
	    "(CORRAL_BROKER_FD: cannot send on it: EPIPE; CORRAL_BROKER_SOCKET: not set): "
	    "port %u is not shared; binding 127.0.0.1:%u directly, so the app's other "
	    "instances will fail to bind it\n", p, p);
	assert_string_equal(app->err, want);
}

/* No broker, or something that is not one: the app binds its port itself
 * (its other instances will not), and says why in one line. */
static void
test_no_broker(void **state)
{
	static const struct {
		enum broker_env env;
		const char *why;
	} cases[] = {
		{ENV_NONE, "CORRAL_BROKER_FD and CORRAL_BROKER_SOCKET are not set"},
		{ENV_STDOUT, "CORRAL_BROKER_FD: that fd is not a broker socket in this process; "
		    "CORRAL_BROKER_SOCKET: not set"},
		{ENV_GARBAGE, "CORRAL_BROKER_FD: not a number; CORRAL_BROKER_SOCKET: not set"},
		{ENV_STREAM, "CORRAL_BROKER_FD: that fd is not a broker socket in this process; "
		    "CORRAL_BROKER_SOCKET: not set"},
		{ENV_BAD_ADDRESS, "CORRAL_BROKER_FD: not set; CORRAL_BROKER_SOCKET: not a unix "
		    "socket address"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint16_t p = free_port();
		struct app *app = python_start("4", p, "noaccept", cases[i].env);
		struct bound b = app_wait_bound(app);
		assert_int_equal(b.port, p);
		app_finish(app, 0);
		assert_exit_code(app, 0);
		assert_no_request(app);
		char want[512];
		snprintf(want, sizeof(want), "corral-preload: cannot reach the corral daemon's "
		    "broker (%s): port %u is not shared; binding 127.0.0.1:%u directly, so the "
		    "app's other instances will fail to bind it\n", cases[i].why, p, p);
		assert_string_equal(app->err, want);
		app_release(app);
	}
}

/* The fd in $CORRAL_BROKER_FD is not the broker (a grandchild has /dev/null
 * there): the library connects to $CORRAL_BROKER_SOCKET and asks on that
 * connection, which it closes once the request is sent. */
static void
test_address(void **state)
{
	int listen_fd = address_listen();
	uint16_t p = free_port(), q;
	struct app *app = python_start("4", p, "-", ENV_ADDRESS);
	pid_t pid;
	int conn = address_accept(app, listen_fd, &pid);
	assert_int_equal(pid, app->pid);
	struct broker_req req;
	int channel = broker_recv_on(app, conn, &req);
	assert_int_equal(req.port, p);
	/* One request per connection: the app has closed its end. */
	char buf[8];
	assert_int_equal(recv(conn, buf, sizeof(buf), 0), 0);
	int listener = daemon_listener(AF_INET, "127.0.0.1", false, false, &q);
	broker_reply(channel, BROKER_OK, 0, "", listener);
	close(channel);
	struct bound b = app_wait_bound(app);
	assert_int_equal(b.port, q);
	char answer[64];
	fetch(AF_INET, "127.0.0.1", q, NULL, answer, sizeof(answer));
	assert_string_equal(answer, "hello\n");
	app_finish(app, 0);
	assert_exit_code(app, 0);
	assert_string_equal(app->err, "");
	assert_true(port_is_free(p));
	close(conn);
	close(listener);
	close(listen_fd);
}

/* The inherited channel is there: it is used, the address is not. */
static void
test_fd_before_address(void **state)
{
	int listen_fd = address_listen();
	uint16_t p = free_port();
	struct app *app = python_start("4", p, "noaccept", ENV_BOTH);
	struct broker_req req;
	pass_and_finish(app, broker_recv(app, &req), p, false);
	struct pollfd pfd = {.fd = listen_fd, .events = POLLIN};
	assert_int_equal(poll(&pfd, 1, 0), 0);
	close(listen_fd);
}

/* The inherited channel is closed (the daemon's end went): the address is
 * the other way. */
static void
test_address_after_closed_fd(void **state)
{
	int listen_fd = address_listen();
	uint16_t p = free_port();
	struct app *app = python_start("4", p, "noaccept", ENV_BOTH);
	close_fd(&app->broker_fd);
	pid_t pid;
	int conn = address_accept(app, listen_fd, &pid);
	struct broker_req req;
	int channel = broker_recv_on(app, conn, &req);
	assert_int_equal(req.port, p);
	pass_and_finish(app, channel, p, false);
	close(conn);
	close(listen_fd);
}

/* Nobody listens at the address (the daemon is gone): one loud line that
 * names both ways and the port, then the app's own bind. */
static void
test_address_unreachable(void **state)
{
	close(address_listen());
	uint16_t p = free_port();
	struct app *app = python_start("4", p, "noaccept", ENV_ADDRESS);
	struct bound b = app_wait_bound(app);
	assert_int_equal(b.port, p);
	app_finish(app, 0);
	assert_exit_code(app, 0);
	char want[512];
	snprintf(want, sizeof(want), "corral-preload: cannot reach the corral daemon's broker "
	    "(CORRAL_BROKER_FD: that fd is not a broker socket in this process; "
	    "CORRAL_BROKER_SOCKET: cannot connect: ECONNREFUSED): port %u is not shared; "
	    "binding 127.0.0.1:%u directly, so the app's other instances will fail to bind "
	    "it\n", p, p);
	assert_string_equal(app->err, want);
}

/* What npm, yarn and pnpm do: node runs the server through sh -c with
 * child_process.spawn. Node marks the low fds it inherited close-on-exec
 * (uv_disable_stdio_inheritance), so with the broker at fd 3, as the daemon
 * passes it, the server (python, two levels down) has another file there
 * or none: it connects to the address. */
static void
test_grandchild_of_node(void **state)
{
	if (access(NODE, X_OK) != 0)
		skip();
	broker_child_fd = 3;
	int listen_fd = address_listen();
	uint16_t p = free_port(), q;
	char port_s[16];
	snprintf(port_s, sizeof(port_s), "%u", p);
	const char *argv[] = {NODE, "-e",
	    "const c = require('child_process').spawn('/bin/sh', ['-c', '\"$0\" \"$@\"; exit $?',"
	    " ...process.argv.slice(1)], {stdio: 'inherit'});"
	    "c.on('exit', (code) => process.exit(code));",
	    PYTHON, "-c", app_script, "4", port_s, "-", NULL};
	struct app *app = app_start(argv, ENV_BOTH);
	pid_t pid;
	int conn = address_accept(app, listen_fd, &pid);
	assert_int_not_equal(pid, app->pid);
	assert_int_equal(getpgid(pid), app->pid);
	struct broker_req req;
	int channel = broker_recv_on(app, conn, &req);
	assert_int_equal(req.port, p);
	int listener = daemon_listener(AF_INET, "127.0.0.1", false, false, &q);
	broker_reply(channel, BROKER_OK, 0, "", listener);
	close(channel);
	struct bound b = app_wait_bound(app);
	assert_int_equal(b.port, q);
	assert_int_equal(b.pid, pid);
	char answer[64];
	fetch(AF_INET, "127.0.0.1", q, NULL, answer, sizeof(answer));
	assert_string_equal(answer, "hello\n");
	app_finish(app, 0);
	assert_exit_code(app, 0);
	assert_string_equal(app->err, "");
	/* Nothing came on the inherited channel. */
	assert_no_request(app);
	close(conn);
	close(listener);
	close(listen_fd);
}

/* UDP, port 0 and unix sockets never reach the broker. */
static void
test_not_brokered(void **state)
{
	uint16_t p = free_port();
	char port_s[16], path[108];
	snprintf(port_s, sizeof(port_s), "%u", p);
	snprintf(path, sizeof(path), "/tmp/corral-test-preload-%d.sock", (int)getpid());
	unlink(path);
	const char *argv[] = {PYTHON, "-c", app_script, "others", port_s, path, NULL};
	struct app *app = app_start(argv, ENV_BROKER);
	app_wait_line(app, "unix ok\n");
	app_finish(app, 0);
	unlink(path);
	assert_exit_code(app, 0);
	char want[64];
	snprintf(want, sizeof(want), "udp 127.0.0.1 %u ", p);
	assert_non_null(strstr(app->out, want));
	assert_non_null(strstr(app->out, "tcp0 127.0.0.1 "));
	assert_no_request(app);
	assert_string_equal(app->err, "");
}

/* IPv6 "::" dual-stack: family 6, v6only 0; and a v6only bind of ::1. */
static void
test_ipv6(void **state)
{
	if (!have_ipv6())
		skip();
	uint16_t p = free_port(), q;
	struct app *app = python_start("6", p, "-", ENV_BROKER);
	struct broker_req req;
	int channel = broker_recv(app, &req);
	assert_int_equal(req.family, 6);
	assert_string_equal(req.addr, "::");
	assert_int_equal(req.port, p);
	assert_false(req.v6only);
	int listener = daemon_listener(AF_INET6, "::", false, false, &q);
	broker_reply(channel, BROKER_OK, 0, "", listener);
	close(channel);
	struct bound b = app_wait_bound(app);
	assert_string_equal(b.addr, "::");
	assert_int_equal(b.port, q);
	/* Dual-stack: reachable over IPv4 too. */
	char answer[64];
	fetch(AF_INET, "127.0.0.1", q, NULL, answer, sizeof(answer));
	assert_string_equal(answer, "hello\n");
	app_finish(app, 0);
	assert_exit_code(app, 0);
	assert_string_equal(app->err, "");
	app_release(app);
	close(listener);

	p = free_port();
	app = python_start("6only", p, "-", ENV_BROKER);
	channel = broker_recv(app, &req);
	assert_int_equal(req.family, 6);
	assert_string_equal(req.addr, "::1");
	assert_int_equal(req.port, p);
	assert_true(req.v6only);
	broker_reply(channel, BROKER_PASS, 0, "", -1);
	close(channel);
	b = app_wait_bound(app);
	assert_int_equal(b.port, p);
	fetch(AF_INET6, "::1", p, NULL, answer, sizeof(answer));
	assert_string_equal(answer, "hello\n");
	app_finish(app, 0);
	assert_exit_code(app, 0);
}

/* Two threads bind at once: each gets its own reply, whatever the order. */
static void
test_threads(void **state)
{
	uint16_t p1 = free_port(), p2, q1, q2;
	do
		p2 = free_port();
	while (p2 == p1);
	char p1_s[16], p2_s[16];
	snprintf(p1_s, sizeof(p1_s), "%u", p1);
	snprintf(p2_s, sizeof(p2_s), "%u", p2);
	const char *argv[] = {PYTHON, "-c", app_script, "threads", p1_s, p2_s, NULL};
	struct app *app = app_start(argv, ENV_BROKER);

	/* Both requests are in flight before either is answered. */
	struct broker_req req_a, req_b;
	int chan_a = broker_recv(app, &req_a);
	int chan_b = broker_recv(app, &req_b);
	assert_true((req_a.port == p1 && req_b.port == p2) ||
	    (req_a.port == p2 && req_b.port == p1));
	int l1 = daemon_listener(AF_INET, "127.0.0.1", false, false, &q1);
	int l2 = daemon_listener(AF_INET, "127.0.0.1", false, false, &q2);
	/* Answer the later request first. */
	broker_reply(chan_b, BROKER_OK, 0, "", req_b.port == p1 ? l1 : l2);
	broker_reply(chan_a, BROKER_OK, 0, "", req_a.port == p1 ? l1 : l2);
	close(chan_a);
	close(chan_b);

	char want[64];
	snprintf(want, sizeof(want), "threads %u=%u %u=%u\n", p1, q1, p2, q2);
	app_wait_line(app, "threads ");
	assert_string_equal(app->out, want);
	app_finish(app, 0);
	assert_exit_code(app, 0);
	close(l1);
	close(l2);
}

/* sh -c "python3 ..." (no exec): the shell's child gets the socket too. */
static void
test_child_of_shell(void **state)
{
	uint16_t p = free_port(), q;
	char port_s[16];
	snprintf(port_s, sizeof(port_s), "%u", p);
	const char *argv[] = {"/bin/sh", "-c", "\"$0\" \"$@\"; exit $?", PYTHON, "-c",
	    app_script, "4", port_s, "-", NULL};
	struct app *app = app_start(argv, ENV_BROKER);
	struct broker_req req;
	int channel = broker_recv(app, &req);
	assert_int_equal(req.port, p);
	int listener = daemon_listener(AF_INET, "127.0.0.1", false, false, &q);
	broker_reply(channel, BROKER_OK, 0, "", listener);
	close(channel);
	struct bound b = app_wait_bound(app);
	assert_int_equal(b.port, q);
	assert_int_not_equal(b.pid, app->pid); /* really a child of the shell */
	char answer[64];
	fetch(AF_INET, "127.0.0.1", q, NULL, answer, sizeof(answer));
	assert_string_equal(answer, "hello\n");
	app_finish(app, 0);
	assert_exit_code(app, 0);
	assert_string_equal(app->err, "");
	close(listener);
}

/* An unmodified node HTTP server gets the daemon's socket. */
static void
test_node(void **state)
{
	if (access(NODE, X_OK) != 0)
		skip();
	uint16_t p = free_port(), q;
	char port_s[16];
	snprintf(port_s, sizeof(port_s), "%u", p);
	const char *argv[] = {NODE, "-e",
	    "const s = require('http').createServer((q, r) => r.end('hi from node'));"
	    "s.listen(+process.argv[1], () => console.log('addr ' + JSON.stringify(s.address())));",
	    port_s, NULL};
	struct app *app = app_start(argv, ENV_BROKER);

	struct broker_req req;
	int channel = broker_recv(app, &req);
	assert_int_equal(req.port, p);
	assert_false(req.v6only);
	int listener;
	if (req.family == 6) {
		/* node binds "::" dual-stack when the host has IPv6. */
		assert_string_equal(req.addr, "::");
		listener = daemon_listener(AF_INET6, "::", false, false, &q);
	} else {
		assert_string_equal(req.addr, "0.0.0.0");
		listener = daemon_listener(AF_INET, "0.0.0.0", false, false, &q);
	}
	broker_reply(channel, BROKER_OK, 0, "", listener);
	close(channel);

	const char *line = app_wait_line(app, "addr ");
	char want[32];
	snprintf(want, sizeof(want), "\"port\":%u}", q);
	if (strstr(line, want) == NULL)
		fail_msg("node reports %s, wanted port %u", line, q);

	char answer[512];
	fetch(AF_INET, "127.0.0.1", q, "GET / HTTP/1.0\r\nHost: test\r\n\r\n", answer,
	    sizeof(answer));
	assert_true(strncmp(answer, "HTTP/1.1 200", 12) == 0);
	assert_non_null(strstr(answer, "\r\n\r\nhi from node"));
	assert_true(port_is_free(p));

	app_finish(app, SIGTERM);
	assert_true(WIFSIGNALED(app->status) && WTERMSIG(app->status) == SIGTERM);
	assert_string_equal(app->err, "");
	close(listener);
}

static int
teardown(void **state)
{
	broker_child_fd = BROKER_CHILD_FD;
	for (size_t i = 0; i < MAX_APPS; i++)
		app_release(&apps[i]);
	return 0;
}

static int
group_setup(void **state)
{
	const char *path = getenv("CORRAL_PRELOAD");
	if (path == NULL || *path == '\0')
		path = "build/libcorral-preload.so";
	if (realpath(path, preload_path) == NULL) {
		fprintf(stderr, "test_preload: cannot find the library at %s (%s); run from "
		    "the repository root after make, or set CORRAL_PRELOAD\n", path,
		    strerror(errno));
		return -1;
	}
	if (access(PYTHON, X_OK) != 0) {
		fprintf(stderr, "test_preload: %s is needed\n", PYTHON);
		return -1;
	}
	signal(SIGPIPE, SIG_IGN);
	for (size_t i = 0; i < MAX_APPS; i++)
		apps[i].out_fd = apps[i].err_fd = apps[i].broker_fd = -1;
	return 0;
}

#define T(f) cmocka_unit_test_teardown(f, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_ok_v4),
		T(test_ok_keeps_flags),
		T(test_pass),
		T(test_err),
		T(test_fallback),
		T(test_broker_gone),
		T(test_no_broker),
		T(test_address),
		T(test_fd_before_address),
		T(test_address_after_closed_fd),
		T(test_address_unreachable),
		T(test_grandchild_of_node),
		T(test_not_brokered),
		T(test_ipv6),
		T(test_threads),
		T(test_child_of_shell),
		T(test_node),
	};
	return cmocka_run_group_tests(tests, group_setup, NULL);
}
