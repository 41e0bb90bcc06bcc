/*
 * logfile.c — shared append-only log files.
 */
#include "daemon/logfile.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "daemon/fdreserve.h"
#include "daemon/state.h"

/* A hold older than this is broken: the app stopped in the middle of a huge
 * line, and the other writers of the file must not wait for it forever. */
#define HOLD_TIMEOUT_MS 2000
/* How often a note about lost lines is tried while nobody writes. */
#define NOTE_RETRY_MS 1000

static void on_note_retry(struct loop *l, struct timer *t, void *arg);

/* Open a log file for appending. Only regular files (and /dev/null): a
 * FIFO or a device would block the daemon's loop in open() or write(). */
static int
open_log(const char *path)
{
	/* A file corral creates is 0640 (the owner's group may read it), not
	 * what the daemon's private umask would make of it; one that exists
	 * keeps the mode its owner gave it. The directories are made only when
	 * missing: not a mkdir per file opened. */
	int flags = O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
	int fd = -1;
	for (int attempt = 0; attempt < 2; attempt++) {
		fd = open(path, flags | O_CREAT | O_EXCL, 0640);
		if (fd >= 0)
			fchmod(fd, 0640);
		else if (errno == EEXIST)
			fd = open(path, flags);
		if (fd >= 0 || errno != ENOENT || attempt > 0)
			break;
		char *dir = xstrdup(path);
		mkdir_p(dirname(dir), 0750);
		free(dir);
	}
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0 || (!S_ISREG(st.st_mode) && strcmp(path, "/dev/null") != 0)) {
		close(fd);
		return -EINVAL;
	}
	fd_set_nonblock(fd, false);
	return fd;
}

struct logfile *
logfile_get(const char *path, char **err)
{
	uint64_t h = idmap_hash_str(path);
	struct logfile *lf;
	for (lf = idmap_get(&D->logfiles_by_path, h); lf; lf = lf->path_next) {
		state_step();
		if (strcmp(lf->path, path) == 0) {
			lf->refs++;
			return lf;
		}
	}
	int fd = open_log(path);
	/* Out of descriptors: once more with the daemon's reserve. */
	if (fdreserve_release(fd))
		fd = open_log(path);
	if (fd < 0) {
		*err = fd == -EINVAL ? xasprintf("log file %s is not a regular file", path)
		    : xasprintf("cannot open log file %s: %s", path, strerror(-fd));
		return NULL;
	}
	lf = xcalloc(1, sizeof(*lf));
	lf->path = xstrdup(path);
	lf->fd = fd;
	lf->refs = 1;
	timer_init(&lf->note_retry, on_note_retry, lf);
	LIST_INSERT_HEAD(&D->logfiles, lf, link);
	idmap_chain_add(&D->logfiles_by_path, h, lf, offsetof(struct logfile, path_next));
	return lf;
}

void
logfile_put(struct logfile *lf)
{
	if (!lf || --lf->refs > 0)
		return;
	LIST_REMOVE(lf, link);
	idmap_chain_del(&D->logfiles_by_path, idmap_hash_str(lf->path), lf,
	    offsetof(struct logfile, path_next));
	/* The index's memory goes with the last file (daemon exit). */
	if (LIST_EMPTY(&D->logfiles))
		idmap_free(&D->logfiles_by_path);
	if (timer_armed(&lf->note_retry))
		timer_stop(D->loop, &lf->note_retry);
	close(lf->fd);
	free(lf->path);
	free(lf);
}

static bool
held_by_other(struct logfile *lf, const void *writer)
{
	if (!lf->holder || lf->holder == writer)
		return false;
	if (mono_ms() - lf->held_since_mono > HOLD_TIMEOUT_MS) {
		lf->holder = NULL;
		return false;
	}
	return true;
}

/* Write all of iov, continuing after short writes. 0 or -errno; *written
 * gets how many bytes reached the file either way. */
