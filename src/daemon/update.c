/*
 * update.c — `corral update`: check the new binary, then exec it (update.h).
 */
#include "daemon/update.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/keepproto.h"
#include "common/log.h"
#include "common/spec.h"
#include "common/util.h"
#include "daemon/keep.h"
#include "daemon/pidfiles.h"
#include "daemon/server.h"
#include "daemon/state.h"
#include "daemon/table.h"

/* How long the new binary may take to start, read the state and answer
 * (the loop waits meanwhile), and how long the keeper may take to receive
 * the last records. */
#define CHECK_MS 10000
#define SYNC_MS 5000
/* What of the new binary's stderr goes into the error message. */
#define STDERR_KEEP 1024

/* Why an update cannot even be tried now, or 0. */
static int
refused(char **err)
{
	if (D->runtime) {
		*err = xasprintf("corral runtime is not updated in place: build a new image and "
		    "replace the container");
		return -EPERM;
	}
	if (!D->exe_path) {
		*err = xasprintf("this daemon does not know its own binary (/proc/self/exe)");
		return -ENOENT;
	}
	if (keep_fd() < 0) {
		*err = xasprintf("no keeper holds the apps' descriptors right now (it died, a new "
		    "one starts within 5 s): try again");
		return -EAGAIN;
	}
	struct inst *in;
	TAILQ_FOREACH(in, &D->insts, link) {
		state_step();
		if (in->successor) {
			*err = xasprintf("a reload of %s is in progress: try again once it is done",
			    in->app->spec.name);
			return -EBUSY;
		}
	}
	return 0;
}

/* The new binary's stderr so far, appended to buf (at most STDERR_KEEP). */
static void
read_stderr(int fd, struct sbuf *buf)
{
	char tmp[512];
	ssize_t n;
	while ((n = read(fd, tmp, sizeof(tmp))) > 0)
		if (buf->len < STDERR_KEEP)
			sbuf_add(buf, tmp, (size_t)n < STDERR_KEEP - buf->len ? (size_t)n
			    : STDERR_KEEP - buf->len);
}

/* Wait (until deadline) for the next frame from the new binary on sock,
 * gathering its stderr. 1 with *f, 0 at the end of its stream or on
 * timeout (*timed_out), -errno. */
static int
next_frame(int sock, int errfd, struct keep_reader *r, struct keep_frame *f,
    struct sbuf *errbuf, int64_t deadline, bool *timed_out)
{
	for (;;) {
		int rc = keep_reader_next(r, f);
		if (rc != 0)
			return rc;
		int64_t left = deadline - mono_ms();
		if (left <= 0) {
			*timed_out = true;
			return 0;
		}
		struct pollfd pfd[2] = {{sock, POLLIN, 0}, {errfd, POLLIN, 0}};
		if (poll(pfd, errfd >= 0 ? 2 : 1, (int)left) < 0 && errno != EINTR)
			return -errno;
		if (errfd >= 0 && pfd[1].revents)
			read_stderr(errfd, errbuf);
		if (pfd[0].revents) {
			ssize_t n = keep_reader_fill(r, sock);
			if (n == 0)
				return 0;
			if (n < 0 && n != -EAGAIN)
				return (int)n;
		}
	}
}

/* How the new binary ended (it is reaped here), for a message. */
static char *
how_it_ended(pid_t pid, struct sbuf *errbuf, int errfd, int64_t deadline)
{
	int st = 0;
	pid_t got = 0;
	while ((got = waitpid(pid, &st, WNOHANG)) == 0 && mono_ms() < deadline) {
		struct pollfd pfd = {errfd, POLLIN, 0};
		if (poll(&pfd, 1, 20) > 0)
			read_stderr(errfd, errbuf);
	}
	if (got == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		return xasprintf("it did not answer within %d s (killed)", CHECK_MS / 1000);
	}
	read_stderr(errfd, errbuf);
	/* Its first line says the most: "error while loading shared
	 * libraries", "another corral daemon is already running" (a corral
	 * from before updates, which does not know --check-handover). */
	char *nl = errbuf->s ? strchr(errbuf->s, '\n') : NULL;
	if (nl)
		*nl = '\0';
	const char *said = errbuf->len ? errbuf->s : NULL;
	if (WIFEXITED(st))
		return xasprintf("it exited with code %d%s%s%s", WEXITSTATUS(st),
		    said ? " (\"" : "", said ? said : "", said ? "\")" : "");
	return xasprintf("it was killed by %s%s%s%s", strsignal(WTERMSIG(st)),
	    said ? " (\"" : "", said ? said : "", said ? "\")" : "");
}

