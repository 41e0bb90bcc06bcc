/*
 * logfile.h — open log files, shared by every stream that writes to the same
 * path (merged logs, a combined log_file), reopened for logrotate.
 *
 * Writes are append-only and one writev() per segment, so lines from
 * different writers never interleave inside a line. A line longer than the
 * framing buffer is written in several segments; while it is in progress the
 * writer "holds" the file and other writers wait (their pipes fill and their
 * apps block) — see logpipe.c.
 *
 * When the disk is full (or any write error), lines are dropped and counted
 * rather than blocking the app forever. A line counts as lost when its
 * newline did not reach the file: a line the full disk cut in the middle
 * is lost (its head stays in the file), and so is the rest of it, which is
 * dropped when it comes rather than written as a fragment of its own. Once
 * a write works again — the next line, or a retry every second — the count
 * is written first, on a line of its own:
 *
 *     [corral] 274413 log lines lost (10976520 bytes): No space left on device
 *
 * The totals since the daemon opened the file are shown by describe/jlist.
 *
 * Rotation (logrotate.h): before a write that would take the file past its
 * max_size, the lines that fit are written, the file is renamed and its
 * path opened again, and the rest goes to the new file; so a rotated file
 * holds whole lines and at most max_size bytes (one line longer than that
 * makes a file of its own). A line in progress (a long line written in
 * segments, its head cut by a full disk) is never split: the rotation waits
 * for its end. The cron schedule sets rotate_due, done at the next line
 * boundary (at once when the file is idle).
 */
#ifndef CORRAL_LOGFILE_H
#define CORRAL_LOGFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/uio.h>

#include "daemon/logrotate.h"
#include "ev/loop.h"

/* The most pieces one write takes (a time prefix, the line, a newline...). */
#define LOGFILE_MAX_IOV 8

/* A file's losses, from its first failed write on (most files have none). */
struct logfile_loss {
	/* Since the last note, and since the file was opened. */
	int64_t unnoted_lines, unnoted_bytes;
	int64_t lost_lines, lost_bytes;
	int last_errno;
	struct timer note_retry;  /* writes the note once the disk has room */
};

/* A file's own rotation settings, the files it rotated and its own
 * schedule; files with none of these (most) follow the global settings and
 * the global schedule without one. */
struct logfile_rot {
	struct rotset set;
	struct timer timer;       /* its own interval's schedule */
};

struct logfile {
	LIST_ENTRY(logfile) link;
	LIST_ENTRY(logfile) uncreated_link; /* in D->logfiles_uncreated */
	bool uncreated;           /* fd < 0, its creation is to be tried */
	bool tail_open;           /* what we wrote last did not end a line */
	bool regular;             /* a regular file (not /dev/null) */
	bool rotate_due;          /* the schedule fired during a line */
	int fd;
	int refs;
	struct logfile *path_next;  /* next file whose path hashes the same */
	char *path;
	const void *holder;       /* writer in the middle of a long line */
	int64_t held_since_mono;
	const void *skipping;     /* writer whose current line lost its head */
	struct logfile_loss *loss; /* NULL until a write fails */
	int64_t size;             /* its length, as far as we wrote it */
	struct logfile_rot *rot;  /* NULL while it has nothing of its own */
	int64_t rotate_retry_mono;/* a failed rotation is tried again then */
};

/* Get the shared file for path, opening it (and its directory) if needed.
 * NULL with *err (caller frees) when it cannot be opened. */
struct logfile *logfile_get(const char *path, char **err);
void logfile_put(struct logfile *lf);
/* Append the pieces as one write; false only if the file is held by
 * another writer (then nothing was written). Errors are counted, not
 * returned. */
bool logfile_write(struct logfile *lf, const void *writer,
    const struct iovec *iov, int iovcnt);
void logfile_hold(struct logfile *lf, const void *writer);
void logfile_release(struct logfile *lf, const void *writer);
/* The app's own rotation settings for this file (-1 / NULL: the global
 * ones; see struct rotset). */
void logfile_configure(struct logfile *lf, int64_t max_size, int64_t retain, int compress,
    const char *interval);
/* Lines (and bytes: *bytes) lost since the file was opened. */
int64_t logfile_lost(const struct logfile *lf, int64_t *bytes);
/* Rotate now (at a line boundary). 0, or -errno (logged) and the file
 * goes on; -EAGAIN when there is nothing to rotate or a line is open. */
int logfile_rotate(struct logfile *lf, const char *why);
/* The global settings changed: re-arm every file's schedule. */
void logfile_settings_changed(void);
/* Truncate to zero length (flush). 0 or -errno. */
int logfile_truncate(struct logfile *lf);
/* Reopen every log file (after logrotate moved them). Returns how many
 * could not be reopened (they keep the old file); *first_error, if given,
 * gets "path: reason" of the first (caller frees). */
size_t logfile_reopen_all(char **first_error);

#endif
