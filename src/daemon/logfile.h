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
 * rather than blocking the app forever; the next successful write is
 * preceded by a "[corral] N lines lost" marker line.
 */
#ifndef CORRAL_LOGFILE_H
#define CORRAL_LOGFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/uio.h>

struct logfile {
	LIST_ENTRY(logfile) link;
	struct logfile *path_next;  /* next file whose path hashes the same */
	char *path;
	int fd;
	int refs;
	const void *holder;       /* writer in the middle of a long line */
	int64_t held_since_mono;
	int64_t dropped;          /* lines lost since the last good write */
	int last_errno;
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
/* Reopen every file by path (after logrotate moved them). */
/* Reopen every log file (after logrotate moved them). Returns how many
 * could not be reopened (they keep the old file); *first_error, if given,
 * gets "path: reason" of the first (caller frees). */
size_t logfile_reopen_all(char **first_error);

#endif
