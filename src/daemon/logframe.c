/*
 * logframe.c — line framing for app output.
 */
#include "daemon/logframe.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"

void
logframe_init(struct logframe *f)
{
	f->buf = NULL;
	f->cap = 0;
	f->len = 0;
	f->mid_line = false;
	f->batch = false;
}

void
logframe_free(struct logframe *f)
{
	free(f->buf);
	logframe_init(f);
}

size_t
logframe_space(struct logframe *f)
{
	if (f->len == f->cap)
		logframe_grow(f);
	return f->cap - f->len;
}

void
logframe_grow(struct logframe *f)
{
	if (f->cap >= LOGFRAME_BUF)
		return;
	f->cap = f->cap ? f->cap * 2 : 4096;
	if (f->cap > LOGFRAME_BUF)
		f->cap = LOGFRAME_BUF;
	f->buf = xrealloc(f->buf, f->cap);
}

char *
logframe_tail(struct logframe *f)
{
	return f->buf + f->len;
}

void
logframe_commit(struct logframe *f, size_t n)
{
	f->len += n;
}

static void
consume(struct logframe *f, size_t n)
{
	memmove(f->buf, f->buf + n, f->len - n);
	f->len -= n;
}

bool
logframe_drain(struct logframe *f, logframe_emit emit, void *arg, bool at_eof)
{
	size_t off = 0;
	bool ok = true;
	while (off < f->len) {
		char *start = f->buf + off;
		size_t avail = f->len - off;
		char *nl = f->batch ? memrchr(start, '\n', avail) : memchr(start, '\n', avail);
		if (nl) {
			size_t n = (size_t)(nl - start);
			if (!emit(arg, start, n, !f->mid_line, true)) {
				ok = false;
				break;
			}
			f->mid_line = false;
			off += n + 1;
			continue;
		}
		/* No newline: hold the partial line unless the buffer is full
		 * (a line longer than the buffer) or the pipe is at its end. */
		if (!at_eof && !(off == 0 && f->len == LOGFRAME_BUF))
			break;
		if (!emit(arg, start, avail, !f->mid_line, at_eof)) {
			ok = false;
			break;
		}
		f->mid_line = !at_eof;
		off += avail;
	}
	/* EOF right after a segment that filled the buffer: the line still
	 * needs its end, or the next writer's output is glued onto it. */
	if (ok && at_eof && off == f->len && f->mid_line) {
		if (emit(arg, f->buf + off, 0, false, true))
			f->mid_line = false;
		else
			ok = false;
	}
	if (off > 0)
		consume(f, off);
	return ok;
}
