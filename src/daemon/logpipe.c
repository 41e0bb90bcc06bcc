/*
 * logpipe.c — app output pipes → log files and live subscribers.
 */
#include "daemon/logpipe.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/units.h"
#include "common/util.h"
#include "daemon/events.h"
#include "daemon/keep.h"
#include "daemon/logfile.h"
#include "daemon/logframe.h"
#include "daemon/state.h"
#include "daemon/table.h"

#define READS_PER_WAKEUP 16
#define PAUSE_RETRY_MS 100

struct logpipe {
	LIST_ENTRY(logpipe) link;     /* D->logpipes */
	struct io io;
	int fd;
	uint64_t app_id;              /* who wrote it, for followers (never reused) */
	uint64_t inst_uid;            /* the instance it was made for */
	int pm_id;
	char *name;
	enum log_stream stream;
	struct logfile *dst;          /* the stream's own file, or NULL */
	struct logfile *combined;     /* log_file, or NULL */
	char *date_fmt;
	bool json;
	bool disabled;
	bool paused;
	bool eof;
	struct timer retry;
	struct logframe frame;
	uint64_t keep_id;             /* its item in the keeper */
	bool unfinished;              /* only an unfinished line is in the pipe:
	                               * watched edge-triggered until more comes */
};

static void on_readable(struct loop *l, struct io *io, uint32_t events, void *arg);

static void
logpipe_free(void *p)
{
	struct logpipe *lp = p;
	logframe_free(&lp->frame);
	free(lp->name);
	free(lp->date_fmt);
	free(lp);
}

#define PIPE_WANT_BYTES (1 << 20)
#define PIPE_DEFAULT_BYTES 65536

/* A number from a /proc/sys file, or dflt. */
static long
sysctl_long(const char *path, long dflt)
{
	char *txt = NULL;
	long v = dflt;
	if (read_file(path, &txt, NULL, 64) == 0)
		v = strtol(txt, NULL, 10);
	free(txt);
	return v;
}

void
logpipe_grow(int fd)
{
	static long max_bytes = -1, soft_pages = -1;
	if (max_bytes < 0) {
		max_bytes = sysctl_long("/proc/sys/fs/pipe-max-size", PIPE_DEFAULT_BYTES);
		soft_pages = sysctl_long("/proc/sys/fs/pipe-user-pages-soft", 0);
	}
	long want = PIPE_WANT_BYTES < max_bytes ? PIPE_WANT_BYTES : max_bytes;
	if (soft_pages > 0) {
		/* Past the soft limit the kernel gives every new pipe of this user
		 * (shells' too) one page: stay within a quarter of it. */
		long npipes = 2 + (long)D->nlogpipes;
		long share = soft_pages * 4096 / 4 / npipes;
		while (want > share && want > PIPE_DEFAULT_BYTES)
			want /= 2;
	}
	if (want > PIPE_DEFAULT_BYTES)
		fcntl(fd, F_SETPIPE_SZ, (int)want);
}

/* The keeper holds a copy of the read end, so the app's writes never fail
 * while no daemon reads (they wait in the pipe). */
static void
keep_pipe(const struct logpipe *lp)
{
	keep_put(KK_PIPE, lp->keep_id, json_pack("{s:I, s:i}", "inst", (json_int_t)lp->inst_uid,
	    "stream", (int)lp->stream), &lp->fd, 1);
}

void
logpipe_keep_all(void)
{
	struct logpipe *lp;
	LIST_FOREACH(lp, &D->logpipes, link)
		keep_pipe(lp);
}

static void
logpipe_close(struct logpipe *lp)
{
	keep_del(KK_PIPE, lp->keep_id);
	io_del(D->loop, &lp->io);
	timer_stop(D->loop, &lp->retry);
	close(lp->fd);
	bool held = (lp->dst && lp->dst->holder == lp) ||
	    (lp->combined && lp->combined->holder == lp);
	if (lp->dst) {
		logfile_release(lp->dst, lp);
		logfile_put(lp->dst);
	}
	if (lp->combined) {
		logfile_release(lp->combined, lp);
		logfile_put(lp->combined);
	}
	LIST_REMOVE(lp, link);
	D->nlogpipes--;
	loop_defer_free(D->loop, lp, logpipe_free);
	/* Anyone waiting for a file we held can go now (only then: a pass
	 * over every pipe per pipe closed made stopping n apps cost n²). */
	if (held)
		logpipe_kick();
}

