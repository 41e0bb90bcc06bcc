/*
 * tail.h — the last lines of a file, for `corral logs` and the web API's
 * /api/v1/logs.
 */
#ifndef CORRAL_TAIL_H
#define CORRAL_TAIL_H

#include <stddef.h>
#include <sys/types.h>

typedef void (*tail_fn)(void *arg, const char *line, size_t len);

/* Call fn(arg, line, len) for each of the last n lines of the first size
 * bytes of fd, oldest first, without their newline (a last line without
 * one counts). The file is read backwards until n lines are found, at most
 * budget bytes from the end when budget > 0: longer lines then give fewer
 * lines, never a line cut at its start. 0 or -errno. */
int tail_lines(int fd, off_t size, long n, off_t budget, tail_fn fn, void *arg);

#endif
