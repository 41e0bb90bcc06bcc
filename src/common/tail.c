/*
 * tail.c — the last lines of a file (tail.h).
 */
#include "common/tail.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"

#define TAIL_CHUNK 65536

/* Where the last n lines of [0, end) begin, looking no further back than
 * floor: at a line's start, or end when n <= 0. -errno when a read fails. */
static off_t
find_start(int fd, off_t end, long n, off_t floor, char *buf)
{
	if (n <= 0)
		return end;
	off_t start = end;
	long lines = 0;
	while (start > floor) {
		off_t from = start - floor > TAIL_CHUNK ? start - TAIL_CHUNK : floor;
		ssize_t got = pread(fd, buf, (size_t)(start - from), from);
		if (got < 0)
			return -errno;
		if (got == 0)
			return end;
		for (ssize_t i = got - 1; i >= 0; i--) {
			/* The newline that ends the last line starts nothing. */
			if (buf[i] != '\n' || from + i == end - 1)
				continue;
			if (++lines >= n)
				return from + i + 1;
		}
		start = from;
	}
	if (floor == 0)
		return 0;
	/* Stopped at the budget: unless a line starts there, the line read
	 * into is not whole; the first whole one starts after its newline. */
	char before;
	ssize_t got = pread(fd, &before, 1, floor - 1);
	if (got < 0)
		return -errno;
	if (got == 1 && before == '\n')
		return floor;
	for (off_t at = floor; at < end;) {
		size_t want = end - at > TAIL_CHUNK ? TAIL_CHUNK : (size_t)(end - at);
		got = pread(fd, buf, want, at);
		if (got <= 0)
			return got < 0 ? -errno : end;
		const char *nl = memchr(buf, '\n', (size_t)got);
		if (nl)
			return at + (nl - buf) + 1;
		at += got;
	}
	return end;
}

int
tail_lines(int fd, off_t size, long n, off_t budget, tail_fn fn, void *arg)
{
	char *buf = xmalloc(TAIL_CHUNK);
	off_t floor = budget > 0 && size > budget ? size - budget : 0;
	off_t at = find_start(fd, size, n, floor, buf);
	int rc = at < 0 ? (int)at : 0;
	struct sbuf line = SBUF_INIT;
	while (rc == 0 && at < size) {
		size_t want = size - at > TAIL_CHUNK ? TAIL_CHUNK : (size_t)(size - at);
		ssize_t got = pread(fd, buf, want, at);
		if (got <= 0) {
			rc = got < 0 ? -errno : 0;
			break;
		}
		at += got;
		const char *p = buf, *stop = buf + got;
		const char *nl;
		while ((nl = memchr(p, '\n', (size_t)(stop - p))) != NULL) {
			if (line.len) {
				sbuf_add(&line, p, (size_t)(nl - p));
				fn(arg, line.s, line.len);
				sbuf_reset(&line);
			} else {
				fn(arg, p, (size_t)(nl - p));
			}
			p = nl + 1;
		}
		sbuf_add(&line, p, (size_t)(stop - p));
	}
	if (rc == 0 && line.len)
		fn(arg, line.s, line.len);
	sbuf_free(&line);
	free(buf);
	return rc;
}
