/*
 * conn.c — the CLI's connection to the daemon (and starting it).
 */
#include "cli/conn.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/close_range.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"

#define DAEMON_START_TIMEOUT_MS 10000
#define MAX_REPLY (256u << 20)

static int
try_connect(const struct paths *p)
{
	return unix_connect(p->sock);
}

bool
conn_daemon_running(const struct paths *p)
{
	int fd = try_connect(p);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* A daemon started from inside a cluster app (a deploy hook running
 * `corral start`) gets the app's environment: it must not load the app's
 * preload library, or its own listeners would be bound through the other
 * daemon's broker. Drops the library from LD_PRELOAD and the broker's
 * variables, in the child about to exec the daemon. */
static void
drop_app_preload(void)
{
	unsetenv("CORRAL_BROKER_FD");
	unsetenv("CORRAL_BROKER_SOCKET");
	const char *old = getenv("LD_PRELOAD");
	if (!old || !strstr(old, "libcorral-preload"))
		return;
	struct sbuf kept = SBUF_INIT;
	char *copy = xstrdup(old), *save = NULL;
	/* ld.so splits the list on spaces and colons. */
	for (char *lib = strtok_r(copy, ": ", &save); lib; lib = strtok_r(NULL, ": ", &save)) {
		if (strstr(lib, "libcorral-preload"))
			continue;
		if (kept.len)
			sbuf_addc(&kept, ':');
		sbuf_adds(&kept, lib);
	}
	if (kept.len)
		setenv("LD_PRELOAD", kept.s, 1);
	else
		unsetenv("LD_PRELOAD");
	sbuf_free(&kept);
	free(copy);
}

/* Fork the daemon; wait until it says its socket is up. */
static int
spawn_daemon(const struct paths *p, char **err)
{
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		*err = xasprintf("pipe: %s", strerror(errno));
		return -errno;
	}
	pid_t pid = fork();
	if (pid < 0) {
		*err = xasprintf("fork: %s", strerror(errno));
		close(pipefd[0]);
		close(pipefd[1]);
		return -errno;
	}
	if (pid == 0) {
		/* First child: new session, fork again so the daemon is not our
		 * child and never gets a controlling terminal. */
		setsid();
		pid_t d = fork();
		if (d != 0)
			_exit(d < 0 ? 1 : 0);
		close(pipefd[0]);
		/* The daemon must not keep what our caller left open (a lock held
		 * by `flock file corral start`, a CI runner's pipes). */
		if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
			for (int fd = 3; fd < 1024; fd++)
				if (fd != pipefd[1])
					fcntl(fd, F_SETFD, FD_CLOEXEC);
		fd_set_cloexec(pipefd[1], false);
		char fdbuf[16];
		snprintf(fdbuf, sizeof(fdbuf), "%d", pipefd[1]);
		setenv("CORRAL_DAEMON_READY_FD", fdbuf, 1);
		drop_app_preload();
		int null = open("/dev/null", O_RDWR);
		/* The daemon's stderr goes to its log, so a crash report lands there.
		 * O_NONBLOCK: a FIFO in its place must not hang us (holding the
		 * caller's stdout and stderr open). */
		int log = open(p->log, O_WRONLY | O_APPEND | O_CREAT | O_NONBLOCK, 0600);
		dup2(null, 0);
		dup2(null, 1);
		dup2(log >= 0 ? log : null, 2);
		if (null > 2)
			close(null);
		if (log > 2)
			close(log);
		if (chdir("/") < 0)
			_exit(1);
		char *args[] = {"corral", "daemon", NULL};
		execv("/proc/self/exe", args);
		_exit(127);
	}
	close(pipefd[1]);
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	struct pollfd pfd = {pipefd[0], POLLIN, 0};
	char buf[512];
	size_t got = 0;
	int64_t deadline = mono_ms() + DAEMON_START_TIMEOUT_MS;
	for (;;) {
		int64_t left = deadline - mono_ms();
		if (left <= 0) {
			close(pipefd[0]);
			*err = xasprintf("the daemon did not start within %d s (see %s)",
			    DAEMON_START_TIMEOUT_MS / 1000, p->log);
			return -ETIMEDOUT;
		}
		int r = poll(&pfd, 1, (int)left);
		/* Nothing yet: check the deadline again rather than block in read. */
		if ((r < 0 && errno == EINTR) || r == 0)
			continue;
		ssize_t n = read_retry(pipefd[0], buf + got, sizeof(buf) - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		if (got >= sizeof(buf) - 1)
			break;
	}
	close(pipefd[0]);
	buf[got] = '\0';
	if (strcmp(buf, "ok") != 0) {
		*err = got ? xasprintf("the daemon could not start: %s", buf)
		    : xasprintf("the daemon exited during start-up (see %s)", p->log);
		return -EIO;
	}
	return 0;
}

static int
send_line(struct conn *c, json_t *msg)
{
	char *txt = json_dumps(msg, JSON_COMPACT);
	if (!txt)
		return -ENOMEM;
	size_t len = strlen(txt);
	txt[len] = '\n';
	int rc = 0;
	const char *p = txt;
	size_t left = len + 1;
	while (left > 0) {
		ssize_t n = send(c->fd, p, left, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n >= 0) {
			p += n;
			left -= (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN) {
			rc = -errno;
			break;
		}
		/* The daemon reads no more requests until we read its replies
		 * (several requests sent before their replies are read): take
		 * them in while waiting to write. */
		struct pollfd pfd = {c->fd, POLLIN | POLLOUT, 0};
		if (poll(&pfd, 1, -1) < 0 && errno != EINTR) {
			rc = -errno;
			break;
		}
		if (!(pfd.revents & POLLIN))
			continue;
		ssize_t got = linebuf_read(&c->in, c->fd);
		if (got <= 0 && got != -EAGAIN && got != -EINTR) {
			c->hung_up = !c->in.overflow;
			rc = c->in.overflow ? -EMSGSIZE : -EPIPE;
			break;
		}
	}
	free(txt);
	return rc;
}

char *
conn_next_line(struct conn *c, int timeout_ms, size_t *len)
{
	int64_t deadline = timeout_ms >= 0 ? mono_ms() + timeout_ms : 0;
	for (;;) {
		char *line = linebuf_next(&c->in, len);
		if (line)
			return line;
		if (c->in.overflow)
			return NULL;
		int wait = -1;
		if (timeout_ms >= 0) {
			int64_t left = deadline - mono_ms();
			if (left <= 0)
				return NULL;
			wait = (int)left;
		}
		struct pollfd pfd = {c->fd, POLLIN, 0};
		int r = poll(&pfd, 1, wait);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0)
			return NULL;
		ssize_t n = linebuf_read(&c->in, c->fd);
		if (n <= 0 && n != -EAGAIN && n != -EINTR) {
			c->hung_up = !c->in.overflow;
			return NULL;
		}
	}
}

json_t *
conn_next(struct conn *c, int timeout_ms)
{
	for (;;) {
		size_t len;
		char *line = conn_next_line(c, timeout_ms, &len);
		if (!line)
			return NULL;
		/* A log line may hold NUL bytes (sent as \u0000): without
		 * JSON_ALLOW_NUL jansson refuses the whole line. */
		json_t *j = json_loadb(line, len, JSON_ALLOW_NUL, NULL);
		if (j)
			return j;
	}
}

static char *
error_text(json_t *reply)
{
	const char *m = json_string_value(json_object_get(json_object_get(reply, "error"), "message"));
	return xstrdup(m ? m : "the daemon refused the request");
}

int
conn_send(struct conn *c, json_t *req)
{
	int id = ++c->next_id;
	json_object_set_new(req, "id", json_integer(id));
	int rc = send_line(c, req);
	return rc < 0 ? rc : id;
}

json_t *
conn_call(struct conn *c, json_t *req, int timeout_ms, char **err)
{
	int id = conn_send(c, req);
	return conn_wait(c, id, timeout_ms, err);
}

json_t *
conn_wait(struct conn *c, int id, int timeout_ms, char **err)
{
	if (id < 0) {
		int rc = id;
		/* The daemon may have refused us and hung up before we wrote:
		 * its reason is waiting in our receive buffer. */
		json_t *r = conn_next(c, 1000);
		if (r && json_is_null(json_object_get(r, "id")) && json_object_get(r, "error")) {
			*err = error_text(r);
			json_decref(r);
			return NULL;
		}
		json_decref(r);
		*err = xasprintf("cannot talk to the daemon: %s", strerror(-rc));
		return NULL;
	}
	char key[16];
	snprintf(key, sizeof(key), "%d", id);
	json_t *r = json_incref(json_object_get(c->early, key));
	if (r) {
		json_object_del(c->early, key);
		goto got;
	}
	for (;;) {
		r = conn_next(c, timeout_ms);
		if (!r) {
			if (c->hung_up)
				*err = xstrdup("the daemon closed the connection without answering "
				    "(did it crash? see daemon.log)");
			else if (timeout_ms >= 0 && !c->in.overflow)
				*err = xasprintf("no answer from the daemon within %d s (is it stuck? "
				    "see daemon.log)", timeout_ms / 1000);
			else
				*err = xstrdup("the daemon closed the connection");
			return NULL;
		}
		json_t *rid = json_object_get(r, "id");
		if (json_is_integer(rid) && json_integer_value(rid) == id)
			break;
		/* An error about the connection itself (no id). */
		if (json_is_null(rid) && json_object_get(r, "error")) {
			*err = error_text(r);
			json_decref(r);
			return NULL;
		}
		/* The reply to another request sent before this one's: a request
		 * that waits (a start until its apps are online) replies after
		 * the next one. Kept for its conn_wait(). */
		json_int_t other = json_integer_value(rid);
		if (json_is_integer(rid) && other > 0 && other <= c->next_id) {
			if (!c->early)
				c->early = json_object();
			snprintf(key, sizeof(key), "%lld", (long long)other);
			json_object_set(c->early, key, r);
		}
		json_decref(r);
	}
got:
	if (json_is_true(json_object_get(r, "ok")))
		return r;
	*err = error_text(r);
	json_decref(r);
	return NULL;
}


static int
hello(struct conn *c, char **err)
{
	json_t *req = json_pack("{s:s, s:i}", "cmd", "hello", "v", 1);
	json_t *r = conn_call(c, req, 10000, err);
	json_decref(req);
	if (!r)
		return -EPROTO;
	c->daemon_pid = (int)json_integer_value(json_object_get(r, "pid"));
	size_t i;
	json_t *f;
	json_array_foreach(json_object_get(r, "features"), i, f)
		c->env_base |= json_is_string(f) && strcmp(json_string_value(f), "env_base") == 0;
	json_decref(r);
	/* The pid as this process sees it: a daemon in another pid namespace
	 * (`corral runtime` as a container's PID 1) says 1 of itself. */
	struct ucred cred;
	socklen_t len = sizeof(cred);
	if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && cred.pid > 0)
		c->daemon_pid = (int)cred.pid;
	return 0;
}

