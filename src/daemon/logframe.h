/*
 * logframe.h — turn the bytes an app writes to a pipe into log lines.
 *
 * Pure: bytes go in through logframe_space()/logframe_commit(), segments come
 * out through a callback. A segment is a whole line when it both starts and
 * ends one; a line longer than the buffer comes out as several segments
 * (first with line_start, last with line_end), so its length is unbounded
 * while memory stays at LOGFRAME_BUF per stream. With `batch` set, a run of
 * complete lines may come out as one segment (data then holds the newlines
 * between them): for a callback that copies bytes and does not look inside,
 * one write per read instead of one per line. The callback may refuse a
 * segment (return false) when its destination cannot take it now; the bytes
 * stay buffered and the caller stops reading the pipe — that is how a slow
 * disk or a busy shared file pushes back on the app instead of growing the
 * daemon.
 */
#ifndef CORRAL_LOGFRAME_H
#define CORRAL_LOGFRAME_H

#include <stdbool.h>
#include <stddef.h>

#define LOGFRAME_BUF 65536

struct logframe {
	char *buf;         /* grows from 4 KiB up to LOGFRAME_BUF on demand */
	size_t cap;
	size_t len;        /* bytes held in buf */
	bool mid_line;     /* the last segment emitted did not end its line */
	bool batch;        /* several complete lines may form one segment */
};

/* Emit one segment; data excludes the newline. Return false to stop. */
typedef bool (*logframe_emit)(void *arg, const char *data, size_t n,
    bool line_start, bool line_end);

void logframe_init(struct logframe *f);
void logframe_free(struct logframe *f);
/* Free space at the tail (growing the buffer if it is full and below the
 * cap), and where it starts. */
size_t logframe_space(struct logframe *f);
char *logframe_tail(struct logframe *f);
/* Double the buffer (up to LOGFRAME_BUF): more waits than fits. */
void logframe_grow(struct logframe *f);
void logframe_commit(struct logframe *f, size_t n);
/* Emit what can be emitted: every complete line; a partial line only when
 * the buffer is full (or at_eof, when the rest is emitted as a final line).
 * Returns false if the callback refused a segment. */
bool logframe_drain(struct logframe *f, logframe_emit emit, void *arg, bool at_eof);

#endif
