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
#include "daemon/logrotate.h"
#include "daemon/state.h"

/* A hold older than this is broken: the app stopped in the middle of a huge
 * line, and the other writers of the file must not wait for it forever. */
#define HOLD_TIMEOUT_MS 2000
/* How often a note about lost lines is tried while nobody writes. */
#define NOTE_RETRY_MS 1000

static void on_note_retry(struct loop *l, struct timer *t, void *arg);
static void on_rotate_timer(struct loop *l, struct timer *t, void *arg);
static void on_global_schedule(struct loop *l, struct timer *t, void *arg);

/* The rotation settings of a file that has none of its own: the global
 * ones (logrotate.h), and the global schedule, which one timer keeps for
 * every such file (a thousand apps had two thousand timers due at the
 * same second). */
static struct rotset global_set;
static struct timer global_schedule;

static const struct rotset *
rotset_of(const struct logfile *lf)
{
	return lf->rot ? &lf->rot->set : &global_set;
}

/* The file's own rotation part, made when it first needs one. */
static struct rotset *
own_rotset(struct logfile *lf)
{
	if (!lf->rot) {
		lf->rot = xcalloc(1, sizeof(*lf->rot));
		rotset_init(&lf->rot->set);
		timer_init(&lf->rot->timer, on_rotate_timer, lf);
	}
	return &lf->rot->set;
}

/* Does lf follow the global schedule (no interval of its own)? */
static bool
global_schedule_of(const struct logfile *lf)
{
	return !lf->rot || !lf->rot->set.interval;
}

static struct logfile_loss *
loss_of(struct logfile *lf)
{
	if (!lf->loss) {
		lf->loss = xcalloc(1, sizeof(*lf->loss));
		timer_init(&lf->loss->note_retry, on_note_retry, lf);
	}
	return lf->loss;
}

/* fd, the log file at path just opened, if it is one we write to: fd,
 * or -EINVAL (fd closed). */
static int
opened(int fd, const char *path, struct stat *out)
{
	struct stat st;
	if (fstat(fd, &st) < 0 || (!S_ISREG(st.st_mode) && strcmp(path, "/dev/null") != 0)) {
		close(fd);
		return -EINVAL;
	}
	fd_set_nonblock(fd, false);
	*out = st;
	return fd;
}

/* Open a log file for appending. Only regular files (and /dev/null): a
 * FIFO or a device would block the daemon's loop in open() or write(). */
static int
open_log_once(const char *path, struct stat *out)
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
	return opened(fd, path, out);
}

/* open_log_once(); out of descriptors, once more with the daemon's reserve. */
static int
open_log(const char *path, struct stat *out)
{
	int fd = open_log_once(path, out);
	if (fdreserve_release(fd))
		fd = open_log_once(path, out);
	return fd;
}