static int
writev_counted(int fd, const struct iovec *pieces, int iovcnt, size_t *written)
{
	struct iovec iov[LOGFILE_MAX_IOV];
	struct iovec *v = iov;
	memcpy(iov, pieces, sizeof(*iov) * (size_t)iovcnt);
	*written = 0;
	while (iovcnt > 0) {
		ssize_t n = writev(fd, v, iovcnt);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		*written += (size_t)n;
		while (iovcnt > 0 && (size_t)n >= v->iov_len) {
			n -= (ssize_t)v->iov_len;
			v++;
			iovcnt--;
		}
		if (iovcnt > 0) {
			v->iov_base = (char *)v->iov_base + n;
			v->iov_len -= (size_t)n;
		}
	}
	return 0;
}

/* The byte at offset off of the pieces (the last one written, for a
 * write of off + 1 bytes). */
static char
byte_at(const struct iovec *iov, int iovcnt, size_t off)
{
	for (int i = 0; i < iovcnt; i++) {
		if (off < iov[i].iov_len)
			return ((const char *)iov[i].iov_base)[off];
		off -= iov[i].iov_len;
	}
	return '\n';
}

static void
count_loss(struct logfile *lf, int64_t lines, int64_t bytes)
{
	lf->unnoted_lines += lines;
	lf->unnoted_bytes += bytes;
	lf->lost_lines += lines;
	lf->lost_bytes += bytes;
	if (!timer_armed(&lf->note_retry))
		timer_start(D->loop, &lf->note_retry, NOTE_RETRY_MS);
}

/* What a write left out from offset `from` on is lost: one line per
 * newline in it, and the writer's line that goes on after it. */
static void
lose(struct logfile *lf, const void *writer, const struct iovec *iov, int iovcnt,
    size_t from, int err)
{
	int64_t lines = 0, bytes = 0;
	char last = '\n';
	for (int i = 0; i < iovcnt; i++) {
		const char *p = iov[i].iov_base;
		size_t len = iov[i].iov_len;
		size_t skip = from < len ? from : len;
		from -= skip;
		for (size_t k = skip; k < len; k++)
			lines += p[k] == '\n';
		bytes += (int64_t)(len - skip);
		if (len > skip)
			last = p[len - 1];
	}
	if (bytes == 0)
		return;
	if ((lf->unnoted_lines == 0 && lf->unnoted_bytes == 0) || lf->last_errno != err)
		dlog("log file %s: write failed: %s; dropping lines until it works again",
		    lf->path, strerror(err));
	lf->last_errno = err;
	if (last != '\n')
		lf->skipping = writer;
	count_loss(lf, lines, bytes);
}

/* The writer's current line lost its head: drop the rest of it, through
 * its newline, so that no fragment of it stands as a line of its own.
 * Returns how many of the pieces are left (the first ones trimmed). */
static int
skip_line_rest(struct logfile *lf, struct iovec *v, int iovcnt)
{
	int64_t bytes = 0;
	for (int i = 0; i < iovcnt; i++) {
		const char *p = v[i].iov_base;
		const char *nl = memchr(p, '\n', v[i].iov_len);
		if (!nl) {
			bytes += (int64_t)v[i].iov_len;
			continue;
		}
		size_t k = (size_t)(nl - p) + 1;
		count_loss(lf, 1, bytes + (int64_t)k);
		lf->skipping = NULL;
		v[i].iov_base = (char *)p + k;
		v[i].iov_len -= k;
		memmove(v, v + i, sizeof(*v) * (size_t)(iovcnt - i));
		return iovcnt - i;
	}
	count_loss(lf, 0, bytes);
	return 0;
}

/* Write the note about the lines lost since the last one, on a line of its
 * own. 0 (or nothing to say), or -errno. */