/* Replace bytes that are not UTF-8 so the line can travel in JSON. */
static char *
utf8_clean(const char *s, size_t n)
{
	struct sbuf b = SBUF_INIT;
	size_t i = 0;
	while (i < n) {
		unsigned char c = (unsigned char)s[i];
		size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
		bool ok = len > 0 && i + len <= n && c != 0;
		for (size_t k = 1; ok && k < len; k++)
			ok = ((unsigned char)s[i + k] & 0xc0) == 0x80;
		if (ok && len > 1) {
			json_t *probe = json_stringn(s + i, len);
			ok = probe != NULL;
			json_decref(probe);
		}
		if (ok) {
			sbuf_add(&b, s + i, len);
			i += len;
		} else {
			sbuf_adds(&b, "\xef\xbf\xbd");
			i++;
		}
	}
	return sbuf_take(&b);
}

/* Tell live subscribers about a line (or part of one). */
static void
publish_log(const struct logpipe *lp, const char *stream, const char *data, size_t n, bool eol)
{
	events_emit(&(struct event){.kind = EV_LOG, .app_id = lp->app_id,
	    .inst_uid = lp->inst_uid, .pm_id = lp->pm_id, .name = lp->name,
	    .stream = stream, .data = data, .len = n, .eol = eol});
}

static bool
emit(void *arg, const char *data, size_t n, bool line_start, bool line_end)
{
	struct logpipe *lp = arg;
	if (lp->disabled)
		return true;
	struct logfile *files[2] = {lp->dst, lp->combined};
	for (int i = 0; i < 2; i++)
		if (files[i] && files[i]->holder && files[i]->holder != lp &&
		    mono_ms() - files[i]->held_since_mono <= 2000)
			return false;

	int64_t now = wall_ms();
	char stamp[128] = "";
	struct iovec iov[4];
	int iovcnt = 0;
	char *json_line = NULL;
	if (lp->json) {
		if (lp->date_fmt)
			units_format_time(lp->date_fmt, now, stamp, sizeof(stamp));
		else
			units_format_time(UNITS_ISO_TIME, now, stamp, sizeof(stamp));
		char *msg = utf8_clean(data, n);
		json_t *o = json_pack("{s:s, s:s, s:s, s:i, s:s}", "message", msg,
		    "timestamp", stamp, "type", lp->stream == STREAM_OUT ? "out" : "err",
		    "process_id", lp->pm_id, "app_name", lp->name);
		free(msg);
		char *txt = json_dumps(o, JSON_COMPACT);
		json_decref(o);
		json_line = xasprintf("%s\n", txt);
		free(txt);
		iov[iovcnt++] = (struct iovec){json_line, strlen(json_line)};
	} else {
		if (lp->date_fmt && line_start) {
			units_format_time(lp->date_fmt, now, stamp, sizeof(stamp) - 2);
			strcat(stamp, ": ");
			iov[iovcnt++] = (struct iovec){stamp, strlen(stamp)};
		}
		iov[iovcnt++] = (struct iovec){(void *)data, n};
		if (line_end)
			iov[iovcnt++] = (struct iovec){"\n", 1};
	}
	struct app *a = app_by_id(lp->app_id);
	for (int i = 0; a && i < iovcnt; i++)
		a->log_bytes[lp->stream == STREAM_OUT ? 0 : 1] += iov[i].iov_len;
	for (int i = 0; i < 2; i++) {
		if (!files[i])
			continue;
		logfile_write(files[i], lp, iov, iovcnt);
		if (line_end || lp->json)
			logfile_release(files[i], lp);
		else
			logfile_hold(files[i], lp);
	}
	free(json_line);
	/* Live subscribers get one event per line, even from a batch. */
	const char *stream = lp->stream == STREAM_OUT ? "out" : "err";
	const char *nl;
	while (lp->frame.batch && (nl = memchr(data, '\n', n)) != NULL) {
		publish_log(lp, stream, data, (size_t)(nl - data), true);
		n -= (size_t)(nl - data) + 1;
		data = nl + 1;
	}
	publish_log(lp, stream, data, n, line_end);
	return true;
}

