/*
 * linebuf.c — capped newline framing.
 */
#include "common/linebuf.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

void
linebuf_init(struct linebuf *lb, size_t max_line)
{
	memset(lb, 0, sizeof(*lb));
	lb->max = max_line;
}

void
linebuf_free(struct linebuf *lb)
{
	free(lb->buf);
	memset(lb, 0, sizeof(*lb));
}

/* Drop returned lines from the front so the buffer never creeps. */
static void
compact(struct linebuf *lb)
{
	if (lb->start == 0)
		return;
	memmove(lb->buf, lb->buf + lb->start, lb->len - lb->start);
	lb->len -= lb->start;
	lb->start = 0;
}

/* Advance scan over newline-free bytes; true when a newline is held. */
static bool
has_line(struct linebuf *lb)
{
	size_t avail = lb->len - lb->start;
	if (lb->scan >= avail)
		return false;
	if (memchr(lb->buf + lb->start + lb->scan, '\n', avail - lb->scan))
		return true;
	lb->scan = avail;
	return false;
}

static int
reserve(struct linebuf *lb, size_t n)
{
	compact(lb);
	/* An unterminated tail longer than the cap can never become a line. */
	if (!has_line(lb) && lb->scan > lb->max)
		return -EMSGSIZE;
	size_t need = lb->len + n + 1;
	if (need > lb->cap) {
		size_t cap = lb->cap ? lb->cap : 4096;
		while (cap < need)
			cap *= 2;
		lb->buf = xrealloc(lb->buf, cap);
		lb->cap = cap;
	}
	return 0;
}

/* Bytes held after the last newline: the start of a line to come. */
static size_t
unterminated_tail(const struct linebuf *lb)
{
	size_t avail = lb->len - lb->start;
	if (avail == 0)
		return 0;
	const char *base = lb->buf + lb->start;
	const char *nl = memrchr(base, '\n', avail);
	return nl ? avail - (size_t)(nl - base) - 1 : avail;
}

int
linebuf_feed(struct linebuf *lb, const char *data, size_t n)
{
	/* Complete lines held earlier do not exempt what follows them from
	 * the cap: follow the unterminated tail through every slice. */
	size_t tail = unterminated_tail(lb);
	while (n > 0) {
		/* Feed in slices so a huge input is checked against the cap
		 * before it is all buffered. */
		size_t slice = n < 65536 ? n : 65536;
		int rc = reserve(lb, slice);
		if (rc < 0)
			return rc;
		memcpy(lb->buf + lb->len, data, slice);
		lb->len += slice;
		const char *nl = memrchr(data, '\n', slice);
		tail = nl ? slice - (size_t)(nl - data) - 1 : tail + slice;
		if (tail > lb->max)
			return -EMSGSIZE;
		data += slice;
		n -= slice;
	}
	return 0;
}

ssize_t
linebuf_read(struct linebuf *lb, int fd)
{
	/* One byte of the buffer stays for the NUL linebuf_next() writes. */
	size_t want = linebuf_pending(lb);
	want = want < 4095 ? 4095 : want > 65535 ? 65535 : want;
	int rc = reserve(lb, want);
	if (rc < 0)
		return rc;
	ssize_t n = read_retry(fd, lb->buf + lb->len, want);
	if (n <= 0)
		return n;
	lb->len += (size_t)n;
	return n;
}

void
linebuf_shrink(struct linebuf *lb)
{
	if (linebuf_pending(lb) == 0 && lb->cap > 65536) {
		size_t max = lb->max;
		linebuf_free(lb);
		linebuf_init(lb, max);
	}
}

char *
linebuf_next(struct linebuf *lb, size_t *len)
{
	size_t avail = lb->len - lb->start;
	if (avail == 0)
		return NULL;
	/* Only now: buf is NULL before the first read, and NULL + 0 is UB. */
	char *base = lb->buf + lb->start;
	char *nl = lb->scan < avail ? memchr(base + lb->scan, '\n', avail - lb->scan) : NULL;
	if (!nl) {
		lb->scan = avail;
		return NULL;
	}
	size_t n = (size_t)(nl - base);
	if (n > lb->max) {
		lb->overflow = true;
		return NULL;
	}
	*nl = '\0';
	if (len)
		*len = n;
	lb->start += n + 1;
	lb->scan = 0;
	return base;
}

bool
linebuf_has_line(struct linebuf *lb)
{
	return has_line(lb);
}

size_t
linebuf_pending(const struct linebuf *lb)
{
	return lb->len - lb->start;
}
