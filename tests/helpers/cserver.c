/*
 * cserver — a small HTTP server for corral's tests that takes its listening
 * sockets from systemd-style socket activation (LISTEN_FDS, LISTEN_PID,
 * LISTEN_FDNAMES, fds from 3). It never binds anything itself. Each request
 * on a new connection gets "pid=<pid> instance=<NODE_APP_INSTANCE>
 * fds=<LISTEN_FDS> names=<LISTEN_FDNAMES>" and the connection is closed.
 * SIGINT/SIGTERM: stop accepting and exit 0 (the handler is installed
 * without SA_RESTART so a blocking accept() returns EINTR). Exits 2 when LISTEN_FDS is
 * missing or LISTEN_PID is not our pid.
 *
 * `cserver --bind PORT` binds 127.0.0.1:PORT itself instead (in cluster mode
 * that bind goes through corral's broker, as a Node server's would): a
 * server small enough to run hundreds of instances of.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_FDS 16

static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void
serve(int fd)
{
	char req[4096];
	size_t have = 0;
	/* Read until the end of the request head (or EOF, or a full buffer). */
	while (have < sizeof(req) - 1) {
		ssize_t n = read(fd, req + have, sizeof(req) - 1 - have);
		if (n <= 0)
			break;
		have += (size_t)n;
		req[have] = '\0';
		if (strstr(req, "\r\n\r\n"))
			break;
	}
	const char *inst = getenv("NODE_APP_INSTANCE");
	const char *names = getenv("LISTEN_FDNAMES");
	const char *fds = getenv("LISTEN_FDS");
	char body[512], out[768];
	int blen = snprintf(body, sizeof(body), "pid=%d instance=%s fds=%s names=%s\n",
	    (int)getpid(), inst ? inst : "", fds ? fds : "", names ? names : "");
	int olen = snprintf(out, sizeof(out), "HTTP/1.0 200 OK\r\nContent-Length: %d\r\n"
	    "Connection: close\r\n\r\n%s", blen, body);
	ssize_t off = 0;
	while (off < olen) {
		ssize_t n = write(fd, out + off, (size_t)(olen - off));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += n;
	}
	close(fd);
}

/* The first listening socket: 3 under socket activation. */
static int first_fd = 3;

/* Bind and listen on 127.0.0.1:port; the socket, or -1. */
static int
bind_port(const char *port_s)
{
	int port = atoi(port_s);
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (port <= 0 || port > 65535 || bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(s, 511) < 0) {
		fprintf(stderr, "cserver: cannot listen on 127.0.0.1:%s: %s\n", port_s,
		    strerror(errno));
		return -1;
	}
	return s;
}

int
main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--bind") == 0) {
		if ((first_fd = bind_port(argv[2])) < 0)
			return 1;
		char pid[32];
		snprintf(pid, sizeof(pid), "%d", (int)getpid());
		setenv("LISTEN_FDS", "1", 1);
		setenv("LISTEN_PID", pid, 1);
	}
	const char *nfds_s = getenv("LISTEN_FDS");
	const char *pid_s = getenv("LISTEN_PID");
	if (!nfds_s || !pid_s || atoi(pid_s) != (int)getpid()) {
		fprintf(stderr, "cserver: no socket activation (LISTEN_FDS=%s LISTEN_PID=%s, pid %d)\n",
		    nfds_s ? nfds_s : "", pid_s ? pid_s : "", (int)getpid());
		return 2;
	}
	int n = atoi(nfds_s);
	if (n < 1 || n > MAX_FDS) {
		fprintf(stderr, "cserver: LISTEN_FDS=%s\n", nfds_s);
		return 2;
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	printf("cserver pid %d serving %d socket(s): %s\n", (int)getpid(), n,
	    getenv("LISTEN_FDNAMES") ? getenv("LISTEN_FDNAMES") : "");
	fflush(stdout);
	/* Like many small servers: a plain blocking accept() on the first
	 * socket (systemd hands sockets over in blocking mode), polling the
	 * others only when there are several. */
	if (n == 1) {
		while (!stop) {
			int c = accept4(first_fd, NULL, NULL, SOCK_CLOEXEC);
			if (c >= 0)
				serve(c);
			else if (errno != EINTR) {
				fprintf(stderr, "cserver: accept: %s\n", strerror(errno));
				return 1;
			}
		}
		return 0;
	}
	struct pollfd pfd[MAX_FDS];
	for (int i = 0; i < n; i++) {
		pfd[i].fd = first_fd + i;
		pfd[i].events = POLLIN;
	}
	while (!stop) {
		int r = poll(pfd, (nfds_t)n, 1000);
		if (r < 0 && errno != EINTR)
			return 1;
		for (int i = 0; r > 0 && i < n; i++) {
			if (!(pfd[i].revents & POLLIN))
				continue;
			int c = accept4(pfd[i].fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
			if (c >= 0) {
				int fl = 0;
				ioctl(c, FIONBIO, &fl);
				serve(c);
			}
		}
	}
	return 0;
}