/* Stop reading until the destination can take more. The fd leaves epoll
 * altogether: epoll reports EPOLLHUP even with no events asked for, and a
 * paused pipe whose writers exited would spin the loop. */
static void
pause_pipe(struct logpipe *lp)
{
	if (!lp->paused) {
		lp->paused = true;
		io_del(D->loop, &lp->io);
	}
	timer_start(D->loop, &lp->retry, PAUSE_RETRY_MS);
}

static void
resume_pipe(struct logpipe *lp)
{
	lp->paused = false;
	lp->unfinished = false;
	timer_stop(D->loop, &lp->retry);
	if (!lp->eof && !lp->io.active && io_add(D->loop, &lp->io, lp->fd, EPOLLIN, on_readable, lp) < 0)
		dlog("cannot watch the output pipe of %s again: %s", lp->name, strerror(errno));
}

/* Drain what is buffered; true when the pipe may be read again. */
static bool
drain(struct logpipe *lp)
{
	if (!logframe_drain(&lp->frame, emit, lp, lp->eof)) {
		pause_pipe(lp);
		return false;
	}
	if (lp->eof) {
		logpipe_close(lp);
		return false;
	}
	if (lp->paused)
		resume_pipe(lp);
	return true;
}

/* A pipe of our own to look at what waits in an app's pipe without taking
 * it (tee), empty between two uses; /dev/null to drop what we saw. */
static int scratch[2] = {-1, -1};
static int devnull = -1;

/* Whether the writers of lp's pipe are all gone. */
static bool
writers_gone(const struct logpipe *lp)
{
	struct pollfd pfd = {lp->fd, POLLIN, 0};
	return poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLHUP);
}

/*
 * Read lp's pipe into its frame up to the end of the last complete line
 * that fits: a line the app has not finished stays in the pipe. If the
 * daemon dies, the keeper holds the pipe, and the next daemon reads the
 * whole line, where one read into our memory would have lost its
 * beginning. A line longer than the frame (64 KiB) is taken in parts
 * (logframe writes it in segments); a frame that more output waits for
 * grows to that size, so a busy stream costs few reads. Returns the bytes
 * read, 0 at the end of the stream, -EAGAIN when there is nothing, or
 * -EINPROGRESS when only an unfinished line waits: the pipe is then watched
 * edge-triggered until the app writes again (or closes it).
 */
static ssize_t
read_lines(struct logpipe *lp)
{
	size_t space = logframe_space(&lp->frame);
	if (devnull < 0)
		devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (devnull < 0 || (scratch[0] < 0 && pipe2(scratch, O_CLOEXEC | O_NONBLOCK) < 0))
		return read_retry(lp->fd, logframe_tail(&lp->frame), space);
	ssize_t n = tee(lp->fd, scratch[1], space, SPLICE_F_NONBLOCK);
	if (n < 0 && errno != EAGAIN)   /* not a pipe: no peeking */
		return read_retry(lp->fd, logframe_tail(&lp->frame), space);
	if (n <= 0)
		return n < 0 ? -EAGAIN : 0;
	if ((size_t)n == space && lp->frame.len == 0 && lp->frame.cap < LOGFRAME_BUF) {
		/* More waits than fits: look again with a bigger frame. */
		char drop[4096];
		while (read(scratch[0], drop, sizeof(drop)) > 0)
			;
		logframe_grow(&lp->frame);
		return read_lines(lp);
	}
	char *buf = logframe_tail(&lp->frame);
	ssize_t seen = read_retry(scratch[0], buf, (size_t)n);
	if (seen != n) {
		/* Cannot happen with an empty scratch pipe; start clean. */
		close(scratch[0]);
		close(scratch[1]);
		scratch[0] = scratch[1] = -1;
		return read_retry(lp->fd, buf, space);
	}
	size_t take = (size_t)n;
	const char *nl = memrchr(buf, '\n', (size_t)n);
	if (nl)
		take = (size_t)(nl - buf) + 1;
	else if ((size_t)n < space && !writers_gone(lp)) {
		if (!lp->unfinished && io_mod(D->loop, &lp->io, EPOLLIN | EPOLLET) == 0)
			lp->unfinished = true;
		return -EINPROGRESS;
	}
	if (lp->unfinished && io_mod(D->loop, &lp->io, EPOLLIN) == 0)
		lp->unfinished = false;
	/* We have the bytes: drop them from the pipe without a copy. */
	ssize_t dropped;
	do {
		dropped = splice(lp->fd, NULL, devnull, NULL, take, SPLICE_F_NONBLOCK);
	} while (dropped < 0 && errno == EINTR);
	if (dropped == (ssize_t)take)
		return dropped;
	return dropped < 0 ? read_retry(lp->fd, buf, take) : dropped;
}

