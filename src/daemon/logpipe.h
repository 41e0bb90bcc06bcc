/*
 * logpipe.h — read one app stream (stdout or stderr) and write its lines.
 *
 * A logpipe lives as long as the pipe has writers, which can outlast the
 * process it was made for (a grandchild keeps the pipe open) and even the
 * instance (deleted while a child still writes): it keeps its own copies of
 * what it needs and references to its log files.
 */
#ifndef CORRAL_LOGPIPE_H
#define CORRAL_LOGPIPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct inst;

enum log_stream {
	STREAM_OUT = 1,
	STREAM_ERR = 2,
};

/* Start reading fd (the read end, made non-blocking here) for instance in's
 * stream. Takes ownership of fd. */
void logpipe_start(int fd, struct inst *in, enum log_stream stream);
/* Flush and close every pipe (daemon exit). */
void logpipe_close_all(void);
/* Retry pipes that were waiting for a file another writer held. */
void logpipe_kick(void);

#endif
