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
 */
#ifndef CORRAL_LOGFILE_H
#define CORRAL_LOGFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/uio.h>

#include "ev/loop.h"

/* The most pieces one write takes (a time prefix, the line, a newline...). */
#define LOGFILE_MAX_IOV 8

struct logfile {
	LIST_ENTRY(logfile) link;
	struct logfile *path_next;  /* next file whose path hashes the same */
	char *path;
	int fd;
	int refs;
	const void *holder;       /* writer in the middle of a long line */
	int64_t held_since_mono;
	/* Losses (see above): since the last note, and since the file was
	 * opened. */
	int64_t unnoted_lines, unnoted_bytes;
	int64_t lost_lines, lost_bytes;
	int last_errno;
	const void *skipping;     /* writer whose current line lost its head */
	bool tail_open;           /* what we wrote last did not end a line */
	struct timer note_retry;  /* writes the note once the disk has room */
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
/* Truncate to zero length (flush). 0 or -errno. */
int logfile_truncate(struct logfile *lf);
/* Reopen every log file (after logrotate moved them). Returns how many
 * could not be reopened (they keep the old file); *first_error, if given,
 * gets "path: reason" of the first (caller frees). */
size_t logfile_reopen_all(char **first_error);

#endif