static void
on_readable(struct loop *l, struct io *io, uint32_t events, void *arg)
{
	struct logpipe *lp = arg;
	for (int i = 0; i < READS_PER_WAKEUP; i++) {
		size_t space = logframe_space(&lp->frame);
		if (space == 0) {
			if (!drain(lp))
				return;
			continue;
		}
		ssize_t n = read_lines(lp);
		if (n == -EAGAIN || n == -EINPROGRESS)
			return;
		if (n <= 0) {
			/* EOF, or an error that means the same for a pipe. */
			lp->eof = true;
			drain(lp);
			return;
		}
		logframe_commit(&lp->frame, (size_t)n);
		if (!drain(lp))
			return;
	}
}

static void
on_retry(struct loop *l, struct timer *t, void *arg)
{
	struct logpipe *lp = arg;
	if (drain(lp) && !lp->eof)
		on_readable(l, &lp->io, EPOLLIN, lp);
}

void
logpipe_close_all(void)
{
	struct logpipe *lp;
	while ((lp = LIST_FIRST(&D->logpipes)) != NULL) {
		lp->eof = true;
		logframe_drain(&lp->frame, emit, lp, true);
		logpipe_close(lp);
	}
}

void
logpipe_kick(void)
{
	struct logpipe *lp, *next;
	for (lp = LIST_FIRST(&D->logpipes); lp; lp = next) {
		next = LIST_NEXT(lp, link);
		state_step();
		if (lp->paused)
			timer_start(D->loop, &lp->retry, 0);
	}
}

void
logpipe_start(int fd, struct inst *in, enum log_stream stream)
{
	static uint64_t pipes_made;
	struct logpipe *lp = xcalloc(1, sizeof(*lp));
	const struct spec *s = &in->app->spec;
	lp->fd = fd;
	lp->app_id = in->app->id;
	lp->inst_uid = in->uid;
	lp->keep_id = ++pipes_made;
	lp->pm_id = in->pm_id;
	lp->name = xstrdup(s->name);
	lp->stream = stream;
	lp->disabled = s->disable_logs;
	lp->json = s->log_type == LOGTYPE_JSON;
	lp->date_fmt = s->log_date_format ? xstrdup(s->log_date_format) : NULL;
	lp->dst = stream == STREAM_OUT ? in->out_file : in->err_file;
	if (lp->dst)
		lp->dst->refs++;
	lp->combined = in->log_file;
	if (lp->combined)
		lp->combined->refs++;
	logframe_init(&lp->frame);
	/* Raw lines are copied as they are: write a whole read at once rather
	 * than one write per line (with 100-byte lines the daemon spent its
	 * time in writev; bench/ logs). Stamps and JSON need each line. */
	lp->frame.batch = !lp->json && !lp->date_fmt;
	timer_init(&lp->retry, on_retry, lp);
	fd_set_nonblock(fd, true);
	LIST_INSERT_HEAD(&D->logpipes, lp, link);
	D->nlogpipes++;
	if (io_add(D->loop, &lp->io, fd, EPOLLIN, on_readable, lp) < 0) {
		dlog("cannot watch the output pipe of %s: %s", s->name, strerror(errno));
		logpipe_close(lp);
		return;
	}
	keep_pipe(lp);
}
