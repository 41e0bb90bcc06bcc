/*
 * quickhttp — the benchmark's fast-starting HTTP app: it binds 127.0.0.1:$PORT
 * itself and answers every request on a new connection with its pid (X-Pid
 * header and body), then closes. It is ready within a millisecond of exec, so
 * in the crash scenario the time from kill -9 to a new answer is almost all
 * the process manager's own (noticing the death, deciding, forking, exec'ing).
 * SIGINT/SIGTERM end it at once.
 */
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void
serve(int fd, const char *reply, size_t len)
{
	char req[2048];
	size_t have = 0;
	while (have < sizeof(req) - 1) {
		ssize_t n = read(fd, req + have, sizeof(req) - 1 - have);
		if (n <= 0)
			return;
		have += (size_t)n;
		req[have] = '\0';
		if (strstr(req, "\r\n\r\n"))
			break;
	}
	size_t off = 0;
	while (off < len) {
		ssize_t n = write(fd, reply + off, len - off);
		if (n <= 0)
			return;
		off += (size_t)n;
	}
}

int
main(void)
{
	const char *p = getenv("PORT");
	int port = p ? atoi(p) : 0;
	if (port <= 0 || port > 65535) {
		fprintf(stderr, "quickhttp: PORT must be set to a port number\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	int s = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s, 511) < 0) {
		perror("quickhttp: bind/listen");
		return 1;
	}
	char body[64], reply[256];
	int blen = snprintf(body, sizeof(body), "hello from %d\n", (int)getpid());
	int rlen = snprintf(reply, sizeof(reply),
	    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
	    "X-Pid: %d\r\nConnection: close\r\n\r\n%s", blen, (int)getpid(), body);
	for (;;) {
		int c = accept(s, NULL, NULL);
		if (c < 0)
			continue;
		serve(c, reply, (size_t)rlen);
		close(c);
	}
}