static int
write_note(struct logfile *lf)
{
	if (lf->unnoted_lines == 0 && lf->unnoted_bytes == 0)
		return 0;
	char note[192];
	int n = snprintf(note, sizeof(note), "%s[corral] %lld log line%s lost (%lld bytes): %s\n",
	    lf->tail_open ? "\n" : "", (long long)lf->unnoted_lines,
	    lf->unnoted_lines == 1 ? "" : "s", (long long)lf->unnoted_bytes,
	    strerror(lf->last_errno));
	struct iovec v = {note, (size_t)n};
	size_t written;
	int rc = writev_counted(lf->fd, &v, 1, &written);
	if (written > 0)
		lf->tail_open = note[written - 1] != '\n';
	if (rc < 0)
		return rc;
	dlog("log file %s: writing again; %lld lines (%lld bytes) were lost", lf->path,
	    (long long)lf->unnoted_lines, (long long)lf->unnoted_bytes);
	lf->unnoted_lines = lf->unnoted_bytes = 0;
	timer_stop(D->loop, &lf->note_retry);
	return 0;
}

/* Space may have come back while no app writes: say what was lost now
 * rather than with the next line, unless a line is in progress. */
static void
on_note_retry(struct loop *l, struct timer *t, void *arg)
{
	struct logfile *lf = arg;
	bool busy = (lf->holder && mono_ms() - lf->held_since_mono <= HOLD_TIMEOUT_MS) ||
	    lf->skipping;
	if (busy || write_note(lf) < 0)
		timer_start(l, t, NOTE_RETRY_MS);
}

bool
logfile_write(struct logfile *lf, const void *writer, const struct iovec *iov, int iovcnt)
{
	if (held_by_other(lf, writer))
		return false;
	struct iovec v[LOGFILE_MAX_IOV];
	if (iovcnt > LOGFILE_MAX_IOV)
		iovcnt = LOGFILE_MAX_IOV;
	memcpy(v, iov, sizeof(*iov) * (size_t)iovcnt);
	if (lf->skipping == writer && (iovcnt = skip_line_rest(lf, v, iovcnt)) == 0)
		return true;
	/* Nothing goes after lost lines before the note that counts them. */
	int rc = write_note(lf);
	size_t written = 0;
	if (rc == 0)
		rc = writev_counted(lf->fd, v, iovcnt, &written);
	if (written > 0)
		lf->tail_open = byte_at(v, iovcnt, written - 1) != '\n';
	if (rc < 0)
		lose(lf, writer, v, iovcnt, written, -rc);
	return true;
}

void
logfile_hold(struct logfile *lf, const void *writer)
{
	if (lf->holder != writer) {
		lf->holder = writer;
		lf->held_since_mono = mono_ms();
	}
}

void
logfile_release(struct logfile *lf, const void *writer)
{
	if (lf->holder == writer)
		lf->holder = NULL;
	/* Its line ends here without a newline (the pipe closed). */
	if (lf->skipping == writer) {
		lf->skipping = NULL;
		count_loss(lf, 1, 0);
	}
}

int
logfile_truncate(struct logfile *lf)
{
	if (ftruncate(lf->fd, 0) < 0)
		return -errno;
	lf->tail_open = false;
	return 0;
}

size_t
logfile_reopen_all(char **first_error)
{
	size_t failed = 0;
	struct logfile *lf;
	LIST_FOREACH(lf, &D->logfiles, link) {
		state_step();
		int fd = open_log(lf->path);
		if (fd < 0) {
			dlog("reopen %s: %s (still writing to the old file)", lf->path, strerror(-fd));
			if (failed++ == 0 && first_error)
				*first_error = xasprintf("%s: %s", lf->path, strerror(-fd));
			continue;
		}
		/* A fresh file (logrotate moved the old one) needs no newline
		 * before the next note. */
		struct stat st;
		if (fstat(fd, &st) == 0 && st.st_size == 0)
			lf->tail_open = false;
		dup3(fd, lf->fd, O_CLOEXEC);
		close(fd);
	}
	return failed;
}