/* The check's conversation with the new binary on sock: its hello, the
 * state, its verdict. 0 when it can take over; -EPROTO or
 * -EPROTONOSUPPORT with *why; -ECHILD when it went away or did not answer
 * (*why may say more; how it ended says the rest). */
static int
converse(int sock, int errfd, struct keep_reader *r, struct sbuf *errbuf, int64_t deadline,
    char **version, char **why)
{
	struct keep_frame f;
	bool timed_out = false;
	int rc = next_frame(sock, errfd, r, &f, errbuf, deadline, &timed_out);
	if (rc == 1 && f.op != KEEP_HELLO) {
		*why = xasprintf("it said something else than hello (frame %d)", (int)f.op);
		keep_frame_free(&f);
		return -EPROTO;
	}
	if (rc == 1) {
		*version = xstrdup(f.len ? f.blob : "?");
		uint64_t theirs = f.key;
		keep_frame_free(&f);
		if (theirs != KEEP_VERSION) {
			*why = xasprintf("it reads handover records of version %llu, this daemon "
			    "writes version %d: it cannot take the running apps over (corral save, "
			    "corral kill, then corral resurrect with the new binary restarts them)",
			    (unsigned long long)theirs, KEEP_VERSION);
			return -EPROTONOSUPPORT;
		}
		rc = keep_dump(sock);
		if (rc == 0)
			rc = next_frame(sock, errfd, r, &f, errbuf, deadline, &timed_out);
		else
			rc = 0;         /* it went away while it read: how it ended says why */
	}
	if (rc == 1) {
		if (f.op == KEEP_VERDICT && f.key == 1) {
			dlog("update: %s (corral %s) read the state: %s", D->exe_path, *version,
			    f.len ? f.blob : "");
			keep_frame_free(&f);
			return 0;
		}
		*why = f.op == KEEP_VERDICT
		    ? xasprintf("it cannot read this daemon's state: %s",
		    f.len ? f.blob : "(no reason given)")
		    : xasprintf("it answered frame %d instead of a verdict", (int)f.op);
		keep_frame_free(&f);
		return -EPROTO;
	}
	if (rc < 0 && rc != -EPIPE && rc != -ECONNRESET)
		*why = xasprintf("%s", strerror(-rc));
	else if (timed_out)
		*why = xasprintf("it did not answer within %d s", CHECK_MS / 1000);
	return -ECHILD;
}

/* Run the binary at D->exe_path as `corral daemon --check-handover`, give
 * it the state, take its verdict. 0 with *version (its version), or
 * -errno with *err. */
static int
check_binary(char **version, char **err)
{
	const char *exe = D->exe_path;
	int sv[2], ep[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		*err = xasprintf("socketpair: %s", strerror(errno));
		return -errno;
	}
	if (pipe2(ep, O_CLOEXEC) < 0) {
		int e = errno;
		close(sv[0]);
		close(sv[1]);
		*err = xasprintf("pipe: %s", strerror(e));
		return -e;
	}
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(sv[0]);
		close(sv[1]);
		close(ep[0]);
		close(ep[1]);
		*err = xasprintf("fork: %s", strerror(e));
		return -e;
	}
	if (pid == 0) {
		child_signals_reset();
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
		}
		dup2(ep[1], 2);
		fd_set_cloexec(sv[1], false);
		char buf[16];
		snprintf(buf, sizeof(buf), "%d", sv[1]);
		setenv("CORRAL_CHECK_FD", buf, 1);
		char *args[] = {"corral", "daemon", "--check-handover", NULL};
		execv(exe, args);
		dprintf(2, "cannot run it: %s\n", strerror(errno));
		_exit(127);
	}
	close(sv[1]);
	close(ep[1]);
	fd_set_nonblock(ep[0], true);
	/* It must not stall us for good by not reading. */
	struct timeval tv = {CHECK_MS / 1000, 0};
	setsockopt(sv[0], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	fd_set_nonblock(sv[0], false);

	int64_t deadline = mono_ms() + CHECK_MS;
	struct sbuf errbuf = SBUF_INIT;
	struct keep_reader r;
	keep_reader_init(&r);
	char *why = NULL;
	int rc = converse(sv[0], ep[0], &r, &errbuf, deadline, version, &why);
	close(sv[0]);
	keep_reader_free(&r);
	/* Whatever happened, it is done: reap it (it exits after its verdict). */
	char *ended = how_it_ended(pid, &errbuf, ep[0], mono_ms() + 2000);
	close(ep[0]);
	if (rc < 0) {
		*err = xasprintf("the new binary %s cannot take over: %s%s%s; this daemon (corral "
		    "%s) carries on", exe, why ? why : "", why ? "; " : "", ended, CORRAL_VERSION);
		free(*version);
		*version = NULL;
	}
	free(why);
	free(ended);
	sbuf_free(&errbuf);
	return rc;
}