/* 0 when files can be created in directory d, or -errno. */
static int
writable_dir(const char *d)
{
	struct stat st;
	if (stat(d, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	return access(d, W_OK | X_OK) == 0 ? 0 : -errno;
}

/* A log file that does not exist yet is not created while its app starts:
 * creating a thousand files was most of what starting a thousand apps cost
 * (an inode each; on a file system without a journal, ext4 looks at every
 * inode freed in the last seconds before it reuses one). It is created by
 * its first line, or soon after the start by create_batch(), whichever
 * comes first, so that `tail -f` of a quiet app's log works as with PM2.
 * Whether it can be created is checked now: its directory is made if
 * missing and must be writable. 0 (fd -1, nothing to stat) or -errno. */
static int
open_or_check(const char *path, struct stat *out, int *fd)
{
	*fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (*fd >= 0) {
		*fd = opened(*fd, path, out);
		return *fd < 0 ? *fd : 0;
	}
	if (errno != ENOENT) {
		*fd = open_log(path, out);   /* out of descriptors: with the reserve */
		return *fd < 0 ? *fd : 0;
	}
	char *dir = xstrdup(path);
	const char *d = dirname(dir);
	int rc = writable_dir(d);
	if (rc == -ENOENT) {
		mkdir_p(d, 0750);
		rc = writable_dir(d);
	}
	free(dir);
	*out = (struct stat){.st_mode = S_IFREG};
	return rc;
}

static void
uncreated_done(struct logfile *lf)
{
	if (lf->uncreated) {
		LIST_REMOVE(lf, uncreated_link);
		lf->uncreated = false;
	}
}

/* Create the file of lf (at its first write, or from create_batch()). 0 or
 * -errno (a write is then counted as lost, as for a full disk, and the next
 * one tries again). */
static int
ensure_open(struct logfile *lf)
{
	if (lf->fd >= 0)
		return 0;
	struct stat st;
	int fd = open_log(lf->path, &st);
	if (fd < 0)
		return fd;
	lf->fd = fd;
	lf->regular = S_ISREG(st.st_mode);
	lf->size = st.st_size;
	uncreated_done(lf);
	return 0;
}

/* Files not created yet, a few per turn of the loop (as long as
 * state_files_turn_over() allows): a start of a thousand apps returns
 * first, and requests are served between turns. */
static void
create_batch(struct loop *l, struct timer *t, void *arg)
{
	(void)arg;
	static int64_t held_since;
	int64_t later = state_files_defer_ms(&held_since);
	if (later > 0) {
		timer_start(l, t, later);
		return;
	}
	int64_t turn_end = state_files_turn_end();
	struct logfile *lf;
	while ((lf = LIST_FIRST(&D->logfiles_uncreated)) != NULL) {
		int rc = ensure_open(lf);
		if (rc < 0) {
			/* Its first line tries again (and counts the loss). */
			dlog("cannot create log file %s: %s", lf->path, strerror(-rc));
			uncreated_done(lf);
		}
		if (state_files_turn_over(turn_end))
			break;
	}
	if (!LIST_EMPTY(&D->logfiles_uncreated))
		timer_start(l, t, 0);
}

/* Arm the file's own schedule, if it has an interval of its own. */
static void
arm_schedule(struct logfile *lf)
{
	if (!lf->rot)
		return;
	if (lf->regular && !global_schedule_of(lf))
		logrotate_arm(&lf->rot->set, &lf->rot->timer);
	else
		timer_stop(D->loop, &lf->rot->timer);
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
	struct stat st;
	int fd;
	int rc = open_or_check(path, &st, &fd);
	if (rc < 0) {
		*err = rc == -EINVAL ? xasprintf("log file %s is not a regular file", path)
		    : xasprintf("cannot open log file %s: %s", path, strerror(-rc));
		return NULL;
	}
	lf = xcalloc(1, sizeof(*lf));
	lf->path = xstrdup(path);
	lf->fd = fd;
	lf->refs = 1;
	lf->regular = S_ISREG(st.st_mode);
	lf->size = st.st_size;
	if (LIST_EMPTY(&D->logfiles)) {
		rotset_init(&global_set);
		timer_init(&global_schedule, on_global_schedule, NULL);
		logrotate_arm(&global_set, &global_schedule);
	}
	LIST_INSERT_HEAD(&D->logfiles, lf, link);
	idmap_chain_add(&D->logfiles_by_path, h, lf, offsetof(struct logfile, path_next));
	if (fd < 0) {
		LIST_INSERT_HEAD(&D->logfiles_uncreated, lf, uncreated_link);
		lf->uncreated = true;
		if (!timer_armed(&D->logfile_create_timer)) {
			timer_init(&D->logfile_create_timer, create_batch, NULL);
			timer_start(D->loop, &D->logfile_create_timer, 0);
		}
	}
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
	if (LIST_EMPTY(&D->logfiles)) {
		idmap_free(&D->logfiles_by_path);
		timer_stop(D->loop, &global_schedule);
	}
	if (lf->loss) {
		timer_stop(D->loop, &lf->loss->note_retry);
		free(lf->loss);
	}
	if (lf->rot) {
		timer_stop(D->loop, &lf->rot->timer);
		rotset_free(&lf->rot->set);
		free(lf->rot);
	}
	uncreated_done(lf);
	if (lf->fd >= 0)
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
	struct logfile_loss *l = loss_of(lf);
	l->unnoted_lines += lines;
	l->unnoted_bytes += bytes;
	l->lost_lines += lines;
	l->lost_bytes += bytes;
	if (!timer_armed(&l->note_retry))
		timer_start(D->loop, &l->note_retry, NOTE_RETRY_MS);
}

int64_t
logfile_lost(const struct logfile *lf, int64_t *bytes)
{
	*bytes = lf->loss ? lf->loss->lost_bytes : 0;
	return lf->loss ? lf->loss->lost_lines : 0;
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
	struct logfile_loss *l = loss_of(lf);
	if ((l->unnoted_lines == 0 && l->unnoted_bytes == 0) || l->last_errno != err)
		dlog("log file %s: write failed: %s; dropping lines until it works again",
		    lf->path, strerror(err));
	l->last_errno = err;
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
	struct logfile_loss *l = lf->loss;
	if (!l || (l->unnoted_lines == 0 && l->unnoted_bytes == 0))
		return 0;
	char note[192];
	int n = snprintf(note, sizeof(note), "%s[corral] %lld log line%s lost (%lld bytes): %s\n",
	    lf->tail_open ? "\n" : "", (long long)l->unnoted_lines,
	    l->unnoted_lines == 1 ? "" : "s", (long long)l->unnoted_bytes,
	    strerror(l->last_errno));
	struct iovec v = {note, (size_t)n};
	size_t written = 0;
	int rc = ensure_open(lf);
	if (rc == 0)
		rc = writev_counted(lf->fd, &v, 1, &written);
	lf->size += (int64_t)written;
	if (written > 0)
		lf->tail_open = note[written - 1] != '\n';
	if (rc < 0)
		return rc;
	dlog("log file %s: writing again; %lld lines (%lld bytes) were lost", lf->path,
	    (long long)l->unnoted_lines, (long long)l->unnoted_bytes);
	l->unnoted_lines = l->unnoted_bytes = 0;
	timer_stop(D->loop, &l->note_retry);
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

/* The bytes of the pieces. */
static size_t
iov_total(const struct iovec *v, int cnt)
{
	size_t n = 0;
	for (int i = 0; i < cnt; i++)
		n += v[i].iov_len;
	return n;
}

/* The first n bytes of v as pieces of out; how many. */
static int
iov_prefix(const struct iovec *v, int cnt, size_t n, struct iovec *out)
{
	int k = 0;
	for (int i = 0; i < cnt && n > 0; i++) {
		out[k] = v[i];
		if (out[k].iov_len > n)
			out[k].iov_len = n;
		n -= out[k].iov_len;
		k++;
	}
	return k;
}

/* Drop the first n bytes of v; how many pieces are left. */
static int
iov_advance(struct iovec *v, int cnt, size_t n)
{
	int i = 0;
	while (i < cnt && n >= v[i].iov_len) {
		n -= v[i].iov_len;
		i++;
	}
	if (i < cnt && n > 0) {
		v[i].iov_base = (char *)v[i].iov_base + n;
		v[i].iov_len -= n;
	}
	memmove(v, v + i, sizeof(*v) * (size_t)(cnt - i));
	return cnt - i;
}

/* The length of the longest prefix of v, at most room bytes, that ends a
 * line; 0 when none. With first, the shortest one instead (any length). */
static size_t
line_prefix(const struct iovec *v, int cnt, size_t room, bool first)
{
	size_t off = 0, best = 0;
	for (int i = 0; i < cnt; i++) {
		const char *p = v[i].iov_base;
		size_t len = v[i].iov_len;
		if (!first && off >= room)
			break;
		size_t look = first || off + len <= room ? len : room - off;
		const char *nl = first ? memchr(p, '\n', look) : memrchr(p, '\n', look);
		if (nl) {
			best = off + (size_t)(nl - p) + 1;
			if (first)
				return best;
		}
		off += len;
	}
	return best;
}

/* How much of v (total bytes) to write before the file rotates, rotating
 * first when nothing of it fits. */
static size_t
before_rotation(struct logfile *lf, const struct iovec *v, int cnt, size_t total)
{
	int64_t limit = logrotate_max_size(rotset_of(lf));
	if (lf->rotate_due && !lf->tail_open) {
		lf->rotate_due = false;
		logfile_rotate(lf, "logrotate:rotateInterval");
	}
	if (limit <= 0 || lf->tail_open || !lf->regular)
		return total;
	if (lf->size > 0 && lf->size + (int64_t)total > limit) {
		size_t room = lf->size < limit ? (size_t)(limit - lf->size) : 0;
		size_t n = line_prefix(v, cnt, room, false);
		if (n > 0)
			return n;
		if (logfile_rotate(lf, "logrotate:max_size") < 0)
			return total;
	}
	if (lf->size == 0 && (int64_t)total > limit) {
		/* The lines that fit in a file; a longer line alone. */
		size_t n = line_prefix(v, cnt, (size_t)limit, false);
		if (n == 0)
			n = line_prefix(v, cnt, 0, true);
		return n > 0 ? n : total;
	}
	return total;
}

/* Write the pieces; on a full disk, free room by removing the log's oldest
 * rotated files (with max_total_size) and try the rest again. */
static int
put(struct logfile *lf, const struct iovec *v, int cnt, size_t *written)
{
	struct iovec rest[LOGFILE_MAX_IOV];
	memcpy(rest, v, sizeof(*v) * (size_t)cnt);
	*written = 0;
	for (;;) {
		size_t n = 0;
		int rc = ensure_open(lf);
		if (rc == 0)
			rc = writev_counted(lf->fd, rest, cnt, &n);
		*written += n;
		lf->size += (int64_t)n;
		if (rc != -ENOSPC || !logrotate_free_space(own_rotset(lf), lf->path))
			return rc;
		cnt = iov_advance(rest, cnt, n);
		if (cnt == 0)
			return 0;
	}
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
	if (rc < 0) {
		lose(lf, writer, v, iovcnt, 0, -rc);
		return true;
	}
	/* In parts when the file rotates in the middle (at a newline). */
	size_t total;
	while ((total = iov_total(v, iovcnt)) > 0) {
		size_t n = before_rotation(lf, v, iovcnt, total);
		struct iovec part[LOGFILE_MAX_IOV];
		int pc = iov_prefix(v, iovcnt, n, part);
		size_t written = 0;
		rc = put(lf, part, pc, &written);
		if (written > 0)
			lf->tail_open = byte_at(part, pc, written - 1) != '\n';
		if (rc < 0) {
			lose(lf, writer, v, iovcnt, written, -rc);
			return true;
		}
		iovcnt = iov_advance(v, iovcnt, n);
	}
	return true;
}

void
logfile_configure(struct logfile *lf, int64_t max_size, int64_t retain, int compress,
    const char *interval)
{
	/* Most files have no settings of their own: nothing to keep. */
	if (!lf->rot && max_size < 0 && retain < 0 && compress < 0 && !interval)
		return;
	rotset_configure(own_rotset(lf), max_size, retain, compress, interval);
	arm_schedule(lf);
}

int
logfile_rotate(struct logfile *lf, const char *why)
{
	if (!lf->regular || lf->fd < 0 || lf->tail_open || lf->size == 0 ||
	    mono_ms() < lf->rotate_retry_mono)
		return -EAGAIN;
	char *moved = NULL;
	int rc = logrotate_rename(own_rotset(lf), lf->path, &moved);
	if (rc == 0) {
		struct stat st;
		int fd = open_log(lf->path, &st);
		if (fd < 0) {
			rc = fd;
			dlog("rotate %s: cannot open it again: %s (still writing to %s)", lf->path,
			    strerror(-fd), moved);
			if (rename(moved, lf->path) == 0)
				dlog("rotate %s: moved back", lf->path);
		} else {
			dup3(fd, lf->fd, O_CLOEXEC);
			close(fd);
			int64_t bytes = lf->size;
			lf->size = st.st_size;
			lf->tail_open = false;
			dlog("rotated %s to %s (%s, %lld bytes)", lf->path, moved, why, (long long)bytes);
			logrotate_added(&lf->rot->set, lf->path, moved, bytes, why);
		}
	}
	free(moved);
	if (rc < 0)
		lf->rotate_retry_mono = mono_ms() + ROTATE_RETRY_MS;
	return rc;
}

/* The schedule says lf rotates now: idle between lines, it does; in a
 * line, when the line ends. */
static void
rotate_on_schedule(struct logfile *lf)
{
	if (lf->regular && lf->size > 0 &&
	    logfile_rotate(lf, "logrotate:rotateInterval") == -EAGAIN && lf->tail_open)
		lf->rotate_due = true;
}

static void
on_rotate_timer(struct loop *l, struct timer *t, void *arg)
{
	struct logfile *lf = arg;
	if (logrotate_fired(&lf->rot->set, t))
		rotate_on_schedule(lf);
}

static void
on_global_schedule(struct loop *l, struct timer *t, void *arg)
{
	if (!logrotate_fired(&global_set, t))
		return;
	struct logfile *lf;
	LIST_FOREACH(lf, &D->logfiles, link)
		if (global_schedule_of(lf))
			rotate_on_schedule(lf);
}

void
logfile_settings_changed(void)
{
	struct logfile *lf;
	if (!LIST_EMPTY(&D->logfiles))
		logrotate_arm(&global_set, &global_schedule);
	LIST_FOREACH(lf, &D->logfiles, link) {
		state_step();
		arm_schedule(lf);
	}
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
	if (lf->fd >= 0 && ftruncate(lf->fd, 0) < 0)
		return -errno;
	lf->tail_open = false;
	lf->size = 0;
	return 0;
}

size_t
logfile_reopen_all(char **first_error)
{
	size_t failed = 0;
	struct logfile *lf;
	LIST_FOREACH(lf, &D->logfiles, link) {
		state_step();
		struct stat st;
		int fd = open_log(lf->path, &st);
		if (fd < 0) {
			dlog("reopen %s: %s (still writing to the old file)", lf->path, strerror(-fd));
			if (failed++ == 0 && first_error)
				*first_error = xasprintf("%s: %s", lf->path, strerror(-fd));
			continue;
		}
		/* A fresh file (logrotate moved the old one) needs no newline
		 * before the next note. */
		if (st.st_size == 0)
			lf->tail_open = false;
		lf->size = st.st_size;
		lf->regular = S_ISREG(st.st_mode);
		if (lf->fd < 0) {       /* not created before: it is now */
			lf->fd = fd;
			uncreated_done(lf);
			continue;
		}
		dup3(fd, lf->fd, O_CLOEXEC);
		close(fd);
	}
	return failed;
}