int
conn_open(const struct paths *p, bool autostart, struct conn *c, char **err)
{
	memset(c, 0, sizeof(*c));
	linebuf_init(&c->in, MAX_REPLY);
	int fd = try_connect(p);
	if (fd == -EACCES || fd == -EPERM) {
		*err = xasprintf("cannot connect to %s: %s (the daemon belongs to another user?)",
		    p->sock, strerror(-fd));
		return fd;
	}
	if (fd < 0 && !autostart) {
		if (fd == -ENOENT || fd == -ECONNREFUSED)
			return -ENOENT;
		*err = xasprintf("cannot connect to %s: %s", p->sock, strerror(-fd));
		return fd;
	}
	if (fd < 0) {
		char *perr = NULL;
		if (paths_prepare(p, &perr) < 0) {
			*err = perr;
			return -EPERM;
		}
		int lock = open(p->lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (lock < 0) {
			*err = xasprintf("cannot open %s: %s", p->lock, strerror(errno));
			return -errno;
		}
		while (flock(lock, LOCK_EX) < 0 && errno == EINTR)
			;
		/* Someone may have started it while we waited for the lock. */
		fd = try_connect(p);
		if (fd < 0) {
			int rc = spawn_daemon(p, err);
			if (rc == 0)
				fd = try_connect(p);
			if (rc < 0 || fd < 0) {
				if (rc == 0)
					*err = xasprintf("the daemon started but %s does not answer: %s",
					    p->sock, strerror(-fd));
				close(lock);
				return rc < 0 ? rc : fd;
			}
		}
		close(lock);
	}
	c->fd = fd;
	int rc = hello(c, err);
	if (rc < 0) {
		conn_close(c);
		return rc;
	}
	return 0;
}

void
conn_close(struct conn *c)
{
	if (c->fd > 0)
		close(c->fd);
	c->fd = -1;
	linebuf_free(&c->in);
	json_decref(c->early);
	c->early = NULL;
}