/* Exec the new binary with the keeper's connection and the control socket
 * kept open. Returns only on failure, with everything as it was. */
static int
exec_new(char **err)
{
	int kfd = keep_fd(), cfd = server_listen_fd();
	if (kfd < 0 || cfd < 0) {
		*err = xasprintf("the keeper's connection or the control socket is gone");
		return -ENOTCONN;
	}
	char kbuf[16], cbuf[16];
	snprintf(kbuf, sizeof(kbuf), "%d", kfd);
	snprintf(cbuf, sizeof(cbuf), "%d", cfd);
	setenv("CORRAL_KEEPER_FD", kbuf, 1);
	setenv("CORRAL_CONTROL_FD", cbuf, 1);
	setenv("CORRAL_UPDATED_FROM", CORRAL_VERSION, 1);
	fd_set_cloexec(kfd, false);
	fd_set_cloexec(cfd, false);
	/* The new daemon's handover with the keeper reads it blocking, as it
	 * reads a fresh connection. */
	fd_set_nonblock(kfd, false);
	/* The new daemon reads what the apps get from what it starts with. */
	mode_t ours = umask(D->app_umask);
	struct rlimit raised;
	getrlimit(RLIMIT_NOFILE, &raised);
	setrlimit(RLIMIT_NOFILE, &D->app_nofile);
	/* The pid files asked for are on disk before the new daemon looks. */
	pidfiles_drain(2000);
	dlog("update: exec %s", D->exe_path);
	char *args[] = {"corral", "daemon", NULL};
	execv(D->exe_path, args);
	int e = errno;
	setrlimit(RLIMIT_NOFILE, &raised);
	umask(ours);
	fd_set_nonblock(kfd, true);
	fd_set_cloexec(kfd, true);
	fd_set_cloexec(cfd, true);
	unsetenv("CORRAL_KEEPER_FD");
	unsetenv("CORRAL_CONTROL_FD");
	unsetenv("CORRAL_UPDATED_FROM");
	*err = xasprintf("cannot exec %s: %s", D->exe_path, strerror(e));
	return -e;
}

void
update_daemon(struct client *c, json_t *id)
{
	char *err = NULL, *version = NULL;
	int64_t began = mono_ms();
	int rc = refused(&err);
	if (rc == 0)
		rc = check_binary(&version, &err);
	if (rc == 0 && (rc = keep_sync_now(SYNC_MS)) < 0)
		err = xasprintf("the keeper did not take the last records: %s; this daemon carries "
		    "on", strerror(-rc));
	if (rc < 0) {
		dlog("update refused: %s", err);
		client_error(c, id, "update_failed", "%s", err);
		free(err);
		free(version);
		return;
	}
	dlog("update: corral %s → %s, checked in %lld ms: handing over", CORRAL_VERSION, version,
	    (long long)(mono_ms() - began));
	client_reply(c, id, json_pack("{s:s, s:s, s:i, s:s}", "from", CORRAL_VERSION, "to",
	    version, "pid", (int)D->pid, "exe", D->exe_path));
	client_flush_now(c, 1000);
	free(version);
	if (exec_new(&err) < 0) {
		dlog("update: %s; this daemon carries on", err);
		free(err);
	}
}

/* ---- the new binary's side ---- */

