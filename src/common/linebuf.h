/*
 * linebuf.h — newline framing with a hard cap, for the JSON-lines control
 * protocol. Bytes go in (from a socket or a test), complete lines come out.
 * A line longer than the cap is an error: the caller replies and drops the
 * peer, so memory never grows with garbage.
 */
#ifndef CORRAL_LINEBUF_H
#define CORRAL_LINEBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct linebuf {
	char *buf;
	size_t len;     /* bytes held */
	size_t start;   /* first byte not yet returned as a line */
	size_t scan;    /* bytes from start already known to hold no '\n' */
	size_t cap;
	size_t max;     /* longest accepted line, newline excluded */
	bool overflow;  /* a complete line longer than max was seen */
};

void linebuf_init(struct linebuf *lb, size_t max_line);
void linebuf_free(struct linebuf *lb);
/* Append bytes; -EMSGSIZE when a line would exceed the cap. */
int linebuf_feed(struct linebuf *lb, const char *data, size_t n);
/* One read(2) from fd into the buffer: >0 bytes, 0 at EOF, -errno (-EAGAIN
 * when nothing is ready), -EMSGSIZE when a line would exceed the cap. It
 * reads up to 4 KiB, or as much as the unfinished line holds already (up
 * to 64 KiB), so a peer's short requests cost a small buffer and a long
 * line still comes in big slices. */
ssize_t linebuf_read(struct linebuf *lb, int fd);
/* Give a buffer grown for a long line back once nothing is held. */
void linebuf_shrink(struct linebuf *lb);
/* The next complete line, NUL-terminated in place (the '\n' replaced), or
 * NULL (then check lb->overflow). Valid until the next feed/read. */
char *linebuf_next(struct linebuf *lb, size_t *len);
/* Is a complete line waiting? */
bool linebuf_has_line(struct linebuf *lb);
/* Bytes held that were not returned as lines yet. */
size_t linebuf_pending(const struct linebuf *lb);

#endif