/* Can this binary read every record? NULL, or why not (caller frees). */
static char *
check_items(const struct keep_items *items, char **summary)
{
	size_t counts[KK_LAST + 1] = {0};
	struct idmap apps = IDMAP_INIT, envs = IDMAP_INIT;
	char *why = NULL;
	keep_env_index(items, &envs);
	for (size_t i = 0; i < items->n && !why; i++) {
		const struct keep_item *it = &items->v[i];
		int kind = KEEP_KIND(it->key);
		if (kind < KK_META || kind > KK_LAST) {
			why = xasprintf("an item of a kind this binary does not know (%d)", kind);
			break;
		}
		counts[kind]++;
		if (kind == KK_APP) {
			struct spec spec;
			char *e = NULL;
			json_t *whole = keep_app_spec(&envs, it->rec, &e);
			if (!whole || spec_from_json(whole, &spec, &e) < 0) {
				why = xasprintf("app %llu: its spec cannot be read: %s",
				    (unsigned long long)KEEP_ID(it->key), e);
				free(e);
				json_decref(whole);
				break;
			}
			json_decref(whole);
			spec_free(&spec);
			idmap_put(&apps, KEEP_ID(it->key), (void *)1);
		}
	}
	for (size_t i = 0; i < items->n && !why; i++) {
		const struct keep_item *it = &items->v[i];
		json_t *v;
		switch (KEEP_KIND(it->key)) {
		case KK_INST:
			v = json_object_get(it->rec, "app");
			if (!json_is_integer(v) || !idmap_get(&apps, (uint64_t)json_integer_value(v)))
				why = xasprintf("instance %llu: no app %s", (unsigned long long)KEEP_ID(it->key),
				    json_is_integer(v) ? "of that id" : "named in its record");
			break;
		case KK_PROC:
			v = json_object_get(it->rec, "pid");
			if (!json_is_integer(v) || json_integer_value(v) <= 0)
				why = xasprintf("process %llu: no pid in its record",
				    (unsigned long long)KEEP_ID(it->key));
			break;
		default:
			break;
		}
	}
	idmap_free(&apps);
	idmap_free(&envs);
	if (!why)
		*summary = xasprintf("%zu apps, %zu instances, %zu processes, %zu output pipes, "
		    "%zu listening sockets", counts[KK_APP], counts[KK_INST], counts[KK_PROC],
		    counts[KK_PIPE], counts[KK_SOCK]);
	return why;
}

int
update_check_main(void)
{
	const char *env = getenv("CORRAL_CHECK_FD");
	if (!env) {
		fprintf(stderr, "corral daemon --check-handover: only corral update runs this\n");
		return 2;
	}
	int fd = atoi(env);
	struct timeval tv = {CHECK_MS / 1000, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (keep_send(fd, KEEP_HELLO, KEEP_VERSION, CORRAL_VERSION, strlen(CORRAL_VERSION), NULL,
	    0) < 0)
		return 1;
	struct keep_reader r;
	keep_reader_init(&r);
	struct keep_items items = {0};
	char *why = NULL;
	for (bool done = false; !done && !why;) {
		ssize_t n = keep_reader_fill(&r, fd);
		if (n <= 0) {
			why = xasprintf("the state ended early (%s)", n == 0 ? "closed"
			    : strerror((int)-n));
			break;
		}
		struct keep_frame f;
		int nr;
		while (!done && (nr = keep_reader_next(&r, &f)) == 1) {
			if (f.op == KEEP_END) {
				if (f.key != KEEP_VERSION)
					why = xasprintf("the daemon writes records of version %llu, this "
					    "binary reads version %d", (unsigned long long)f.key,
					    KEEP_VERSION);
				done = true;
			} else if (f.op == KEEP_ITEM) {
				json_error_t jerr;
				json_t *rec = f.len ? json_loadb(f.blob, f.len, 0, &jerr) : json_object();
				if (!rec) {
					why = xasprintf("item %llx is not JSON: %s",
					    (unsigned long long)f.key, jerr.text);
					done = true;
				} else {
					items.v = xrealloc(items.v, (items.n + 1) * sizeof(*items.v));
					items.v[items.n++] = (struct keep_item){.key = f.key, .rec = rec,
					    .fds = {-1, -1, -1, -1}};
				}
			}
			keep_frame_free(&f);
		}
		if (nr < 0 && !why)
			why = xasprintf("the state is not in the keeper's protocol");
	}
	char *summary = NULL;
	if (!why)
		why = check_items(&items, &summary);
	int rc = why ? keep_send(fd, KEEP_VERDICT, 0, why, strlen(why), NULL, 0)
	    : keep_send(fd, KEEP_VERDICT, 1, summary, strlen(summary), NULL, 0);
	free(why);
	free(summary);
	keep_items_free(&items);
	keep_reader_free(&r);
	close(fd);
	return rc < 0 ? 1 : 0;
}
